//! Where the hub keeps its data, and moving it: a province's SQLite hub moved to
//! PostgreSQL with nothing lost, and a backup taken while agents sync that restores to
//! a hub consistent with itself, then repaired by the agents' re-send.

use cchc_tests::{commune_row, pg_schema_url, wait_for, write_backlog_bundle, Agent, Hub};
use serde_json::Value;

fn record(a: &Agent, period: &str, received: u32) {
    a.ok(&[
        "record",
        "--period",
        period,
        "--procedure",
        "CT-01",
        "--received",
        &received.to_string(),
    ]);
}

/// Everything a province reads of its hub: the reports of the periods recorded, every
/// commune's status (ops, devices, last sync, scores) and the audit log.
fn reads(hub: &Hub) -> Vec<Value> {
    vec![
        hub.json(&["report", "--period", "2026-10", "--json"]),
        hub.json(&["report", "--period", "2026-11", "--json"]),
        hub.json(&["status", "--json"]),
        hub.json(&["device", "list", "--json"]),
        hub.json(&["audit", "--limit", "1000", "--json"]),
    ]
}

/// A province on SQLite with more than 10,000 ops, enrolled devices, users, a plan and
/// a verification is moved to PostgreSQL: `migrate` compares every table, `check`
/// prints the same digests on both sides, every report reads the same, and the moved
/// hub goes on taking syncs and writing its audit log.
#[test]
fn a_province_moved_to_postgresql_keeps_every_op_and_reads_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init_on_sqlite(tmp.path().join("hub"), 1);
    hub.start();
    let a = hub.agent(tmp.path().join("a"), 4);
    let b = hub.agent(tmp.path().join("b"), 8);
    let backlog = tmp.path().join("backlog.json");
    let sibling = write_backlog_bundle(&backlog, 4, 0x0bac_0001, 10_200);
    a.ok(&["bundle", "import", backlog.to_str().unwrap()]);
    record(&a, "2026-11", 7);
    record(&b, "2026-11", 5);
    a.ok(&[
        "assess",
        "--phase",
        "1",
        "--criterion",
        "TC-01",
        "--score",
        "8",
    ]);
    a.ok(&["sync"]);
    b.ok(&["sync"]);
    hub.user("lan", "analyst");
    hub.ok(&["phase", "assign", "--phase", "1", "--unit", "4"]);
    hub.ok(&[
        "verify",
        "--unit",
        "4",
        "--phase",
        "1",
        "--criterion",
        "TC-01",
        "--score",
        "9",
        "--by",
        "lan",
    ]);
    let before = reads(&hub);
    assert!(
        commune_row(&before[2], 4)["ops"].as_u64().unwrap() > 10_000,
        "{}",
        before[2]
    );
    assert_eq!(before[0]["totals"]["received"], sibling, "{}", before[0]);
    let check_before = hub.json(&["check", "--json"]);
    assert!(hub.stop().success());

    let moved = hub.json(&[
        "migrate",
        "--from",
        &format!("sqlite:{}", hub.dir.display()),
        "--to",
        &pg_schema_url(),
        "--json",
    ]);
    assert_eq!(moved["tables"], check_before["tables"], "{moved}");
    assert!(hub.on_postgres(), "the data directory now names PostgreSQL");
    assert!(!hub.db().exists());
    assert!(
        hub.dir.join("hub.db.migrated").exists(),
        "the old file is kept"
    );
    let check_after = hub.json(&["check", "--json"]);
    assert_eq!(check_after["tables"], check_before["tables"]);
    assert_ne!(check_after["store"], check_before["store"]);

    hub.start();
    assert_eq!(reads(&hub), before, "every read the same after the move");
    // The moved hub takes new syncs (device nonces and audit ids go on from the copy).
    record(&b, "2026-11", 20);
    b.ok(&["sync"]);
    hub.ok(&["user", "remove", "lan"]);
    let report = hub.json(&["report", "--period", "2026-11", "--json"]);
    assert_eq!(report["totals"]["received"], 7 + 5 + 20, "{report}");
    assert_eq!(
        commune_row(&hub.json(&["status", "--json"]), 8)["ops"],
        2,
        "commune 8's two ops"
    );
    // A second move is refused: the hub is no longer on SQLite.
    assert!(hub.stop().success());
    let again = hub
        .command(&[
            "migrate",
            "--from",
            &format!("sqlite:{}", hub.dir.display()),
            "--to",
            &pg_schema_url(),
        ])
        .output()
        .unwrap();
    assert!(!again.status.success());
}

/// A backup taken while two desks keep recording and syncing holds one moment of the
/// hub: restored into a new hub, each commune's report counts exactly the ops that hub
/// holds for it (every entry adds 1), no more and no less; after the restore, the
/// agents' next sync re-sends what the backup lacked and the totals are whole again.
#[test]
fn a_backup_taken_during_syncs_restores_to_one_consistent_moment() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    let desks = [
        hub.agent(tmp.path().join("a"), 4),
        hub.agent(tmp.path().join("b"), 8),
    ];
    let stop = std::sync::atomic::AtomicBool::new(false);
    let file = tmp.path().join("during.db");
    let (rounds, printed) = std::thread::scope(|s| {
        let load = s.spawn(|| {
            // Bounded: it stops by itself after 400 rounds if the backup never ends.
            let mut rounds = 0;
            while rounds < 400 && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for d in &desks {
                    record(d, "2026-11", 1);
                    d.ok(&["sync"]);
                }
                rounds += 1;
            }
            rounds
        });
        wait_for(
            "both communes' first entries at the hub",
            60,
            || {
                let st = hub.json(&["status", "--json"]);
                [4, 8].map(|u| commune_row(&st, u)["ops"].as_u64().unwrap_or(0))
            },
            |ops| ops.iter().all(|n| *n > 0),
        );
        let printed = hub.ok(&["backup", "--out", file.to_str().unwrap()]);
        // The load goes on until the hub holds more than the backup (on a busy machine
        // the backup may end just as a round does).
        let backed_up: u64 = printed
            .split("province 1, ")
            .nth(1)
            .and_then(|t| t.split(" ops").next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("backup says how many ops it holds: {printed}"));
        wait_for(
            "an entry at the hub after the backup",
            60,
            || {
                let st = hub.json(&["status", "--json"]);
                [4, 8]
                    .map(|u| commune_row(&st, u)["ops"].as_u64().unwrap_or(0))
                    .iter()
                    .sum::<u64>()
            },
            |ops| *ops > backed_up,
        );
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (load.join().unwrap(), printed)
    });
    assert!(
        rounds < 400,
        "the load was still running when the backup ended"
    );
    let total_now: u64 = {
        let st = hub.json(&["status", "--json"]);
        [4, 8]
            .iter()
            .map(|u| commune_row(&st, *u)["ops"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(total_now, 2 * rounds as u64);

    // Disaster: the hub comes back from the backup (on this pass's engine).
    assert!(hub.stop().success());
    let restored = &mut hub;
    let said = restored.ok(&["restore", "--from", file.to_str().unwrap()]);
    let status = restored.json(&["status", "--json"]);
    let report = restored.json(&["report", "--period", "2026-11", "--json"]);
    let mut held = 0;
    for unit in [4, 8] {
        let ops = commune_row(&status, unit)["ops"].as_u64().unwrap();
        assert!(
            ops > 0,
            "commune {unit}: the backup came after its first entry"
        );
        assert_eq!(
            commune_row(&report, unit)["received"].as_u64().unwrap_or(0),
            ops,
            "commune {unit}: its counts are those of the ops held, one moment of the hub"
        );
        held += ops;
    }
    assert!(held < total_now, "the backup came before the load ended");
    for (who, text) in [("backup", &printed), ("restore", &said)] {
        assert!(
            text.contains(&format!("province 1, {held} ops")),
            "{who} says what the backup holds: {text}"
        );
    }
    restored.ok(&["check"]);

    // The restored hub serves the same agents, who re-send what it lacks.
    restored.start();
    for d in &desks {
        d.ok(&["sync"]);
    }
    let report = restored.json(&["report", "--period", "2026-11", "--json"]);
    assert_eq!(report["totals"]["received"], total_now, "{report}");
}

/// The audit log is append-only in the database itself, whichever the engine: an
/// UPDATE, a DELETE (and on PostgreSQL a TRUNCATE) of it is refused by the database,
/// and the rows stay.
#[test]
fn the_audit_log_refuses_update_and_delete_on_either_engine() {
    use cchc_sql::{Db, DbExt};
    let tmp = tempfile::tempdir().unwrap();
    let hub = Hub::init(tmp.path().join("hub"), 1);
    hub.user("lan", "viewer");
    let db = hub.database();
    let count = || -> i64 {
        db.query_one("SELECT count(*) FROM audit", &[], |r| r.get(0))
            .unwrap()
    };
    let before = count();
    assert!(before > 0, "adding a user is audited");
    let mut tries = vec!["UPDATE audit SET outcome = 'ok'", "DELETE FROM audit"];
    if hub.on_postgres() {
        tries.push("TRUNCATE audit");
    }
    for sql in tries {
        let e = db.exec(sql, &[]).unwrap_err().to_string();
        assert!(e.contains("append-only"), "{sql}: {e}");
    }
    assert_eq!(count(), before);
}
