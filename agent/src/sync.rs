//! The sync client. In: the store and the hub's address and CA (pinned: the only
//! trust root). Out: the hub holds every op this agent holds and the agent holds every
//! op of its commune the hub holds, in bounded batches; newer definitions installed.
//!
//! Each round uploads up to one batch of what the hub has not acknowledged and
//! downloads up to one batch of what the agent lacks; the hub commits the upload before
//! answering and the agent commits the download before recording the acknowledgement.
//! A round cut anywhere is simply repeated: ops are idempotent by (device, number).

use crate::error::{AgentError, HubError, Result};
use crate::key;
use crate::store::{DomainOrStore, Store};
use crate::update::state::State;
use cchc_common::auth::{
    DeviceKey, EnrollRequest, EnrollResponse, DEVICE_HEADER, ENROLL_PATH, NONCE_HEADER,
    SIGNATURE_HEADER,
};
use cchc_common::release::rotate;
use cchc_common::state::VersionVector;
use cchc_common::sync::{
    self, media_type, ErrorBody, SyncRequest, SyncResponse, MAX_BATCH_OPS, MAX_WIRE_BYTES,
    PROTOCOL_HEADER, PROTOCOL_V1, PROTOCOL_VERSION, SYNC_PATH,
};
use cchc_common::update::{accept_definitions, this_platform};
use cchc_common::ActorId;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// File (in the data directory) holding the hub's CA certificate.
pub const CA_FILE: &str = "hub-ca.pem";
/// Most rounds in one sync (2,000 ops each way per round).
const MAX_ROUNDS: usize = 1_000;
/// Most gap repairs in one sync before giving up.
const MAX_GAP_REPAIRS: usize = 3;
/// Most stale-nonce retries in one sync (a replayed duplicate, a restored backup).
const MAX_NONCE_REPAIRS: usize = 3;

/// What one sync did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    /// Hub URL.
    pub hub: String,
    /// Rounds (requests that succeeded).
    pub rounds: usize,
    /// Ops uploaded.
    pub sent: u64,
    /// Of those, ops the hub did not hold yet.
    pub sent_new: u64,
    /// Ops downloaded and applied.
    pub received: u64,
    /// Definitions versions installed.
    pub definitions: Vec<u32>,
    /// Ops still not acknowledged by the hub.
    pub pending: u64,
    /// The protocol version of the exchanges (1 with a hub not yet updated).
    pub protocol: u32,
    /// The hub's clock minus ours (ms), from the last round.
    pub hub_clock_offset_ms: i64,
    /// The release the hub offers this computer, if any.
    pub offered: Option<String>,
    /// Signed documents from the hub that were not taken, and why (the data synced
    /// all the same).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The offer itself, for the updater.
    #[serde(skip)]
    pub offer: Option<cchc_common::update::Offer>,
}

/// A configured hub connection, signing every request with the device key.
pub struct Client {
    http: reqwest::Client,
    /// For release downloads: no overall deadline (a 2G link takes minutes), only
    /// one for silence.
    download: reqwest::Client,
    dir: PathBuf,
    base: String,
    device: ActorId,
    key: DeviceKey,
}

/// What the hub answered a signed request with, when it was not a refusal.
enum Reply {
    /// 200 with this body.
    Ok(Vec<u8>),
    /// 409 gap: what the hub holds for the commune.
    Gap(VersionVector),
    /// 409 stale nonce: the largest the hub has seen from us.
    Stale(u64),
}

/// Checks a hub URL given by a person: HTTPS only.
pub fn check_url(url: &str) -> Result<String> {
    let u = url.trim().trim_end_matches('/');
    let rest = u.strip_prefix("https://").ok_or_else(|| {
        AgentError::HubSetting(format!(
            "hub address '{url}' must start with https:// (the hub is reached over HTTPS only)"
        ))
    })?;
    if rest.is_empty() || rest.contains(char::is_whitespace) {
        return Err(AgentError::HubSetting(format!(
            "hub address '{url}' has no host"
        )));
    }
    Ok(u.to_string())
}

/// Reads a CA certificate file and checks it holds a certificate.
pub fn read_ca(path: &Path) -> Result<Vec<u8>> {
    let pem = std::fs::read(path).map_err(|e| AgentError::io(path, e))?;
    let bad = || AgentError::BadFile {
        path: path.to_path_buf(),
        detail: "not a PEM certificate (expected the hub's tls/ca.pem)".into(),
    };
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(bad());
    }
    reqwest::Certificate::from_pem(&pem).map_err(|_| bad())?;
    Ok(pem)
}

impl Client {
    /// The client for the hub configured in `dir`, with the device's key.
    pub fn new(dir: &Path, store: &Store) -> Result<Client> {
        let base = store.get_meta("hub_url")?.ok_or(HubError::NotConfigured)?;
        if !key::exists(dir) {
            return Err(HubError::NotEnrolled.into());
        }
        let key = key::load(dir)?;
        let ca_path: PathBuf = dir.join(CA_FILE);
        let pem = read_ca(&ca_path)?;
        let ca = reqwest::Certificate::from_pem(&pem).map_err(|e| AgentError::BadFile {
            path: ca_path.clone(),
            detail: e.to_string(),
        })?;
        let builder = || {
            reqwest::Client::builder()
                .tls_built_in_root_certs(false)
                .add_root_certificate(ca.clone())
                .https_only(true)
                .connect_timeout(Duration::from_secs(15))
                .user_agent(concat!("cchc-agent/", env!("CARGO_PKG_VERSION")))
        };
        let setup = |e: reqwest::Error| AgentError::HubSetting(format!("cannot set up HTTPS: {e}"));
        let http = builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(setup)?;
        let download = builder()
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(setup)?;
        Ok(Client {
            http,
            download,
            dir: dir.to_path_buf(),
            base,
            device: store.identity()?.actor,
            key,
        })
    }

    /// The hub URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn unreachable(&self, detail: impl Into<String>) -> HubError {
        HubError::Unreachable {
            url: self.base.clone(),
            detail: detail.into(),
        }
    }

    /// One signed request with a fresh nonce.
    async fn post(
        &self,
        store: &mut Store,
        path: &str,
        protocol: u32,
        content_type: &str,
        gzip: bool,
        body: Vec<u8>,
    ) -> Result<Reply> {
        let nonce = store.next_nonce()?;
        let signature = self.key.sign("POST", path, self.device, nonce, &body);
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(PROTOCOL_HEADER, protocol.to_string())
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header(DEVICE_HEADER, self.device.to_string())
            .header(NONCE_HEADER, nonce.to_string())
            .header(SIGNATURE_HEADER, signature);
        if gzip {
            req = req.header(reqwest::header::CONTENT_ENCODING, "gzip");
        }
        let mut resp = req
            .body(body)
            .send()
            .await
            .map_err(|e| self.unreachable(error_chain(&e)))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| self.unreachable(format!("response cut: {}", error_chain(&e))))?
        {
            if bytes.len() + chunk.len() > MAX_WIRE_BYTES {
                return Err(self
                    .unreachable("response larger than the protocol allows")
                    .into());
            }
            bytes.extend_from_slice(&chunk);
        }
        if status == 200 {
            return Ok(Reply::Ok(bytes));
        }
        let err: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
        match err {
            Some(ErrorBody {
                acked: Some(acked),
                error,
                ..
            }) if status == 409 && error == "seq_gap" => Ok(Reply::Gap(acked)),
            Some(ErrorBody {
                last_nonce: Some(last),
                error,
                ..
            }) if status == 409 && error == "stale_nonce" => Ok(Reply::Stale(last)),
            // Rate limited, or our upload stalled on a slow link (408): nothing is
            // wrong with the data, come back later.
            Some(e) if status == 408 => Err(self
                .unreachable(format!("the upload stalled ({})", e.message))
                .into()),
            Some(e) if status == 429 => Err(self
                .unreachable(format!(
                    "the hub asks to wait {} s ({})",
                    retry_after.unwrap_or(60),
                    e.message
                ))
                .into()),
            Some(e) if (400..500).contains(&status) => Err(HubError::Refused {
                status,
                code: e.error,
                message: e.message,
                message_vi: e.message_vi,
            }
            .into()),
            // 5xx, or an answer that is not the hub's (a proxy's error page): transient.
            _ => Err(self
                .unreachable(format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                ))
                .into()),
        }
    }

    /// Starts downloading `/api/v1/releases/{remote}` (a build by its SHA-256, or a
    /// patch to it) from byte `from`: a signed GET; the hub serves only builds it
    /// offered this device.
    pub async fn download(
        &self,
        store: &mut Store,
        remote: &str,
        from: u64,
    ) -> Result<reqwest::Response> {
        let path = format!("/api/v1/releases/{remote}");
        let nonce = store.next_nonce()?;
        let signature = self.key.sign("GET", &path, self.device, nonce, b"");
        let resp = self
            .download
            .get(format!("{}{path}", self.base))
            .header(DEVICE_HEADER, self.device.to_string())
            .header(NONCE_HEADER, nonce.to_string())
            .header(SIGNATURE_HEADER, signature)
            .header(reqwest::header::RANGE, format!("bytes={from}-"))
            .send()
            .await
            .map_err(|e| self.unreachable(error_chain(&e)))?;
        let status = resp.status().as_u16();
        if status == 200 && from > 0 {
            return Err(self
                .unreachable("the hub ignored the byte range; retrying")
                .into());
        }
        if status == 200 || status == 206 {
            return Ok(resp);
        }
        let bytes = resp.bytes().await.unwrap_or_default();
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(e) if (400..500).contains(&status) && status != 408 && status != 429 => {
                Err(HubError::Refused {
                    status,
                    code: e.error,
                    message: e.message,
                    message_vi: e.message_vi,
                }
                .into())
            }
            _ => Err(self.unreachable(format!("download: HTTP {status}")).into()),
        }
    }

    /// Enrolls this device with a one-time code: the hub binds it (and its public
    /// key) to the commune. Asking again after a lost answer is harmless.
    pub async fn enroll(&self, store: &mut Store, code: &str) -> Result<EnrollResponse> {
        let id = store.identity()?;
        let req = EnrollRequest {
            protocol: PROTOCOL_VERSION,
            code: code.to_string(),
            unit: id.unit,
            device: id.actor,
            public_key: self.key.public(),
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
        };
        let body = serde_json::to_vec(&req).expect("serializes");
        for _ in 0..MAX_NONCE_REPAIRS {
            match self
                .post(
                    store,
                    ENROLL_PATH,
                    PROTOCOL_VERSION,
                    "application/json",
                    false,
                    body.clone(),
                )
                .await?
            {
                Reply::Ok(bytes) => {
                    let r: EnrollResponse = serde_json::from_slice(&bytes)
                        .map_err(|e| self.unreachable(format!("enrollment answer damaged: {e}")))?;
                    if r.device != id.actor || r.unit != id.unit {
                        return Err(self
                            .unreachable(format!(
                                "enrollment answer for device {} / commune {} does not match this agent",
                                r.device, r.unit
                            ))
                            .into());
                    }
                    return Ok(r);
                }
                Reply::Stale(last) => store.raise_nonce(last)?,
                Reply::Gap(_) => break,
            }
        }
        Err(self
            .unreachable("the hub did not accept the enrollment request")
            .into())
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// The protocol version a sync starts with: this build's. A debug build can be told
/// to speak the previous one (`CCHC_TEST_PROTOCOL=1`), as an agent not yet updated
/// does, for the tests of the hub's compatibility.
fn first_protocol() -> u32 {
    #[cfg(debug_assertions)]
    if std::env::var("CCHC_TEST_PROTOCOL").as_deref() == Ok("1") {
        return PROTOCOL_V1;
    }
    PROTOCOL_VERSION
}

/// Syncs until neither side has more (bounded by [`MAX_ROUNDS`]).
pub async fn sync(store: &mut Store, client: &Client, now_ms: fn() -> i64) -> Result<Summary> {
    let id = store.identity()?;
    let mut summary = Summary {
        hub: client.url().to_string(),
        ..Summary::default()
    };
    let mut gaps = 0;
    let mut stale = 0;
    // Update reports ride on the first round that gets through.
    let mut reports = State::load(&client.dir)?.reports;
    let mut root = store.release_root()?;
    let mut protocol = first_protocol();
    for _ in 0..MAX_ROUNDS {
        let acked = store.hub_acked()?;
        let ops = store.ops_since_limited(&acked, MAX_BATCH_OPS)?;
        let full = ops.len() == MAX_BATCH_OPS;
        let sent = ops.len() as u64;
        let t0 = now_ms();
        let req = SyncRequest {
            protocol,
            unit: id.unit,
            device: id.actor,
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
            defs: store.definitions()?.version,
            have: store.version_vector()?,
            ops,
            sent_ms: t0.max(0) as u64,
            platform: this_platform(),
            root: root.as_ref().map(|r| r.signed.version).unwrap_or(0),
            updates: reports.clone(),
        };
        let body = sync::encode_request(protocol, &req);
        let v1 = protocol == PROTOCOL_V1;
        let reply = match client
            .post(store, SYNC_PATH, protocol, media_type(protocol), v1, body)
            .await
        {
            // A hub not yet updated speaks only version 1: say it that way.
            Err(AgentError::Hub(HubError::Refused {
                status: 400, code, ..
            })) if code == "protocol_version" && !v1 => {
                protocol = PROTOCOL_V1;
                continue;
            }
            other => other?,
        };
        let resp: SyncResponse = match reply {
            Reply::Ok(bytes) => sync::decode_response(protocol, &bytes)
                .map_err(|e| client.unreachable(format!("response damaged in transit: {e}")))?,
            Reply::Gap(hub_acked) => {
                // The hub lacks ops we thought it held (restored from a backup, say):
                // re-send from what it holds.
                gaps += 1;
                if gaps > MAX_GAP_REPAIRS {
                    return Err(HubError::Refused {
                        status: 409,
                        code: "seq_gap".into(),
                        message: "the hub keeps reporting a gap after re-sending".into(),
                        message_vi: "máy chủ tỉnh vẫn báo thiếu bản ghi sau khi gửi lại".into(),
                    }
                    .into());
                }
                store.set_hub_acked(&hub_acked)?;
                continue;
            }
            Reply::Stale(last) => {
                // A duplicate of ours got there first, or this database was restored
                // from a backup: move past what the hub has seen and ask again.
                stale += 1;
                if stale > MAX_NONCE_REPAIRS {
                    return Err(client
                        .unreachable("the hub keeps refusing our request numbers")
                        .into());
                }
                store.raise_nonce(last)?;
                continue;
            }
        };
        let t1 = now_ms();
        summary.protocol = protocol;
        if resp.protocol != protocol || resp.unit != id.unit {
            return Err(client
                .unreachable(format!(
                    "answer for protocol {} / commune {} does not match this agent",
                    resp.protocol, resp.unit
                ))
                .into());
        }
        if !reports.is_empty() {
            let mut st = State::load(&client.dir)?;
            let n = reports.len().min(st.reports.len());
            if st.reports[..n] == reports[..n] {
                st.reports.drain(..n);
                st.save(&client.dir)?;
            }
            reports.clear();
        }
        // Rotations first: the definitions may be signed by the new root.
        for next in &resp.roots {
            let Some(current) = &root else { break };
            match rotate(&current.signed, next, t1) {
                Ok(_) => {
                    store.set_release_root(next)?;
                    root = Some(next.clone());
                }
                Err(e) => summary.warnings.push(format!(
                    "release root version {} not taken: {e}",
                    next.signed.version
                )),
            }
        }
        let mut defs = Vec::new();
        // Each document must be newer than what is in force, or than the one before it.
        let mut current = store.definitions()?.version;
        for d in &resp.definitions {
            let Some(r) = &root else {
                summary.warnings.push(format!(
                    "definitions version {} not installed: no release root is pinned to check its signatures",
                    d.meta.signed.version
                ));
                continue;
            };
            match accept_definitions(d, &r.signed, current, t1) {
                Ok(def) => {
                    current = def.version;
                    defs.push(def);
                }
                Err(e) => summary.warnings.push(format!(
                    "definitions version {} not installed: {e}",
                    d.meta.signed.version
                )),
            }
        }
        summary
            .definitions
            .extend(store.install_definitions(&defs, t1)?);
        if resp.offer.is_some() {
            summary.offered = resp
                .offer
                .as_ref()
                .map(|o| o.release.signed.version.to_string());
            summary.offer = resp.offer.clone();
        }
        let more = resp.more;
        let report = match store.import(resp.ops, t1) {
            Ok(r) => r,
            Err(DomainOrStore::Domain(e)) => {
                return Err(AgentError::RefusedOps {
                    path: PathBuf::from(client.url()),
                    source: e,
                })
            }
            Err(DomainOrStore::Store(e)) => return Err(e),
        };
        let offset = resp.hub_ms as i64 - (t0 + t1) / 2;
        store.record_sync(&resp.acked, t1, offset)?;
        // The assigned phase, written only when it changes (not a write per round).
        let phase = resp.phase.map(|p| p.to_string()).unwrap_or_default();
        if store.get_meta("phase")?.unwrap_or_default() != phase {
            store.set_meta("phase", &phase)?;
        }
        summary.rounds += 1;
        summary.sent += sent;
        summary.sent_new += resp.applied;
        summary.received += report.applied as u64;
        summary.hub_clock_offset_ms = offset;
        // Another round while the hub says it lacks ops of ours it once held (it was
        // restored from a backup): they go up now, not at the next entry.
        if !full && !more && store.ops_pending()? == 0 {
            break;
        }
    }
    summary.pending = store.ops_pending()?;
    Ok(summary)
}
