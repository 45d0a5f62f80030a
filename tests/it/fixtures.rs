//! Every input that ever broke or fooled a parser stays broken on purpose: each file
//! under `tests/fixtures/bad/<parser>/` goes through the real program that reads such
//! input, which must refuse it with the error its `.expect` file names and store
//! nothing. The six parsers and their way in:
//!
//! | parser | fixture | way in |
//! | --- | --- | --- |
//! | `sync_decode` | a sync request body | `POST /api/v1/sync`, signed by an enrolled device of commune 4 |
//! | `op_json` | one op | in a bundle, `cchc-agent bundle import` |
//! | `bundle` | a bundle file | `cchc-agent bundle import` |
//! | `unit_csv` | a unit list | `cchc-agent init --unit 4 --units-csv` |
//! | `plan_csv` | a rollout plan | `cchc-hub phase assign --csv` |
//! | `definitions` | a definitions document | `release sign --definitions`, then `definitions publish` |
//!
//! An `.expect` file holds two lines: `<status> <code>` (sync) or `exit <n>`
//! (commands), then text the English message must contain.

use cchc_common::sync::{MEDIA_TYPE, PROTOCOL_HEADER, SYNC_PATH};
use cchc_tests::{describe, dump_db_except, workspace, Agent, Hub, Signer};
use std::collections::BTreeMap;
use std::path::PathBuf;

const DEVICE: u64 = 0x5eed_0000_0000_0001;
const PARSERS: [&str; 6] = [
    "sync_decode",
    "op_json",
    "bundle",
    "unit_csv",
    "plan_csv",
    "definitions",
];

struct Fixture {
    path: PathBuf,
    /// `(status, code)` for sync, `exit n` otherwise.
    outcome: String,
    message: String,
}

/// The fixtures of one parser, by name.
fn fixtures(parser: &str) -> BTreeMap<String, Fixture> {
    let dir = workspace().join("tests/fixtures/bad").join(parser);
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "expect") {
            continue;
        }
        let expect = path.with_extension("expect");
        let text = std::fs::read_to_string(&expect)
            .unwrap_or_else(|e| panic!("{} has no {}: {e}", path.display(), expect.display()));
        let mut lines = text.lines();
        let outcome = lines.next().unwrap_or_default().trim().to_string();
        let message = lines.next().unwrap_or_default().trim().to_string();
        assert!(
            !outcome.is_empty() && !message.is_empty(),
            "{}: two lines, the outcome and the message",
            expect.display()
        );
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        out.insert(
            name,
            Fixture {
                path,
                outcome,
                message,
            },
        );
    }
    assert!(!out.is_empty(), "{}: no fixture", dir.display());
    out
}

/// A command refused as the fixture expects, and the database it must not touch
/// unchanged.
fn refused(
    what: &str,
    f: &Fixture,
    out: &std::process::Output,
    dump: &dyn Fn() -> String,
    before: &str,
) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        format!("exit {}", out.status.code().unwrap_or(-1)),
        f.outcome,
        "{what}\n{}",
        describe(what, out)
    );
    assert!(
        stderr.contains(&f.message),
        "{what}: the message should name '{}'\n{}",
        f.message,
        describe(what, out)
    );
    assert_eq!(dump(), before, "{what}: the database changed");
}

#[test]
fn every_broken_input_on_file_is_refused_by_name_and_stores_nothing() {
    let all: BTreeMap<&str, BTreeMap<String, Fixture>> =
        PARSERS.iter().map(|p| (*p, fixtures(p))).collect();
    let extra: Vec<String> = std::fs::read_dir(workspace().join("tests/fixtures/bad"))
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().to_string_lossy().into_owned();
            (e.path().is_dir() && !PARSERS.contains(&name.as_str())).then_some(name)
        })
        .collect();
    assert!(extra.is_empty(), "fixtures no test replays: {extra:?}");

    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    let agent = hub.agent(tmp.path().join("agent"), 4);
    agent.ok(&[
        "record",
        "--period",
        "2026-10",
        "--procedure",
        "CT-01",
        "--received",
        "3",
    ]);
    agent.ok(&["sync"]);
    let device = Signer::new(DEVICE, 7);
    assert_eq!(device.enroll(&hub, 4, &hub.code(4)), 200);
    let mut replayed = 0;

    // Sync request bodies, signed by the enrolled device.
    let http = hub.client(None);
    let base = hub.url();
    let mut nonce = 1;
    for (name, f) in &all["sync_decode"] {
        let what = format!("sync_decode/{name}");
        let before = hub.dump_except(&["audit"]);
        nonce += 1;
        let body = std::fs::read(&f.path).unwrap();
        let resp = device
            .post(&http, &base, SYNC_PATH, nonce, body)
            .header(PROTOCOL_HEADER, "1")
            .header("content-type", MEDIA_TYPE)
            .header("content-encoding", "gzip")
            .send()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{what}: the refusal is not JSON ({e}): {text}"));
        assert_eq!(
            format!("{status} {}", doc["error"].as_str().unwrap_or("")),
            f.outcome,
            "{what}: {text}"
        );
        assert!(
            doc["message"].as_str().unwrap_or("").contains(&f.message),
            "{what}: the message should name '{}': {text}",
            f.message
        );
        assert!(
            !doc["message_vi"].as_str().unwrap_or("").is_empty(),
            "{what}"
        );
        assert_eq!(
            hub.dump_except(&["audit"]),
            before,
            "{what}: the hub database changed"
        );
        replayed += 1;
    }

    // Ops in a bundle, and bundles, imported by the agent of commune 4.
    for (name, f) in &all["op_json"] {
        let what = format!("op_json/{name}");
        let op: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&f.path).unwrap()).unwrap();
        let bundle = tmp.path().join("op.cchc");
        std::fs::write(
            &bundle,
            serde_json::to_vec(&serde_json::json!({
                "format": "cchc-bundle", "version": 1, "unit": 4,
                "sender": format!("{DEVICE:016x}"), "sent_at_ms": 1_790_000_000_000i64,
                "version_vector": { format!("{DEVICE:016x}"): 1 }, "ops": [op],
            }))
            .unwrap(),
        )
        .unwrap();
        let before = agent.dump();
        let out = agent.run(&["bundle", "import", bundle.to_str().unwrap()]);
        refused(
            &what,
            f,
            &out,
            &|| dump_db_except(&agent.db(), &["audit"]),
            &before,
        );
        replayed += 1;
    }
    for (name, f) in &all["bundle"] {
        let what = format!("bundle/{name}");
        let before = agent.dump();
        let out = agent.run(&["bundle", "import", f.path.to_str().unwrap()]);
        refused(
            &what,
            f,
            &out,
            &|| dump_db_except(&agent.db(), &["audit"]),
            &before,
        );
        replayed += 1;
    }

    // Unit lists: init refuses and creates nothing.
    for (name, f) in &all["unit_csv"] {
        let what = format!("unit_csv/{name}");
        let fresh = Agent::new(tmp.path().join(format!("init-{name}")));
        let out = fresh.run(&[
            "init",
            "--unit",
            "4",
            "--units-csv",
            f.path.to_str().unwrap(),
        ]);
        refused(
            &what,
            f,
            &out,
            &|| dump_db_except(&fresh.db(), &[]),
            &dump_db_except(&fresh.db(), &[]),
        );
        assert!(!fresh.db().exists(), "{what}: a database was created");
        replayed += 1;
    }

    // Plans at the hub.
    for (name, f) in &all["plan_csv"] {
        let what = format!("plan_csv/{name}");
        let before = hub.dump_except(&["audit"]);
        let out = hub
            .command(&["phase", "assign", "--csv", f.path.to_str().unwrap()])
            .output()
            .unwrap();
        refused(&what, f, &out, &|| hub.dump_except(&["audit"]), &before);
        replayed += 1;
    }
    // Definitions: the offline signer refuses a broken document before signing it;
    // one it signs, the hub refuses at publishing.
    let kit = cchc_tests::ReleaseKit::new(tmp.path().join("kit"));
    kit.trust(&hub);
    for (name, f) in &all["definitions"] {
        let what = format!("definitions/{name}");
        let before = hub.dump_except(&["audit"]);
        let bundle = tmp.path().join(format!("{name}.bundle"));
        let signed = kit
            .command(&[
                "release",
                "sign",
                "--key",
                kit.key.to_str().unwrap(),
                "--definitions",
                f.path.to_str().unwrap(),
                "--out",
                bundle.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let out = if signed.status.success() {
            hub.command(&["definitions", "publish", bundle.to_str().unwrap()])
                .output()
                .unwrap()
        } else {
            assert!(!bundle.exists(), "{what}: a bundle was written");
            signed
        };
        refused(&what, f, &out, &|| hub.dump_except(&["audit"]), &before);
        replayed += 1;
    }
    let total: usize = all.values().map(BTreeMap::len).sum();
    assert_eq!(replayed, total);

    // Still whole: the honest agent syncs on.
    agent.ok(&["sync"]);
    hub.stop();
}
