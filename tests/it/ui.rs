//! The officers' web page served by `cchc-agent run` (issue 14, first part): on
//! loopback only, answering only to its own address, in Vietnamese by default, and
//! showing the station's figures from the same documents as the command line.

use cchc_tests::{wait_for, Hub};
use std::io::{Read, Write};
use std::process::Stdio;

/// A raw HTTP/1.1 GET with the given Host header: (status, body).
fn get(port: u16, host: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|b| b.1)
        .unwrap_or("")
        .to_string();
    (status, body)
}

#[test]
fn the_officers_page_is_served_on_loopback_only_and_only_to_its_own_address() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    let a = hub.agent(tmp.path().join("a"), 70);
    for _ in 0..3 {
        a.ok(&[
            "record",
            "--period",
            "2026-11",
            "--procedure",
            "CT-01",
            "--received",
            "2",
        ]);
    }
    // Not a loopback address: refused before anything starts.
    for bad in ["0.0.0.0:7878", "10.1.2.3:7878"] {
        let out = a.run(&["run", "--ui", bad]);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{}",
            cchc_tests::describe(bad, &out)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    }
    // A second desk of the station records and syncs; this desk does not sync yet.
    let b = hub.agent(tmp.path().join("b"), 70);
    b.ok(&[
        "record",
        "--period",
        "2026-11",
        "--procedure",
        "CT-02",
        "--received",
        "1234",
    ]);
    b.ok(&["sync"]);
    // The hub goes down: the three entries keep waiting, and the page says so.
    hub.stop();
    let log = tmp.path().join("run.log");
    let mut run = a
        .command(&["run", "--ui", "127.0.0.1:0", "--interval", "3600"])
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = wait_for(
        "the page's address in the log",
        60,
        || std::fs::read_to_string(&log).unwrap_or_default(),
        |l| l.contains("http://127.0.0.1:"),
    );
    let port: u16 = line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("a port");
    let own = format!("127.0.0.1:{port}");
    let (status, page) = get(port, &own, "/");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<html lang=\"vi\">"), "{page}");
    assert!(page.contains("Phường Hoàn Kiếm"), "{page}");
    assert!(page.contains("Trang chính"));
    // The three entries wait to sync (the loop synced at start? then none wait).
    let pending = a.json(&["status", "--json"])["ops_pending"]
        .as_u64()
        .unwrap();
    assert!(
        page.contains(&format!("<b>{pending}</b>bản ghi chờ gửi")),
        "{pending}: {page}"
    );
    let (_, en) = get(port, &format!("localhost:{port}"), "/?lang=en");
    assert!(
        en.contains("<html lang=\"en\">") && en.contains("Home"),
        "{en}"
    );
    // The ledger shows this desk's merged month; the other desk's entry is not here
    // until a sync brings it.
    let (status, ledger) = get(port, &own, "/ledger?period=2026-11");
    assert_eq!(status, 200, "{ledger}");
    assert!(
        ledger.contains("<td data-metric=\"received\">6</td>"),
        "{ledger}"
    );
    assert!(!ledger.contains("1.234"), "{ledger}");
    // A period that is not one: said next to the field, what was typed kept.
    let (status, bad) = get(port, &own, "/ledger?period=2026-13");
    assert_eq!(status, 400);
    assert!(
        bad.contains("value=\"2026-13\"") && bad.contains("role=\"alert\""),
        "{bad}"
    );
    // A name of another site pointed at 127.0.0.1 (DNS rebinding), or none: refused.
    for host in [
        format!("evil.example:{port}"),
        "127.0.0.1:1".into(),
        String::new(),
    ] {
        let (status, body) = get(port, &host, "/");
        assert_eq!(status, 421, "Host '{host}': {body}");
        assert!(!body.contains("Hoàn Kiếm"));
    }
    cchc_tests::signal(run.id(), "TERM");
    cchc_tests::wait_exit(&mut run, std::time::Duration::from_secs(30), "run");
    // Once the hub is back and this desk syncs, the other desk's entry is in its grid.
    hub.start();
    a.ok(&["sync"]);
    let mut run = a
        .command(&["run", "--ui", &own, "--interval", "3600"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let up = wait_for(
        "the page to be served again",
        60,
        || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        |up| *up,
    );
    assert!(up);
    let (_, ledger) = get(port, &own, "/ledger?period=2026-11");
    assert!(
        ledger.contains("<td data-metric=\"received\">1.234</td>"),
        "{ledger}"
    );
    cchc_tests::signal(run.id(), "TERM");
    cchc_tests::wait_exit(&mut run, std::time::Duration::from_secs(30), "run");
    hub.stop();
}
