//! The national hub's routes for provincial hubs: `POST /api/v1/upstream/enroll` (a
//! province-scoped one-time code binds a provincial hub's key to its province) and
//! `POST /api/v1/upstream/sync` (one commune's ops forwarded, signed like an agent's
//! request). Every refusal is audited.

use super::body::{self, SMALL_BODY};
use super::{extract, json_response, AppState};
use crate::admin::Actor;
use crate::auth::Signed;
use crate::clock::now_ms;
use crate::error::{Body as JsonBody, Denied};
use crate::store::{DeviceAuth, Enrolled};
use crate::sync;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cchc_common::auth::{
    PeerEnrollRequest, PeerEnrollResponse, UPSTREAM_ENROLL_PATH, UPSTREAM_SYNC_PATH,
};
use cchc_common::sync::{MAX_WIRE_BYTES, PROTOCOL_HEADER};
use cchc_common::UnitCode;

/// `POST /api/v1/upstream/sync`: an unknown provincial hub is refused before its body
/// is read; the signature is checked before the body is decompressed; the commune must
/// be of its province; the merge is one store transaction.
pub async fn sync(State(state): State<AppState>, req: Request) -> Response {
    let ip = extract::client_ip(req.extensions());
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let mut who = None;
    let result = async {
        let signed = Signed::from_headers(&headers)?;
        let version =
            sync::check_header(headers.get(PROTOCOL_HEADER).and_then(|v| v.to_str().ok()))?;
        let peer = signed.device;
        let known = state.run(move |store| store.peer_auth(peer)).await?;
        let Some(known) = known else {
            return Err(Denied::UnknownDevice {
                device: peer.to_string(),
            }
            .into());
        };
        let body = body::read(body, MAX_WIRE_BYTES, &state.bodies, ip).await?;
        let as_device = DeviceAuth {
            device: known.peer,
            unit: UnitCode(0),
            public_key: known.public_key,
            revoked_ms: known.revoked_ms,
        };
        signed.verify(Some(as_device), "POST", UPSTREAM_SYNC_PATH, &body)?;
        who = Some(format!("hub:{peer}"));
        let nonce = signed.nonce;
        state
            .run(move |store| sync::peer_exchange(store, &known, nonce, &body, version, now_ms()))
            .await
            .map(|bytes| (version, bytes))
    }
    .await;
    match result {
        Ok((version, bytes)) => super::device::sync_answer(version, bytes),
        Err(e) => {
            state
                .audit_refusal(ip, who, "upstream.sync", String::new(), &e)
                .await;
            e.into_response()
        }
    }
}

/// `POST /api/v1/upstream/enroll`: a province-scoped code and the new key's own
/// signature bind a provincial hub, its key and its province in one transaction.
pub async fn enroll(State(state): State<AppState>, req: Request) -> Response {
    let ip = extract::client_ip(req.extensions());
    let (parts, body) = req.into_parts();
    let mut target = String::new();
    let result = async {
        state.limits.guess(ip)?;
        let signed = Signed::from_headers(&parts.headers)?;
        let body = body::read(body, SMALL_BODY, &state.bodies, ip).await?;
        let req: PeerEnrollRequest = body::json(&body, JsonBody::Enrollment)?;
        target = format!("province:{} hub:{}", req.province, req.peer);
        let hash = super::device::enrollment_proof(
            &signed,
            req.peer,
            &req.public_key,
            UPSTREAM_ENROLL_PATH,
            &body,
            &req.code,
        )?;
        let actor = Actor {
            name: format!("hub:{}", req.peer),
            ip: Some(ip.to_string()),
        };
        let now = now_ms();
        let entry = actor.entry(
            "upstream.enroll",
            target.clone(),
            "ok",
            format!("hub {}", req.version),
        );
        let national = state.run(|store| Ok(store.province()?.name)).await?;
        let nonce = signed.nonce;
        let (peer, province) = (req.peer, req.province);
        let done = state
            .run(move |store| store.enroll_peer(&hash, &req, nonce, &entry, now))
            .await?;
        if done == Enrolled::Again {
            tracing::info!(peer = %peer, "provincial hub enrollment repeated");
        }
        Ok(PeerEnrollResponse {
            peer,
            province,
            national,
            enrolled_ms: now,
        })
    }
    .await;
    match result {
        Ok(r) => json_response(StatusCode::OK, &r),
        Err(e) => {
            state
                .audit_refusal(ip, None, "upstream.enroll", target, &e)
                .await;
            e.into_response()
        }
    }
}
