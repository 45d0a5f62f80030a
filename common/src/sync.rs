//! The sync protocol between an agent and its hub: message types and their wire
//! encoding. In: values from the agent's store or the hub's. Out: gzip-compressed JSON
//! bodies, and back, with every limit checked before memory is committed.
//!
//! One exchange is one `POST /api/v1/sync`: the agent sends what it holds (its version
//! vector) and a bounded batch of the ops the hub lacks; the hub merges the batch in
//! one transaction and answers with what it now holds for the commune (the
//! acknowledgement), a bounded batch of ops the agent lacks, and any definitions newer
//! than the agent's. Either side repeats until neither has more. Documented in
//! `docs/sync-protocol.md`.

use crate::op::{ActorId, Op};
use crate::release::{Root, Signed};
use crate::state::VersionVector;
use crate::units::UnitCode;
use crate::update::{Offer, SignedDefinitions, UpdateReport};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// Protocol version spoken by this build.
pub const PROTOCOL_VERSION: u32 = 1;
/// HTTP header carrying the protocol version, checked before the body is read.
pub const PROTOCOL_HEADER: &str = "x-cchc-protocol";
/// Media type of sync bodies (always sent with `Content-Encoding: gzip`).
pub const MEDIA_TYPE: &str = "application/vnd.cchc.sync+json";
/// Path of the sync endpoint.
pub const SYNC_PATH: &str = "/api/v1/sync";
/// Most ops in one batch, either direction.
pub const MAX_BATCH_OPS: usize = 2_000;
/// Largest compressed body accepted.
pub const MAX_WIRE_BYTES: usize = 4 << 20;
/// Largest body once decompressed (guards against compression bombs).
pub const MAX_DECODED_BYTES: usize = 16 << 20;

/// Agent → hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// Protocol version.
    pub protocol: u32,
    /// The commune the agent records for.
    pub unit: UnitCode,
    /// The agent's device id.
    pub device: ActorId,
    /// The agent build, for the hub's device list.
    pub agent_version: String,
    /// Newest definitions version the agent holds.
    pub defs: u32,
    /// Everything the agent holds (after this batch is merged on its side: all of it).
    pub have: VersionVector,
    /// Ops the hub lacks: for each device, consecutive numbers from the hub's last ack.
    pub ops: Vec<Op>,
    /// The agent's physical clock when sending (ms since epoch).
    pub sent_ms: u64,
    /// The platform of the agent's build (`linux-x86_64`…), for update offers.
    #[serde(default)]
    pub platform: String,
    /// Version of the release root the agent pinned (0: none).
    #[serde(default)]
    pub root: u64,
    /// What happened to offered releases since the last sync, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub updates: Vec<UpdateReport>,
}

/// Hub → agent, after the request's batch is durably merged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// Protocol version.
    pub protocol: u32,
    /// The commune.
    pub unit: UnitCode,
    /// What the hub now holds for the commune: the acknowledgement.
    pub acked: VersionVector,
    /// Ops of the request newly applied.
    pub applied: u64,
    /// Ops of the request the hub already held.
    pub duplicates: u64,
    /// Ops the agent lacks (per device in order, possibly a prefix of them).
    pub ops: Vec<Op>,
    /// True when the hub holds more ops the agent lacks than this batch carries.
    pub more: bool,
    /// Signed definitions newer than the agent's, oldest first.
    pub definitions: Vec<SignedDefinitions>,
    /// The hub's physical clock when answering (ms since epoch).
    pub hub_ms: u64,
    /// Release roots newer than the agent's pinned one, in order (rotations).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roots: Vec<Signed<Root>>,
    /// A release this device is offered (it is in the rollout's cohort).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<Offer>,
    /// The rollout phase the province assigned this commune, if any (shown to the
    /// officers; the assessment itself does not depend on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<u32>,
}

/// The body of every refused request (4xx/5xx), uncompressed JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine code (`protocol_version`, `bad_body`, `seq_gap`, …).
    pub error: String,
    /// What was wrong and where, for a person (English).
    pub message: String,
    /// The same in Vietnamese, for the officer.
    #[serde(default)]
    pub message_vi: String,
    /// What the hub holds for the commune, when that lets the agent recover (gaps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked: Option<VersionVector>,
    /// The largest nonce the hub has seen from the device, when a request reused one
    /// (a replay, or a device restored from a backup): the next must be larger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_nonce: Option<u64>,
}

/// A body that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Compressed body over the limit.
    #[error("body is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// Bytes seen (at least).
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// Not valid gzip.
    #[error("body is not valid gzip: {0}")]
    Compression(String),
    /// Not a valid message.
    #[error("body is not a valid sync message: {0}")]
    Json(String),
    /// A protocol version this build does not speak.
    #[error("protocol version {got} is not supported; this side speaks version {supported}")]
    Protocol {
        /// Version received.
        got: u32,
        /// Version spoken here.
        supported: u32,
    },
}

/// Encodes a message: compact JSON, gzip-compressed.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let json = serde_json::to_vec(msg).expect("sync messages always serialize");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&json).expect("writing to memory cannot fail");
    gz.finish().expect("writing to memory cannot fail")
}

/// Decodes a message, refusing bodies over the wire or decoded limits.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, WireError> {
    if body.len() > MAX_WIRE_BYTES {
        return Err(WireError::TooLarge {
            size: body.len(),
            limit: MAX_WIRE_BYTES,
        });
    }
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(MAX_DECODED_BYTES as u64 + 1)
        .read_to_end(&mut json)
        .map_err(|e| WireError::Compression(e.to_string()))?;
    if json.len() > MAX_DECODED_BYTES {
        return Err(WireError::TooLarge {
            size: json.len(),
            limit: MAX_DECODED_BYTES,
        });
    }
    serde_json::from_slice(&json).map_err(|e| WireError::Json(e.to_string()))
}

/// Checks a protocol version field.
pub fn check_protocol(got: u32) -> Result<(), WireError> {
    if got == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(WireError::Protocol {
            got,
            supported: PROTOCOL_VERSION,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_limits() {
        let r = ErrorBody {
            error: "x".into(),
            message: "y".into(),
            message_vi: "z".into(),
            acked: None,
            last_nonce: None,
        };
        let b = encode(&r);
        assert_eq!(decode::<ErrorBody>(&b).unwrap(), r);
        assert!(matches!(
            decode::<ErrorBody>(b"not gzip"),
            Err(WireError::Compression(_))
        ));
        // 17 MiB of spaces compress to a few KiB but must be refused decoded.
        let bomb = encode(&" ".repeat(17 << 20));
        assert!(bomb.len() < MAX_WIRE_BYTES);
        assert!(matches!(
            decode::<String>(&bomb),
            Err(WireError::TooLarge { .. })
        ));
        assert!(check_protocol(PROTOCOL_VERSION).is_ok());
        assert!(check_protocol(7).unwrap_err().to_string().contains("7"));
    }
}
