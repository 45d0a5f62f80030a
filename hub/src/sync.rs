//! One sync exchange on the hub side. In: the protocol header and the raw body of a
//! `POST /api/v1/sync`. Out: the encoded response, after the request's batch is
//! durably merged; or an error naming what was wrong, with nothing stored.
//!
//! Order of checks: protocol header and the device's signature (both before the body
//! is even decompressed, in `routes`), body decoding and size, protocol field, batch
//! size, then scope: the commune comes from the device's enrollment, and a request or
//! op naming another commune is refused whole (403). Then the nonce and the merge
//! rules inside the store's transaction. Only then is the delta down computed.

use crate::error::{Denied, HubError, Result};
use crate::store::{Contact, DeviceAuth, HubStore, Sender};
use cchc_common::sync::{self, SyncRequest, SyncResponse, MAX_BATCH_OPS, PROTOCOL_HEADER};
use cchc_common::update::{Delta, Offer};

/// Checks the protocol header's value (None when absent): the version the body is
/// in, and the answer will be in.
pub fn check_header(value: Option<&str>) -> Result<u32> {
    let v = value.ok_or(HubError::ProtocolHeader {
        header: PROTOCOL_HEADER,
        found: "missing".into(),
    })?;
    let n: u32 = v.trim().parse().map_err(|_| HubError::ProtocolHeader {
        header: PROTOCOL_HEADER,
        found: format!("'{v}'"),
    })?;
    sync::check_protocol(n)?;
    Ok(n)
}

/// The request in the body, in the header's version, within the batch limit, naming
/// the sender that signed it.
fn decode(body: &[u8], version: u32, signer: cchc_common::ActorId) -> Result<SyncRequest> {
    let req: SyncRequest = sync::decode_request(version, body)?;
    if req.protocol != version {
        return Err(sync::WireError::Protocol {
            got: req.protocol,
            supported: version,
        }
        .into());
    }
    if req.ops.len() > MAX_BATCH_OPS {
        return Err(HubError::BatchTooLarge {
            count: req.ops.len(),
            max: MAX_BATCH_OPS,
        });
    }
    if req.device != signer {
        return Err(Denied::SignerMismatch {
            signed: signer.to_string(),
            named: req.device.to_string(),
        }
        .into());
    }
    Ok(req)
}

/// Who sent a request, as the store records it.
fn contact_of(sender: Sender, req: &SyncRequest, nonce: u64, version: u32, now_ms: i64) -> Contact {
    Contact {
        sender,
        device: req.device,
        nonce,
        agent_version: req.agent_version.chars().take(64).collect(),
        protocol: version,
        clock_offset_ms: clock_offset_ms(req.sent_ms, now_ms),
    }
}

/// The answer after a merge: what the hub holds beyond `have` (which covers everything
/// the sender holds, this batch included), newer definitions, the commune's phase, and
/// for an agent its roots and offer.
fn respond(
    store: &dyn HubStore,
    version: u32,
    req: &SyncRequest,
    merged: crate::store::Merged,
    roots: Vec<cchc_common::release::Signed<cchc_common::release::Root>>,
    offer: Option<Offer>,
    now_ms: i64,
) -> Result<Vec<u8>> {
    let (ops, more) = store.ops_since(req.unit, &req.have, MAX_BATCH_OPS)?;
    let response = SyncResponse {
        protocol: version,
        unit: req.unit,
        acked: merged.acked,
        applied: merged.applied,
        duplicates: merged.duplicates,
        ops,
        more,
        definitions: store.definitions_after(req.defs)?,
        hub_ms: now_ms.max(0) as u64,
        roots,
        offer,
        phase: store.unit_phase(req.unit)?,
    };
    Ok(sync::encode_response(version, &response))
}

/// Handles one exchange of an authenticated device (signature checked).
/// `version` is the header's (checked): the body must be in it, and so is the answer.
pub fn exchange(
    store: &dyn HubStore,
    device: &DeviceAuth,
    nonce: u64,
    body: &[u8],
    version: u32,
    now_ms: i64,
) -> Result<Vec<u8>> {
    let req = decode(body, version, device.device)?;
    // The commune is the device's, never the body's: any other is refused whole.
    let wrong = |unit: u32| {
        HubError::Denied(Denied::WrongCommune {
            device: device.device.to_string(),
            bound: device.unit.0,
            unit,
        })
    };
    if req.unit != device.unit {
        return Err(wrong(req.unit.0));
    }
    if let Some(op) = req.ops.iter().find(|op| op.unit != device.unit) {
        return Err(wrong(op.unit.0));
    }
    if !store.serves(req.unit)? {
        return Err(HubError::UnknownUnit {
            unit: req.unit.0,
            province: store.province()?.code,
        });
    }
    let contact = contact_of(Sender::Device, &req, nonce, version, now_ms);
    let mut req = req;
    let merged = store.merge(req.unit, &contact, std::mem::take(&mut req.ops), now_ms)?;
    // Update reports come after the merge: a report never stands in for data. A halt
    // they cause applies from this very exchange on.
    if !req.updates.is_empty() {
        for halt in store.report(req.device, &req.updates, now_ms)? {
            tracing::warn!(device = %req.device, "rollout halted: {halt}");
        }
    }
    // An agent that pinned no root cannot check anything signed: it is offered
    // nothing, and never handed a root over sync (roots are pinned at enrollment).
    let (roots, offer) = if req.root == 0 {
        (Vec::new(), None)
    } else {
        let roots: Vec<_> = store
            .roots()?
            .into_iter()
            .filter(|r| r.signed.version > req.root)
            .collect();
        let offer = store
            .offer(
                req.device,
                req.unit,
                &req.platform,
                &req.agent_version,
                now_ms,
            )?
            .map(|(release, soak_s)| -> crate::error::Result<Offer> {
                let delta = delta_for(store, &release, &req.platform, &req.agent_version)?;
                Ok(Offer {
                    release: release.meta,
                    soak_s,
                    delta,
                })
            })
            .transpose()?;
        (roots, offer)
    };
    respond(store, version, &req, merged, roots, offer, now_ms)
}

/// Handles one forwarding exchange of a provincial hub (signature checked) on the
/// national hub: one commune of its province per request, the same messages as an
/// agent's. A commune of another province, in the request or in any op, is refused
/// whole (403 `other_province`) and nothing is stored. Its province's verifications
/// are its own to forward; the answer carries what the national hub holds beyond what
/// it has, the phase assigned here and newer definitions (never a release).
pub fn peer_exchange(
    store: &dyn HubStore,
    peer: &crate::store::upstream::PeerAuth,
    nonce: u64,
    body: &[u8],
    version: u32,
    now_ms: i64,
) -> Result<Vec<u8>> {
    let req = decode(body, version, peer.peer)?;
    let other = |unit: u32| {
        HubError::Denied(Denied::OtherProvince {
            peer: peer.peer.to_string(),
            province: peer.province,
            unit,
        })
    };
    let of = crate::store::sql::province_of;
    if of(req.unit) != Some(peer.province) {
        return Err(other(req.unit.0));
    }
    if let Some(op) = req.ops.iter().find(|op| op.unit != req.unit) {
        return Err(other(op.unit.0));
    }
    if !store.serves(req.unit)? {
        return Err(HubError::UnknownUnit {
            unit: req.unit.0,
            province: store.province()?.code,
        });
    }
    let contact = contact_of(Sender::Peer, &req, nonce, version, now_ms);
    let mut req = req;
    let merged = store.merge(req.unit, &contact, std::mem::take(&mut req.ops), now_ms)?;
    respond(store, version, &req, merged, Vec::new(), None, now_ms)
}

/// A patch to `release` from the published build the device runs, if the hub has one.
fn delta_for(
    store: &dyn HubStore,
    release: &crate::store::releases::StoredRelease,
    platform: &str,
    running: &str,
) -> Result<Option<Delta>> {
    let Some(base) = store
        .releases()?
        .into_iter()
        .find(|r| r.platform == platform && r.meta.signed.version.to_string() == running)
    else {
        return Ok(None);
    };
    let from = base.meta.signed.target.sha256;
    Ok(store
        .delta(&release.meta.signed.target.sha256, &from)?
        .map(|(_, patch)| Delta {
            from_sha256: from,
            patch,
        }))
}

/// How far the device's clock is ahead of the hub's. A device's clock may say
/// anything, even past 2^63 ms: the offset saturates, never wraps or overflows.
fn clock_offset_ms(sent_ms: u64, now_ms: i64) -> i64 {
    i64::try_from(sent_ms)
        .unwrap_or(i64::MAX)
        .saturating_sub(now_ms)
}

#[cfg(test)]
mod tests {
    use super::clock_offset_ms;

    #[test]
    fn any_device_clock_gives_an_offset_without_overflow() {
        assert_eq!(clock_offset_ms(1_500, 1_000), 500);
        assert_eq!(clock_offset_ms(0, 1_000), -1_000);
        assert_eq!(clock_offset_ms(1 << 63, 1_000), i64::MAX - 1_000);
        assert_eq!(clock_offset_ms(u64::MAX, -5), i64::MAX);
        assert_eq!(clock_offset_ms(0, i64::MAX), -i64::MAX);
    }
}
