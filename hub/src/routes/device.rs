//! The agents' routes: `POST /api/v1/sync` (one exchange of a signed, enrolled device)
//! and `POST /api/v1/enroll` (a one-time code binds a new key to a commune). In:
//! signed requests. Out: the sync response or the enrollment; every refusal is audited
//! (anonymous floods quieted).

use super::body::{self, SMALL_BODY};
use super::{extract, json_response, AppState};
use crate::admin::Actor;
use crate::auth::{self, Signed};
use crate::clock::now_ms;
use crate::error::{Body as JsonBody, Denied, HubError};
use crate::store::Enrolled;
use crate::sync;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cchc_common::auth::{normalize_code, EnrollRequest, EnrollResponse, ENROLL_PATH};
use cchc_common::sync::{
    MAX_WIRE_BYTES, MEDIA_TYPE, MEDIA_TYPE_V2, PROTOCOL_HEADER, PROTOCOL_V1, SYNC_PATH,
};

/// `POST /api/v1/sync`: an unknown device is refused before its body is read; the
/// signature is checked against the enrolled key before the body is decompressed; the
/// merge happens in one store transaction.
pub async fn sync(State(state): State<AppState>, req: Request) -> Response {
    let ip = extract::client_ip(req.extensions());
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let mut who = None;
    let result = async {
        let signed = Signed::from_headers(&headers)?;
        let version =
            sync::check_header(headers.get(PROTOCOL_HEADER).and_then(|v| v.to_str().ok()))?;
        // Who claims to send, before a byte of the body is read: a device the hub
        // never enrolled costs it nothing but this lookup.
        let device = signed.device;
        let known = state.run(move |store| store.device_auth(device)).await?;
        if known.is_none() {
            return Err(Denied::UnknownDevice {
                device: device.to_string(),
            }
            .into());
        }
        let body = body::read(body, MAX_WIRE_BYTES, &state.bodies, ip).await?;
        let auth = match signed.verify(known, "POST", SYNC_PATH, &body) {
            Ok(a) => a,
            Err(e) => {
                // A revoked device did sign its request: it is who it says it is.
                if matches!(e, HubError::Denied(Denied::Revoked { .. })) {
                    who = Some(format!("device:{device}"));
                }
                return Err(e);
            }
        };
        who = Some(format!("device:{}", auth.device));
        state.limits.device(auth.device)?;
        let nonce = signed.nonce;
        state
            .run(move |store| sync::exchange(store, &auth, nonce, &body, version, now_ms()))
            .await
            .map(|bytes| (version, bytes))
    }
    .await;
    match result {
        Ok((version, bytes)) => sync_answer(version, bytes),
        Err(e) => {
            state
                .audit_refusal(ip, who, "sync", String::new(), &e)
                .await;
            e.into_response()
        }
    }
}

/// A sync answer in the request's protocol version: version 1 bodies are gzip JSON,
/// version 2 carries its own compression.
pub(super) fn sync_answer(version: u32, bytes: Vec<u8>) -> Response {
    if version == PROTOCOL_V1 {
        return (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE)),
                (header::CONTENT_ENCODING, HeaderValue::from_static("gzip")),
            ],
            bytes,
        )
            .into_response();
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(MEDIA_TYPE_V2),
        )],
        bytes,
    )
        .into_response()
}

/// What every enrollment must prove before its code is looked up: the request is
/// signed by the id it names, with the key it brings (proof the sender holds it);
/// returns the hash of its one-time code, normalised.
pub(super) fn enrollment_proof(
    signed: &Signed,
    named: cchc_common::ActorId,
    key: &cchc_common::auth::PublicKey,
    path: &str,
    body: &[u8],
    code: &str,
) -> Result<[u8; 32], HubError> {
    if signed.device != named {
        return Err(Denied::SignerMismatch {
            signed: signed.device.to_string(),
            named: named.to_string(),
        }
        .into());
    }
    key.verify(
        &signed.signature,
        "POST",
        path,
        signed.device,
        signed.nonce,
        body,
    )
    .map_err(|_| Denied::BadSignature {
        device: signed.device.to_string(),
    })?;
    let code = normalize_code(code).map_err(|_| Denied::BadCode)?;
    Ok(auth::sha256(code.as_bytes()))
}

/// `POST /api/v1/enroll`: a one-time code and the new key's own signature over the
/// request bind device, key and commune in one transaction.
pub async fn enroll(State(state): State<AppState>, req: Request) -> Response {
    let ip = extract::client_ip(req.extensions());
    let (parts, body) = req.into_parts();
    let mut target = String::new();
    let result = async {
        // Every attempt counts, right or wrong: this is what a code guesser needs.
        state.limits.guess(ip)?;
        let signed = Signed::from_headers(&parts.headers)?;
        let body = body::read(body, SMALL_BODY, &state.bodies, ip).await?;
        let req: EnrollRequest = body::json(&body, JsonBody::Enrollment)?;
        target = format!("unit:{} device:{}", req.unit, req.device);
        let hash = enrollment_proof(
            &signed,
            req.device,
            &req.public_key,
            ENROLL_PATH,
            &body,
            &req.code,
        )?;
        let actor = Actor {
            name: format!("device:{}", req.device),
            ip: Some(ip.to_string()),
        };
        let now = now_ms();
        let entry = actor.entry(
            "enroll.use",
            target.clone(),
            "ok",
            format!("agent {}", req.agent_version),
        );
        let (province, release_root) = state
            .run(|store| Ok((store.province()?.code, store.roots()?.pop())))
            .await?;
        let nonce = signed.nonce;
        let (device, unit) = (req.device, req.unit);
        let done = state
            .run(move |store| store.enroll(&hash, &req, nonce, &entry, now))
            .await?;
        if done == Enrolled::Again {
            tracing::info!(device = %device, "enrollment repeated by the same device");
        }
        Ok(EnrollResponse {
            device,
            unit,
            province,
            enrolled_ms: now,
            release_root,
        })
    }
    .await;
    match result {
        Ok(r) => json_response(StatusCode::OK, &r),
        Err(e) => {
            state
                .audit_refusal(ip, None, "enroll.use", target, &e)
                .await;
            e.into_response()
        }
    }
}
