//! The bundle file format: the file form of a sync exchange, for desks that meet
//! without a network (a USB stick carried between PCs). In: a file's bytes. Out: a
//! [`Bundle`] whose envelope (format, version, fields) is checked; its ops are checked
//! by the merge rules when a store applies them, all or none.

use crate::state::VersionVector;
use crate::{ActorId, Op, UnitCode};
use serde::{Deserialize, Serialize};

/// The `format` field of every bundle.
pub const FORMAT: &str = "cchc-bundle";
/// Bundle format version written by this build.
pub const VERSION: u32 = 1;
/// Largest bundle accepted (a year of a busy commune is far below this).
pub const MAX_BYTES: u64 = 256 * 1024 * 1024;

/// A bundle of ops from one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// Why bytes are not a bundle this build reads (English; the caller names the file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Longer than [`MAX_BYTES`].
    #[error("{size} bytes is above the {MAX_BYTES} byte limit for a bundle")]
    TooLarge {
        /// Its size.
        size: u64,
    },
    /// Not JSON.
    #[error("not a cchc bundle: invalid JSON ({0})")]
    Json(String),
    /// JSON without `"format": "cchc-bundle"`.
    #[error("not a cchc bundle: the \"format\" field must be \"{FORMAT}\"")]
    Format,
    /// Another format version.
    #[error("bundle format version {0} is not supported; this agent reads version {VERSION}")]
    Version(u64),
    /// The envelope's fields are wrong.
    #[error("malformed bundle: {0}")]
    Malformed(String),
}

/// Parses a bundle file's bytes and checks its envelope.
pub fn parse(bytes: &[u8]) -> Result<Bundle, BundleError> {
    if bytes.len() as u64 > MAX_BYTES {
        return Err(BundleError::TooLarge {
            size: bytes.len() as u64,
        });
    }
    let probe: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| BundleError::Json(e.to_string()))?;
    if probe.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(BundleError::Format);
    }
    let v = probe.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
    if v != VERSION as u64 {
        return Err(BundleError::Version(v));
    }
    serde_json::from_value(probe).map_err(|e| BundleError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_is_checked_before_the_fields() {
        assert!(matches!(parse(b"{"), Err(BundleError::Json(_))));
        assert_eq!(parse(b"{\"format\": \"zip\"}"), Err(BundleError::Format));
        assert_eq!(
            parse(b"{\"format\": \"cchc-bundle\", \"version\": 9}"),
            Err(BundleError::Version(9))
        );
        assert!(matches!(
            parse(b"{\"format\": \"cchc-bundle\", \"version\": 1}"),
            Err(BundleError::Malformed(_))
        ));
        let ok =
            br#"{"format": "cchc-bundle", "version": 1, "unit": 70, "sender": "00000000000000aa",
            "sent_at_ms": 0, "version_vector": {}, "ops": []}"#;
        assert_eq!(parse(ok).unwrap().unit, UnitCode(70));
    }
}
