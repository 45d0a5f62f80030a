//! Who may write and read on the hub, with real processes over real HTTPS: enrolled
//! devices write only their own commune, codes are one-time and cannot be guessed,
//! revoked devices are refused, people need a session and the right role, replays
//! change nothing, and plain HTTP or a stalling client gets nowhere.

use cchc_common::auth::{DeviceKey, ENROLL_PATH};
use cchc_common::op::{CountDelta, Dir};
use cchc_common::state::VersionVector;
use cchc_common::sync::{self, SyncRequest, PROTOCOL_HEADER, SYNC_PATH};
use cchc_common::{Metric, Op, OpBody, UnitCode};
use cchc_sql::{Db, DbExt};
use cchc_tests::proxy::FaultProxy;
use cchc_tests::{commune_row, Agent, Hub, Rng, Signer};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn record(a: &Agent, n: u32) {
    a.ok(&[
        "record",
        "--period",
        "2026-11",
        "--procedure",
        "CT-01",
        "--received",
        &n.to_string(),
    ]);
}

fn received(hub: &Hub, unit: u32) -> i64 {
    let report = hub.json(&["report", "--period", "2026-11", "--json"]);
    commune_row(&report, unit)["received"].as_i64().unwrap_or(0)
}

fn audit(hub: &Hub, action: &str) -> Vec<serde_json::Value> {
    hub.json(&["audit", "--action", action, "--limit", "10000", "--json"])
        .as_array()
        .unwrap()
        .clone()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The data of a hub: everything but the audit log, which records refusals.
fn data(hub: &Hub) -> String {
    hub.dump_except(&["audit"])
}

#[test]
fn a_device_writing_for_another_commune_is_refused_whole_and_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    let a = hub.agent(tmp.path().join("a"), 70);
    let b = hub.agent(tmp.path().join("b"), 73);
    record(&a, 4);
    record(&b, 6);
    a.ok(&["sync"]);
    b.ok(&["sync"]);
    // Someone with commune 70's PC (its key) crafts what the agent never sends.
    let tampered = Signer::of_agent(&a);
    let op = |unit: u32, seq: u64, amount: u64| Op {
        v: 1,
        actor: tampered.device,
        seq,
        hlc_ms: 1_795_000_000_000 + seq,
        hlc_c: 0,
        unit: UnitCode(unit),
        defs: 1,
        body: OpBody::Count {
            period: "2026-11".parse().unwrap(),
            procedure: "CT-01".into(),
            deltas: vec![CountDelta {
                metric: Metric::Received,
                dir: Dir::Inc,
                amount,
                total: 4 + amount,
            }],
            by: String::new(),
        },
    };
    let request = |unit: u32, ops: Vec<Op>| {
        let mut have = VersionVector::new();
        for o in &ops {
            have.advance(o.actor, o.seq);
        }
        sync::encode(&SyncRequest {
            protocol: 1,
            unit: UnitCode(unit),
            device: tampered.device,
            agent_version: "tampered".into(),
            defs: 1,
            have,
            ops,
            sent_ms: 1_795_000_000_000,
            platform: String::new(),
            root: 0,
            updates: Vec::new(),
        })
    };
    let http = hub.client(None);
    let cases = [
        (
            "the request names commune 73",
            request(73, vec![op(73, 2, 100)]),
        ),
        (
            "a valid op for 70, then one for 73 in the same batch",
            request(70, vec![op(70, 2, 1), op(73, 3, 100)]),
        ),
    ];
    for (i, (name, body)) in cases.into_iter().enumerate() {
        let before = data(&hub);
        let refusals = audit(&hub, "sync").len();
        let resp = tampered
            .post(&http, &hub.url(), SYNC_PATH, 1_000 + i as u64, body)
            .header(PROTOCOL_HEADER, "1")
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 403, "{name}");
        let err: serde_json::Value = serde_json::from_str(&resp.text().unwrap()).unwrap();
        assert_eq!(err["error"], "wrong_commune", "{name}: {err}");
        let msg = err["message"].as_str().unwrap();
        assert!(
            msg.contains("enrolled for commune 70") && msg.contains("commune 73"),
            "{name}: {msg}"
        );
        assert!(!err["message_vi"].as_str().unwrap().is_empty());
        assert_eq!(data(&hub), before, "{name}: the hub database changed");
        let log = audit(&hub, "sync");
        assert_eq!(log.len(), refusals + 1, "{name}: one audit entry");
        let entry = log.last().unwrap();
        assert_eq!(entry["outcome"], "wrong_commune", "{entry}");
        assert_eq!(entry["actor"], format!("device:{}", tampered.device));
        assert_eq!(entry["ip"], "127.0.0.1");
    }
    assert_eq!(received(&hub, 70), 4);
    assert_eq!(received(&hub, 73), 6);
    // The honest agent of 70 is unaffected.
    record(&a, 1);
    a.ok(&["sync"]);
    assert_eq!(received(&hub, 70), 5);
    assert_eq!(received(&hub, 73), 6);
}

#[test]
fn enrollment_codes_are_one_time_expire_and_cannot_be_guessed() {
    let mut rng = Rng::from_env("enrollment_codes_are_one_time_expire_and_cannot_be_guessed");
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    let ca = hub.ca();
    let init = |name: &str, unit: u32, code: &str| {
        Agent::new(tmp.path().join(name)).run(&[
            "init",
            "--unit",
            &unit.to_string(),
            "--hub",
            &hub.url(),
            "--ca",
            ca.to_str().unwrap(),
            "--code",
            code,
        ])
    };
    // One-time: the second computer with the same code is refused.
    let code = hub.code(70);
    assert!(init("first", 70, &code).status.success());
    let again = init("second", 70, &code);
    assert_eq!(again.status.code(), Some(8), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already used"),
        "{}",
        stderr(&again)
    );
    // A code made for another commune.
    let other = hub.code(73);
    let wrong = init("third", 70, &other);
    assert_eq!(wrong.status.code(), Some(8));
    assert!(
        stderr(&wrong).contains("is for commune 73"),
        "{}",
        stderr(&wrong)
    );
    // Expired: a week passes (the code's expiry is moved into the past).
    let late = hub.code(70);
    hub.database()
        .exec(
            "UPDATE enrollments SET expires_at = 1 WHERE used_at IS NULL",
            &[],
        )
        .unwrap();
    let expired = init("fourth", 70, &late);
    assert_eq!(expired.status.code(), Some(8));
    assert!(stderr(&expired).contains("expired"), "{}", stderr(&expired));
    // Guessed: a well-formed code nobody made.
    let symbols = cchc_common::auth::CODE_SYMBOLS;
    let guess = |rng: &mut Rng| -> String {
        (0..cchc_common::auth::CODE_LEN)
            .map(|_| symbols[rng.below(symbols.len() as u64) as usize] as char)
            .collect()
    };
    let guessed = init("fifth", 70, &guess(&mut rng));
    assert_eq!(guessed.status.code(), Some(8));
    assert!(
        stderr(&guessed).contains("not recognised"),
        "{}",
        stderr(&guessed)
    );
    // Mistyped: refused before anything is created.
    let typo = init("sixth", 70, "ACDE-FGHO-JKMN");
    assert_eq!(typo.status.code(), Some(3), "{}", stderr(&typo));
    assert!(!tmp.path().join("sixth").exists());
    let devices = hub.json(&["device", "list", "--json"]);
    assert_eq!(devices.as_array().unwrap().len(), 1, "{devices}");

    // 10,000 guesses from one address. The arithmetic: a code is 12 symbols of 22,
    // 22^12 ≈ 1.27 × 10^16 codes. Even with a live code for every one of the
    // country's 3,321 communes, one guess hits with probability 3,321 / 1.27 × 10^16
    // ≈ 2.6 × 10^-13, so 10,000 unlimited guesses would succeed with probability
    // ≈ 2.6 × 10^-9. The hub lets one address try 10 codes at once and then 10 a
    // minute: the flood below gets at most 10 + 10 × (its minutes) + 1 guesses looked
    // at, and at 10 a minute a guesser needs on average 1.27 × 10^16 / (2 × 3,321 ×
    // 10) minutes ≈ 364,000 years for an even chance.
    let stranger = Signer::new(0x0bad_5eed_0000_0001, 0x42);
    let base = hub.url();
    // The real code for afterwards, made now: a command run after the flood could take
    // longer than one guess token takes to come back on a loaded machine.
    let real = hub.code(73);
    let started = Instant::now();
    let guesses: Vec<String> = (0..10_000).map(|_| guess(&mut rng)).collect();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = guesses
            .chunks(2_500)
            .map(|chunk| {
                let (hub, stranger, base) = (&hub, &stranger, &base);
                s.spawn(move || {
                    let http = hub.client(None);
                    chunk
                        .iter()
                        .map(|code| {
                            let req = cchc_common::auth::EnrollRequest {
                                protocol: 1,
                                code: code.clone(),
                                unit: UnitCode(70),
                                device: stranger.device,
                                public_key: stranger.key.public(),
                                agent_version: "guesser".into(),
                            };
                            stranger
                                .post(
                                    &http,
                                    base,
                                    ENROLL_PATH,
                                    1,
                                    serde_json::to_vec(&req).unwrap(),
                                )
                                .send()
                                .expect("the hub answers")
                                .status()
                                .as_u16()
                        })
                        .collect::<Vec<u16>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    let looked_at = statuses.iter().filter(|&&s| s == 401).count();
    let limited = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!(statuses.len(), 10_000);
    assert!(!statuses.contains(&200), "a guess succeeded");
    assert_eq!(looked_at + limited, 10_000, "only refusals and limits");
    let allowed = 10.0 + 10.0 * minutes + 1.0;
    assert!(
        (looked_at as f64) <= allowed,
        "{looked_at} guesses were looked at in {minutes:.2} min; at most {allowed:.0} may be"
    );
    // The flooding address is held back even with a real code; another address of
    // the same machine is not.
    let newcomer = Signer::new(0x0000_5eed_0000_0002, 0x43);
    let req = |code: &str| cchc_common::auth::EnrollRequest {
        protocol: 1,
        code: code.replace('-', ""),
        unit: UnitCode(73),
        device: newcomer.device,
        public_key: newcomer.key.public(),
        agent_version: "test".into(),
    };
    // The bucket earns a guess back every six seconds, so on a loaded machine one
    // probe may find a fresh token: of eleven probes (with a wrong code, so none can
    // use the real one up) the burst of ten cannot let all through.
    let held = (1..=11u64)
        .map(|n| {
            newcomer
                .post(
                    &hub.client(None),
                    &base,
                    ENROLL_PATH,
                    n,
                    serde_json::to_vec(&req("AAAA-AAAA-AAAA")).unwrap(),
                )
                .send()
                .unwrap()
        })
        .find(|r| r.status().as_u16() == 429)
        .expect("the flooding address is held back");
    assert!(held.headers().get("retry-after").is_some());
    let fine = newcomer
        .post(
            &hub.client(Some("127.0.0.2")),
            &base,
            ENROLL_PATH,
            1,
            serde_json::to_vec(&req(&real)).unwrap(),
        )
        .send()
        .unwrap();
    assert_eq!(
        fine.status().as_u16(),
        200,
        "{}",
        fine.text().unwrap_or_default()
    );
    // The audit log has the refusals, without one line per flooded request.
    let log = audit(&hub, "enroll.use");
    let count = |outcome: &str| log.iter().filter(|e| e["outcome"] == outcome).count();
    assert!(count("code_used") >= 1 && count("code_expired") >= 1 && count("bad_code") >= 1);
    assert!(count("rate_limited") >= 1, "{log:?}");
    assert!(log.len() < 100, "{} audit lines for one flood", log.len());
    assert_eq!(count("ok"), 2);
}

#[test]
fn a_revoked_device_is_refused_and_its_data_stays() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    let lost = hub.agent(tmp.path().join("lost"), 70);
    let desk = hub.agent(tmp.path().join("desk"), 70);
    record(&lost, 5);
    lost.ok(&["sync"]);
    let id = lost.json(&["status", "--json"])["device"]
        .as_str()
        .unwrap()
        .to_string();
    let list = hub.json(&["device", "list", "--json"]);
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id.as_str())
        .cloned()
        .expect("listed");
    assert_eq!(row["unit"], 70);
    assert_eq!(row["revoked"], false);
    assert!(
        row["enrolled_at"].is_string() && row["last_seen"].is_string(),
        "{row}"
    );

    let out = hub.ok(&["device", "revoke", &id]);
    assert!(out.contains("Revoked"), "{out}");
    record(&lost, 2);
    let refused = lost.run(&["sync"]);
    assert_eq!(refused.status.code(), Some(8), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("contact the province"),
        "{}",
        stderr(&refused)
    );
    let vi = std::process::Command::new(cchc_tests::bin("cchc-agent"))
        .arg("--data-dir")
        .arg(&lost.dir)
        .args(["--lang", "vi", "sync"])
        .output()
        .unwrap();
    assert!(stderr(&vi).contains("liên hệ"), "{}", stderr(&vi));
    // Its earlier data stays, and still reaches the commune's other desk.
    assert_eq!(received(&hub, 70), 5);
    desk.ok(&["sync"]);
    let shown = desk.json(&["show", "--json"]);
    assert_eq!(shown["counts"][0]["value"], 5, "{shown}");
    let list = hub.json(&["device", "list", "--json"]);
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(row["revoked"], true, "{row}");
    assert!(hub
        .ok(&["device", "revoke", &id])
        .contains("Already revoked"));
    let unknown = hub
        .command(&["device", "revoke", "00000000000000ff"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(3));
    assert!(stderr(&unknown).contains("not enrolled"));
    let log = audit(&hub, "");
    assert!(log
        .iter()
        .any(|e| e["action"] == "device.revoke" && e["target"] == format!("device:{id}")));
    assert!(log
        .iter()
        .any(|e| e["action"] == "sync" && e["outcome"] == "device_revoked"));

    // A copy of the device id without its key (the key file replaced): bad signature.
    let key_file = desk.dir.join("device.key");
    let seed = [0x77u8; 32];
    std::fs::write(
        &key_file,
        format!(
            "cchc device key v1 (ed25519 seed; keep private)\n{}\n",
            cchc_common::auth::hex(&DeviceKey::from_seed(seed).seed())
        ),
    )
    .unwrap();
    let forged = desk.run(&["sync"]);
    assert_eq!(forged.status.code(), Some(8), "{}", stderr(&forged));
    assert!(
        stderr(&forged).contains("bad_signature"),
        "{}",
        stderr(&forged)
    );
}

#[test]
fn plain_http_is_refused_and_a_stalling_client_is_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start_with(&["--client-timeout", "2"]);
    // Plain HTTP on the HTTPS port: never an HTTP answer.
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", hub.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    tcp.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = tcp.read_to_end(&mut got);
    assert!(
        !String::from_utf8_lossy(&got).contains("HTTP/"),
        "plain HTTP got an answer: {got:?}"
    );
    assert!(got.is_empty() || got[0] == 0x15, "not a TLS alert: {got:?}");
    // And the agent will not be pointed at an http:// hub.
    let a = Agent::new(tmp.path().join("a"));
    let out = a.run(&[
        "init",
        "--unit",
        "70",
        "--hub",
        &format!("http://localhost:{}", hub.port),
        "--ca",
        hub.ca().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("https://"), "{}", stderr(&out));

    // A client that completes TLS and then dribbles half a request head is dropped
    // after the client timeout (2 s here), not held forever.
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::pem::PemObject::pem_file_iter(hub.ca()).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let conn = rustls::ClientConnection::new(
        std::sync::Arc::new(cfg),
        rustls::pki_types::ServerName::try_from("localhost").unwrap(),
    )
    .unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", hub.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    tls.flush().unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let r = tls.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(
        !matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut),
        "the hub kept a stalled connection open for {waited:?}"
    );
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"), "{buf:?}");
    // TLS 1.2 itself is fine, and health answers a complete request.
    let health = hub
        .client(None)
        .get(format!("{}/health", hub.url()))
        .send()
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

/// Every route of the hub but health, as (method, path, body).
const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/api/v1/status", ""),
    ("GET", "/api/v1/report?period=2026-11", ""),
    ("GET", "/api/v1/devices", ""),
    ("POST", "/api/v1/devices/0000000000000001/revoke", ""),
    ("POST", "/api/v1/enrollments", "{\"unit\": 70}"),
    ("POST", "/api/v1/definitions", "{}"),
    ("GET", "/api/v1/audit", ""),
    ("GET", "/api/v1/whoami", ""),
    ("POST", "/api/v1/logout", ""),
    ("POST", "/api/v1/sync", ""),
    ("POST", "/api/v1/enroll", "{}"),
    (
        "POST",
        "/api/v1/login",
        "{\"user\": \"admin\", \"password\": \"not the password\"}",
    ),
    ("GET", "/api/v1/no-such-route", ""),
    ("GET", "/api/v1/overview", ""),
    ("GET", "/api/v1/completeness", ""),
    ("GET", "/api/v1/figures", ""),
    ("GET", "/api/v1/phases/1", ""),
    ("GET", "/api/v1/communes/70", ""),
    ("GET", "/api/v1/export/overview/phases.csv", ""),
    ("POST", "/api/v1/communes/70/verification", "{}"),
    ("POST", "/api/v1/phases", "{}"),
];

/// Dashboard pages: without a session a browser is sent to the sign-in form.
const PAGES: &[&str] = &[
    "/",
    "/phase/1",
    "/commune/70",
    "/verify/70",
    "/completeness",
    "/figures",
    "/releases",
];

fn call(
    http: &reqwest::blocking::Client,
    base: &str,
    method: &str,
    path: &str,
    body: &str,
    token: Option<&str>,
) -> (u16, serde_json::Value) {
    let url = format!("{base}{path}");
    let mut req = match method {
        "GET" => http.get(url),
        _ => http.post(url).body(body.to_string()),
    };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

#[test]
fn people_need_a_session_and_the_right_role() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    let admin_pw = hub.user("admin", "admin");
    let viewer_pw = hub.user("lan.viewer", "viewer");
    let analyst_pw = hub.user("minh.analyst", "analyst");
    // This test signs in and enrolls more than 10 times a minute from one address.
    hub.start_with(&["--rate-guesses", "100"]);
    let http = hub.client(None);
    let base = hub.url();
    let ok = call(&http, &base, "GET", "/health", "", None);
    assert_eq!(ok.0, 200);
    for page in PAGES {
        let resp = http.get(format!("{base}{page}")).send().unwrap();
        assert_eq!(resp.url().path(), "/login", "{page} without a session");
        let html = resp.text().unwrap();
        assert!(
            html.contains(r#"name="password""#),
            "{page}: the sign-in form"
        );
        assert!(!html.contains("data-key="), "{page}: no figure is shown");
    }
    for &(method, path, body) in ROUTES {
        let (status, err) = call(&http, &base, method, path, body, None);
        assert_eq!(status, 401, "{method} {path} without a session: {err}");
        for token in ["garbage", &"0".repeat(64)] {
            let (status, _) = call(&http, &base, method, path, body, Some(token));
            if path != "/api/v1/sync" && path != "/api/v1/enroll" && path != "/api/v1/login" {
                assert_eq!(status, 401, "{method} {path} with a made-up token");
            }
        }
    }

    let viewer = hub.login("lan.viewer", &viewer_pw);
    let (status, doc) = call(&http, &base, "GET", "/api/v1/status", "", Some(&viewer));
    assert_eq!(status, 200);
    let cli = hub.json(&["status", "--json"]);
    assert_eq!(
        doc["communes"].as_array().map(Vec::len),
        cli["communes"].as_array().map(Vec::len)
    );
    assert_eq!(doc["province"], cli["province"]);
    let a = hub.agent(tmp.path().join("a"), 70);
    let id = a.json(&["status", "--json"])["device"]
        .as_str()
        .unwrap()
        .to_string();
    let revoke = format!("/api/v1/devices/{id}/revoke");
    let mut v2: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(cchc_tests::workspace().join("common/data/definitions-v1.json"))
            .unwrap(),
    )
    .unwrap();
    v2["version"] = 2.into();
    // Definitions go out signed: the province's offline key signs a bundle (a text
    // file for definitions), and the admin posts it.
    let kit = cchc_tests::ReleaseKit::new(tmp.path().join("kit"));
    kit.trust(&hub);
    let v2_file = tmp.path().join("defs-v2.json");
    std::fs::write(&v2_file, v2.to_string()).unwrap();
    let defs = std::fs::read_to_string(kit.sign_definitions(&v2_file)).unwrap();
    let changes: [(&str, &str); 3] = [
        ("/api/v1/enrollments", "{\"unit\": 70}"),
        (&revoke, ""),
        ("/api/v1/definitions", &defs),
    ];
    let analyst = hub.login("minh.analyst", &analyst_pw);
    for token in [&viewer, &analyst] {
        let before = data(&hub);
        for (path, body) in changes {
            let (status, err) = call(&http, &base, "POST", path, body, Some(token));
            assert_eq!(status, 403, "POST {path}: {err}");
            assert_eq!(err["error"], "forbidden");
            assert!(
                err["message"]
                    .as_str()
                    .unwrap()
                    .contains("needs role admin"),
                "{err}"
            );
        }
        // The audit log is for analysts and admins, not viewers.
        let (status, _) = call(&http, &base, "GET", "/api/v1/audit", "", Some(token));
        assert_eq!(status, if token == &viewer { 403 } else { 200 });
        assert_eq!(data(&hub), before, "a refused change changed the hub");
    }
    assert!(audit(&hub, "")
        .iter()
        .any(|e| e["outcome"] == "forbidden" && e["actor"] == "user:lan.viewer"));

    // The admin can: a code made over HTTPS enrolls a real agent; revoking works.
    let admin = hub.login("admin", &admin_pw);
    let (status, code) = call(
        &http,
        &base,
        "POST",
        "/api/v1/enrollments",
        "{\"unit\": 73, \"expires\": \"2h\"}",
        Some(&admin),
    );
    assert_eq!(status, 200, "{code}");
    assert_eq!(code["unit"], 73);
    let b = Agent::new(tmp.path().join("b"));
    b.ok(&[
        "init",
        "--unit",
        "73",
        "--hub",
        &base,
        "--ca",
        hub.ca().to_str().unwrap(),
        "--code",
        code["code"].as_str().unwrap(),
    ]);
    b.ok(&["sync"]);
    let (status, published) = call(
        &http,
        &base,
        "POST",
        "/api/v1/definitions",
        &defs,
        Some(&admin),
    );
    assert_eq!(status, 200, "{published}");
    assert_eq!(published["published"], 2);
    let (status, done) = call(&http, &base, "POST", &revoke, "", Some(&admin));
    assert_eq!(status, 200, "{done}");
    assert_eq!(a.run(&["sync"]).status.code(), Some(8));
    let (status, log) = call(
        &http,
        &base,
        "GET",
        "/api/v1/audit?action=login",
        "",
        Some(&admin),
    );
    assert_eq!(status, 200);
    assert!(log.as_array().unwrap().len() >= 3, "{log}");

    // Sessions end: on sign-out, and when the password changes.
    let (status, _) = call(&http, &base, "POST", "/api/v1/logout", "", Some(&admin));
    assert_eq!(status, 200);
    assert_eq!(
        call(&http, &base, "GET", "/api/v1/whoami", "", Some(&admin)).0,
        401
    );
    let viewer2 = hub.login("lan.viewer", &viewer_pw);
    assert_eq!(
        call(&http, &base, "GET", "/api/v1/whoami", "", Some(&viewer2)).0,
        200
    );
    let mut passwd = hub
        .command(&["user", "passwd", "lan.viewer"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    writeln!(passwd.stdin.take().unwrap(), "a brand new password").unwrap();
    assert!(passwd.wait().unwrap().success());
    assert_eq!(
        call(&http, &base, "GET", "/api/v1/whoami", "", Some(&viewer2)).0,
        401
    );
    let (status, _) = call(
        &http,
        &base,
        "POST",
        "/api/v1/login",
        &serde_json::json!({"user": "lan.viewer", "password": viewer_pw}).to_string(),
        None,
    );
    assert_eq!(status, 401, "the old password still works");
    hub.ok(&["user", "remove", "minh.analyst"]);
    let users = hub.json(&["user", "list", "--json"]);
    assert_eq!(users.as_array().unwrap().len(), 2, "{users}");
}

#[test]
fn a_captured_sync_request_replayed_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    let proxy = FaultProxy::start(&hub.dir.join("tls"), hub.port, 1);
    proxy.set_faults(false);
    let a = hub.agent(tmp.path().join("a"), 70);
    a.ok(&[
        "init",
        "--unit",
        "70",
        "--hub",
        &proxy.url(),
        "--ca",
        hub.ca().to_str().unwrap(),
    ]);
    record(&a, 3);
    a.ok(&["sync"]);
    let captured = proxy.captured();
    let (head, body) = captured
        .last()
        .cloned()
        .expect("the sync went through the proxy");
    assert!(String::from_utf8_lossy(&head).starts_with("POST /api/v1/sync"));
    let before = data(&hub);

    // Replayed as is: its nonce was used.
    let (rhead, rbody) = proxy.send_to_hub(&head, &body).expect("the hub answers");
    assert!(
        String::from_utf8_lossy(&rhead).starts_with("HTTP/1.1 409"),
        "{}",
        String::from_utf8_lossy(&rhead)
    );
    assert!(String::from_utf8_lossy(&rbody).contains("stale_nonce"));
    assert_eq!(data(&hub), before, "the replay changed the hub");
    // With another nonce, or another body under the captured signature: refused.
    let text = String::from_utf8_lossy(&head).into_owned();
    let nonce_line = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("x-cchc-nonce:"))
        .expect("nonce header")
        .to_string();
    let bumped = text.replace(&nonce_line, "x-cchc-nonce: 999999");
    let (rhead, rbody) = proxy.send_to_hub(bumped.as_bytes(), &body).unwrap();
    assert!(String::from_utf8_lossy(&rhead).starts_with("HTTP/1.1 401"));
    assert!(String::from_utf8_lossy(&rbody).contains("bad_signature"));
    let mut other = body.clone();
    let last = other.len() - 1;
    other[last] ^= 1;
    let (rhead, rbody) = proxy.send_to_hub(&head, &other).unwrap();
    assert!(
        String::from_utf8_lossy(&rhead).starts_with("HTTP/1.1 401"),
        "{}",
        String::from_utf8_lossy(&rbody)
    );
    assert!(String::from_utf8_lossy(&rbody).contains("bad_signature"));
    assert_eq!(data(&hub), before, "a tampered replay changed the hub");
    assert_eq!(received(&hub, 70), 3);
    // The agent carries on.
    record(&a, 1);
    a.ok(&["sync"]);
    assert_eq!(received(&hub, 70), 4);
}

/// Mistakes of signed-in people get a 400 naming the field, the value and the rule, in
/// both languages, never a 401 that reads as "signed out"; and none of them stops the
/// hub (`7é` used to split a character and panic on the command line).
#[test]
fn a_persons_mistake_is_a_400_naming_the_field_never_a_401() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    let admin_pw = hub.user("admin", "admin");
    hub.start();
    let http = hub.client(None);
    let base = hub.url();
    let admin = hub.login("admin", &admin_pw);
    let cases: [(&str, &str, &str, &str); 7] = [
        (
            "POST",
            "/api/v1/enrollments",
            r#"{"unit": 4, "expires": "7é"}"#,
            "expires '7é'",
        ),
        (
            "POST",
            "/api/v1/enrollments",
            r#"{"unit": 4, "expires": "0d"}"#,
            "expires '0d'",
        ),
        ("GET", "/api/v1/report", "", "period ''"),
        ("GET", "/api/v1/overview?period=2026", "", "period '2026'"),
        ("GET", "/api/v1/communes/4?year=1066", "", "year '1066'"),
        ("GET", "/api/v1/audit?limit=many", "", "limit 'many'"),
        (
            "GET",
            "/api/v1/export/overview/phases.pdf",
            "",
            "file 'phases.pdf'",
        ),
    ];
    let before = hub.dump_except(&["audit", "sessions"]);
    for (method, path, body, names) in cases {
        let (status, doc) = call(&http, &base, method, path, body, Some(&admin));
        assert_eq!(status, 400, "{method} {path}: {doc}");
        assert_eq!(doc["error"], "bad_input", "{method} {path}: {doc}");
        let en = doc["message"].as_str().unwrap();
        let vi = doc["message_vi"].as_str().unwrap();
        assert!(en.contains(names), "{method} {path}: {en}");
        assert!(vi.contains(names) && vi != en, "{method} {path}: {vi}");
    }
    // A JSON body of the wrong shape names the body and where it went wrong.
    let (status, doc) = call(
        &http,
        &base,
        "POST",
        "/api/v1/phases",
        r#"{"phase": "one"}"#,
        Some(&admin),
    );
    assert_eq!(
        (status, doc["error"].as_str()),
        (400, Some("bad_body")),
        "{doc}"
    );
    assert!(
        doc["message"]
            .as_str()
            .unwrap()
            .contains("phase assignment"),
        "{doc}"
    );
    // Still signed in, nothing stored.
    let (status, _) = call(&http, &base, "GET", "/api/v1/whoami", "", Some(&admin));
    assert_eq!(status, 200);
    assert_eq!(hub.dump_except(&["audit", "sessions"]), before);
    // The command line: exit 3, the flag named, nothing made.
    let out = hub
        .command(&["enroll", "create", "--unit", "4", "--expires", "7é"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("--expires '7é'"), "{}", stderr(&out));
    hub.stop();
}

/// A user name full of control characters, typed at sign-in, is kept as given in the
/// audit log but printed one record per line with its controls visible: nobody can
/// forge a line or paint the admin's terminal.
#[test]
fn a_forged_user_name_stays_one_visible_audit_record() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    let forged =
        "x\n    99  01/01/2026 00:00  user:admin  login  ok\r\u{1b}[2J\u{1b}[31mred\u{202e}";
    let http = hub.client(None);
    let body = serde_json::json!({"user": forged, "password": "wrong password"}).to_string();
    let (status, _) = call(&http, &hub.url(), "POST", "/api/v1/login", &body, None);
    assert_eq!(status, 401);
    let json = hub.json(&["audit", "--action", "login", "--json"]);
    let records = json.as_array().unwrap();
    assert_eq!(records.len(), 1, "{json}");
    assert_eq!(
        records[0]["target"],
        format!("user:{forged}"),
        "stored as given"
    );
    let text = hub.ok(&["audit", "--action", "login"]);
    assert_eq!(text.lines().count(), 1, "one record, one line:\n{text}");
    assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
    assert!(
        text.contains(
            r"user:x\n    99  01/01/2026 00:00  user:admin  login  ok\r\e[2J\e[31mred\u{202e}"
        ),
        "{text}"
    );
    hub.stop();
}

/// After signing in, the browser goes only to a page of this hub: every way of
/// smuggling another host into `next` (a tab the browser drops, a backslash, a scheme,
/// percent-encoded slashes) sends it to `/` instead.
#[test]
fn signing_in_never_redirects_to_another_host() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    let pw = hub.user("thu", "viewer");
    // Many sign-ins from one address within a minute.
    hub.start_with(&["--rate-guesses", "100"]);
    let pem = std::fs::read(hub.ca()).unwrap();
    let http = reqwest::blocking::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = hub.url();
    let form = |next: &str| {
        format!(
            "user=thu&password={}&next={next}",
            pw.replace('%', "%25")
                .replace('&', "%26")
                .replace('+', "%2B")
        )
    };
    // `next` as it travels in the form body (already percent-encoded).
    let cases = [
        ("%2Fcommune%2F4%3Fyear%3D2026", "/commune/4?year=2026"),
        ("/phase/2", "/phase/2"),
        ("//evil.example/phish", "/"),
        ("/%09/evil.example/phish", "/"),
        ("%2F%09%2Fevil.example", "/"),
        ("/%0A/evil.example", "/"),
        ("/%5Cevil.example", "/"),
        ("%2F%2Fevil.example", "/"),
        ("https:evil.example", "/"),
        ("https%3A%2F%2Fevil.example", "/"),
        ("/%252F/evil.example", "/"),
        ("/%2E%2F%2Fevil.example", "/"),
        ("/api/v1/devices", "/"),
    ];
    for (next, want) in cases {
        let resp = http
            .post(format!("{base}/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(next))
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 303, "next={next}");
        let to = resp.headers()["location"].to_str().unwrap().to_string();
        assert_eq!(to, want, "next={next}");
        // And the sign-in form offered with such a target keeps only a page of ours.
        let page = http
            .get(format!("{base}/login?next={next}"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(
            page.contains(&format!(
                r#"name="next" value="{}""#,
                want.replace('&', "&amp;")
            )),
            "next={next}: {page}"
        );
    }
    hub.stop();
}

/// Another site's page can make a signed-in browser send the session cookie, but not
/// the page's form token nor this hub's Origin: every state-changing JSON route refuses
/// such a request (403 `cross_site`) and changes nothing, while the hub's own pages
/// (cookie, token, Origin) and tools (Bearer) still work.
#[test]
fn a_cookie_only_change_from_another_site_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    let pw = hub.user("admin", "admin");
    hub.start();
    hub.ok(&["phase", "assign", "--phase", "1", "--unit", "4"]);
    let _agent = hub.agent(tmp.path().join("agent"), 4);
    let device = hub.json(&["device", "list", "--json"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = hub.login("admin", &pw);
    let http = hub.client(None);
    let base = hub.url();
    let cookie = format!("cchc_session={token}");
    let ours = base.clone();
    // The form token, as the hub's own pages carry it.
    let form = http
        .get(format!("{base}/verify/4"))
        .header("cookie", &cookie)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let form_token = form
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the verification form carries its token")
        .to_string();
    let mut defs: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(cchc_tests::workspace().join("common/data/definitions-v1.json"))
            .unwrap(),
    )
    .unwrap();
    defs["version"] = 2.into();
    let changes: Vec<(String, String)> = vec![
        (format!("/api/v1/devices/{device}/revoke"), String::new()),
        ("/api/v1/enrollments".into(), r#"{"unit": 4}"#.into()),
        ("/api/v1/definitions".into(), defs.to_string()),
        (
            "/api/v1/communes/4/verification".into(),
            r#"{"phase": 1, "scores": [{"criterion": "TC-01", "score": 9}]}"#.into(),
        ),
        (
            "/api/v1/phases".into(),
            r#"{"phase": 2, "units": [8]}"#.into(),
        ),
        ("/api/v1/logout".into(), String::new()),
    ];
    let attacks: [(&str, Option<&str>, bool); 4] = [
        ("another site", Some("https://evil.example"), false),
        ("no Origin", None, false),
        (
            "our Origin without the form token",
            Some(ours.as_str()),
            false,
        ),
        (
            "the token, from another site",
            Some("https://evil.example"),
            true,
        ),
    ];
    for (path, body) in &changes {
        for (how, origin, with_token) in attacks {
            let before = hub.dump_except(&["audit"]);
            let mut req = http
                .post(format!("{base}{path}"))
                .header("cookie", &cookie)
                .header("content-type", "text/plain")
                .body(body.clone());
            if let Some(o) = origin {
                req = req.header("origin", o);
            }
            if with_token {
                req = req.header("x-cchc-form-token", &form_token);
            }
            let resp = req.send().unwrap();
            let status = resp.status().as_u16();
            let doc: serde_json::Value = serde_json::from_str(&resp.text().unwrap()).unwrap();
            assert_eq!(
                (status, doc["error"].as_str()),
                (403, Some("cross_site")),
                "{path}, {how}: {doc}"
            );
            assert_eq!(
                hub.dump_except(&["audit"]),
                before,
                "{path}, {how}: the hub changed"
            );
        }
    }
    // The hub's own page: cookie, form token and Origin.
    let resp = http
        .post(format!("{base}/api/v1/phases"))
        .header("cookie", &cookie)
        .header("origin", &ours)
        .header("x-cchc-form-token", &form_token)
        .body(r#"{"phase": 2, "units": [8]}"#)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "{}", resp.text().unwrap());
    // A tool: the Bearer token alone.
    let (status, doc) = call(
        &http,
        &base,
        "POST",
        "/api/v1/phases",
        r#"{"phase": 3, "units": [25]}"#,
        Some(&token),
    );
    assert_eq!(status, 200, "{doc}");
    let plan: Vec<(u32, u32)> = hub
        .database()
        .query(
            "SELECT unit, phase FROM phase_plan ORDER BY unit",
            &[],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(plan, vec![(4, 1), (8, 2), (25, 3)]);
    // Each refusal is in the audit log under the session's user.
    let refused = hub.json(&["audit", "--action", "cross_site", "--json"]);
    assert_eq!(
        refused.as_array().unwrap().len(),
        changes.len() * attacks.len(),
        "{refused}"
    );
    hub.stop();
}

/// The hub's folder holds every commune's data, password hashes and TLS keys; a
/// desk's folder its data and device key: owner-only, WAL included, and an old hub
/// whose database was world-readable is tightened when it next opens it.
#[test]
fn hub_and_agent_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    let a = hub.agent(tmp.path().join("a"), 70);
    record(&a, 3);
    a.ok(&["sync"]);
    let dir = tmp.path().join("hub");
    // The data itself: SQLite's file and its WAL, or the file naming the PostgreSQL
    // database (its URL may hold a password).
    let (data, wal) = if hub.on_postgres() {
        (dir.join("store.url"), dir.join("store.url"))
    } else {
        (dir.join("hub.db"), dir.join("hub.db-wal"))
    };
    assert!(wal.exists(), "the serving hub has a WAL");
    for (p, want) in [
        (dir.clone(), 0o700),
        (dir.join("tls"), 0o700),
        (data.clone(), 0o600),
        (wal, 0o600),
        (dir.join("tls").join("ca.key"), 0o600),
        (dir.join("tls").join("server.key"), 0o600),
        (a.dir.clone(), 0o700),
        (a.db(), 0o600),
        (a.dir.join("device.key"), 0o600),
    ] {
        assert_eq!(mode(&p), want, "{}", p.display());
    }
    hub.stop();
    // An install from before: world-readable database, tightened on the next open.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o644)).unwrap();
    hub.ok(&["status", "--json"]);
    assert_eq!(mode(&data), 0o600);
}
