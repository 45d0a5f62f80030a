//! What the routes share: the store, the rate limits, the body idle limit and the
//! audit log's quieting of anonymous floods. In: a request's store work. Out: its
//! result, computed on tokio's blocking pool ([`AppState::run`]), never on the async
//! worker threads that serve connections.

use super::body;
use crate::admin::Actor;
use crate::auth::Limits;
use crate::clock::now_ms;
use crate::error::HubError;
use crate::store::HubStore;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a refusal of one kind from one address is logged only once.
const AUDIT_QUIET_MS: i64 = 60_000;

/// (address, action, refusal code) → (when last logged, refusals not logged since).
type QuietMap = HashMap<(IpAddr, String, &'static str), (i64, u64)>;

/// Shared state of the routes.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Arc<dyn HubStore>,
    /// Rate limits.
    pub limits: Arc<Limits>,
    /// How request bodies are read: idle timeout and the memory budget they share.
    pub bodies: body::BodyRules,
    /// Refusals recently logged: (address, action, code) → (when, suppressed since).
    quiet: Arc<Mutex<QuietMap>>,
    /// The hub's data directory (release files are under it).
    pub dir: Arc<std::path::PathBuf>,
}

impl AppState {
    /// State for a store and limits.
    pub fn new(
        store: Arc<dyn HubStore>,
        limits: Limits,
        body_idle: Duration,
        dir: &std::path::Path,
    ) -> AppState {
        AppState {
            store,
            limits: Arc::new(limits),
            bodies: body::BodyRules::new(body_idle),
            quiet: Arc::default(),
            dir: Arc::new(dir.to_path_buf()),
        }
    }

    /// Runs store work on the blocking pool: SQLite calls block, and must not hold an
    /// async worker thread while they do.
    pub async fn run<T, F>(&self, work: F) -> Result<T, HubError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn HubStore) -> Result<T, HubError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || work(store.as_ref()))
            .await
            .map_err(|e| HubError::Internal(format!("store task failed: {e}")))?
    }

    /// Logs a refused request to the audit log. Refusals of someone who proved who
    /// they are (a verified device signature, a session) are always logged; anonymous
    /// ones at most once a minute per address, action and reason (a flood of guesses
    /// must not flood the log), the next entry counting the ones left out.
    pub async fn audit_refusal(
        &self,
        ip: IpAddr,
        actor: Option<String>,
        action: &str,
        target: String,
        e: &HubError,
    ) {
        if e.status() >= 500 {
            return;
        }
        let now = now_ms();
        let suppressed = match actor {
            Some(_) => 0,
            None => match self.quiet_count(ip, action, e.code(), now) {
                Some(n) => n,
                None => return,
            },
        };
        let mut detail = e.to_string();
        if suppressed > 0 {
            detail.push_str(&format!(
                " (+{suppressed} similar in the previous minute not logged)"
            ));
        }
        let entry = Actor {
            name: actor.unwrap_or_else(|| "anonymous".into()),
            ip: Some(ip.to_string()),
        }
        .entry(action, target, e.code(), detail);
        if let Err(e) = self.run(move |store| store.audit(&entry, now)).await {
            tracing::error!(error = %e, "audit log write failed");
        }
    }

    /// For an anonymous refusal: `None` if one like it was logged less than a minute
    /// ago (it is counted), else how many were left out since the last one logged.
    fn quiet_count(&self, ip: IpAddr, action: &str, code: &'static str, now: i64) -> Option<u64> {
        let key = (ip, action.to_string(), code);
        let mut q = self.quiet.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() > 10_000 {
            q.retain(|_, (at, _)| now - *at < AUDIT_QUIET_MS);
        }
        match q.get_mut(&key) {
            Some((at, n)) if now - *at < AUDIT_QUIET_MS => {
                *n += 1;
                None
            }
            Some((at, n)) => {
                let s = *n;
                *at = now;
                *n = 0;
                Some(s)
            }
            None => {
                q.insert(key, (now, 0));
                Some(0)
            }
        }
    }
}
