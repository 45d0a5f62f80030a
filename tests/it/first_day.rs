//! A province's and a commune's first day (issue 19): the places new users tripped on.

use super::ui::{request, session, start_ui};
use cchc_tests::Hub;

/// The agent learns its commune's assigned phase at each sync; scoring another phase
/// is allowed but said on the command line, and the page asks for a confirmation.
#[test]
fn self_scoring_another_phase_than_the_assigned_one_is_said_and_confirmed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    hub.ok(&["phase", "assign", "--phase", "1", "--unit", "70"]);
    let a = hub.agent(tmp.path().join("a"), 70);
    a.ok(&["sync"]);
    assert_eq!(a.json(&["status", "--json"])["phase"], 1);
    let out = a.run(&[
        "assess",
        "--phase",
        "2",
        "--criterion",
        "TC-01",
        "--score",
        "5",
    ]);
    assert!(out.status.success());
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains("assigned this commune to phase 1") && note.contains("phase 2"),
        "{note}"
    );
    let out = a.run(&[
        "assess",
        "--phase",
        "1",
        "--criterion",
        "TC-01",
        "--score",
        "5",
    ]);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        cchc_tests::describe("assess 1", &out)
    );
    hub.stop();
    // The page opens on the assigned phase; another one needs the box ticked.
    let (mut run, port) = start_ui(&a, &tmp.path().join("run.log"));
    let own = format!("127.0.0.1:{port}");
    let (cookie, token) = session(port, &own);
    let (_, _, page) = request(port, &own, "GET", "/assess", &cookie, "");
    assert!(page.contains("<option value=\"1\" selected>"), "{page}");
    assert!(!page.contains("id=\"other-phase\""));
    let before = cchc_tests::dump_db(&a.db());
    let form = format!("token={token}&phase=2&by=Lan&s.TC-02=3");
    let (status, _, page) = request(port, &own, "POST", "/assess", &cookie, &form);
    assert_eq!(status, 422, "{page}");
    assert!(
        page.contains("id=\"other-phase\"") && page.contains("Hãy đánh dấu ô này"),
        "{page}"
    );
    assert_eq!(cchc_tests::dump_db(&a.db()), before);
    let (status, _, _) = request(
        port,
        &own,
        "POST",
        "/assess",
        &cookie,
        &format!("{form}&confirm_phase=2"),
    );
    assert_eq!(status, 303);
    cchc_tests::signal(run.id(), "TERM");
    cchc_tests::wait_exit(&mut run, std::time::Duration::from_secs(30), "run");
}
