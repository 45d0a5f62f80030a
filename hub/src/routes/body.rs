//! Request bodies: read within a size limit, a memory budget shared by every request in
//! flight, an idle timeout, a minimum transfer rate and a whole-body deadline; then
//! decoded as JSON or as an HTML form (`serde_urlencoded`, the codec axum's `Form`
//! uses). In: a body. Out: its bytes, holding their share of the budget until dropped,
//! or a refusal naming the limit: 413 too large, 408 too slow, 503 busy.

use crate::error::{Body as JsonBody, HubError, Rule};
use axum::body::{Body, Bytes};
use cchc_common::sync::{WireError, MAX_WIRE_BYTES};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Largest body of a sign-in, enrollment, form or admin request.
pub const SMALL_BODY: usize = 64 << 10;
/// Largest definitions document published over HTTPS.
pub const DEFINITIONS_BODY: usize = 1 << 20;
/// Bytes of request bodies held in memory at once, all requests together.
pub const BODY_BUDGET: usize = 64 << 20;
/// Bytes of request bodies held in memory at once for one client address.
pub const ADDRESS_BUDGET: usize = 16 << 20;
/// After the first `idle` interval, a body must keep arriving at this many bytes a
/// second on average (a 2G link does far better; one byte every few seconds does not).
pub const MIN_RATE: u64 = 1024;
/// No body takes longer than this, however it trickles.
pub const BODY_DEADLINE: Duration = Duration::from_secs(600);

/// Most bytes read and thrown away after a body passes the limit, so that a client
/// that is still sending gets to read the 413 instead of a reset connection.
const DRAIN_LIMIT: usize = 4 * MAX_WIRE_BYTES;

/// How bodies are read: the idle timeout and the memory budgets they share, in all
/// and per client address (one permit a byte).
#[derive(Clone)]
pub struct BodyRules {
    /// Longest wait for the next piece.
    pub idle: Duration,
    /// Bytes of bodies that may be held at once.
    pub budget: Arc<Semaphore>,
    /// Bytes one address may hold at once.
    pub per_address: usize,
    addresses: Arc<Mutex<HashMap<IpAddr, Arc<Semaphore>>>>,
}

impl BodyRules {
    /// The idle timeout with the default budgets.
    pub fn new(idle: Duration) -> BodyRules {
        BodyRules::with_budgets(idle, BODY_BUDGET, ADDRESS_BUDGET)
    }

    /// The idle timeout with given budgets.
    pub fn with_budgets(idle: Duration, total: usize, per_address: usize) -> BodyRules {
        BodyRules {
            idle,
            budget: Arc::new(Semaphore::new(total)),
            per_address,
            addresses: Arc::default(),
        }
    }

    /// The budget of one address (made on first use; the ones nobody holds are
    /// dropped when the map grows, so it stays small).
    fn address(&self, ip: IpAddr) -> Arc<Semaphore> {
        let mut m = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() > 10_000 {
            let full = self.per_address;
            m.retain(|_, s| s.available_permits() < full);
        }
        m.entry(ip)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_address)))
            .clone()
    }
}

/// A body read into memory, with its share of the budgets (given back on drop).
pub struct Held {
    bytes: Bytes,
    _permits: Vec<OwnedSemaphorePermit>,
}

impl std::ops::Deref for Held {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

/// When the next piece must have arrived: the idle timeout, the whole-body deadline,
/// and the moment `seen` bytes fall below the minimum rate, whichever comes first.
fn next_deadline(start: Instant, now: Instant, seen: usize, idle: Duration) -> Instant {
    let rate_ok_until = start + idle + Duration::from_secs(seen as u64 / MIN_RATE);
    (now + idle).min(start + BODY_DEADLINE).min(rate_ok_until)
}

/// Reads a request body of at most `limit` bytes. A body that stops, or arrives
/// slower than [`MIN_RATE`] after the first idle interval, or takes longer than
/// [`BODY_DEADLINE`], is dropped (408); a body that would take the bodies in flight
/// past [`BODY_BUDGET`] is refused (503, try later). A longer body is read on (and
/// discarded) up to `DRAIN_LIMIT` before it is refused (413); a body cut off is
/// refused as unreadable.
pub async fn read(body: Body, limit: usize, how: &BodyRules, ip: IpAddr) -> Result<Held, HubError> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut buf: Vec<u8> = Vec::new();
    let address = how.address(ip);
    let mut permit: Option<OwnedSemaphorePermit> = None;
    let mut mine: Option<OwnedSemaphorePermit> = None;
    let mut seen = 0usize;
    let start = Instant::now();
    loop {
        let until = next_deadline(start, Instant::now(), seen, how.idle);
        let frame = match tokio::time::timeout_at(until, body.frame()).await {
            Err(_) => {
                return Err(HubError::BodyStalled {
                    idle_s: how.idle.as_secs(),
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
            let n = data.len() as u32;
            let ours = address
                .clone()
                .try_acquire_many_owned(n)
                .map_err(|_| HubError::Busy)?;
            let more = how
                .budget
                .clone()
                .try_acquire_many_owned(n)
                .map_err(|_| HubError::Busy)?;
            for (held, got) in [(&mut permit, more), (&mut mine, ours)] {
                match held {
                    Some(p) => p.merge(got),
                    None => *held = Some(got),
                }
            }
            buf.extend_from_slice(&data);
        } else {
            // Over the limit: nothing more is kept, and what was is given back.
            buf = Vec::new();
            permit = None;
            mine = None;
            if seen > DRAIN_LIMIT {
                break;
            }
        }
    }
    if seen > limit {
        return Err(HubError::Wire(WireError::TooLarge { size: seen, limit }));
    }
    Ok(Held {
        bytes: Bytes::from(buf),
        _permits: permit.into_iter().chain(mine).collect(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_must_keep_a_minimum_rate_after_the_first_idle_interval() {
        let idle = Duration::from_secs(30);
        let t0 = Instant::now();
        // At first only the idle timeout counts.
        assert_eq!(next_deadline(t0, t0, 0, idle), t0 + idle);
        // 10 KiB buys 10 s more at 1 KiB/s; a dribbler's 2 bytes buy nothing.
        let later = t0 + Duration::from_secs(25);
        assert_eq!(
            next_deadline(t0, later, 10 * 1024, idle),
            t0 + idle + Duration::from_secs(10)
        );
        assert_eq!(next_deadline(t0, later, 2, idle), t0 + idle);
        // However fast, never past the whole-body deadline.
        let late = t0 + BODY_DEADLINE - Duration::from_secs(1);
        assert_eq!(
            next_deadline(t0, late, usize::MAX / 2, idle),
            t0 + BODY_DEADLINE
        );
    }

    #[tokio::test]
    async fn the_budget_is_shared_and_given_back() {
        let how = BodyRules::with_budgets(Duration::from_secs(5), 100, 70);
        let (one, two, three): (IpAddr, IpAddr, IpAddr) = (
            [10, 0, 0, 1].into(),
            [10, 0, 0, 2].into(),
            [10, 0, 0, 3].into(),
        );
        let a = read(Body::from(vec![1u8; 60]), 1000, &how, one)
            .await
            .ok()
            .unwrap();
        assert_eq!(a.len(), 60);
        // The same address: its own budget is spent.
        assert!(matches!(
            read(Body::from(vec![1u8; 20]), 1000, &how, one).await,
            Err(HubError::Busy)
        ));
        // Another address: the total is.
        assert!(read(Body::from(vec![1u8; 30]), 1000, &how, two)
            .await
            .is_ok());
        assert!(matches!(
            read(Body::from(vec![1u8; 50]), 1000, &how, three).await,
            Err(HubError::Busy)
        ));
        drop(a);
        assert!(read(Body::from(vec![1u8; 60]), 1000, &how, three)
            .await
            .is_ok());
        // A body over its limit holds nothing of the budgets.
        assert!(matches!(
            read(Body::from(vec![1u8; 2000]), 1000, &how, one).await,
            Err(HubError::Wire(WireError::TooLarge { .. }))
        ));
        assert_eq!(how.budget.available_permits(), 100);
        assert_eq!(how.address(one).available_permits(), 70);
    }
}
