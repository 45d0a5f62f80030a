//! Op bundles: the file form of a sync exchange, for desks that meet without a
//! network (a USB stick carried between PCs) and for tests. In: a bundle file from a
//! peer. Out: its ops, checked for format, commune and shape before the store applies
//! them all or none. A bundle carries the sender's version vector, so a reply can hold
//! exactly the ops the sender lacks (`bundle export --since THEIR_BUNDLE`).

use crate::error::{AgentError, Result};
use cchc_common::state::VersionVector;
use cchc_common::{ActorId, Op, UnitCode};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// The `format` field of every bundle.
pub const FORMAT: &str = "cchc-bundle";
/// Bundle format version written by this build.
pub const VERSION: u32 = 1;
/// Largest bundle accepted (a year of a busy commune is far below this).
pub const MAX_BYTES: u64 = 256 * 1024 * 1024;

/// A bundle of ops from one device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bundle {
    /// Always [`FORMAT`].
    pub format: String,
    /// Format version.
    pub version: u32,
    /// Commune.
    pub unit: UnitCode,
    /// The device that wrote it.
    pub sender: ActorId,
    /// The sender's physical clock when it wrote the bundle (ms since the epoch).
    pub sent_at_ms: i64,
    /// What the sender held when it wrote the bundle.
    pub version_vector: VersionVector,
    /// The ops, in per-device order.
    pub ops: Vec<Op>,
}

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
        return Err(bad(format!(
            "{} bytes is above the {} byte limit for a bundle",
            meta.len(),
            MAX_BYTES
        )));
    }
    let text = std::fs::read(path).map_err(|e| AgentError::io(path, e))?;
    let probe: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| bad(format!("not a cchc bundle: invalid JSON ({e})")))?;
    if probe.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(bad(format!(
            "not a cchc bundle: the \"format\" field must be \"{FORMAT}\""
        )));
    }
    let v = probe.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
    if v != VERSION as u64 {
        return Err(bad(format!(
            "bundle format version {v} is not supported; this agent reads version {VERSION}"
        )));
    }
    let b: Bundle =
        serde_json::from_value(probe).map_err(|e| bad(format!("malformed bundle: {e}")))?;
    Ok(b)
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
