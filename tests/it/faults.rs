//! Whatever the network does, nothing acknowledged is lost and nothing is counted
//! twice: agents sync through a proxy that drops, delays, duplicates and cuts
//! requests and responses mid-body, and the hub is SIGKILLed and restarted while it
//! holds a request. At the end every desk of a commune agrees and the hub's totals
//! equal exactly what was recorded.

use cchc_tests::proxy::{Fault, FaultProxy};
use cchc_tests::{signal, wait_exit, Agent, Hub, Rng};
use std::collections::BTreeMap;
use std::time::Duration;

/// Runs `sync` until it succeeds; every failure must be a recoverable one (exit 7:
/// hub unreachable or exchange cut). Returns the number of failed attempts.
fn sync_until_ok(a: &Agent) -> u32 {
    for failures in 0..60 {
        let out = a.run(&["sync"]);
        match out.status.code() {
            Some(0) => return failures,
            Some(7) => continue,
            _ => panic!(
                "sync failed in a way the agent cannot recover from:\n{}",
                cchc_tests::describe("sync", &out)
            ),
        }
    }
    panic!("sync did not succeed in 60 attempts through the fault proxy");
}

#[test]
fn faults_and_hub_kills_lose_nothing_and_count_nothing_twice() {
    let mut rng = Rng::from_env("faults_and_hub_kills_lose_nothing_and_count_nothing_twice");
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    let proxy = FaultProxy::start(&hub.dir.join("tls"), hub.port, rng.next_u64());
    let ca = hub.ca();
    let desks: Vec<(u32, Agent)> = [(70, "a"), (70, "b"), (73, "c"), (73, "d"), (4, "e")]
        .into_iter()
        .map(|(u, n)| {
            // Enrolled directly with the hub, then pointed at the proxy.
            let a = hub.agent(tmp.path().join(n), u);
            a.ok(&[
                "init",
                "--unit",
                &u.to_string(),
                "--hub",
                &proxy.url(),
                "--ca",
                ca.to_str().unwrap(),
            ]);
            (u, a)
        })
        .collect();
    let mut expected: BTreeMap<u32, i64> = BTreeMap::new();
    // Desk e carries a backlog of 4,500 ops from a sibling desk: three batches, each
    // exposed to the faults on its own.
    let backlog = tmp.path().join("backlog.json");
    let received = cchc_tests::write_backlog_bundle(&backlog, 4, 0x0bac_0001, 4_500);
    desks[4]
        .1
        .ok(&["bundle", "import", backlog.to_str().unwrap()]);
    *expected.entry(4).or_default() += received;

    let mut runners: Vec<std::process::Child> = [0usize, 3]
        .iter()
        .map(|&i| {
            desks[i]
                .1
                .command(&[
                    "run",
                    "--interval",
                    "1",
                    "--settle-ms",
                    "50",
                    "--retry-min-ms",
                    "50",
                    "--retry-max-ms",
                    "500",
                ])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("run starts")
        })
        .collect();

    let mut failed_syncs = 0;
    let mut kills = 0;
    for step in 0..50 {
        if step == 15 || step == 35 {
            // Hold a request the hub has received, kill the hub while it holds it,
            // restart it on the same port, then let the proxy read the dead socket.
            let release = proxy
                .hold_next_forwarded(Duration::from_secs(60))
                .expect("a runner sends a request within a minute");
            hub.kill();
            assert_eq!(hub.integrity(), "ok");
            hub.start();
            let _ = release.send(());
            kills += 1;
        }
        let (unit, agent) = &desks[rng.below(desks.len() as u64) as usize];
        if rng.below(3) == 0 {
            let out = agent.run(&["sync"]);
            match out.status.code() {
                Some(0) => {}
                Some(7) => failed_syncs += 1,
                _ => panic!(
                    "unrecoverable sync failure:\n{}",
                    cchc_tests::describe("sync", &out)
                ),
            }
            continue;
        }
        let n = 1 + rng.below(25) as i64;
        let period = if rng.below(2) == 0 {
            "2026-10"
        } else {
            "2026-11"
        };
        agent.ok(&[
            "record",
            "--period",
            period,
            "--procedure",
            "CT-02",
            "--received",
            &n.to_string(),
        ]);
        *expected.entry(*unit).or_default() += n;
    }
    for mut r in runners.drain(..) {
        signal(r.id(), "TERM");
        let status = wait_exit(&mut r, Duration::from_secs(30), "cchc-agent run");
        assert!(status.success(), "run should stop cleanly: {status:?}");
    }
    // Faults stay on: each desk retries until its sync succeeds, twice round.
    for _ in 0..2 {
        for (_, a) in &desks {
            failed_syncs += sync_until_ok(a);
        }
    }

    let counts = proxy.counts();
    eprintln!(
        "faults applied: {counts:?}; failed syncs retried: {failed_syncs}; hub kills: {kills}"
    );
    for f in [
        Fault::Delay,
        Fault::DropRequest,
        Fault::Duplicate,
        Fault::CutRequest,
        Fault::DropResponse,
        Fault::CutResponse,
    ] {
        assert!(
            counts.get(&f).copied().unwrap_or(0) > 0,
            "fault {f:?} never happened: {counts:?}"
        );
    }
    assert!(
        failed_syncs > 0,
        "the faults should have made some syncs fail"
    );
    assert_eq!(kills, 2);

    for pair in desks.windows(2) {
        if pair[0].0 == pair[1].0 {
            let show = |a: &Agent| a.json(&["show", "--json"]);
            assert_eq!(
                show(&pair[0].1),
                show(&pair[1].1),
                "desks of {} differ",
                pair[0].0
            );
        }
    }
    let report = hub.json(&["report", "--period", "2026", "--json"]);
    let mut total = 0;
    for (unit, want) in &expected {
        let row = cchc_tests::commune_row(&report, *unit);
        assert_eq!(row["received"], *want, "commune {unit}: {row}");
        total += want;
    }
    assert_eq!(report["totals"]["received"], total);
    let status = hub.json(&["status", "--json"]);
    for (unit, a) in &desks {
        let st = a.json(&["status", "--json"]);
        assert_eq!(st["ops_pending"], 0, "{st}");
        let row = cchc_tests::commune_row(&status, *unit);
        assert_eq!(row["ops"], st["ops_total"], "commune {unit}");
    }
    assert_eq!(hub.integrity(), "ok");
}
