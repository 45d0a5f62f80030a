//! The sync client. In: the store and the hub's address and CA (pinned: the only
//! trust root). Out: the hub holds every op this agent holds and the agent holds every
//! op of its commune the hub holds, in bounded batches; newer definitions installed.
//!
//! Each round uploads up to one batch of what the hub has not acknowledged and
//! downloads up to one batch of what the agent lacks; the hub commits the upload before
//! answering and the agent commits the download before recording the acknowledgement.
//! A round cut anywhere is simply repeated: ops are idempotent by (device, number).

use crate::error::{AgentError, HubError, Result};
use crate::store::{DomainOrStore, Store};
use cchc_common::state::VersionVector;
use cchc_common::sync::{
    self, ErrorBody, SyncRequest, SyncResponse, MAX_BATCH_OPS, MAX_WIRE_BYTES, MEDIA_TYPE,
    PROTOCOL_HEADER, PROTOCOL_VERSION, SYNC_PATH,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// File (in the data directory) holding the hub's CA certificate.
pub const CA_FILE: &str = "hub-ca.pem";
/// Most rounds in one sync (2,000 ops each way per round).
const MAX_ROUNDS: usize = 1_000;
/// Most gap repairs in one sync before giving up.
const MAX_GAP_REPAIRS: usize = 3;

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
    /// The hub's clock minus ours (ms), from the last round.
    pub hub_clock_offset_ms: i64,
}

/// A configured hub connection.
pub struct Client {
    http: reqwest::Client,
    base: String,
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
    /// The client for the hub configured in `dir`.
    pub fn new(dir: &Path, store: &Store) -> Result<Client> {
        let base = store.get_meta("hub_url")?.ok_or(HubError::NotConfigured)?;
        let ca_path: PathBuf = dir.join(CA_FILE);
        let pem = read_ca(&ca_path)?;
        let ca = reqwest::Certificate::from_pem(&pem).map_err(|e| AgentError::BadFile {
            path: ca_path.clone(),
            detail: e.to_string(),
        })?;
        let http = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .https_only(true)
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("cchc-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AgentError::HubSetting(format!("cannot set up HTTPS: {e}")))?;
        Ok(Client { http, base })
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

    /// One request. `Ok(Err(acked))` is a gap the hub reported, with what it holds.
    async fn post(
        &self,
        body: Vec<u8>,
    ) -> Result<std::result::Result<SyncResponse, VersionVector>, HubError> {
        let mut resp = self
            .http
            .post(format!("{}{SYNC_PATH}", self.base))
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
            .header(reqwest::header::CONTENT_TYPE, MEDIA_TYPE)
            .header(reqwest::header::CONTENT_ENCODING, "gzip")
            .body(body)
            .send()
            .await
            .map_err(|e| self.unreachable(error_chain(&e)))?;
        let status = resp.status().as_u16();
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| self.unreachable(format!("response cut: {}", error_chain(&e))))?
        {
            if bytes.len() + chunk.len() > MAX_WIRE_BYTES {
                return Err(self.unreachable("response larger than the protocol allows"));
            }
            bytes.extend_from_slice(&chunk);
        }
        if status == 200 {
            return sync::decode::<SyncResponse>(&bytes)
                .map(Ok)
                .map_err(|e| self.unreachable(format!("response damaged in transit: {e}")));
        }
        let err: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
        match err {
            Some(ErrorBody {
                acked: Some(acked),
                error,
                ..
            }) if status == 409 && error == "seq_gap" => Ok(Err(acked)),
            Some(e) if (400..500).contains(&status) => Err(HubError::Refused {
                status,
                code: e.error,
                message: e.message,
                message_vi: e.message_vi,
            }),
            // 5xx, or an answer that is not the hub's (a proxy's error page): transient.
            _ => Err(self.unreachable(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            ))),
        }
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

/// Syncs until neither side has more (bounded by [`MAX_ROUNDS`]).
pub async fn sync(store: &mut Store, client: &Client, now_ms: fn() -> i64) -> Result<Summary> {
    let id = store.identity()?;
    let mut summary = Summary {
        hub: client.url().to_string(),
        ..Summary::default()
    };
    let mut gaps = 0;
    for _ in 0..MAX_ROUNDS {
        let acked = store.hub_acked()?;
        let ops = store.ops_since_limited(&acked, MAX_BATCH_OPS)?;
        let full = ops.len() == MAX_BATCH_OPS;
        let sent = ops.len() as u64;
        let t0 = now_ms();
        let req = SyncRequest {
            protocol: PROTOCOL_VERSION,
            unit: id.unit,
            device: id.actor,
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
            defs: store.definitions()?.version,
            have: store.version_vector()?,
            ops,
            sent_ms: t0.max(0) as u64,
        };
        let resp = match client.post(sync::encode(&req)).await? {
            Ok(r) => r,
            Err(hub_acked) => {
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
        };
        let t1 = now_ms();
        if resp.protocol != PROTOCOL_VERSION || resp.unit != id.unit {
            return Err(client
                .unreachable(format!(
                    "answer for protocol {} / commune {} does not match this agent",
                    resp.protocol, resp.unit
                ))
                .into());
        }
        summary
            .definitions
            .extend(store.install_definitions(&resp.definitions, t1)?);
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
        summary.rounds += 1;
        summary.sent += sent;
        summary.sent_new += resp.applied;
        summary.received += report.applied as u64;
        summary.hub_clock_offset_ms = offset;
        if !full && !more {
            break;
        }
    }
    summary.pending = store.ops_pending()?;
    Ok(summary)
}
