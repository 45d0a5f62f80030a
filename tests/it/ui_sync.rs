//! The officers' page beyond entering figures: "Đồng bộ ngay" and what the page says
//! when the hub cannot be reached (exit 7) or refuses (exit 8); the USB bundle
//! downloaded from one desk and loaded into another; `cchc-agent ui`; the language
//! switch.

use super::ui::{get, request, session, start_ui};
use cchc_tests::{wait_for, Hub};
use std::io::{Read, Write};

/// Presses "Đồng bộ ngay" and follows the page until that sync's result is shown.
fn sync_now(port: u16, own: &str, cookie: &str, token: &str) -> String {
    let (status, head, _) = request(
        port,
        own,
        "POST",
        "/sync",
        cookie,
        &format!("token={token}"),
    );
    assert_eq!(status, 303, "{head}");
    let to = head
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .expect("a redirect")
        .trim()
        .to_string();
    assert!(to.starts_with("/sync?after="), "{to}");
    wait_for(
        "the result of the sync asked for",
        60,
        || request(port, own, "GET", &to, cookie, "").2,
        |page| page.contains("data-fresh=\"1\""),
    )
}

#[test]
fn sync_now_says_in_plain_words_what_happened_and_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    let a = hub.agent(tmp.path().join("a"), 70);
    a.ok(&[
        "record",
        "--period",
        "2026-11",
        "--procedure",
        "CT-01",
        "--received",
        "3",
    ]);
    hub.stop();
    let (mut run, port) = start_ui(&a, &tmp.path().join("run.log"));
    let own = format!("127.0.0.1:{port}");
    let (cookie, token) = session(port, &own);
    // A post without the session's token does nothing.
    let (status, _, _) = request(port, &own, "POST", "/sync", &cookie, "");
    assert_eq!(status, 403);
    // The hub is down: code 7, the data is safe, it goes by itself later.
    let page = sync_now(port, &own, &cookie, &token);
    assert!(page.contains("data-code=\"7\""), "{page}");
    assert!(
        page.contains("mã 7") && page.contains("sẽ tự gửi khi có mạng"),
        "{page}"
    );
    assert!(page.contains("Bản ghi chờ gửi: <b>1</b>"), "{page}");
    // The hub is back: sent, nothing waits.
    hub.start();
    let page = sync_now(port, &own, &cookie, &token);
    assert!(page.contains("data-code=\"0\""), "{page}");
    assert!(page.contains("Bản ghi chờ gửi: <b>0</b>"), "{page}");
    // The province revokes this PC: code 8, and what to tell the province.
    let device = a.json(&["status", "--json"])["device"]
        .as_str()
        .unwrap()
        .to_string();
    hub.ok(&["device", "revoke", &device]);
    let page = sync_now(port, &own, &cookie, &token);
    assert!(page.contains("data-code=\"8\""), "{page}");
    assert!(
        page.contains("mã 8") && page.contains("báo cán bộ phụ trách ở tỉnh"),
        "{page}"
    );
    // In English on request, remembered for the session; the way back stays on this site.
    let (status, head, _) = request(
        port,
        &own,
        "GET",
        "/lang/en?back=/sync%3Fafter%3D0",
        &cookie,
        "",
    );
    assert_eq!(status, 303);
    assert!(head.contains("location: /sync?after=0"), "{head}");
    assert!(head.contains("cchc_lang=en"), "{head}");
    let (_, _, page) = request(
        port,
        &own,
        "GET",
        "/sync",
        &format!("{cookie}; cchc_lang=en"),
        "",
    );
    assert!(
        page.contains("<html lang=\"en\">") && page.contains("(code 8)"),
        "{page}"
    );
    let (_, head, _) = request(
        port,
        &own,
        "GET",
        "/lang/en?back=//evil.example/",
        &cookie,
        "",
    );
    assert!(
        head.contains("location: /\r") || head.ends_with("location: /"),
        "{head}"
    );
    cchc_tests::signal(run.id(), "TERM");
    cchc_tests::wait_exit(&mut run, std::time::Duration::from_secs(30), "run");
    hub.stop();
}

/// A multipart upload of `file` as the page's import form sends it.
fn upload(
    port: u16,
    own: &str,
    cookie: &str,
    token: &str,
    name: &str,
    file: &[u8],
) -> (u16, String) {
    let boundary = "----cchcboundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    write!(
        body,
        "--{boundary}\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n{token}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"bundle\"; filename=\"{name}\"\r\n\
         Content-Type: application/json\r\n\r\n"
    )
    .unwrap();
    body.extend_from_slice(file);
    write!(body, "\r\n--{boundary}--\r\n").unwrap();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /bundle/import HTTP/1.1\r\nHost: {own}\r\nCookie: {cookie}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(&body).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, out)
}

#[test]
fn a_desk_without_a_network_trades_data_by_usb_file_from_the_page() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    let a = hub.agent(tmp.path().join("a"), 70);
    let b = hub.agent(tmp.path().join("b"), 70);
    let other = hub.agent(tmp.path().join("c"), 73);
    hub.stop();
    a.ok(&[
        "record",
        "--period",
        "2026-11",
        "--procedure",
        "CT-05",
        "--received",
        "9",
        "--by",
        "Lan",
    ]);
    other.ok(&[
        "record",
        "--period",
        "2026-11",
        "--procedure",
        "CT-05",
        "--received",
        "1",
    ]);
    let foreign = tmp.path().join("c.json");
    other.ok(&["bundle", "export", "--out", foreign.to_str().unwrap()]);
    // Desk A downloads its file.
    let (mut run_a, port_a) = start_ui(&a, &tmp.path().join("a.log"));
    let own_a = format!("127.0.0.1:{port_a}");
    let (cookie_a, token_a) = session(port_a, &own_a);
    let (status, head, file) = request(
        port_a,
        &own_a,
        "POST",
        "/bundle/export",
        &cookie_a,
        &format!("token={token_a}"),
    );
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("attachment; filename=\"cchc-70-"), "{head}");
    let (status, _, _) = request(port_a, &own_a, "POST", "/bundle/export", &cookie_a, "");
    assert_eq!(status, 403, "no download for a page elsewhere");
    cchc_tests::signal(run_a.id(), "TERM");
    cchc_tests::wait_exit(&mut run_a, std::time::Duration::from_secs(30), "run");
    // Desk B loads it: A's entry is in B's grid; the same file again adds nothing.
    let (mut run_b, port_b) = start_ui(&b, &tmp.path().join("b.log"));
    let own_b = format!("127.0.0.1:{port_b}");
    let (cookie_b, token_b) = session(port_b, &own_b);
    let before = cchc_tests::dump_db(&b.db());
    // Refused whole, with the reason, nothing stored: another commune's file, a file
    // that is not a bundle, a cut one, none at all.
    let foreign = std::fs::read(foreign).unwrap();
    let cut = &file.as_bytes()[..file.len() / 2];
    for (name, bytes, said) in [
        ("c.json", &foreign[..], "73"),
        ("notes.json", &b"{\"hello\": 1}"[..], "notes.json"),
        ("cut.json", cut, "cut.json"),
        ("empty.json", &b""[..], "Hãy chọn một tệp"),
    ] {
        let (status, page) = upload(port_b, &own_b, &cookie_b, &token_b, name, bytes);
        assert_eq!(status, 422, "{name}: {page}");
        assert!(
            page.contains(said) && page.contains("role=\"alert\""),
            "{name}: {page}"
        );
        assert_eq!(cchc_tests::dump_db(&b.db()), before, "{name}: stored");
    }
    let (status, page) = upload(
        port_b,
        &own_b,
        &cookie_b,
        &token_b,
        "a.json",
        file.as_bytes(),
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Đã nhận 1 bản ghi mới"), "{page}");
    let (_, ledger) = get(port_b, &own_b, "/ledger?period=2026-11");
    assert!(
        ledger.contains(
            "data-metric=\"received\" data-procedure=\"CT-05\"><span class=\"total\">9</span>"
        ),
        "{ledger}"
    );
    let (_, history) = get(
        port_b,
        &own_b,
        "/ledger/history?period=2026-11&procedure=CT-05",
    );
    assert!(history.contains("<td class=\"by\">Lan</td>"), "{history}");
    let (_, page) = upload(
        port_b,
        &own_b,
        &cookie_b,
        &token_b,
        "a.json",
        file.as_bytes(),
    );
    assert!(page.contains("Đã nhận 0 bản ghi mới (1 đã có)"), "{page}");
    cchc_tests::signal(run_b.id(), "TERM");
    cchc_tests::wait_exit(&mut run_b, std::time::Duration::from_secs(30), "run");
}

#[test]
fn cchc_agent_ui_opens_the_page_in_the_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    let a = hub.agent(tmp.path().join("a"), 70);
    hub.stop();
    // A "browser" that notes what it was asked to open.
    let opened = tmp.path().join("opened.txt");
    let browser = tmp.path().join("browser.sh");
    std::fs::write(
        &browser,
        format!("#!/bin/sh\necho \"$1\" > {}\n", opened.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    // No page yet: said, nothing opened.
    let out = a
        .command(&["ui", "--ui", "127.0.0.1:9"])
        .env("BROWSER", &browser)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        cchc_tests::describe("ui", &out)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cchc-agent run"));
    assert!(!opened.exists());
    let (mut run, port) = start_ui(&a, &tmp.path().join("run.log"));
    let addr = format!("127.0.0.1:{port}");
    let out = a
        .command(&["ui", "--ui", &addr])
        .env("BROWSER", &browser)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", cchc_tests::describe("ui", &out));
    let url = format!("http://{addr}/");
    let seen = wait_for(
        "the browser to be started",
        30,
        || std::fs::read_to_string(&opened).unwrap_or_default(),
        |s| !s.is_empty(),
    );
    assert_eq!(seen.trim(), url);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&url));
    cchc_tests::signal(run.id(), "TERM");
    cchc_tests::wait_exit(&mut run, std::time::Duration::from_secs(30), "run");
}
