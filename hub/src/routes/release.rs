//! `GET /api/v1/releases/{sha256}`: an enrolled device downloads a build it was
//! offered, from any byte offset (`Range: bytes=N-`), so a link that drops every
//! minute still finishes. In: the device's signed request (empty body). Out: the
//! file's bytes, streamed from disk.
//!
//! The hub serves whatever file its database names; the agent trusts only the length
//! and SHA-256 its pinned root signed. A signed request may be replayed to fetch the
//! same build again, which costs the hub bandwidth only (the per-device rate applies).

use super::{extract, AppState};
use crate::auth::Signed;
use crate::error::{Denied, HubError, Missing};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Where the download route lives.
pub const RELEASES_PATH: &str = "/api/v1/releases/";

/// The first byte asked for by `Range: bytes=N-` (or `bytes=N-M`: the rest is sent
/// anyway, which every client handles); None without a usable header.
fn range_start(headers: &HeaderMap) -> Option<u64> {
    let v = headers.get(header::RANGE)?.to_str().ok()?;
    let spec = v.trim().strip_prefix("bytes=")?;
    let (start, _) = spec.split_once('-')?;
    start.trim().parse().ok()
}

/// The download of a build.
pub async fn download(
    State(state): State<AppState>,
    Path(sha256): Path<String>,
    req: axum::extract::Request,
) -> Response {
    serve(state, req, sha256, None).await
}

/// The download of a patch to a build from the device's own
/// (`GET /api/v1/releases/{sha256}/delta/{from}`).
pub async fn download_delta(
    State(state): State<AppState>,
    Path((sha256, from)): Path<(String, String)>,
    req: axum::extract::Request,
) -> Response {
    serve(state, req, sha256, Some(from)).await
}

async fn serve(
    state: AppState,
    req: axum::extract::Request,
    sha256: String,
    from: Option<String>,
) -> Response {
    let ip = extract::client_ip(req.extensions());
    let headers = req.headers().clone();
    let mut who = None;
    let result = async {
        let signed = Signed::from_headers(&headers)?;
        let device = signed.device;
        let known = state.run(move |store| store.device_auth(device)).await?;
        let path = match &from {
            None => format!("{RELEASES_PATH}{sha256}"),
            Some(f) => format!("{RELEASES_PATH}{sha256}/delta/{f}"),
        };
        let auth = signed.verify(known, "GET", &path, b"")?;
        who = Some(format!("device:{}", auth.device));
        state.limits.device(auth.device)?;
        let (sha, base) = (sha256.clone(), from.clone());
        let missing = || HubError::NotFound(Missing::Path(path.clone()));
        let file = state
            .run(move |store| {
                let Some(release) = store.may_download(auth.device, &sha)? else {
                    return Ok(None);
                };
                match base {
                    None => Ok(Some(release.file)),
                    Some(b) => Ok(store.delta(&sha, &b)?.map(|(file, _)| file)),
                }
            })
            .await?
            .ok_or_else(missing)?;
        let file = state.dir.join(&file);
        let mut f = tokio::fs::File::open(&file)
            .await
            .map_err(|e| HubError::io(&file, e))?;
        let len = f
            .metadata()
            .await
            .map_err(|e| HubError::io(&file, e))?
            .len();
        let start = range_start(&headers);
        let from = start.unwrap_or(0);
        if from > len {
            return Ok((
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{len}"))],
            )
                .into_response());
        }
        f.seek(std::io::SeekFrom::Start(from))
            .await
            .map_err(|e| HubError::io(&file, e))?;
        let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
            f.take(len - from),
            64 << 10,
        ));
        let mut resp = Response::new(body);
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len - from));
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if start.is_some() {
            let range = format!("bytes {from}-{}/{len}", len.saturating_sub(1));
            h.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&range).expect("ascii"),
            );
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        }
        Ok::<_, HubError>(resp)
    }
    .await;
    match result {
        Ok(r) => r,
        Err(e) => {
            if matches!(e, HubError::Denied(Denied::UnknownDevice { .. })) {
                who = None;
            }
            state
                .audit_refusal(ip, who, "release.download", sha256, &e)
                .await;
            e.into_response()
        }
    }
}
