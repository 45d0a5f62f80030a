//! HTTP routes. In: requests from agents (and, later, browsers). Out: responses; every
//! refusal is a 4xx with an [`ErrorBody`](cchc_common::sync::ErrorBody) naming the
//! problem. Blocking store work runs on tokio's blocking pool.

use crate::error::HubError;
use crate::server::now_ms;
use crate::store::Store;
use crate::sync;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use cchc_common::sync::{MAX_WIRE_BYTES, MEDIA_TYPE, PROTOCOL_HEADER, SYNC_PATH};
use std::sync::Arc;

/// Shared state of the routes.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Arc<dyn Store>,
}

/// The router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route(SYNC_PATH, post(sync_route))
        .with_state(state)
}

async fn health() -> &'static str {
    "ok\n"
}

impl IntoResponse for HubError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::warn!(code = self.code(), error = %self, "request refused");
        }
        let body = serde_json::to_vec(&self.body()).expect("error bodies serialize");
        (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response()
    }
}

/// Most bytes read and thrown away after a body passes the limit, so that a client
/// that is still sending gets to read the 413 instead of a reset connection.
const DRAIN_LIMIT: usize = 4 * MAX_WIRE_BYTES;

/// Reads a request body of at most `MAX_WIRE_BYTES`. A longer body is read on (and
/// discarded) up to `DRAIN_LIMIT` before it is refused; a body cut off by the client
/// is refused as unreadable.
async fn read_body(body: Body) -> Result<Bytes, HubError> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut buf: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| HubError::BodyRead(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len();
        if seen <= MAX_WIRE_BYTES {
            buf.extend_from_slice(&data);
        } else if seen > DRAIN_LIMIT {
            break;
        }
    }
    if seen > MAX_WIRE_BYTES {
        return Err(HubError::Wire(cchc_common::sync::WireError::TooLarge {
            size: seen,
            limit: MAX_WIRE_BYTES,
        }));
    }
    Ok(Bytes::from(buf))
}

async fn sync_route(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        sync::check_header(headers.get(PROTOCOL_HEADER).and_then(|v| v.to_str().ok()))?;
        let body = read_body(body).await?;
        let store = state.store.clone();
        tokio::task::spawn_blocking(move || sync::exchange(store.as_ref(), &body, now_ms()))
            .await
            .map_err(|e| HubError::Internal(format!("sync task failed: {e}")))?
    }
    .await;
    match result {
        Ok(bytes) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE)),
                (header::CONTENT_ENCODING, HeaderValue::from_static("gzip")),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}
