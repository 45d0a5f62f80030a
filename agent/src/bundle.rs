//! Op bundle files (format: `cchc_common::bundle`): the file form of a sync exchange,
//! for desks that meet without a network (a USB stick carried between PCs) and for
//! tests. In: a bundle file from a peer. Out: its ops, checked for format, commune and
//! shape before the store applies them all or none. A bundle carries the sender's version vector, so a reply can hold
//! exactly the ops the sender lacks (`bundle export --since THEIR_BUNDLE`).

use crate::error::{AgentError, Result};
use crate::store::{DomainOrStore, PeerClock, Store};
pub use cchc_common::bundle::{Bundle, FORMAT, VERSION};
use cchc_common::bundle::{BundleError, MAX_BYTES};
use cchc_common::state::VersionVector;
use cchc_common::DomainError;
use std::io::Write;
use std::path::Path;

/// Writes a bundle atomically: a temporary file, flushed to disk, then renamed.
pub fn write(path: &Path, bundle: &Bundle) -> Result<()> {
    let tmp = path.with_extension("tmp-bundle");
    let mut f = std::fs::File::create(&tmp).map_err(|e| AgentError::io(&tmp, e))?;
    serde_json::to_writer(&mut f, bundle).map_err(|e| AgentError::io(&tmp, e.into()))?;
    f.write_all(b"\n").map_err(|e| AgentError::io(&tmp, e))?;
    f.sync_all().map_err(|e| AgentError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| AgentError::io(path, e))
}

/// Reads and checks a bundle's envelope (the ops are checked by the store).
pub fn read(path: &Path) -> Result<Bundle> {
    let bad = |detail: String| AgentError::BadFile {
        path: path.to_path_buf(),
        detail,
    };
    let meta = std::fs::metadata(path).map_err(|e| AgentError::io(path, e))?;
    if meta.len() > MAX_BYTES {
        // Refused before reading a byte of it.
        return Err(bad(BundleError::TooLarge { size: meta.len() }.to_string()));
    }
    let bytes = std::fs::read(path).map_err(|e| AgentError::io(path, e))?;
    cchc_common::bundle::parse(&bytes).map_err(|e| bad(e.to_string()))
}

/// Reads a version vector from a bundle (the peer's) or a plain `{device: seq}` file.
pub fn read_version_vector(path: &Path) -> Result<VersionVector> {
    let bad = |detail: String| AgentError::BadFile {
        path: path.to_path_buf(),
        detail,
    };
    let text = std::fs::read(path).map_err(|e| AgentError::io(path, e))?;
    let v: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| bad(format!("invalid JSON ({e})")))?;
    let vv = if v.get("format").is_some() {
        v.get("version_vector").cloned().unwrap_or_default()
    } else {
        v
    };
    serde_json::from_value(vv)
        .map_err(|e| bad(format!("not a version vector {{\"<device>\": <seq>}}: {e}")))
}

/// A bundle of the ops a peer with version vector `peer` lacks (all of them for an
/// empty vector), with this desk's own vector so the peer can answer in kind.
pub fn export(store: &mut Store, peer: &VersionVector, now_ms: i64) -> Result<Bundle> {
    let id = store.identity()?;
    Ok(Bundle {
        format: FORMAT.into(),
        version: VERSION,
        unit: id.unit,
        sender: id.actor,
        sent_at_ms: now_ms,
        version_vector: store.version_vector()?,
        ops: store.ops_since(peer)?,
    })
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct Imported {
    /// Ops new to this desk.
    pub applied: usize,
    /// Ops already held.
    pub duplicates: usize,
    /// The sending desk.
    pub sender: cchc_common::ActorId,
    /// Its clock minus ours when it wrote the bundle (ms).
    pub offset_ms: i64,
}

/// Applies a bundle's ops (all or none) and notes the sender's clock. `source` names
/// the file in errors. Refused: another commune's bundle, any op that breaks a rule.
pub fn import(store: &mut Store, b: Bundle, source: &Path, now_ms: i64) -> Result<Imported> {
    let id = store.identity()?;
    if b.unit != id.unit {
        return Err(AgentError::RefusedOps {
            path: source.to_path_buf(),
            source: DomainError::WrongUnit {
                op: format!("bundle from {}", b.sender),
                op_unit: b.unit.0,
                own_unit: id.unit.0,
            },
        });
    }
    let report = match store.import(b.ops, now_ms) {
        Ok(r) => r,
        Err(DomainOrStore::Domain(e)) => {
            return Err(AgentError::RefusedOps {
                path: source.to_path_buf(),
                source: e,
            })
        }
        Err(DomainOrStore::Store(e)) => return Err(e),
    };
    let offset_ms = b.sent_at_ms - now_ms;
    if b.sender != id.actor {
        store.record_peer_clock(&PeerClock {
            actor: b.sender,
            last_exchange_ms: now_ms,
            offset_ms,
            via: "bundle".into(),
        })?;
    }
    Ok(Imported {
        applied: report.applied,
        duplicates: report.duplicates,
        sender: b.sender,
        offset_ms,
    })
}
