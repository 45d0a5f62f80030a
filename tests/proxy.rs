//! A fault-injecting HTTPS proxy between agents and the hub. It terminates TLS with
//! the hub's own certificate (so pinned agents accept it), reads each HTTP/1.1 request,
//! and — chosen by a seeded random generator — passes it, delays it, drops it, sends it
//! to the hub twice, cuts it mid-body, or drops or cuts the hub's response mid-body.
//! It can also hold one forwarded request until the test has killed and restarted the
//! hub, so the hub dies mid-exchange. Every fault is counted, so a test can require
//! that each kind happened.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// Forwarded untouched.
    Pass,
    /// Held 50–300 ms, then forwarded.
    Delay,
    /// Connection closed before anything reaches the hub.
    DropRequest,
    /// Sent to the hub twice; the second answer goes back.
    Duplicate,
    /// Head and part of the body reach the hub, then both connections close.
    CutRequest,
    /// The hub answers; the connection closes before the answer goes back.
    DropResponse,
    /// Part of the hub's answer goes back, then the connection closes.
    CutResponse,
}

const FAULTS: [Fault; 7] = [
    Fault::Pass,
    Fault::Delay,
    Fault::DropRequest,
    Fault::Duplicate,
    Fault::CutRequest,
    Fault::DropResponse,
    Fault::CutResponse,
];

struct Shared {
    rng: Mutex<u64>,
    counts: Mutex<BTreeMap<Fault, u32>>,
    hold_next: AtomicBool,
    held_tx: Mutex<Option<Sender<Sender<()>>>>,
    faults_on: AtomicBool,
    captured: Mutex<Vec<(Vec<u8>, Vec<u8>)>>,
}

/// A running proxy.
pub struct FaultProxy {
    /// Port it listens on (127.0.0.1).
    pub port: u16,
    shared: Arc<Shared>,
    held_rx: Receiver<Sender<()>>,
    client_cfg: Arc<rustls::ClientConfig>,
    hub_port: u16,
}

fn tls_configs(tls_dir: &Path) -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(tls_dir.join("server.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(tls_dir.join("server.key")).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(tls_dir.join("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

/// Reads one HTTP/1.1 message (head + Content-Length body). None if the peer closed
/// or the message is not complete.
fn read_message(s: &mut impl Read) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
        if head.len() > 64 * 1024 {
            return None;
        }
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let len: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    Some((head, body))
}

/// Makes the client close its connection after this response (we serve one exchange
/// per connection), so the agent never reuses a connection the proxy dropped.
fn with_close(head: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    for line in text.split("\r\n") {
        if line.is_empty() || line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("connection: close\r\n\r\n");
    out.into_bytes()
}

impl FaultProxy {
    /// Starts a proxy to the hub on `hub_port`, using the hub's `tls/` directory.
    pub fn start(tls_dir: &Path, hub_port: u16, seed: u64) -> FaultProxy {
        let (server_cfg, client_cfg) = tls_configs(tls_dir);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let shared = Arc::new(Shared {
            rng: Mutex::new(seed.max(1)),
            counts: Mutex::new(BTreeMap::new()),
            hold_next: AtomicBool::new(false),
            held_tx: Mutex::new(Some(held_tx)),
            faults_on: AtomicBool::new(true),
            captured: Mutex::new(Vec::new()),
        });
        let upstream_cfg = client_cfg.clone();
        let sh = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (sc, cc, sh) = (server_cfg.clone(), client_cfg.clone(), sh.clone());
                std::thread::spawn(move || handle(conn, sc, cc, hub_port, sh));
            }
        });
        FaultProxy {
            port,
            shared,
            held_rx,
            client_cfg: upstream_cfg,
            hub_port,
        }
    }

    /// The URL agents use to reach the hub through the proxy.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// How many times each fault was applied.
    pub fn counts(&self) -> BTreeMap<Fault, u32> {
        self.shared.counts.lock().unwrap().clone()
    }

    /// Turns faults off (every request passes) or back on.
    pub fn set_faults(&self, on: bool) {
        self.shared.faults_on.store(on, Ordering::SeqCst);
    }

    /// Every request received so far, as (head, body) bytes: what an eavesdropper on a
    /// broken link would hold.
    pub fn captured(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.shared.captured.lock().unwrap().clone()
    }

    /// Sends raw request bytes to the hub (a replay) and returns the answer's head
    /// and body; None if the hub closed without answering.
    pub fn send_to_hub(&self, head: &[u8], body: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        exchange(&self.client_cfg, self.hub_port, head, body, &self.shared)
    }

    /// Holds the next request the proxy has fully sent to the hub before reading the
    /// answer; returns a sender that releases it. Waits up to `limit` for a request.
    pub fn hold_next_forwarded(&self, limit: Duration) -> Option<Sender<()>> {
        self.shared.hold_next.store(true, Ordering::SeqCst);
        self.held_rx.recv_timeout(limit).ok()
    }
}

fn pick(sh: &Shared) -> Fault {
    if !sh.faults_on.load(Ordering::SeqCst) {
        *sh.counts.lock().unwrap().entry(Fault::Pass).or_default() += 1;
        return Fault::Pass;
    }
    // The first requests go through every fault once, in order, so each kind is
    // certain to happen; then the choice is random.
    let mut counts = sh.counts.lock().unwrap();
    let seen: u32 = counts.values().sum();
    if (seen as usize) < FAULTS.len() {
        let f = FAULTS[seen as usize];
        *counts.entry(f).or_default() += 1;
        return f;
    }
    drop(counts);
    let mut r = sh.rng.lock().unwrap();
    *r ^= *r >> 12;
    *r ^= *r << 25;
    *r ^= *r >> 27;
    let x = r.wrapping_mul(0x2545_f491_4f6c_dd1d);
    // About half the requests pass; the rest are spread over the faults.
    let f = if x.is_multiple_of(2) {
        Fault::Pass
    } else {
        FAULTS[1 + ((x >> 8) % 6) as usize]
    };
    *sh.counts.lock().unwrap().entry(f).or_default() += 1;
    f
}

fn upstream(
    cfg: &Arc<rustls::ClientConfig>,
    port: u16,
) -> Option<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    let conn = rustls::ClientConnection::new(
        cfg.clone(),
        ServerName::try_from("localhost").ok()?.to_owned(),
    )
    .ok()?;
    Some(rustls::StreamOwned::new(conn, tcp))
}

/// Sends one request to the hub and reads its answer (None if the hub is gone).
fn exchange(
    cfg: &Arc<rustls::ClientConfig>,
    port: u16,
    head: &[u8],
    body: &[u8],
    sh: &Shared,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut up = upstream(cfg, port)?;
    up.write_all(head).ok()?;
    up.write_all(body).ok()?;
    up.flush().ok()?;
    if sh.hold_next.swap(false, Ordering::SeqCst) {
        let (release_tx, release_rx) = std::sync::mpsc::channel();
        if let Some(tx) = sh.held_tx.lock().unwrap().as_ref() {
            let _ = tx.send(release_tx);
        }
        let _ = release_rx.recv_timeout(Duration::from_secs(120));
    }
    read_message(&mut up)
}

fn handle(
    conn: TcpStream,
    server_cfg: Arc<rustls::ServerConfig>,
    client_cfg: Arc<rustls::ClientConfig>,
    hub_port: u16,
    sh: Arc<Shared>,
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(sc) = rustls::ServerConnection::new(server_cfg) else {
        return;
    };
    let mut client = rustls::StreamOwned::new(sc, conn);
    let Some((head, body)) = read_message(&mut client) else {
        return;
    };
    sh.captured
        .lock()
        .unwrap()
        .push((head.clone(), body.clone()));
    let fault = pick(&sh);
    let answer = match fault {
        Fault::DropRequest => None,
        Fault::CutRequest => {
            if let Some(mut up) = upstream(&client_cfg, hub_port) {
                let _ = up.write_all(&head);
                let _ = up.write_all(&body[..body.len() / 2]);
                let _ = up.flush();
            }
            None
        }
        Fault::Delay => {
            std::thread::sleep(Duration::from_millis(50 + (body.len() as u64 % 250)));
            exchange(&client_cfg, hub_port, &head, &body, &sh)
        }
        Fault::Duplicate => {
            let _ = exchange(&client_cfg, hub_port, &head, &body, &sh);
            exchange(&client_cfg, hub_port, &head, &body, &sh)
        }
        Fault::Pass | Fault::DropResponse | Fault::CutResponse => {
            exchange(&client_cfg, hub_port, &head, &body, &sh)
        }
    };
    let Some((rhead, rbody)) = answer else {
        return;
    };
    let rhead = with_close(&rhead);
    match fault {
        Fault::DropResponse => {}
        Fault::CutResponse => {
            let _ = client.write_all(&rhead);
            let _ = client.write_all(&rbody[..rbody.len() / 2]);
            let _ = client.flush();
        }
        _ => {
            let _ = client.write_all(&rhead);
            let _ = client.write_all(&rbody);
            let _ = client.flush();
            client.conn.send_close_notify();
            let _ = client.flush();
        }
    }
}
