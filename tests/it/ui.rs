//! The officers' web page served by `cchc-agent run` (issue 14, first part): on
//! loopback only, answering only to its own address, in Vietnamese by default, and
//! showing the station's figures from the same documents as the command line.

use cchc_tests::{wait_for, Hub};
use std::io::{Read, Write};
use std::process::Stdio;

/// A raw HTTP/1.1 GET with the given Host header: (status, body).
pub(crate) fn get(port: u16, host: &str, path: &str) -> (u16, String) {
    let (status, _, body) = request(port, host, "GET", path, "", "");
    (status, body)
}

/// A raw HTTP/1.1 request (a form body when given): (status, head, body).
pub(crate) fn request(
    port: u16,
    host: &str,
    method: &str,
    path: &str,
    cookie: &str,
    form: &str,
) -> (u16, String, String) {
    try_request(port, host, method, path, cookie, form)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// [`request`], with a broken connection as an error.
pub(crate) fn try_request(
    port: u16,
    host: &str,
    method: &str,
    path: &str,
    cookie: &str,
    form: &str,
) -> std::io::Result<(u16, String, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    let cookie = if cookie.is_empty() {
        String::new()
    } else {
        format!("Cookie: {cookie}\r\n")
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{cookie}\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    )?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Ok((status, head.to_string(), body.to_string()))
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
    let (mut run, port) = start_ui(&a, &tmp.path().join("run.log"));
    let own = format!("127.0.0.1:{port}");
    let (status, page) = get(port, &own, "/");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<html lang=\"vi\">"), "{page}");
    assert!(page.contains("Phường Hoàn Kiếm"), "{page}");
    assert!(page.contains("Trang chính"));
    // The hub is down: the three entries wait, and the page says so.
    assert!(page.contains("<b>3</b>bản ghi chờ gửi"), "{page}");
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
        ledger.contains(
            "data-metric=\"received\" data-procedure=\"CT-01\"><span class=\"total\">6</span>"
        ),
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
    // Entering figures: the page sets the session's cookie and puts its token in the
    // form; several procedures go in as one save.
    let (cookie, token) = session(port, &own);
    let form = |extra: &str| format!("token={token}&period=2026-11&by=Lan&{extra}");
    let (status, head, _) = request(
        port,
        &own,
        "POST",
        "/ledger",
        &cookie,
        &form("v.CT-01.received=4&v.CT-03.received=2&v.CT-03.on_time=1"),
    );
    assert_eq!(status, 303, "{head}");
    let (_, ledger) = get(port, &own, "/ledger?period=2026-11&saved=2");
    assert!(
        ledger.contains(
            "data-metric=\"received\" data-procedure=\"CT-01\"><span class=\"total\">10</span>"
        ),
        "{ledger}"
    );
    assert!(ledger.contains("id=\"saved\""), "{ledger}");
    // A bad number anywhere: said next to its field, what was typed kept, nothing
    // stored, not even the good rows.
    let before = cchc_tests::dump_db(&a.db());
    let (status, _, bad) = request(
        port,
        &own,
        "POST",
        "/ledger",
        &cookie,
        &form("v.CT-01.received=5&v.CT-02.late=m%E1%BB%99t"),
    );
    assert_eq!(status, 422, "{bad}");
    assert!(bad.contains("value=\"một\""), "{bad}");
    assert!(bad.contains("aria-invalid=\"true\""), "{bad}");
    assert!(bad.contains("value=\"5\""), "{bad}");
    assert_eq!(
        cchc_tests::dump_db(&a.db()),
        before,
        "a refused form stored something"
    );
    // Cross-site: no token, a wrong one, or no cookie: refused, nothing stored.
    for (c, f) in [
        (
            cookie.as_str(),
            "period=2026-11&v.CT-01.received=1".to_string(),
        ),
        (
            cookie.as_str(),
            "token=00000000000000000000000000000000&period=2026-11&v.CT-01.received=1".to_string(),
        ),
        ("", form("v.CT-01.received=1")),
    ] {
        let (status, _, _) = request(port, &own, "POST", "/ledger", c, &f);
        assert_eq!(status, 403, "{c} {f}");
    }
    assert_eq!(cchc_tests::dump_db(&a.db()), before);
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
        ledger.contains("data-procedure=\"CT-02\"><span class=\"total\">1.234</span>"),
        "{ledger}"
    );
    cchc_tests::signal(run.id(), "TERM");
    cchc_tests::wait_exit(&mut run, std::time::Duration::from_secs(30), "run");
    hub.stop();
}

/// Opens the ledger as a browser would: the session's cookie and the form's token.
pub(crate) fn session(port: u16, own: &str) -> (String, String) {
    let (_, head, page) = request(port, own, "GET", "/ledger?period=2026-11", "", "");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    let token = page
        .split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a form token")
        .to_string();
    assert!(
        head.to_ascii_lowercase().contains("samesite=strict"),
        "{head}"
    );
    (cookie, token)
}

/// Starts `run` with its page on a free loopback port (the hub may be down): the
/// process and the port.
pub(crate) fn start_ui(a: &cchc_tests::Agent, log: &std::path::Path) -> (std::process::Child, u16) {
    let run = a
        .command(&["run", "--ui", "127.0.0.1:0", "--interval", "3600"])
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = wait_for(
        "the page's address in the log",
        60,
        || std::fs::read_to_string(log).unwrap_or_default(),
        |l| l.contains("http://127.0.0.1:"),
    );
    let port = line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("a port");
    (run, port)
}

#[test]
fn what_record_refuses_the_ledger_form_refuses_next_to_the_field_storing_nothing() {
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
        "2",
    ]);
    hub.stop();
    let (mut run, port) = start_ui(&a, &tmp.path().join("run.log"));
    let own = format!("127.0.0.1:{port}");
    let (cookie, token) = session(port, &own);
    let cases: [(&str, &str, &str); 11] = [
        (
            "2026-11",
            "v.CT-01.received=abc",
            "'abc' không hợp lệ: nhập số nguyên từ 0",
        ),
        ("2026-11", "v.CT-01.late=-3", "'-3' không hợp lệ"),
        ("2026-11", "v.CT-02.on_time=2%2C5", "'2,5' không hợp lệ"),
        ("2026-11", "v.CT-02.online=1e3", "'1e3' không hợp lệ"),
        (
            "2026-11",
            "v.CT-03.received=9999999999999",
            "'9999999999999' không hợp lệ",
        ),
        ("2026-11", "v.CT-03.received=100001", "vượt giới hạn"),
        (
            "2026-11",
            "correct=on&v.CT-05.received=7",
            "sẽ làm số liệu âm",
        ),
        ("2099-01", "v.CT-01.received=1", "chưa bắt đầu"),
        ("2026-11", "v.CT-01.received=", "Chưa nhập số nào"),
        ("2026-11", "v.CT-01.received=0", "chưa nhập số liệu"),
        (
            "2026-13",
            "v.CT-01.received=1",
            "'2026-13': tháng 13 nằm ngoài khoảng 1..12",
        ),
    ];
    let before = cchc_tests::dump_db(&a.db());
    for (period, fields, said) in cases {
        // A good row beside the bad one (but where nothing at all is typed): nothing
        // of the form is stored.
        let good = if said == "Chưa nhập số nào" {
            ""
        } else {
            "v.DX-01.received=4&"
        };
        let form = format!("token={token}&period={period}&by=Lan&{good}{fields}");
        let (status, _, body) = request(port, &own, "POST", "/ledger", &cookie, &form);
        assert_eq!(status, 422, "{fields}: {body}");
        assert!(body.contains(said), "{fields}: should say {said:?}\n{body}");
        assert!(body.contains("role=\"alert\""), "{fields}");
        assert_eq!(
            cchc_tests::dump_db(&a.db()),
            before,
            "{fields}: something was stored"
        );
    }
    // Who is entering: said, one short line.
    let long = "x".repeat(41);
    for (by, said) in [
        ("", "Hãy ghi tên người nhập"),
        ("%20%20", "Hãy ghi tên người nhập"),
        (long.as_str(), "tối đa 40"),
    ] {
        let form = format!("token={token}&period=2026-11&by={by}&v.DX-01.received=4");
        let (status, _, body) = request(port, &own, "POST", "/ledger", &cookie, &form);
        assert_eq!(status, 422, "by={by}: {body}");
        assert!(
            body.contains(said) && body.contains("id=\"by-error\""),
            "by={by}: {body}"
        );
        assert_eq!(cchc_tests::dump_db(&a.db()), before, "by={by}: stored");
    }
    // What was typed stays in its box, marked.
    let form =
        format!("token={token}&period=2026-11&by=Lan&v.DX-01.received=4&v.CT-01.received=abc");
    let (_, _, body) = request(port, &own, "POST", "/ledger", &cookie, &form);
    assert!(
        body.contains("name=\"v.CT-01.received\" inputmode=\"numeric\" size=\"5\" value=\"abc\" aria-invalid=\"true\""),
        "{body}"
    );
    assert!(body.contains("value=\"4\""), "{body}");
    cchc_tests::signal(run.id(), "TERM");
    cchc_tests::wait_exit(&mut run, std::time::Duration::from_secs(30), "run");
}

/// Checks one page: no HTML5 parse error, the language asked for, a label on every
/// field a person fills in, ids unique, nothing fetched from elsewhere.
fn check_page(what: &str, html: &str, lang: &str) {
    use scraper::{Html, Selector};
    let doc = Html::parse_document(html);
    assert!(
        doc.errors.is_empty(),
        "{what}: HTML parse errors {:?}\n{html}",
        doc.errors
    );
    let sel = |s: &str| Selector::parse(s).expect("selector");
    let root = doc.select(&sel("html")).next().expect("an html element");
    assert_eq!(root.value().attr("lang"), Some(lang), "{what}");
    assert!(html.starts_with("<!DOCTYPE html>"), "{what}");
    let mut ids = std::collections::BTreeSet::new();
    for e in doc.select(&sel("[id]")) {
        let id = e.value().attr("id").unwrap();
        assert!(ids.insert(id.to_string()), "{what}: id {id} twice");
    }
    for f in doc.select(&sel(
        "input:not([type=hidden]):not([type=submit]), select, textarea",
    )) {
        let id = f.value().attr("id");
        let labelled = f.value().attr("aria-label").is_some()
            || id.is_some_and(|id| {
                doc.select(&sel("label[for]"))
                    .any(|l| l.value().attr("for") == Some(id))
            });
        assert!(labelled, "{what}: a field without a label: {}", f.html());
    }
    if let Some(e) = doc.select(&sel("[src], link[href], script")).next() {
        panic!("{what}: loads something: {}", e.html());
    }
    for a in doc.select(&sel("a[href], form[action]")) {
        let to = a.value().attr("href").or(a.value().attr("action")).unwrap();
        assert!(to.starts_with('/'), "{what}: leaves the PC: {to}");
    }
}

#[test]
fn every_page_is_valid_html_with_a_label_on_every_field() {
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
        "--by",
        "An",
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
        "--task",
        "Tiếp dân thứ Bảy",
    ]);
    a.ok(&[
        "assess",
        "--phase",
        "1",
        "--criterion",
        "TC-01",
        "--score",
        "7,5",
        "--evidence",
        "Biên bản",
    ]);
    a.ok(&["sync"]);
    hub.stop();
    let (mut run, port) = start_ui(&a, &tmp.path().join("run.log"));
    let own = format!("127.0.0.1:{port}");
    let (cookie, token) = session(port, &own);
    let pages = [
        "/",
        "/ledger?period=2026-11",
        "/ledger?period=2026-13",
        "/ledger/history?period=2026-11&procedure=CT-01",
        "/ledger/history?period=2026-11&procedure=CT-09",
        "/ledger/history?period=2026-11&procedure=CT-01&metric=received",
        "/ledger/history?period=2026-11&procedure=CT-01&metric=tiếp",
        "/pledge?year=2026",
        "/pledge?year=2025",
        "/pledge?year=abc",
        "/assess?phase=1",
        "/assess?phase=2",
        "/sync",
    ];
    for path in pages {
        for (q, lang) in [("", "vi"), ("lang=en", "en")] {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = if q.is_empty() {
                path.to_string()
            } else {
                format!("{path}{sep}{q}")
            };
            let (status, _, body) = request(port, &own, "GET", &url, &cookie, "");
            assert!(matches!(status, 200 | 400 | 404 | 422), "{url}: {status}");
            check_page(&url, &body, lang);
        }
    }
    // One cell's history: the entry with who entered it; another cell has none.
    let (_, _, cell) = request(
        port,
        &own,
        "GET",
        "/ledger/history?period=2026-11&procedure=CT-01&metric=received",
        &cookie,
        "",
    );
    assert!(
        cell.contains("<td class=\"by\">An</td>") && cell.contains("+3"),
        "{cell}"
    );
    let (_, _, other) = request(
        port,
        &own,
        "GET",
        "/ledger/history?period=2026-11&procedure=CT-01&metric=late",
        &cookie,
        "",
    );
    assert!(!other.contains("<td class=\"by\">"), "{other}");
    // Pages that refuse a form, with the messages next to the fields.
    let before = cchc_tests::dump_db(&a.db());
    let refused = [
        (
            "/ledger",
            format!("token={token}&period=2026-11&by=An&v.CT-01.received=abc"),
            "không hợp lệ",
        ),
        (
            "/assess",
            format!("token={token}&phase=1&by=An&s.TC-01=abc"),
            "abc",
        ),
        (
            "/assess",
            format!("token={token}&phase=1&by=An&s.TC-02=99"),
            "TC-02",
        ),
        (
            "/assess",
            format!("token={token}&phase=1&by=An&s.TC-03=&e.TC-03=chỉ+có+minh+chứng"),
            "Hãy cho điểm",
        ),
        (
            "/assess",
            format!("token={token}&phase=1&by=&s.TC-03=5"),
            "Hãy ghi tên người nhập",
        ),
        (
            "/pledge/sign",
            format!("token={token}&year=2026&signer=&role=Trưởng&date="),
            "signer",
        ),
        (
            "/pledge/sign",
            format!("token={token}&year=2026&signer=An&role=Trưởng&date=31/02/2026"),
            "31/02/2026",
        ),
        (
            "/pledge/task",
            format!("token={token}&year=2026&signer=Nguyễn+Văn+An&task=99&status=done"),
            "99",
        ),
        (
            "/pledge/task",
            format!("token={token}&year=2026&signer=Nguyễn+Văn+An&task=1&status=xong"),
            "xong",
        ),
    ];
    for (path, form, said) in refused {
        let (status, _, body) = request(port, &own, "POST", path, &cookie, &form);
        assert_eq!(status, 422, "{path} {form}: {body}");
        assert!(
            body.contains(said),
            "{path} {form}: should say {said}\n{body}"
        );
        assert!(body.contains("role=\"alert\""), "{path} {form}");
        check_page(&format!("POST {path} {form}"), &body, "vi");
        assert_eq!(
            cchc_tests::dump_db(&a.db()),
            before,
            "{path} {form}: stored"
        );
    }
    cchc_tests::signal(run.id(), "TERM");
    cchc_tests::wait_exit(&mut run, std::time::Duration::from_secs(30), "run");
}

/// A network namespace joined to this one by a veth pair, removed on drop.
struct Netns {
    name: String,
    veth: String,
}

impl Netns {
    /// `ns_addr` is the namespace's side of a /30 whose host side is `host_addr`.
    fn create(name: &str, host_addr: &str, ns_addr: &str) -> Netns {
        let ip = |args: &[&str]| {
            let out = std::process::Command::new("ip").args(args).output();
            let out = out.unwrap_or_else(|e| {
                panic!("ip {args:?}: {e} (iproute2 is needed; tests/run installs it)")
            });
            assert!(
                out.status.success(),
                "{}",
                cchc_tests::describe(&format!("ip {args:?}"), &out)
            );
        };
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", name])
            .output();
        let veth = format!("{name}h");
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &veth])
            .output();
        let ns = Netns {
            name: name.to_string(),
            veth: veth.clone(),
        };
        ip(&["netns", "add", name]);
        ip(&[
            "link",
            "add",
            &veth,
            "type",
            "veth",
            "peer",
            "name",
            &format!("{name}n"),
        ]);
        ip(&["link", "set", &format!("{name}n"), "netns", name]);
        ip(&["addr", "add", &format!("{host_addr}/30"), "dev", &veth]);
        ip(&["link", "set", &veth, "up"]);
        ip(&[
            "netns",
            "exec",
            name,
            "ip",
            "addr",
            "add",
            &format!("{ns_addr}/30"),
            "dev",
            &format!("{name}n"),
        ]);
        ip(&[
            "netns",
            "exec",
            name,
            "ip",
            "link",
            "set",
            &format!("{name}n"),
            "up",
        ]);
        ip(&["netns", "exec", name, "ip", "link", "set", "lo", "up"]);
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.veth])
            .output();
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

#[test]
fn the_page_cannot_be_reached_from_another_machine() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    let mut a = hub.agent(tmp.path().join("a"), 70);
    hub.stop();
    // The agent runs in a namespace of its own, reached from here as another machine
    // on the commune's network would reach it: at 10.231.N.2.
    let n = std::process::id() % 250;
    let name = format!("cchcui{n}");
    let (host_ip, ns_ip) = (format!("10.231.{n}.1"), format!("10.231.{n}.2"));
    let ns = Netns::create(&name, &host_ip, &ns_ip);
    a.wrapper = vec!["ip".into(), "netns".into(), "exec".into(), name.clone()];
    let (mut run, port) = start_ui(&a, &tmp.path().join("run.log"));
    // Inside its namespace the page answers on loopback…
    let probe = std::process::Command::new("ip")
        .args(["netns", "exec", &name, "python3", "-c"])
        .arg(format!(
            "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:{port}/').status)"
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&probe.stdout).trim(),
        "200",
        "{}",
        cchc_tests::describe("probe", &probe)
    );
    // …and the namespace is reachable from here: a listener on every address answers.
    let mut control = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &name,
            "python3",
            "-m",
            "http.server",
            "--bind",
            "0.0.0.0",
            &(port + 1).to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reached = wait_for(
        "the control listener to answer from outside",
        30,
        || std::net::TcpStream::connect((ns_ip.as_str(), port + 1)).is_ok(),
        |ok| *ok,
    );
    assert!(reached);
    // The officers' page is not: the connection is refused.
    let err = std::net::TcpStream::connect((ns_ip.as_str(), port))
        .expect_err("the page must not be reachable from another machine");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    let _ = control.kill();
    let _ = control.wait();
    cchc_tests::signal(run.id(), "TERM");
    cchc_tests::wait_exit(&mut run, std::time::Duration::from_secs(30), "run");
    drop(ns);
}

#[test]
fn every_entry_the_page_confirmed_survives_a_power_cut_while_saving() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    let a = hub.agent(tmp.path().join("a"), 70);
    hub.stop();
    let mut confirmed: Vec<String> = Vec::new();
    let kills = 24;
    for round in 0..kills {
        let (mut run, port) = start_ui(&a, &tmp.path().join(format!("run-{round}.log")));
        let own = format!("127.0.0.1:{port}");
        let (cookie, token) = session(port, &own);
        // One officer saves entries one after the other, as fast as the page answers;
        // each entry is named so it can be found afterwards. It stops at the first
        // request the power cut breaks.
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let poster = std::thread::spawn(move || {
            for i in 0.. {
                let by = format!("k{round}x{i}");
                let form = format!(
                    "token={token}&period=2026-11&by={by}&v.CT-01.received=1&v.CT-02.online=2"
                );
                match try_request(port, &own, "POST", "/ledger", &cookie, &form) {
                    Ok((303, _, _)) => {}
                    _ => return,
                }
                if tx.send(by).is_err() {
                    return;
                }
            }
        });
        // The cut comes after a few confirmed entries, while the next is being saved.
        let want = 1 + round % 5;
        for _ in 0..want {
            let by = rx
                .recv_timeout(std::time::Duration::from_secs(60))
                .expect("the page confirms entries");
            confirmed.push(by);
        }
        cchc_tests::signal(run.id(), "KILL");
        let _ = run.wait();
        confirmed.extend(rx.iter());
        poster.join().unwrap();
    }
    // Every confirmed entry is in the op log, whole; the state agrees with the log.
    a.ok(&["check"]);
    let db = rusqlite::Connection::open(a.db()).unwrap();
    let mut st = db.prepare("SELECT body FROM ops").unwrap();
    let held: std::collections::BTreeMap<String, u32> = st
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|b| serde_json::from_str::<serde_json::Value>(&b.unwrap()).unwrap())
        .filter_map(|op| op["body"]["by"].as_str().map(str::to_string))
        .fold(Default::default(), |mut m, by| {
            *m.entry(by).or_default() += 1;
            m
        });
    assert!(confirmed.len() >= kills as usize, "{confirmed:?}");
    for by in &confirmed {
        assert_eq!(
            held.get(by),
            Some(&2),
            "entry {by} was confirmed but is not whole"
        );
    }
    // Nothing half-saved either: every entry held has both of its procedures.
    assert!(held.values().all(|n| *n == 2), "{held:?}");
    let show = a.json(&["show", "--period", "2026-11", "--json"]);
    let total = |p: &str, m: &str| {
        show["counts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["procedure"] == p && c["metric"] == m)
            .map(|c| c["value"].as_i64().unwrap())
            .unwrap_or(0)
    };
    assert_eq!(total("CT-01", "received"), held.len() as i64);
    assert_eq!(total("CT-02", "online"), 2 * held.len() as i64);
}
