//! Every bad input gets a non-zero exit, a message naming the field and the rule, and
//! leaves the database exactly as it was.

use cchc_tests::{describe, dump_db, Agent};

struct Case {
    name: &'static str,
    args: Vec<String>,
    code: i32,
    message: &'static str,
}

fn case(name: &'static str, args: &[&str], code: i32, message: &'static str) -> Case {
    Case {
        name,
        args: args.iter().map(|s| s.to_string()).collect(),
        code,
        message,
    }
}

fn next_year() -> String {
    let out = std::process::Command::new("date")
        .arg("+%Y")
        .output()
        .expect("date runs");
    let y: i32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a year");
    (y + 1).to_string()
}

#[test]
fn bad_inputs_are_refused_with_a_clear_message_and_store_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Agent::new(tmp.path().join("desk"));
    a.ok(&["init", "--unit", "70"]);
    a.ok(&[
        "record",
        "--period",
        "2026-10",
        "--procedure",
        "CT-01",
        "--received",
        "5",
    ]);
    a.ok(&[
        "pledge",
        "add",
        "--year",
        "2026",
        "--signer",
        "Nguyễn Văn An",
        "--role",
        "Trưởng Công an xã",
        "--task",
        "Niêm yết thủ tục",
    ]);
    let future = format!("{}-01", next_year());
    let long_title = "x".repeat(600);
    let cases = vec![
        case("unknown procedure", &["record", "--period", "2026-10", "--procedure", "XX-99", "--received", "1"], 3,
             "procedure 'XX-99' is not in the procedure catalog"),
        case("month out of range", &["record", "--period", "2026-13", "--procedure", "CT-01", "--received", "1"], 3,
             "month 13 is out of range 1..=12"),
        case("malformed period", &["record", "--period", "11/2026", "--procedure", "CT-01", "--received", "1"], 3,
             "period '11/2026' is not valid"),
        case("future period", &["record", "--period", &future, "--procedure", "CT-01", "--received", "1"], 3,
             "has not started yet"),
        case("negative count", &["record", "--period", "2026-10", "--procedure", "CT-01", "--received", "-5"], 3,
             "received '-5' is not valid: give a whole number from 0"),
        case("non-numeric count", &["record", "--period", "2026-10", "--procedure", "CT-01", "--on-time", "abc"], 3,
             "on_time 'abc' is not valid"),
        case("no count at all", &["record", "--period", "2026-10", "--procedure", "CT-01"], 3, "no count given"),
        case("zero counts only", &["record", "--period", "2026-10", "--procedure", "CT-01", "--late", "0"], 3, "no count given"),
        case("implausibly large count", &["record", "--period", "2026-10", "--procedure", "CT-01", "--received", "200000"], 3,
             "received = 200000 is above the limit of 100000 per entry"),
        case("correction below zero", &["record", "--period", "2026-10", "--procedure", "CT-01", "--received", "6", "--correct"], 3,
             "correction of received by 6 for CT-01 in 2026-10 would take it below 0 (current value 5)"),
        case("correction of an untouched count", &["record", "--period", "2026-10", "--procedure", "CT-02", "--late", "1", "--correct"], 3,
             "would take it below 0 (current value 0)"),
        case("score above max", &["assess", "--phase", "1", "--criterion", "TC-03", "--score", "25"], 3,
             "score 25 is above the maximum 20 for criterion TC-03 (phase 1)"),
        case("negative score", &["assess", "--phase", "1", "--criterion", "TC-03", "--score", "-1"], 3,
             "score '-1' is not valid"),
        case("score with two decimals", &["assess", "--phase", "1", "--criterion", "TC-03", "--score", "7.25"], 3,
             "score '7.25' is not valid"),
        case("unknown criterion", &["assess", "--phase", "1", "--criterion", "TC-99", "--score", "1"], 3,
             "criterion 'TC-99' is not in the criteria set of phase 1"),
        case("unknown phase", &["assess", "--phase", "4", "--criterion", "TC-01", "--score", "1"], 3,
             "phase 4 does not exist; phases are 1, 2, 3"),
        case("task of an unknown pledge", &["pledge", "task", "--year", "2026", "--signer", "Lê Văn Cường", "--task", "1", "--status", "done"], 3,
             "no pledge by 'Lê Văn Cường' for 2026"),
        case("unknown task number", &["pledge", "task", "--year", "2026", "--signer", "Nguyễn Văn An", "--task", "9", "--status", "done"], 3,
             "task '9' is not in the pledge of 'Nguyễn Văn An' for 2026"),
        case("unknown task status", &["pledge", "task", "--year", "2026", "--signer", "Nguyễn Văn An", "--task", "1", "--status", "finished"], 3,
             "task status 'finished' is unknown"),
        case("empty signer", &["pledge", "add", "--year", "2026", "--signer", "  ", "--role", "Cán bộ"], 3,
             "signer must not be empty"),
        case("impossible date", &["pledge", "add", "--year", "2026", "--signer", "Trần Bình", "--role", "Cán bộ", "--date", "2026-02-30"], 3,
             "date '2026-02-30' is not a valid date"),
        case("task title too long, pledge not half-stored", &["pledge", "add", "--year", "2026", "--signer", "Trần Bình", "--role", "Cán bộ", "--task", "ok", "--task", &long_title], 3,
             "title is 600 characters long; the limit is 500"),
        case("year out of range", &["pledge", "show", "--year", "1990"], 3, "year 1990 is outside the supported range"),
        case("second init for another unit", &["init", "--unit", "73"], 4,
             "refusing to re-initialise it for commune 73 (its data would be mixed). If 70 is wrong: keep its data with `cchc-agent bundle export"),
    ];
    assert!(cases.len() >= 15);
    let mut failures = Vec::new();
    for c in &cases {
        let before = a.dump();
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        let out = a.run(&args);
        let after = a.dump();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let problems: Vec<&str> = [
            (out.status.code() != Some(c.code)).then_some("wrong exit code"),
            (!stderr.contains(c.message)).then_some("message does not say what and where"),
            (before != after).then_some("database changed"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !problems.is_empty() {
            failures.push(format!(
                "[{}] {:?} (expected exit {} and message containing {:?})\n{}",
                c.name,
                problems,
                c.code,
                c.message,
                describe(&c.args.join(" "), &out)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad inputs misbehaved:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn messages_are_vietnamese_by_default() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Agent::new(tmp.path().join("desk"));
    a.ok(&["init", "--unit", "70"]);
    let out = std::process::Command::new(cchc_tests::bin("cchc-agent"))
        .args(["--data-dir"])
        .arg(&a.dir)
        .args([
            "record",
            "--period",
            "2026-10",
            "--procedure",
            "XX-99",
            "--received",
            "1",
        ])
        .env_remove("CCHC_LANG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("thủ tục 'XX-99' không có trong danh mục thủ tục"),
        "{stderr}"
    );
    let out = std::process::Command::new(cchc_tests::bin("cchc-agent"))
        .arg("--data-dir")
        .arg(&a.dir)
        .args([
            "record",
            "--period",
            "2026-10",
            "--procedure",
            "XX-99",
            "--received",
            "1",
        ])
        .env("CCHC_LANG", "en")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not in the procedure catalog"));
    let out = std::process::Command::new(cchc_tests::bin("cchc-agent"))
        .arg("--data-dir")
        .arg(&a.dir)
        .args(["--lang", "fr", "show"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--lang 'fr': use vi or en"));
}

#[test]
fn commands_before_init_create_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Agent::new(tmp.path().join("never-initialised"));
    for args in [
        &["show"][..],
        &[
            "record",
            "--period",
            "2026-10",
            "--procedure",
            "CT-01",
            "--received",
            "1",
        ],
        &["status"],
    ] {
        let out = a.run(args);
        assert_eq!(
            out.status.code(),
            Some(4),
            "{}",
            describe(&args.join(" "), &out)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not initialised"),
            "{}",
            describe(&args.join(" "), &out)
        );
    }
    assert!(
        !a.dir.exists(),
        "a refused command created {}",
        a.dir.display()
    );
    let out = a.run(&["init", "--unit", "999999"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("commune code 999999 is not in the unit list"));
    assert!(
        !a.db().exists(),
        "an init for an unknown commune left a database"
    );
}

#[test]
fn corrupted_and_foreign_databases_are_refused_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    // A file that is not SQLite at all, and one whose first page is damaged.
    let garbage = Agent::new(tmp.path().join("garbage"));
    std::fs::create_dir_all(&garbage.dir).unwrap();
    std::fs::write(
        garbage.db(),
        b"this is not a database, it is a shopping list\n".repeat(100),
    )
    .unwrap();
    // A healthy SQLite database of another application.
    let foreign = Agent::new(tmp.path().join("foreign"));
    std::fs::create_dir_all(&foreign.dir).unwrap();
    {
        let c = rusqlite::Connection::open(foreign.db()).unwrap();
        c.execute_batch("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers VALUES (1, 'x');").unwrap();
    }
    // A cchc database whose header was overwritten mid-file.
    let torn = Agent::new(tmp.path().join("torn"));
    torn.ok(&["init", "--unit", "70"]);
    torn.ok(&[
        "record",
        "--period",
        "2026-10",
        "--procedure",
        "CT-01",
        "--received",
        "5",
    ]);
    {
        // Checkpoint so the data is in the main file, then damage its header.
        let c = rusqlite::Connection::open(torn.db()).unwrap();
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    }
    let mut bytes = std::fs::read(torn.db()).unwrap();
    bytes[0..16].copy_from_slice(b"NOT SQLITE AT 00");
    std::fs::write(torn.db(), &bytes).unwrap();

    for (agent, message) in [
        (&garbage, "cannot be used"),
        (&foreign, "not a cchc agent database (application_id 0x0"),
        (&torn, "cannot be used"),
    ] {
        let before = std::fs::read(agent.db()).unwrap();
        for args in [
            &["show"][..],
            &[
                "record",
                "--period",
                "2026-10",
                "--procedure",
                "CT-01",
                "--received",
                "1",
            ],
        ] {
            let out = agent.run(args);
            assert_eq!(
                out.status.code(),
                Some(5),
                "{}",
                describe(&args.join(" "), &out)
            );
            assert!(
                String::from_utf8_lossy(&out.stderr).contains(message),
                "{}",
                describe(&args.join(" "), &out)
            );
        }
        assert_eq!(
            std::fs::read(agent.db()).unwrap(),
            before,
            "{} was modified",
            agent.db().display()
        );
    }
    assert!(
        dump_db(&foreign.db()).contains("'x'"),
        "the foreign database lost its data"
    );
}

#[test]
fn bundles_from_another_commune_or_with_gaps_are_refused_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Agent::new(tmp.path().join("a"));
    let b = Agent::new(tmp.path().join("b"));
    let other = Agent::new(tmp.path().join("other"));
    a.ok(&["init", "--unit", "70"]);
    b.ok(&["init", "--unit", "70"]);
    other.ok(&["init", "--unit", "73"]);
    for n in 1..=3 {
        a.ok(&[
            "record",
            "--period",
            "2026-10",
            "--procedure",
            "CT-01",
            "--received",
            &n.to_string(),
        ]);
    }
    other.ok(&[
        "record",
        "--period",
        "2026-10",
        "--procedure",
        "CT-01",
        "--received",
        "9",
    ]);
    let foreign = tmp.path().join("foreign.json");
    other.ok(&["bundle", "export", "--out", foreign.to_str().unwrap()]);
    let full = tmp.path().join("a.json");
    a.ok(&["bundle", "export", "--out", full.to_str().unwrap()]);
    // Drop the middle op: a gap in device a's sequence.
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&full).unwrap()).unwrap();
    doc["ops"].as_array_mut().unwrap().remove(1);
    let gap = tmp.path().join("gap.json");
    std::fs::write(&gap, doc.to_string()).unwrap();
    // Change an op's content but not its id: a conflicting duplicate after the real one.
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&full).unwrap()).unwrap();
    doc["ops"][0]["body"]["deltas"][0]["amount"] = 7.into();
    doc["ops"][0]["body"]["deltas"][0]["total"] = 7.into();
    let forged = tmp.path().join("forged.json");
    std::fs::write(&forged, doc.to_string()).unwrap();
    let not_json = tmp.path().join("not.json");
    std::fs::write(&not_json, "{\"format\": \"cchc-bundle\", \"ops\": [").unwrap();

    let before = b.dump();
    for (file, message) in [
        (
            &foreign,
            "is for commune 73, but this data belongs to commune 70",
        ),
        (&gap, "leaves a gap: the next op expected from device"),
        (&not_json, "not a cchc bundle: invalid JSON"),
    ] {
        let out = b.run(&["bundle", "import", file.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(6),
            "{}",
            describe("bundle import", &out)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(message),
            "{}",
            describe("bundle import", &out)
        );
        assert_eq!(b.dump(), before, "a refused bundle changed the database");
    }
    b.ok(&["bundle", "import", full.to_str().unwrap()]);
    let before = b.dump();
    let out = b.run(&["bundle", "import", forged.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        describe("bundle import forged", &out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("conflicts with the op already held"),
        "{}",
        describe("import", &out)
    );
    assert_eq!(b.dump(), before);
}

/// A commune mistyped at `init` is corrected by running `init` again while the
/// install holds no entry of its own and is not enrolled (here: the province's code
/// was for the right commune, so enrollment was refused); once it has entries or is
/// enrolled, `init` for another commune says exactly what to do and changes nothing.
#[test]
fn a_mistyped_commune_is_corrected_until_the_install_has_entries_or_is_enrolled() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = cchc_tests::Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    let code = hub.json(&["enroll", "create", "--unit", "70", "--json"])["code"]
        .as_str()
        .unwrap()
        .to_string();
    let url = hub.url();
    let ca = hub.ca();
    let ca = ca.to_str().unwrap();
    let a = Agent::new(tmp.path().join("a"));
    // 73 typed for 70: the code is for 70, so the hub refuses the enrollment.
    let out = a.run(&[
        "init", "--unit", "73", "--hub", &url, "--ca", ca, "--code", &code,
    ]);
    assert_eq!(out.status.code(), Some(8), "{}", describe("init 73", &out));
    assert_eq!(a.json(&["status", "--json"])["unit"], 73);
    // Corrected: the same code now enrolls the PC for 70.
    let out = a.ok(&[
        "init", "--unit", "70", "--hub", &url, "--ca", ca, "--code", &code,
    ]);
    assert!(out.contains("70"), "{out}");
    let status = a.json(&["status", "--json"]);
    assert_eq!(
        (status["unit"].as_u64(), status["enrolled"].as_bool()),
        (Some(70), Some(true))
    );
    a.ok(&[
        "record",
        "--period",
        "2026-11",
        "--procedure",
        "CT-01",
        "--received",
        "1",
    ]);
    a.ok(&["sync"]);
    // Enrolled (and with an entry now): refused, with what to do, nothing changed.
    let device = status["device"].as_str().unwrap().to_string();
    let before = a.dump();
    let out = a.run(&["init", "--unit", "73"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        describe("init 73 again", &out)
    );
    let said = String::from_utf8_lossy(&out.stderr);
    for part in [
        "bundle export",
        &format!("cchc-hub device revoke {device}"),
        "--data-dir",
        "holds 1 entry of its own",
    ] {
        assert!(said.contains(part), "should say {part:?}: {said}");
    }
    assert_eq!(a.dump(), before);
    // Enrolled but with nothing of its own yet: refused too, saying why.
    let b = Agent::new(tmp.path().join("b"));
    let code_b = hub.json(&["enroll", "create", "--unit", "70", "--json"])["code"]
        .as_str()
        .unwrap()
        .to_string();
    b.ok(&[
        "init", "--unit", "70", "--hub", &url, "--ca", ca, "--code", &code_b,
    ]);
    let out = b.run(&["init", "--unit", "73"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is enrolled with the hub"));
    hub.stop();
}

/// The command line's own help and errors are Vietnamese by default and English with
/// `--lang en` (or CCHC_LANG=en), with the usage error's exit code.
#[test]
fn help_and_usage_errors_are_vietnamese_by_default() {
    let run = |args: &[&str], env: Option<&str>| {
        let mut c = std::process::Command::new(cchc_tests::bin("cchc-agent"));
        c.args(args).env_remove("CCHC_LANG");
        if let Some(l) = env {
            c.env("CCHC_LANG", l);
        }
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, help, _) = run(&["--help"], None);
    assert_eq!(code, Some(0));
    for part in [
        "Cách dùng:",
        "Lệnh:",
        "Tùy chọn:",
        "Cộng thêm số liệu thủ tục",
        "Xem hướng dẫn",
    ] {
        assert!(help.contains(part), "{part:?} missing:\n{help}");
    }
    assert!(
        !help.contains("Usage:") && !help.contains("Print help"),
        "{help}"
    );
    let (_, help, _) = run(&["record", "--help"], None);
    assert!(
        help.contains("Số hồ sơ giải quyết đúng hạn.") && help.contains("Người nhập"),
        "{help}"
    );
    let (code, _, err) = run(&["recrd"], None);
    assert_eq!(code, Some(2));
    assert!(err.contains("Lỗi: không có lệnh 'recrd'"), "{err}");
    let (code, _, err) = run(&["record", "--period", "2026-11", "--foo", "1"], None);
    assert_eq!(code, Some(2));
    assert!(err.contains("không có tham số '--foo'"), "{err}");
    let (code, _, err) = run(&["record", "--procedure", "CT-01"], None);
    assert_eq!(code, Some(2));
    assert!(err.contains("thiếu tham số bắt buộc: --period"), "{err}");
    // English on request.
    let (_, help, _) = run(&["--lang", "en", "--help"], None);
    assert!(
        help.contains("Usage:") && help.contains("Add procedure counts"),
        "{help}"
    );
    let (_, help, _) = run(&["--help"], Some("en"));
    assert!(help.contains("Usage:"), "{help}");
    let (code, _, err) = run(&["--lang=en", "recrd"], None);
    assert_eq!(code, Some(2));
    assert!(err.contains("unrecognized subcommand 'recrd'"), "{err}");
}
