//! A provincial hub as a peer of its national hub. In: the link (`upstream set`: the
//! national hub's address, its CA, a one-time code scoped to this province). Out: every
//! commune's ops forwarded with the agents' own delta protocol, one commune per
//! request, resuming from what the national hub said it holds (a version vector per
//! commune, stored); and down, what the national hub made (its verifications, its
//! phase plan, signed definitions).
//!
//! Exactly once, no gaps: the national hub merges by (device, number) and refuses a
//! gap with what it holds (409), so a cut link or a national restart only means the
//! next pass sends again from there. `serve` forwards continuously
//! ([`run_forever`]); `cchc-hub upstream sync` does one pass.

use crate::clock::now_ms;
use crate::error::{HubError, Result};
use crate::store::upstream::{from_upstream, owes, UpstreamLink};
use crate::store::{AuditEntry, HubStore};
use cchc_common::auth::{
    DeviceKey, DEVICE_HEADER, NONCE_HEADER, SIGNATURE_HEADER, UPSTREAM_SYNC_PATH,
};
use cchc_common::state::VersionVector;
use cchc_common::sync::{
    self, SyncRequest, SyncResponse, MAX_BATCH_OPS, MAX_WIRE_BYTES, MEDIA_TYPE_V2, PROTOCOL_HEADER,
    PROTOCOL_VERSION,
};
use cchc_common::{ActorId, UnitCode};
use std::path::{Path, PathBuf};

pub mod cli;
pub use cli::UpstreamCmd;
use std::time::Duration;

/// The provincial hub's key for the national hub (owner-only, never in backups of the
/// database).
pub const KEY_FILE: &str = "upstream.key";
/// The national hub's CA certificate, the only root the link trusts.
pub const CA_FILE: &str = "upstream-ca.pem";

/// Most rounds for one commune in one pass (each up to [`MAX_BATCH_OPS`] ops).
const MAX_ROUNDS: usize = 1_000;
/// Gap or request-number repairs in one pass before giving up until the next.
const MAX_REPAIRS: usize = 5;

fn unreachable(url: &str, detail: impl Into<String>) -> HubError {
    HubError::Upstream {
        url: url.to_string(),
        detail: detail.into(),
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// Communes exchanged with the national hub.
    pub communes: u64,
    /// Ops sent.
    pub sent: u64,
    /// Of those, new to the national hub.
    pub applied: u64,
    /// Ops received from it (its verifications).
    pub received: u64,
}

/// A connection to the national hub with this hub's key.
struct Link {
    http: reqwest::blocking::Client,
    url: String,
    peer: ActorId,
    key: DeviceKey,
}

/// What the national hub answered.
enum Reply {
    Ok(Vec<u8>),
    Gap(VersionVector),
    Stale(u64),
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    acked: Option<VersionVector>,
    #[serde(default)]
    last_nonce: Option<u64>,
}

fn http(url: &str, ca_pem: &[u8]) -> Result<reqwest::blocking::Client> {
    let ca = reqwest::Certificate::from_pem(ca_pem)
        .map_err(|e| unreachable(url, format!("the CA certificate cannot be read: {e}")))?;
    reqwest::blocking::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .https_only(true)
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(120))
        .user_agent(concat!("cchc-hub/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| unreachable(url, format!("cannot set up HTTPS: {e}")))
}

/// The text of an error and its causes (reqwest says little at the top level).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl Link {
    fn open(dir: &Path, link: &UpstreamLink) -> Result<Link> {
        let key_path = dir.join(KEY_FILE);
        let text = std::fs::read_to_string(&key_path).map_err(|e| HubError::io(&key_path, e))?;
        let seed = cchc_common::auth::unhex(text.trim(), 32, "upstream key").map_err(|e| {
            HubError::BadDatabase {
                path: key_path.clone(),
                detail: e.to_string(),
            }
        })?;
        let seed: [u8; 32] = seed.try_into().expect("32 bytes");
        let ca_path = dir.join(CA_FILE);
        let pem = std::fs::read(&ca_path).map_err(|e| HubError::io(&ca_path, e))?;
        Ok(Link {
            http: http(&link.url, &pem)?,
            url: link.url.clone(),
            peer: link.peer,
            key: DeviceKey::from_seed(seed),
        })
    }

    fn post(&self, path: &str, nonce: u64, body: Vec<u8>) -> Result<Reply> {
        let signature = self.key.sign("POST", path, self.peer, nonce, &body);
        let resp = self
            .http
            .post(format!("{}{path}", self.url))
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
            .header(reqwest::header::CONTENT_TYPE, MEDIA_TYPE_V2)
            .header(DEVICE_HEADER, self.peer.to_string())
            .header(NONCE_HEADER, nonce.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .map_err(|e| unreachable(&self.url, chain(&e)))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .map_err(|e| unreachable(&self.url, format!("answer cut: {}", chain(&e))))?;
        if bytes.len() > MAX_WIRE_BYTES {
            return Err(unreachable(
                &self.url,
                "answer larger than the protocol allows",
            ));
        }
        if status == 200 {
            return Ok(Reply::Ok(bytes.to_vec()));
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(ErrorBody {
                error,
                acked: Some(acked),
                ..
            }) if status == 409 && error == "seq_gap" => Ok(Reply::Gap(acked)),
            Ok(ErrorBody {
                error,
                last_nonce: Some(last),
                ..
            }) if status == 409 && error == "stale_nonce" => Ok(Reply::Stale(last)),
            Ok(e) => Err(unreachable(
                &self.url,
                format!("HTTP {status} {}: {}", e.error, e.message),
            )),
            Err(_) => Err(unreachable(
                &self.url,
                format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                ),
            )),
        }
    }
}

/// Newer signed definitions from the national hub, taken if the root this hub trusts
/// signed them (else left, and said in the log; one already in force is passed over);
/// `held` becomes the version in force, so that the pass's next requests say so and are
/// not sent the same documents again.
fn take_definitions(
    store: &dyn HubStore,
    resp: &SyncResponse,
    now: i64,
    held: &mut u32,
) -> Result<()> {
    if resp.definitions.is_empty() {
        return Ok(());
    }
    let Some(root) = store.roots()?.pop() else {
        tracing::warn!("the national hub sent definitions, but this hub trusts no release root");
        return Ok(());
    };
    for doc in &resp.definitions {
        // Read again here (rare): an admin, or another pass (`upstream sync` beside
        // `serve`), may have taken it meanwhile. What is in force already is no news.
        let current = store.newest_definitions()?.version;
        *held = current;
        if doc.meta.signed.version <= current {
            continue;
        }
        match cchc_common::update::accept_definitions(doc, &root.signed, current, now) {
            Ok(defs) => {
                store.publish_definitions(&defs, doc, now)?;
                *held = defs.version;
                store.audit(
                    &AuditEntry {
                        actor: "national".into(),
                        action: "definitions.publish".into(),
                        target: format!("version:{}", defs.version),
                        outcome: "ok".into(),
                        ip: None,
                        detail: "from the national hub".into(),
                    },
                    now,
                )?;
            }
            Err(e) => tracing::warn!("definitions from the national hub not taken: {e}"),
        }
    }
    Ok(())
}

/// The national hub's phase for a commune, when it assigned one that differs from
/// this hub's plan (its own plan is left alone where the national hub has none).
fn take_phase(store: &dyn HubStore, unit: UnitCode, phase: Option<u32>, now: i64) -> Result<()> {
    let Some(phase) = phase else {
        return Ok(());
    };
    if store.unit_phase(unit)? == Some(phase) {
        return Ok(());
    }
    store.assign_phases(
        &[(unit, phase)],
        &AuditEntry {
            actor: "national".into(),
            action: "plan.assign".into(),
            target: format!("unit:{unit}"),
            outcome: "ok".into(),
            ip: None,
            detail: format!("phase {phase}, from the national hub"),
        },
        now,
    )
}

/// One pass: every commune that owes the national hub ops (all of them when `full`,
/// to take what it made for each) exchanged until both sides are level.
pub fn pass(store: &dyn HubStore, dir: &Path, full: bool) -> Result<Pass> {
    let link = store.upstream()?.ok_or(HubError::NoUpstream)?;
    let client = Link::open(dir, &link)?;
    let mut done = Pass::default();
    // The definitions version this hub holds, read once per pass (not per request).
    let mut defs = store.newest_definitions()?.version;
    let result: Result<()> = (|| {
        for status in store.sync_status()? {
            let unit = status.unit;
            let held = store.held(unit)?;
            let acked = store.upstream_acked(unit)?;
            if !full && !owes(&held, &acked) {
                continue;
            }
            done.communes += 1;
            commune(store, &client, unit, &mut done, &mut defs)?;
        }
        Ok(())
    })();
    let now = now_ms();
    match &result {
        Ok(()) => store.record_upstream_sync(None, now)?,
        Err(e) => store.record_upstream_sync(Some(&e.to_string()), now)?,
    }
    result.map(|()| done)
}

/// Exchanges one commune until the national hub holds all of it and this hub all it
/// sent down; `defs` is the definitions version this hub holds.
fn commune(
    store: &dyn HubStore,
    client: &Link,
    unit: UnitCode,
    done: &mut Pass,
    defs: &mut u32,
) -> Result<()> {
    let mut repairs = 0;
    for _ in 0..MAX_ROUNDS {
        let acked = store.upstream_acked(unit)?;
        let held = store.held(unit)?;
        let (ops, more_here) = store.ops_since(unit, &acked, MAX_BATCH_OPS)?;
        let sent = ops.len() as u64;
        let req = SyncRequest {
            protocol: PROTOCOL_VERSION,
            unit,
            device: client.peer,
            agent_version: concat!("cchc-hub/", env!("CARGO_PKG_VERSION")).to_string(),
            defs: *defs,
            have: held,
            ops,
            sent_ms: now_ms().max(0) as u64,
            platform: String::new(),
            root: 0,
            updates: Vec::new(),
        };
        let body = sync::encode_request(PROTOCOL_VERSION, &req);
        let nonce = store.next_upstream_nonce()?;
        let mut resp: SyncResponse = match client.post(UPSTREAM_SYNC_PATH, nonce, body)? {
            Reply::Ok(bytes) => sync::decode_response(PROTOCOL_VERSION, &bytes)
                .map_err(|e| unreachable(&client.url, format!("answer damaged: {e}")))?,
            Reply::Gap(theirs) => {
                // The national hub lacks what it once held (restored): from there.
                repairs += 1;
                if repairs > MAX_REPAIRS {
                    return Err(unreachable(&client.url, "it keeps reporting a gap"));
                }
                store.set_upstream_acked(unit, &theirs)?;
                continue;
            }
            Reply::Stale(last) => {
                repairs += 1;
                if repairs > MAX_REPAIRS {
                    return Err(unreachable(
                        &client.url,
                        "it keeps refusing our request numbers",
                    ));
                }
                store.raise_upstream_nonce(last)?;
                continue;
            }
        };
        if resp.unit != unit {
            return Err(unreachable(
                &client.url,
                format!("answer for commune {}", resp.unit),
            ));
        }
        let now = now_ms();
        let ops = std::mem::take(&mut resp.ops);
        let down = ops.len() as u64;
        if !ops.is_empty() {
            store.merge(unit, &from_upstream(), ops, now)?;
        }
        store.set_upstream_acked(unit, &resp.acked)?;
        take_definitions(store, &resp, now, defs)?;
        take_phase(store, unit, resp.phase, now)?;
        done.sent += sent;
        done.applied += resp.applied;
        done.received += down;
        if !more_here && !resp.more {
            return Ok(());
        }
    }
    Ok(())
}

/// `serve`'s forwarding: a pass soon after start and then every `every`, a full one
/// (taking what the national hub made) every tenth; failures are logged and retried
/// at the next pass. Ends with the store: it holds it only during a pass (a store's
/// last reference must not go with the runtime's tasks, where closing a PostgreSQL
/// connection could not block).
pub async fn run_forever(store: std::sync::Weak<dyn HubStore>, dir: PathBuf, every: Duration) {
    let mut n: u64 = 0;
    loop {
        let full = n.is_multiple_of(10);
        let Some(s) = store.upgrade() else {
            return;
        };
        let d = dir.clone();
        // Store work and the blocking HTTP client: on the blocking pool.
        let r = tokio::task::spawn_blocking(move || pass(&*s, &d, full)).await;
        match r {
            // No link (yet): `upstream set` may make one while the hub serves.
            Ok(Err(HubError::NoUpstream)) => {}
            Ok(Ok(p)) if p.communes > 0 => tracing::info!(
                communes = p.communes,
                sent = p.sent,
                new = p.applied,
                received = p.received,
                "forwarded to the national hub"
            ),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("forwarding to the national hub: {e}"),
            Err(e) => tracing::warn!("forwarding to the national hub stopped: {e}"),
        }
        n += 1;
        tokio::time::sleep(every).await;
    }
}
