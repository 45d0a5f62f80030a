//! The hub against hostile clients: a flood of large sync bodies from devices it never
//! enrolled, large bodies claiming a real device with forged signatures, and bodies
//! dribbled a byte at a time. Its memory stays bounded, every such request is answered
//! or cut within the limits, and an honest agent syncs normally throughout. The
//! figures (RSS before and at its peak, outcomes, slowest answer) are printed.

use cchc_common::auth::{DEVICE_HEADER, NONCE_HEADER, SIGNATURE_HEADER};
use cchc_common::sync::{PROTOCOL_HEADER, SYNC_PATH};
use cchc_tests::Hub;
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A body of `left` zero bytes, made as it is sent (the attacker's memory stays flat
/// too), optionally one byte at a time with a pause.
struct Zeros {
    left: usize,
    pause: Option<Duration>,
}

impl Read for Zeros {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let n = match self.pause {
            Some(p) => {
                std::thread::sleep(p);
                1
            }
            None => buf.len().min(self.left).min(64 << 10),
        };
        buf[..n].fill(0);
        self.left -= n;
        Ok(n)
    }
}

/// One kind of hostile request.
struct Wave<'a> {
    /// How many at once.
    count: usize,
    /// The address they come from.
    from: &'a str,
    /// The device they claim to be (`None`: a made-up one each).
    claimed: Option<&'a str>,
    /// Body size.
    size: usize,
    /// A byte every…, or as fast as it goes.
    pause: Option<Duration>,
}

/// How one hostile request ended.
fn outcome(r: reqwest::Result<reqwest::blocking::Response>) -> String {
    match r {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let code = resp
                .text()
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or_default();
            format!("{status} {code}")
        }
        Err(e) if e.is_timeout() => "client timeout".into(),
        Err(_) => "cut".into(),
    }
}

#[test]
fn a_flood_of_big_and_slow_bodies_leaves_the_hub_small_and_an_honest_agent_syncing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    // A 5 s idle limit; every address may send plenty of requests (this is not a
    // rate-limit test).
    hub.start_with(&["--client-timeout", "5", "--rate-ip", "10000"]);
    let agent = hub.agent(tmp.path().join("agent"), 4);
    let record = |n: u32| {
        agent.ok(&[
            "record",
            "--period",
            "2026-10",
            "--procedure",
            "CT-01",
            "--received",
            &n.to_string(),
        ])
    };
    record(1);
    agent.ok(&["sync"]);
    let device = agent.json(&["status", "--json"])["device"]
        .as_str()
        .unwrap()
        .to_string();
    let before_kib = hub.rss_kib();

    // Watch the hub's memory while the attack runs.
    let peak = Arc::new(AtomicU64::new(before_kib));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (peak, done, pid) = (peak.clone(), done.clone(), hub.pid());
        std::thread::spawn(move || {
            let read = || {
                std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find_map(|l| l.strip_prefix("VmRSS:"))
                            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                    })
            };
            while !done.load(Ordering::Relaxed) {
                if let Some(kib) = read() {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    let outcomes: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let slowest = Arc::new(Mutex::new(Duration::ZERO));
    let base = hub.url();
    let waves = [
        Wave {
            count: 150,
            from: "127.0.0.2",
            claimed: None,
            size: 4 << 20,
            pause: None,
        },
        Wave {
            count: 50,
            from: "127.0.0.3",
            claimed: Some(device.as_str()),
            size: 4 << 20,
            pause: None,
        },
        Wave {
            count: 20,
            from: "127.0.0.4",
            claimed: Some(device.as_str()),
            size: 10_000,
            pause: Some(Duration::from_millis(500)),
        },
    ];
    let mut attackers = Vec::new();
    for Wave {
        count,
        from,
        claimed,
        size,
        pause,
    } in waves
    {
        let http = hub.client(Some(from));
        for i in 0..count {
            let (http, base, outcomes, slowest) = (
                http.clone(),
                base.clone(),
                outcomes.clone(),
                slowest.clone(),
            );
            let who = claimed
                .map(str::to_string)
                .unwrap_or_else(|| format!("{:016x}", 0xbad0_0000_0000_0000u64 + i as u64));
            attackers.push(std::thread::spawn(move || {
                let started = Instant::now();
                let r = http
                    .post(format!("{base}{SYNC_PATH}"))
                    .header(DEVICE_HEADER, who)
                    .header(NONCE_HEADER, (1_000_000 + i).to_string())
                    .header(SIGNATURE_HEADER, "00".repeat(64))
                    .header(PROTOCOL_HEADER, "1")
                    .body(reqwest::blocking::Body::sized(
                        Zeros { left: size, pause },
                        size as u64,
                    ))
                    .send();
                let took = started.elapsed();
                let label = format!(
                    "{} {}",
                    if pause.is_some() { "slow" } else { "big" },
                    outcome(r)
                );
                *outcomes.lock().unwrap().entry(label).or_default() += 1;
                let mut s = slowest.lock().unwrap();
                *s = (*s).max(took);
            }));
        }
    }
    // Meanwhile the honest agent records and syncs.
    for n in 2..5 {
        record(n);
        agent.ok(&["sync"]);
    }
    for a in attackers {
        a.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    // And once the flood is over.
    record(5);
    agent.ok(&["sync"]);

    let peak_kib = peak.load(Ordering::Relaxed);
    let outcomes = outcomes.lock().unwrap().clone();
    let slowest = *slowest.lock().unwrap();
    eprintln!(
        "hostile clients: hub RSS {} KiB before, {} KiB at peak (+{} KiB); slowest answer {:?}; outcomes {:?}",
        before_kib,
        peak_kib,
        peak_kib.saturating_sub(before_kib),
        slowest,
        outcomes
    );
    assert_eq!(outcomes.values().sum::<usize>(), 220);
    // Unknown devices are refused without their body being read; forged signatures of
    // a real device are read within the address's budget (busy beyond it); a dribble
    // is cut after the idle limit.
    assert!(
        outcomes
            .keys()
            .all(|k| !k.contains("200") && !k.contains("client timeout")),
        "{outcomes:?}"
    );
    assert!(
        !outcomes.contains_key("slow 401 bad_signature"),
        "a dribbled body was read to its end: {outcomes:?}"
    );
    assert!(
        peak_kib.saturating_sub(before_kib) < 64 * 1024,
        "the hub grew by {} KiB",
        peak_kib - before_kib
    );
    assert!(slowest < Duration::from_secs(45), "{slowest:?}");
    // The honest agent's counts arrived whole: 1 + 2 + 3 + 4 + 5.
    let report = hub.json(&["report", "--period", "2026-10", "--json"]);
    assert_eq!(
        cchc_tests::commune_row(&report, 4)["received"],
        15,
        "{report}"
    );
    hub.stop();
}

/// A TLS connection to the hub from `from`, handshake done, then left idle.
fn idle_tls(
    hub: &Hub,
    from: &str,
) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::pem::PemObject::pem_file_iter(hub.ca()).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = connect_from(hub, from);
    let conn = rustls::ClientConnection::new(
        Arc::new(cfg),
        rustls::pki_types::ServerName::try_from("localhost").unwrap(),
    )
    .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).expect("handshake");
    }
    tls
}

/// A plain TCP connection to the hub from a given local address.
fn connect_from(hub: &Hub, from: &str) -> std::net::TcpStream {
    let rt = cchc_tests::browser::runtime();
    let tcp = rt.block_on(async {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind(format!("{from}:0").parse().unwrap()).unwrap();
        s.connect(format!("127.0.0.1:{}", hub.port).parse().unwrap())
            .await
            .unwrap()
    });
    let tcp = tcp.into_std().unwrap();
    tcp.set_nonblocking(false).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    tcp
}

/// One address may hold only so many connections: the next is closed at once, the
/// others (and other addresses) are served, and a closed one frees its place.
#[test]
fn connections_over_an_address_cap_are_closed_and_others_served() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start_with(&["--max-connections-ip", "8"]);
    let agent = hub.agent(tmp.path().join("agent"), 4);
    let held: Vec<_> = (0..8).map(|_| idle_tls(&hub, "127.0.0.2")).collect();
    // The ninth from that address: closed before any TLS.
    let mut ninth = connect_from(&hub, "127.0.0.2");
    let started = Instant::now();
    let mut buf = [0u8; 16];
    match ninth.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!(
            "the ninth connection was not closed: {other:?} after {:?}",
            started.elapsed()
        ),
    }
    // Another address is served meanwhile.
    agent.ok(&[
        "record",
        "--period",
        "2026-10",
        "--procedure",
        "CT-01",
        "--received",
        "2",
    ]);
    agent.ok(&["sync"]);
    // Once the eight close, the address is served again.
    drop(held);
    let http = hub.client(Some("127.0.0.2"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match http.get(format!("{}/health", hub.url())).send() {
            Ok(r) if r.status().as_u16() == 200 => break,
            other => assert!(
                Instant::now() < deadline,
                "127.0.0.2 is still refused 30 s after its connections closed: {other:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    hub.stop();
}

/// Request heads are small: 64 KiB of headers is refused before anything reads them.
#[test]
fn an_oversized_request_head_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    let http = hub.client(None);
    let url = format!("{}/health", hub.url());
    let big = http.get(&url).header("x-pad", "a".repeat(64 << 10)).send();
    match big {
        Ok(r) => assert_eq!(r.status().as_u16(), 431, "a 64 KiB header was accepted"),
        Err(e) => assert!(!e.is_timeout(), "{e}"),
    }
    let many = (0..100).fold(http.get(&url), |r, i| r.header(format!("x-h{i}"), "1"));
    match many.send() {
        Ok(r) => assert_eq!(r.status().as_u16(), 431, "100 header lines were accepted"),
        Err(e) => assert!(!e.is_timeout(), "{e}"),
    }
    // An ordinary request still is.
    assert_eq!(http.get(&url).send().unwrap().status().as_u16(), 200);
    hub.stop();
}
