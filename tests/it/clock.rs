//! Causality without wall clocks: two desks of one commune, one whose clock is a year
//! fast (run under `faketime`). An edit made after seeing the other desk's edit wins,
//! whichever clock is fast; the fast desk's ops are never refused or lost; both desks
//! report the clock difference.

use cchc_tests::Agent;
use std::path::Path;

fn faketime() -> Vec<String> {
    let ok = std::process::Command::new("faketime")
        .args(["-f", "+0d", "true"])
        .status()
        .map(|s| s.success());
    assert!(
        matches!(ok, Ok(true)),
        "this test needs `faketime` (Debian package faketime; .ci/run installs it) to give one agent a wrong clock"
    );
    vec!["faketime".into(), "-f".into(), "+365d".into()]
}

fn score(view: &serde_json::Value, criterion: &str) -> f64 {
    view["assessments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["phase"] == 1 && a["criterion"] == criterion)
        .and_then(|a| a["score"].as_f64())
        .unwrap_or(-1.0)
}

fn exchange(from: &Agent, to: &Agent, file: &Path) {
    from.ok(&["bundle", "export", "--out", file.to_str().unwrap()]);
    to.ok(&["bundle", "import", file.to_str().unwrap()]);
}

/// Desk `first` edits, `second` sees it and edits, `first` sees that and edits again.
/// Each later edit must win on both desks.
fn later_edit_wins(fast_is_first: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let mut first = Agent::new(tmp.path().join("first"));
    let mut second = Agent::new(tmp.path().join("second"));
    if fast_is_first {
        first.wrapper = faketime();
    } else {
        second.wrapper = faketime();
    }
    first.ok(&["init", "--unit", "70"]);
    second.ok(&["init", "--unit", "70"]);
    let f = |n: &str| tmp.path().join(n);

    first.ok(&[
        "assess",
        "--phase",
        "1",
        "--criterion",
        "TC-03",
        "--score",
        "10",
    ]);
    exchange(&first, &second, &f("1.json"));
    second.ok(&[
        "assess",
        "--phase",
        "1",
        "--criterion",
        "TC-03",
        "--score",
        "12",
        "--evidence",
        "after seeing 10",
    ]);
    exchange(&second, &first, &f("2.json"));
    for desk in [&first, &second] {
        assert_eq!(
            score(&desk.json(&["show", "--json"]), "TC-03"),
            12.0,
            "the edit made after seeing 10 must win"
        );
    }
    first.ok(&[
        "assess",
        "--phase",
        "1",
        "--criterion",
        "TC-03",
        "--score",
        "15",
        "--evidence",
        "after seeing 12",
    ]);
    exchange(&first, &second, &f("3.json"));
    let (v1, v2) = (
        first.json(&["show", "--json"]),
        second.json(&["show", "--json"]),
    );
    assert_eq!(
        score(&v1, "TC-03"),
        15.0,
        "the edit made after seeing 12 must win"
    );
    assert_eq!(v1, v2, "desks disagree");

    // The fast desk records for what its clock says is this month: a period still in the
    // future for the other desk, which must take it all the same.
    let fast = if fast_is_first { &first } else { &second };
    let slow = if fast_is_first { &second } else { &first };
    let fast_month = {
        let out = std::process::Command::new("faketime")
            .args(["-f", "+365d", "date", "+%Y-%m"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    fast.ok(&[
        "record",
        "--period",
        &fast_month,
        "--procedure",
        "CT-02",
        "--received",
        "7",
    ]);
    exchange(fast, slow, &f("4.json"));
    let v = slow.json(&["show", "--json"]);
    let got = v["counts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["period"] == fast_month.as_str())
        .cloned();
    assert_eq!(
        got.map(|c| c["value"].clone()),
        Some(7.into()),
        "the fast desk's ops must not be refused or lost"
    );
    exchange(slow, fast, &f("5.json"));
    assert_eq!(
        fast.json(&["show", "--json"]),
        slow.json(&["show", "--json"])
    );

    // Both desks say their clocks are far apart.
    for desk in [&first, &second] {
        let st = desk.json(&["status", "--json"]);
        assert_eq!(
            st["clock_warning"], true,
            "status must warn about the clock: {st}"
        );
        let peers = st["peers"].as_array().unwrap();
        assert!(
            peers
                .iter()
                .any(|p| p["far"] == true
                    && p["offset_ms"].as_i64().unwrap().abs() > 300 * 86_400_000),
            "status must show a peer about a year off: {st}"
        );
        let text = desk.ok(&["status"]);
        assert!(text.contains("Warning: the clock of device"), "{text}");
    }
}

#[test]
fn later_edit_wins_when_the_first_desk_is_a_year_fast() {
    later_edit_wins(true);
}

#[test]
fn later_edit_wins_when_the_second_desk_is_a_year_fast() {
    later_edit_wins(false);
}
