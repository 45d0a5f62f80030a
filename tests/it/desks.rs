//! Several desks of one station converge through bundles: each records on its own,
//! they exchange only what the other lacks, and all show the same state, with counts
//! equal to the sum of what was recorded.

use cchc_tests::Agent;

fn count(view: &serde_json::Value, period: &str, procedure: &str, metric: &str) -> i64 {
    view["counts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["period"] == period && c["procedure"] == procedure && c["metric"] == metric)
        .map(|c| c["value"].as_i64().unwrap())
        .unwrap_or(0)
}

#[test]
fn two_desks_exchange_deltas_and_converge() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Agent::new(tmp.path().join("a"));
    let b = Agent::new(tmp.path().join("b"));
    a.ok(&["init", "--unit", "70"]);
    b.ok(&["init", "--unit", "70"]);
    let f = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();

    a.ok(&[
        "record",
        "--period",
        "2026-11",
        "--procedure",
        "CT-01",
        "--received",
        "10",
        "--on-time",
        "8",
    ]);
    b.ok(&[
        "record",
        "--period",
        "2026-11",
        "--procedure",
        "CT-01",
        "--received",
        "4",
        "--satisfied",
        "4",
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
    a.ok(&["bundle", "export", "--out", &f("a1.json")]);
    let imported = b.ok(&["bundle", "import", &f("a1.json")]);
    assert!(imported.contains("Imported 3 new ops"), "{imported}");
    // b registers a task on a's pledge and corrects a's over-count.
    b.ok(&[
        "pledge",
        "task",
        "--year",
        "2026",
        "--signer",
        "nguyen van an",
        "--add",
        "Tăng hồ sơ trực tuyến",
    ]);
    b.ok(&[
        "record",
        "--period",
        "2026-11",
        "--procedure",
        "CT-01",
        "--received",
        "2",
        "--correct",
    ]);
    // Only the delta goes back: b's 3 ops, not a's again.
    b.ok(&[
        "bundle",
        "export",
        "--out",
        &f("b1.json"),
        "--since",
        &f("a1.json"),
    ]);
    let back: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f("b1.json")).unwrap()).unwrap();
    assert_eq!(
        back["ops"].as_array().unwrap().len(),
        3,
        "export --since sent more than the delta"
    );
    let imported = a.ok(&["bundle", "import", &f("b1.json")]);
    assert!(
        imported.contains("Imported 3 new ops (0 already held)"),
        "{imported}"
    );
    // Importing the same bundle again changes nothing.
    let without_peers = |d: String| d.split("== peers").next().unwrap_or_default().to_string();
    let before = without_peers(a.dump());
    let again = a.ok(&["bundle", "import", &f("b1.json")]);
    assert!(
        again.contains("Imported 0 new ops (3 already held)"),
        "{again}"
    );
    assert_eq!(
        without_peers(a.dump()),
        before,
        "a duplicate import changed the data"
    );

    let va = a.json(&["show", "--json"]);
    let vb = b.json(&["show", "--json"]);
    assert_eq!(va, vb, "desks disagree");
    assert_eq!(count(&va, "2026-11", "CT-01", "received"), 10 + 4 - 2);
    assert_eq!(count(&va, "2026-11", "CT-01", "on_time"), 8);
    assert_eq!(count(&va, "2026-11", "CT-01", "satisfied"), 4);
    let tasks = va["pledges"][0]["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    a.ok(&["check"]);
    b.ok(&["check"]);
}

/// Several `record` processes on one PC at the same moment: every one is saved and
/// none overwrites another's count (IMMEDIATE transactions serialize the
/// read-modify-write of a count cell).
#[test]
fn concurrent_records_on_one_desk_lose_no_update() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Agent::new(tmp.path().join("desk"));
    a.ok(&["init", "--unit", "70"]);
    const WRITERS: usize = 6;
    const EACH: usize = 15;
    let children: Vec<_> = (0..WRITERS)
        .map(|w| {
            let dir = a.dir.clone();
            std::thread::spawn(move || {
                let desk = Agent::new(dir);
                for i in 0..EACH {
                    let n = (w + i % 3 + 1).to_string();
                    let out = desk.ok(&[
                        "record",
                        "--period",
                        "2026-11",
                        "--procedure",
                        "CT-01",
                        "--received",
                        &n,
                    ]);
                    assert!(out.starts_with("Saved"), "{out}");
                }
                (0..EACH).map(|i| (w + i % 3 + 1) as i64).sum::<i64>()
            })
        })
        .collect();
    let expected: i64 = children
        .into_iter()
        .map(|c| c.join().expect("writer thread"))
        .sum();
    let view = a.json(&["show", "--json"]);
    assert_eq!(count(&view, "2026-11", "CT-01", "received"), expected);
    let status = a.json(&["status", "--json"]);
    assert_eq!(status["ops_total"], (WRITERS * EACH) as u64);
    a.ok(&["check"]);
}
