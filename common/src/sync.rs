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

use crate::codec::OpColumns;
use crate::op::{ActorId, Op};
use crate::release::{Root, Signed};
use crate::state::VersionVector;
use crate::units::UnitCode;
use crate::update::{Offer, SignedDefinitions, UpdateReport};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// Protocol version spoken by this build: binary bodies ([`encode_request`]).
pub const PROTOCOL_VERSION: u32 = 2;
/// The previous version (gzip JSON bodies): hubs still accept it for one release, so
/// agents in the field keep syncing until they update; agents fall back to it when a
/// hub that was not yet updated refuses version 2.
pub const PROTOCOL_V1: u32 = 1;
/// Media type of protocol 2 bodies: a postcard message, raw-deflated (no
/// `Content-Encoding`: the compression is part of the format).
pub const MEDIA_TYPE_V2: &str = "application/vnd.cchc.sync+postcard";
/// HTTP header carrying the protocol version, checked before the body is read.
pub const PROTOCOL_HEADER: &str = "x-cchc-protocol";
/// Media type of protocol 1 bodies (always sent with `Content-Encoding: gzip`).
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
    /// Not a valid protocol 2 message (or its ops cannot be read).
    #[error("body is not a valid protocol 2 message: {0}")]
    Binary(String),
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

/// Checks a protocol version: this build's, or the one before it.
pub fn check_protocol(got: u32) -> Result<(), WireError> {
    if got == PROTOCOL_VERSION || got == PROTOCOL_V1 {
        Ok(())
    } else {
        Err(WireError::Protocol {
            got,
            supported: PROTOCOL_VERSION,
        })
    }
}

/// The media type of a protocol version's bodies.
pub fn media_type(version: u32) -> &'static str {
    if version == PROTOCOL_V1 {
        MEDIA_TYPE
    } else {
        MEDIA_TYPE_V2
    }
}

/// Protocol 2's request: the hot fields in binary, ops column-wise; the rare rich
/// ones (update reports) as their JSON, empty when there are none.
#[derive(Serialize, Deserialize)]
struct RequestV2 {
    protocol: u32,
    unit: u32,
    device: u64,
    agent_version: String,
    defs: u32,
    have: Vec<(u64, u64)>,
    ops: OpColumns,
    sent_ms: u64,
    platform: String,
    root: u64,
    updates: String,
}

/// Protocol 2's response (definitions, roots and offers as their JSON, empty if none).
#[derive(Serialize, Deserialize)]
struct ResponseV2 {
    protocol: u32,
    unit: u32,
    acked: Vec<(u64, u64)>,
    applied: u64,
    duplicates: u64,
    ops: OpColumns,
    more: bool,
    definitions: String,
    hub_ms: u64,
    roots: String,
    offer: String,
    phase: Option<u32>,
}

fn vv_pairs(vv: &VersionVector) -> Vec<(u64, u64)> {
    vv.iter().map(|(a, s)| (a.0, s)).collect()
}

fn vv_of(pairs: Vec<(u64, u64)>) -> VersionVector {
    pairs.into_iter().map(|(a, s)| (ActorId(a), s)).collect()
}

fn json_or_empty<T: Serialize>(v: &T, empty: bool) -> String {
    if empty {
        String::new()
    } else {
        serde_json::to_string(v).expect("sync messages always serialize")
    }
}

fn from_json_or_default<T: DeserializeOwned + Default>(
    field: &str,
    text: &str,
) -> Result<T, WireError> {
    if text.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_str(text).map_err(|e| WireError::Binary(format!("{field}: {e}")))
}

/// `level`: the best for an agent's upload (every byte counts on its 2G link, and it
/// has the time); the default for the hub's answers, where the best level would cost
/// the hub several times the time for about 1 % fewer bytes.
fn to_v2<T: Serialize>(msg: &T, level: flate2::Compression) -> Vec<u8> {
    let raw = postcard::to_stdvec(msg).expect("sync messages always serialize");
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), level);
    z.write_all(&raw).expect("writing to memory cannot fail");
    z.finish().expect("writing to memory cannot fail")
}

fn from_v2<T: DeserializeOwned>(body: &[u8]) -> Result<T, WireError> {
    if body.len() > MAX_WIRE_BYTES {
        return Err(WireError::TooLarge {
            size: body.len(),
            limit: MAX_WIRE_BYTES,
        });
    }
    let raw = crate::codec::inflate(body, MAX_DECODED_BYTES).map_err(|e| match e {
        crate::codec::CodecError::Compression(d) if d.starts_with("more than") => {
            WireError::TooLarge {
                size: MAX_DECODED_BYTES + 1,
                limit: MAX_DECODED_BYTES,
            }
        }
        other => WireError::Binary(other.to_string()),
    })?;
    let (msg, rest) =
        postcard::take_from_bytes(&raw).map_err(|e| WireError::Binary(e.to_string()))?;
    if !rest.is_empty() {
        return Err(WireError::Binary(format!(
            "{} bytes after the message",
            rest.len()
        )));
    }
    Ok(msg)
}

/// A request's body in protocol `version` (1: gzip JSON; 2: binary).
pub fn encode_request(version: u32, r: &SyncRequest) -> Vec<u8> {
    if version == PROTOCOL_V1 {
        return encode(&SyncRequest {
            protocol: PROTOCOL_V1,
            ..r.clone()
        });
    }
    to_v2(
        &RequestV2 {
            protocol: PROTOCOL_VERSION,
            unit: r.unit.0,
            device: r.device.0,
            agent_version: r.agent_version.clone(),
            defs: r.defs,
            have: vv_pairs(&r.have),
            ops: OpColumns::from_ops(&r.ops),
            sent_ms: r.sent_ms,
            platform: r.platform.clone(),
            root: r.root,
            updates: json_or_empty(&r.updates, r.updates.is_empty()),
        },
        flate2::Compression::best(),
    )
}

/// A request from its body in protocol `version`, every limit checked.
pub fn decode_request(version: u32, body: &[u8]) -> Result<SyncRequest, WireError> {
    if version == PROTOCOL_V1 {
        return decode(body);
    }
    let m: RequestV2 = from_v2(body)?;
    Ok(SyncRequest {
        protocol: m.protocol,
        unit: UnitCode(m.unit),
        device: ActorId(m.device),
        agent_version: m.agent_version,
        defs: m.defs,
        have: vv_of(m.have),
        ops: m
            .ops
            .into_ops()
            .map_err(|e| WireError::Binary(format!("ops: {e}")))?,
        sent_ms: m.sent_ms,
        platform: m.platform,
        root: m.root,
        updates: from_json_or_default("updates", &m.updates)?,
    })
}

/// A response's body in protocol `version`.
pub fn encode_response(version: u32, r: &SyncResponse) -> Vec<u8> {
    if version == PROTOCOL_V1 {
        return encode(&SyncResponse {
            protocol: PROTOCOL_V1,
            ..r.clone()
        });
    }
    to_v2(
        &ResponseV2 {
            protocol: PROTOCOL_VERSION,
            unit: r.unit.0,
            acked: vv_pairs(&r.acked),
            applied: r.applied,
            duplicates: r.duplicates,
            ops: OpColumns::from_ops(&r.ops),
            more: r.more,
            definitions: json_or_empty(&r.definitions, r.definitions.is_empty()),
            hub_ms: r.hub_ms,
            roots: json_or_empty(&r.roots, r.roots.is_empty()),
            offer: json_or_empty(&r.offer, r.offer.is_none()),
            phase: r.phase,
        },
        flate2::Compression::default(),
    )
}

/// A response from its body in protocol `version`, every limit checked.
pub fn decode_response(version: u32, body: &[u8]) -> Result<SyncResponse, WireError> {
    if version == PROTOCOL_V1 {
        return decode(body);
    }
    let m: ResponseV2 = from_v2(body)?;
    Ok(SyncResponse {
        protocol: m.protocol,
        unit: UnitCode(m.unit),
        acked: vv_of(m.acked),
        applied: m.applied,
        duplicates: m.duplicates,
        ops: m
            .ops
            .into_ops()
            .map_err(|e| WireError::Binary(format!("ops: {e}")))?,
        more: m.more,
        definitions: from_json_or_default("definitions", &m.definitions)?,
        hub_ms: m.hub_ms,
        roots: from_json_or_default("roots", &m.roots)?,
        offer: from_json_or_default("offer", &m.offer)?,
        phase: m.phase,
    })
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
        assert!(check_protocol(PROTOCOL_V1).is_ok());
        assert!(check_protocol(7).unwrap_err().to_string().contains("7"));
    }

    fn request() -> SyncRequest {
        let op = |seq: u64| -> Op {
            Op::from_json(&format!(
                r#"{{"v":1,"actor":"00000000000000a1","seq":{seq},"hlc_ms":{},"hlc_c":0,"unit":70,"defs":1,"body":{{"t":"count","period":"2026-11","procedure":"CT-01","deltas":[{{"metric":"received","dir":"inc","amount":2,"total":{}}}]}}}}"#,
                1_790_000_000_000u64 + seq * 60_000,
                seq * 2
            ))
            .unwrap()
        };
        SyncRequest {
            protocol: PROTOCOL_VERSION,
            unit: UnitCode(70),
            device: ActorId(0xa1),
            agent_version: "0.1.0".into(),
            defs: 1,
            have: [(ActorId(0xa1), 3), (ActorId(0xb2), 9)]
                .into_iter()
                .collect(),
            ops: (1..=3).map(op).collect(),
            sent_ms: 1_790_000_000_000,
            platform: "linux-x86_64".into(),
            root: 1,
            updates: Vec::new(),
        }
    }

    /// Both versions carry a request and a response exactly, and version 2 is the
    /// smaller; bad version 2 bodies are named, never a panic.
    #[test]
    fn both_versions_round_trip_and_version_2_refuses_bad_bodies() {
        let r = request();
        for v in [PROTOCOL_V1, PROTOCOL_VERSION] {
            let back = decode_request(v, &encode_request(v, &r)).unwrap();
            assert_eq!(
                back,
                SyncRequest {
                    protocol: v,
                    ..r.clone()
                }
            );
            let resp = SyncResponse {
                protocol: v,
                unit: r.unit,
                acked: r.have.clone(),
                applied: 3,
                duplicates: 0,
                ops: r.ops.clone(),
                more: true,
                definitions: Vec::new(),
                hub_ms: 5,
                roots: Vec::new(),
                offer: None,
                phase: Some(2),
            };
            assert_eq!(
                decode_response(v, &encode_response(v, &resp)).unwrap(),
                resp
            );
        }
        assert!(encode_request(2, &r).len() < encode_request(1, &r).len() / 2);
        let body = encode_request(2, &r);
        assert!(matches!(
            decode_request(2, b"not deflate"),
            Err(WireError::Binary(_))
        ));
        assert!(decode_request(2, &body[..body.len() / 2]).is_err());
        assert!(matches!(
            decode_request(2, &to_v2(&"just a string", flate2::Compression::best())),
            Err(WireError::Binary(_))
        ));
        let bomb = to_v2(&vec![0u8; 17 << 20], flate2::Compression::best());
        assert!(matches!(
            decode_request(2, &bomb),
            Err(WireError::TooLarge { .. })
        ));
    }
}
