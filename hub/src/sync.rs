//! One sync exchange on the hub side. In: the protocol header and the raw body of a
//! `POST /api/v1/sync`. Out: the encoded response, after the request's batch is
//! durably merged; or an error naming what was wrong, with nothing stored.
//!
//! Order of checks: protocol header (before the body is even decompressed), body
//! decoding and size, protocol field, batch size, commune served, then the merge rules
//! inside the store's transaction. Only then is the delta down computed.

use crate::error::{HubError, Result};
use crate::store::{Contact, Store};
use cchc_common::sync::{
    self, SyncRequest, SyncResponse, MAX_BATCH_OPS, PROTOCOL_HEADER, PROTOCOL_VERSION,
};

/// Checks the protocol header's value (None when absent).
pub fn check_header(value: Option<&str>) -> Result<()> {
    let v = value.ok_or(HubError::ProtocolHeader {
        header: PROTOCOL_HEADER,
        found: "missing".into(),
    })?;
    let n: u32 = v.trim().parse().map_err(|_| HubError::ProtocolHeader {
        header: PROTOCOL_HEADER,
        found: format!("'{v}'"),
    })?;
    Ok(sync::check_protocol(n)?)
}

/// Handles one exchange whose header has been checked.
pub fn exchange(store: &dyn Store, body: &[u8], now_ms: i64) -> Result<Vec<u8>> {
    let req: SyncRequest = sync::decode(body)?;
    sync::check_protocol(req.protocol)?;
    if req.ops.len() > MAX_BATCH_OPS {
        return Err(HubError::BatchTooLarge {
            count: req.ops.len(),
            max: MAX_BATCH_OPS,
        });
    }
    if !store.serves(req.unit)? {
        return Err(HubError::UnknownUnit {
            unit: req.unit.0,
            province: store.province()?.code,
        });
    }
    let contact = Contact {
        device: req.device,
        agent_version: req.agent_version.chars().take(64).collect(),
        clock_offset_ms: req.sent_ms as i64 - now_ms,
    };
    let merged = store.merge(req.unit, &contact, req.ops, now_ms)?;
    // `have` covers everything the agent holds, this batch included, so the delta
    // down is exactly what the hub holds beyond it.
    let have = req.have;
    let (ops, more) = store.ops_since(req.unit, &have, MAX_BATCH_OPS)?;
    let response = SyncResponse {
        protocol: PROTOCOL_VERSION,
        unit: req.unit,
        acked: merged.acked,
        applied: merged.applied,
        duplicates: merged.duplicates,
        ops,
        more,
        definitions: store.definitions_after(req.defs)?,
        hub_ms: now_ms.max(0) as u64,
    };
    Ok(sync::encode(&response))
}
