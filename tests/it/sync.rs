//! Agents converge through the hub over real HTTPS: several communes, two desks in
//! some, entries and syncs in random order (some agents syncing by themselves with
//! `run`), and at the end every desk of a commune shows the same state and the hub's
//! totals equal exactly what was recorded.

use cchc_tests::{signal, wait_exit, Agent, Hub, Rng};
use std::collections::BTreeMap;
use std::time::Duration;

const METRICS: [(&str, &str); 5] = [
    ("--received", "received"),
    ("--on-time", "on_time"),
    ("--late", "late"),
    ("--online", "online"),
    ("--satisfied", "satisfied"),
];

fn state_of(a: &Agent) -> serde_json::Value {
    let mut v = a.json(&["show", "--json"]);
    // The state, not who is looking at it.
    v.as_object_mut().unwrap().remove("device");
    v
}

#[test]
fn agents_converge_through_the_hub_and_totals_are_exact() {
    let mut rng = Rng::from_env("agents_converge_through_the_hub_and_totals_are_exact");
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    // Phường Ba Đình (4) and Phường Ngọc Hà (8) with two desks each, Giảng Võ (25) one.
    let desks: Vec<(u32, Agent)> = [(4, "a"), (4, "b"), (8, "c"), (8, "d"), (25, "e")]
        .into_iter()
        .map(|(u, n)| (u, hub.agent(tmp.path().join(n), u)))
        .collect();

    // Two desks sync by themselves while the others are driven by hand.
    let mut runners: Vec<std::process::Child> = [1usize, 2]
        .iter()
        .map(|&i| {
            desks[i]
                .1
                .command(&[
                    "run",
                    "--interval",
                    "1",
                    "--settle-ms",
                    "100",
                    "--retry-min-ms",
                    "100",
                    "--retry-max-ms",
                    "1000",
                ])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("run starts")
        })
        .collect();

    let mut expected: BTreeMap<u32, BTreeMap<&str, i64>> = BTreeMap::new();
    let procedures = ["CT-01", "CT-02", "CC-01"];
    let periods = ["2026-10", "2026-11"];
    let mut syncs = 0;
    for _ in 0..60 {
        let (unit, agent) = &desks[rng.below(desks.len() as u64) as usize];
        if rng.below(4) == 0 {
            agent.ok(&["sync"]);
            syncs += 1;
            continue;
        }
        let period = periods[rng.below(2) as usize];
        let procedure = procedures[rng.below(3) as usize];
        let mut args = vec![
            "record".to_string(),
            "--period".into(),
            period.into(),
            "--procedure".into(),
            procedure.into(),
        ];
        for (flag, metric) in METRICS {
            if rng.below(2) == 0 {
                let n = 1 + rng.below(40) as i64;
                args.push(flag.into());
                args.push(n.to_string());
                *expected
                    .entry(*unit)
                    .or_default()
                    .entry(metric)
                    .or_default() += n;
            }
        }
        if args.len() == 5 {
            args.push("--received".into());
            args.push("1".into());
            *expected
                .entry(*unit)
                .or_default()
                .entry("received")
                .or_default() += 1;
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        agent.ok(&args);
    }
    assert!(
        syncs > 0,
        "the random schedule should include explicit syncs"
    );

    for mut r in runners.drain(..) {
        signal(r.id(), "TERM");
        let status = wait_exit(&mut r, Duration::from_secs(30), "cchc-agent run");
        assert!(
            status.success(),
            "run should stop cleanly on SIGTERM: {status:?}"
        );
    }
    // Two rounds: the first brings everything to the hub, the second brings it down.
    for _ in 0..2 {
        for (_, a) in &desks {
            a.ok(&["sync"]);
        }
    }

    for pair in desks.windows(2) {
        if pair[0].0 == pair[1].0 {
            assert_eq!(
                state_of(&pair[0].1),
                state_of(&pair[1].1),
                "desks of commune {} differ",
                pair[0].0
            );
        }
    }
    for (_, a) in &desks {
        let st = a.json(&["status", "--json"]);
        assert_eq!(st["ops_pending"], 0, "{st}");
        assert!(st["last_sync"].is_string(), "{st}");
    }

    let report = hub.json(&["report", "--period", "2026", "--json"]);
    let mut totals: BTreeMap<&str, i64> = BTreeMap::new();
    for (unit, metrics) in &expected {
        let row = cchc_tests::commune_row(&report, *unit);
        for (_, m) in METRICS {
            let want = metrics.get(m).copied().unwrap_or(0);
            assert_eq!(row[m], want, "commune {unit} metric {m}: {row}");
            *totals.entry(m).or_default() += want;
        }
    }
    for (_, m) in METRICS {
        assert_eq!(report["totals"][m], totals[m], "province total {m}");
    }
    // Communes nobody recorded for are listed as not reported.
    let not_reported = report["communes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["reported"] == false)
        .count();
    assert_eq!(
        not_reported,
        report["communes"].as_array().unwrap().len() - expected.len()
    );

    // The hub's status: ops per commune equal what the desks hold.
    let status = hub.json(&["status", "--json"]);
    for (unit, a) in &desks {
        let held = a.json(&["status", "--json"])["ops_total"].clone();
        let row = cchc_tests::commune_row(&status, *unit);
        assert_eq!(row["ops"], held, "commune {unit}: {row}");
        assert!(row["last_sync"].is_string());
    }
    assert_eq!(hub.stop().code(), Some(0), "hub stops cleanly on SIGTERM");
}

/// README's first command: a real hub and real agents, ending with the province view.
#[test]
fn the_demo_runs_a_hub_and_agents_that_converge() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(cchc_tests::bin("cchc-hub"))
        .args(["demo", "--no-wait", "--dir"])
        .arg(tmp.path())
        .env_remove("CCHC_LANG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        cchc_tests::describe("cchc-hub demo", &out)
    );
    assert!(text.contains("Hai bàn đã có cùng một dữ liệu"), "{text}");
    assert!(text.contains("xã đã đồng bộ 3/3"), "{text}");
    // The hub it left behind holds what the desks hold.
    let hub = Hub::open(tmp.path().join("hub"));
    let status = hub.json(&["status", "--json"]);
    let synced: Vec<_> = status["communes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["devices"].as_u64().unwrap() > 0)
        .map(|c| (c["unit"].as_u64().unwrap(), c["devices"].as_u64().unwrap()))
        .collect();
    assert_eq!(synced, vec![(4, 1), (70, 2), (73, 1)]);
    let desk = Agent::new(tmp.path().join("hoan-kiem-ban-2"));
    let held = desk.json(&["status", "--json"])["ops_total"].clone();
    let row = cchc_tests::commune_row(&status, 70);
    assert_eq!(row["ops"], held);
}

/// Without `--no-wait` the demo keeps both faces up until Ctrl-C: the province's
/// dashboard over HTTPS and a desk's officer page, with the addresses and sign-in
/// printed; Ctrl-C stops everything it started.
#[test]
fn the_demo_keeps_the_dashboard_and_an_officer_page_serving_until_ctrl_c() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let mut demo = std::process::Command::new(cchc_tests::bin("cchc-hub"))
        .args(["demo", "--dir"])
        .arg(tmp.path())
        .env_remove("CCHC_LANG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(demo.stdout.take().unwrap()).lines();
    let mut text = String::new();
    let (mut dashboard, mut page, mut password) = (None, None, None);
    for line in lines.by_ref().map_while(|l| l.ok()) {
        text += &line;
        text.push('\n');
        if let Some(u) = line.split("dashboard: ").nth(1) {
            dashboard = Some(u.trim().trim_end_matches('/').to_string());
        }
        if let Some(p) = line.split("sign in: admin / ").nth(1) {
            password = p.split_whitespace().next().map(str::to_string);
        }
        if let Some(u) = line.split("officer page: ").nth(1) {
            page = Some(u.trim().to_string());
            break;
        }
    }
    let (dashboard, page, password) = (
        dashboard.unwrap_or_else(|| panic!("no dashboard address:\n{text}")),
        page.unwrap_or_else(|| panic!("no officer page address:\n{text}")),
        password.unwrap_or_else(|| panic!("no sign-in:\n{text}")),
    );
    // The officer page of Hoàn Kiếm's first desk, with the demo's data.
    let port: u16 = page
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    use std::io::{Read, Write};
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut home = String::new();
    s.read_to_string(&mut home).unwrap();
    assert!(home.starts_with("HTTP/1.1 200"), "{home}");
    assert!(home.contains("Phường Hoàn Kiếm"), "{home}");
    // The dashboard signs the admin in with the printed password.
    let hub = Hub::open(tmp.path().join("hub"));
    let resp = hub
        .client(None)
        .post(format!("{dashboard}/api/v1/login"))
        .body(serde_json::json!({"user": "admin", "password": password}).to_string())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // Ctrl-C: the demo, its hub and its desk stop.
    cchc_tests::signal(demo.id(), "INT");
    let status = cchc_tests::wait_exit(&mut demo, std::time::Duration::from_secs(60), "demo");
    assert!(status.success(), "{status:?}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    let hub_port: u16 = dashboard.rsplit(':').next().unwrap().parse().unwrap();
    assert!(std::net::TcpStream::connect(("127.0.0.1", hub_port)).is_err());
}

/// An agent holding older definitions still uploads (its ops are accepted as
/// recorded), and the newer definitions reach it in the same exchange.
#[test]
fn newer_definitions_flow_down_and_older_ops_are_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    let kit = cchc_tests::ReleaseKit::new(tmp.path().join("kit"));
    kit.trust(&hub);
    hub.start();
    let a = hub.agent(tmp.path().join("a"), 70);
    // Recorded under version 1, before the province publishes version 2.
    a.ok(&[
        "record",
        "--period",
        "2026-11",
        "--procedure",
        "CT-01",
        "--received",
        "4",
    ]);

    let file = cchc_tests::definitions_v2(tmp.path(), "Thủ tục thí điểm năm 2027");
    // Unsigned, it is refused: definitions come only signed by the province's key.
    let unsigned = hub
        .command(&["definitions", "publish", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(unsigned.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&unsigned.stderr).contains("not a release bundle"));
    let bundle = kit.sign_definitions(&file);
    hub.ok(&["definitions", "publish", bundle.to_str().unwrap()]);
    // Publishing the same version again is refused.
    let again = hub
        .command(&["definitions", "publish", bundle.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not newer"));

    let out = a.run(&[
        "record",
        "--period",
        "2026-11",
        "--procedure",
        "CT-99",
        "--received",
        "1",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "CT-99 is unknown before the sync"
    );
    let summary = a.json(&["sync", "--json"]);
    assert_eq!(summary["definitions"], serde_json::json!([2]), "{summary}");
    assert_eq!(summary["sent_new"], 1);
    assert_eq!(a.json(&["catalog", "--json"])["definitions_version"], 2);
    a.ok(&[
        "record",
        "--period",
        "2026-11",
        "--procedure",
        "CT-99",
        "--received",
        "1",
    ]);
    a.ok(&["sync"]);
    let report = hub.json(&["report", "--period", "2026-11", "--json"]);
    assert_eq!(report["totals"]["received"], 5, "{report}");
    // The hub stored each op with the version that validated it.
    let versions: Vec<u32> = hub.ops().iter().map(|o| o.defs).collect();
    assert_eq!(versions, vec![1, 2]);
}

fn hub_ops(hub: &Hub, unit: u32) -> u64 {
    cchc_tests::commune_row(&hub.json(&["status", "--json"]), unit)["ops"]
        .as_u64()
        .unwrap()
}

/// Polls `cond` until it holds, up to `limit` (a condition with a deadline, not a sleep).
fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `run` retries while the hub is down, syncs once it is back, and then syncs each
/// new entry soon after it is recorded although its interval is an hour.
#[test]
fn run_retries_until_the_hub_is_up_and_syncs_soon_after_each_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    let a = hub.agent(tmp.path().join("a"), 97);
    a.ok(&[
        "record",
        "--period",
        "2026-11",
        "--procedure",
        "CT-01",
        "--received",
        "2",
    ]);
    hub.kill();

    let mut run = a
        .command(&[
            "run",
            "--interval",
            "3600",
            "--settle-ms",
            "200",
            "--retry-min-ms",
            "100",
            "--retry-max-ms",
            "400",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // While the hub is down, sync reports the agent offline (exit 7) and nothing moves.
    let offline = a.run(&["sync"]);
    assert_eq!(
        offline.status.code(),
        Some(7),
        "{}",
        cchc_tests::describe("sync", &offline)
    );
    assert_eq!(a.json(&["status", "--json"])["ops_pending"], 1);

    hub.start();
    wait_until(
        Duration::from_secs(60),
        "the backlog to reach the restarted hub",
        || hub_ops(&hub, 97) == 1,
    );
    for n in 2..=3 {
        a.ok(&[
            "record",
            "--period",
            "2026-11",
            "--procedure",
            "CT-02",
            "--received",
            "1",
        ]);
        wait_until(
            Duration::from_secs(60),
            "the new entry to reach the hub",
            || hub_ops(&hub, 97) == n,
        );
    }
    signal(run.id(), "INT");
    let status = wait_exit(&mut run, Duration::from_secs(30), "cchc-agent run");
    assert!(status.success(), "run stops cleanly on SIGINT: {status:?}");
    let mut log = String::new();
    std::io::Read::read_to_string(run.stdout.as_mut().unwrap(), &mut log).unwrap();
    assert!(
        log.contains("retrying in"),
        "the log shows the retries:\n{log}"
    );
    assert_eq!(a.json(&["status", "--json"])["ops_pending"], 0);
}

/// A hub restored from an older backup lacks ops the agents believe it holds: the
/// next upload leaves a gap, the hub answers 409 with what it holds, and the agent
/// re-sends from there. Nothing is lost.
#[test]
fn a_hub_restored_from_an_old_backup_is_repaired_by_resending() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    let a = hub.agent(tmp.path().join("a"), 4);
    let record = |n: &str| {
        a.ok(&[
            "record",
            "--period",
            "2026-11",
            "--procedure",
            "CT-01",
            "--received",
            n,
        ])
    };
    record("1");
    a.ok(&["sync"]);
    // Taken while the hub serves.
    let backup = tmp.path().join("backup.db");
    hub.ok(&["backup", "--out", backup.to_str().unwrap()]);
    record("10");
    a.ok(&["sync"]);
    assert_eq!(hub_ops(&hub, 4), 2);
    // Disaster: the hub comes back from the backup taken before op 2.
    assert!(hub.stop().success());
    let said = hub.ok(&["restore", "--from", backup.to_str().unwrap()]);
    assert!(said.contains("province 1, 1 ops"), "{said}");
    hub.start();
    assert_eq!(hub_ops(&hub, 4), 1);
    record("100");
    let summary = a.json(&["sync", "--json"]);
    assert_eq!(
        summary["sent_new"], 2,
        "ops 2 and 3 re-sent after the gap: {summary}"
    );
    assert_eq!(summary["pending"], 0);
    assert_eq!(hub_ops(&hub, 4), 3);
    let report = hub.json(&["report", "--period", "2026-11", "--json"]);
    assert_eq!(report["totals"]["received"], 111, "{report}");
}

/// An agent not yet updated speaks protocol 1 (gzip JSON): this hub still takes it,
/// answers it in kind, and it converges with an updated desk of its commune (protocol
/// 2, binary); the hub's device list says which desk must still be updated.
#[test]
fn an_agent_of_the_previous_protocol_syncs_with_this_hub_and_converges() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    let mut old = hub.agent(tmp.path().join("old"), 4);
    old.wrapper = vec!["env".into(), "CCHC_TEST_PROTOCOL=1".into()];
    let new = hub.agent(tmp.path().join("new"), 4);
    let mut expected = 0;
    for (round, n) in [3, 5, 7, 11].into_iter().enumerate() {
        let desk = if round % 2 == 0 { &old } else { &new };
        let period = format!("2026-{:02}", 9 + round % 3);
        desk.ok(&[
            "record",
            "--period",
            &period,
            "--procedure",
            "CT-01",
            "--received",
            &n.to_string(),
        ]);
        expected += n;
        // Each sync is one request of its own version: check what each side said.
        let summary = desk.json(&["sync", "--json"]);
        let want = if round % 2 == 0 { 1 } else { 2 };
        assert_eq!(summary["protocol"], want, "{summary}");
        assert_eq!(summary["pending"], 0, "{summary}");
    }
    old.ok(&["sync"]);
    new.ok(&["sync"]);
    let state = |a: &Agent| state_of(a);
    assert_eq!(state(&old), state(&new), "the two desks converged");
    let total: i64 = ["2026-09", "2026-10", "2026-11"]
        .iter()
        .map(|p| {
            hub.json(&["report", "--period", p, "--json"])["totals"]["received"]
                .as_i64()
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(total, expected);
    assert_eq!(hub.ops().len(), 4, "each op held once");
    let devices = hub.json(&["device", "list", "--json"]);
    let protocols: BTreeMap<String, serde_json::Value> = devices
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["id"].as_str().unwrap().to_string(), d["protocol"].clone()))
        .collect();
    let id = |a: &Agent| {
        a.json(&["status", "--json"])["device"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(protocols[&id(&old)], 1, "{devices}");
    assert_eq!(protocols[&id(&new)], 2, "{devices}");
}
