//! Nothing acknowledged is lost: `record` processes are killed with SIGKILL at random
//! points of their run; every invocation that printed "Saved" must be in the op log
//! afterwards, the counts must equal the ops held (nothing half-applied), and the
//! database must pass `PRAGMA integrity_check` and the agent's own replay check.

use cchc_tests::{describe, integrity, Agent, Rng};
use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

const MIN_INVOCATIONS: usize = 500;
const MIN_KILLS: usize = 20;
const MAX_INVOCATIONS: usize = 3000;

/// Parses "Saved (op <device>:<seq>)" from a record's stdout.
fn saved_id(stdout: &str) -> Option<String> {
    let rest = stdout.strip_prefix("Saved (op ")?;
    Some(rest.split(')').next()?.to_string())
}

#[test]
fn sigkill_during_record_loses_nothing_acknowledged() {
    let mut rng = Rng::from_env("sigkill_during_record_loses_nothing_acknowledged");
    let tmp = tempfile::tempdir().unwrap();
    let a = Agent::new(tmp.path().join("desk"));
    a.ok(&["init", "--unit", "70"]);
    let procs = ["CT-01", "CT-02", "CC-01", "DX-01"];

    // How long one record takes here, so kills land anywhere in a run.
    let mut durations = Vec::new();
    let mut saved = BTreeSet::new();
    let mut invocations = 0;
    for i in 0..10 {
        let t = Instant::now();
        let out = a.ok(&[
            "record",
            "--period",
            "2026-11",
            "--procedure",
            procs[i % 4],
            "--received",
            "1",
        ]);
        durations.push(t.elapsed());
        saved.insert(saved_id(&out).expect("record prints Saved"));
        invocations += 1;
    }
    durations.sort();
    let typical = durations[durations.len() / 2];

    let mut kills = 0;
    let mut kills_after_exit = 0;
    while (invocations < MIN_INVOCATIONS || kills < MIN_KILLS) && invocations < MAX_INVOCATIONS {
        invocations += 1;
        let procedure = procs[rng.below(4) as usize];
        let mut child = a
            .command(&[
                "record",
                "--period",
                "2026-11",
                "--procedure",
                procedure,
                "--received",
                "1",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("agent starts");
        // One run in four is killed at a random point of a typical run's length.
        if rng.below(4) == 0 {
            let at = typical.mul_f64(rng.below(1000) as f64 / 1000.0 * 1.2);
            let deadline = Instant::now() + at;
            // Fault injection, not synchronisation: wait until the chosen instant.
            while Instant::now() < deadline {
                if child.try_wait().expect("try_wait").is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            let _ = child.kill();
        }
        let status = child.wait().expect("wait");
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        match status.signal() {
            Some(9) => kills += 1,
            Some(s) => panic!("record died of signal {s}: {stderr}"),
            None if !status.success() => panic!(
                "record failed after a kill: {status:?}\n{stdout}\n{stderr}\n{}",
                a.dump()
            ),
            None => {}
        }
        if let Some(id) = saved_id(&stdout) {
            if status.signal() == Some(9) {
                kills_after_exit += 1;
            }
            saved.insert(id);
        }
    }
    eprintln!(
        "{invocations} record runs, {kills} killed by SIGKILL ({kills_after_exit} after printing Saved), \
         {} acknowledged; typical run {typical:?}",
        saved.len()
    );
    assert!(
        invocations >= MIN_INVOCATIONS,
        "only {invocations} invocations"
    );
    assert!(
        kills >= MIN_KILLS,
        "only {kills} runs were actually killed mid-run (of {invocations})"
    );

    // After the last kill: the database is sound and holds every acknowledged op.
    assert_eq!(integrity(&a.db()), "ok");
    let check = a.run(&["check"]);
    assert!(check.status.success(), "{}", describe("check", &check));
    let conn = rusqlite::Connection::open(a.db()).unwrap();
    let held: BTreeSet<String> = conn
        .prepare("SELECT printf('%016x:%d', actor, seq) FROM ops")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let lost: Vec<&String> = saved.difference(&held).collect();
    assert!(
        lost.is_empty(),
        "acknowledged ops lost after SIGKILL: {lost:?}"
    );
    // Each op adds exactly 1 received: the total equals the ops held (no half-applied op).
    let show = a.json(&["show", "--json"]);
    let total: i64 = show["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_i64().unwrap())
        .sum();
    assert_eq!(total as usize, held.len(), "counts and op log disagree");
    assert!(held.len() >= saved.len() && held.len() <= invocations);
}
