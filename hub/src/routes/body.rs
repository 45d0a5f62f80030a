//! Request bodies: read within a size limit and an idle timeout, then decoded as JSON
//! or as an HTML form (`serde_urlencoded`, the codec axum's `Form` uses). In: a body.
//! Out: bytes or a typed value; a refusal names the limit or the field.

use crate::error::{Body as JsonBody, HubError, Rule};
use axum::body::{Body, Bytes};
use cchc_common::sync::{WireError, MAX_WIRE_BYTES};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Largest body of a sign-in, enrollment, form or admin request.
pub const SMALL_BODY: usize = 64 << 10;
/// Largest definitions document published over HTTPS.
pub const DEFINITIONS_BODY: usize = 1 << 20;

/// Most bytes read and thrown away after a body passes the limit, so that a client
/// that is still sending gets to read the 413 instead of a reset connection.
const DRAIN_LIMIT: usize = 4 * MAX_WIRE_BYTES;

/// Reads a request body of at most `limit` bytes, waiting at most `idle` for each
/// piece (a client that stalls is dropped). A longer body is read on (and discarded)
/// up to `DRAIN_LIMIT` before it is refused; a body cut off is refused as unreadable.
pub async fn read(body: Body, limit: usize, idle: Duration) -> Result<Bytes, HubError> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut buf: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => {
                return Err(HubError::BodyStalled {
                    idle_s: idle.as_secs(),
                })
            }
            Ok(None) => break,
            Ok(Some(f)) => f.map_err(|e| HubError::BodyCut {
                detail: e.to_string(),
            })?,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len();
        if seen <= limit {
            buf.extend_from_slice(&data);
        } else if seen > DRAIN_LIMIT {
            break;
        }
    }
    if seen > limit {
        return Err(HubError::Wire(WireError::TooLarge { size: seen, limit }));
    }
    Ok(Bytes::from(buf))
}

/// Decodes a JSON body; a refusal names the body and where the decoder stopped.
pub fn json<T: DeserializeOwned>(body: &[u8], what: JsonBody) -> Result<T, HubError> {
    serde_json::from_slice(body).map_err(|e| HubError::BadJson {
        body: what,
        detail: e.to_string(),
    })
}

/// Decodes an HTML form body (`application/x-www-form-urlencoded`).
pub fn form<T: DeserializeOwned>(body: &[u8]) -> Result<T, HubError> {
    serde_urlencoded::from_bytes(body).map_err(|e| {
        HubError::input(
            "form",
            String::from_utf8_lossy(&body[..body.len().min(80)]),
            Rule::UrlEncoded {
                detail: e.to_string(),
            },
        )
    })
}
