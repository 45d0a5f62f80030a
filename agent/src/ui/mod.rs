//! The officers' web interface (issue 14, first part): served by `cchc-agent run` on
//! loopback only, in Vietnamese by default. In: requests from the browser on this PC.
//! Out: server-rendered HTML (maud, every value escaped), no asset from the internet.
//!
//! Guards: the listener is refused on any address that is not loopback; a request
//! whose `Host` is not this listener's own address (`127.0.0.1:PORT`, `localhost:PORT`,
//! `[::1]:PORT`) is refused before anything runs, so a web page elsewhere that points a
//! name of its own at 127.0.0.1 (DNS rebinding) reads nothing. Every page opens the
//! database for its own request; the resident sync loop keeps its own connection.

mod assess;
mod ledger;
mod pages;
mod pledge;
mod session;
mod sync;

pub use session::Ctx;
pub use sync::{Outcome, SyncLink};

use crate::error::{AgentError, Result};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// The default address of the officers' UI.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7878";

/// What every handler needs.
#[derive(Clone)]
pub struct UiState {
    dir: Arc<PathBuf>,
    hosts: Arc<Vec<String>>,
    sync: SyncLink,
    /// The connection saves go through, opened once and kept (see [`with_store`]).
    store: Arc<std::sync::Mutex<Option<crate::store::Store>>>,
}

/// Checks a `--ui` address: an IP address and port on loopback.
pub fn check_addr(addr: &str) -> Result<SocketAddr> {
    let a: SocketAddr = addr.trim().parse().map_err(|_| {
        AgentError::UiSetting(format!(
            "--ui '{addr}': write an address and a port, like {DEFAULT_ADDR}"
        ))
    })?;
    if !a.ip().is_loopback() {
        return Err(AgentError::UiSetting(format!(
            "--ui '{addr}': the officers' page is served on this PC only (a loopback address such as {DEFAULT_ADDR})"
        )));
    }
    Ok(a)
}

/// Binds the UI's listener (loopback only).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// The names this listener answers to.
fn hosts_of(addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    vec![
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        addr.to_string(),
    ]
}

async fn host_guard(State(state): State<UiState>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !state.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Trang này chỉ mở được tại chính máy này (http://127.0.0.1).\nThis page opens on this computer only.\n",
        )
            .into_response();
    }
    next.run(req).await
}

/// The router for a data directory, answering to the listener's own address; "sync
/// now" goes through `sync` to the resident loop.
pub fn router(dir: PathBuf, addr: SocketAddr, sync: SyncLink) -> Router {
    let state = UiState {
        dir: Arc::new(dir),
        hosts: Arc::new(hosts_of(addr)),
        sync,
        store: Arc::default(),
    };
    Router::new()
        .route("/", get(pages::home))
        .route("/lang/{to}", get(session::switch_lang))
        .route("/ledger", get(ledger::ledger).post(ledger::save))
        .route("/ledger/history", get(ledger::history))
        .route("/pledge", get(pledge::page_get))
        .route("/pledge/sign", post(pledge::sign))
        .route("/pledge/task", post(pledge::task))
        .route("/assess", get(assess::page_get).post(assess::save))
        .route("/sync", get(sync::page_get).post(sync::now))
        .route("/bundle/export", post(sync::export))
        // A bundle may be as large as the format allows; every other form keeps
        // axum's small default limit.
        .route(
            "/bundle/import",
            post(sync::import).layer(axum::extract::DefaultBodyLimit::max(
                cchc_common::bundle::MAX_BYTES as usize + 64 * 1024,
            )),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            host_guard,
        ))
        .with_state(state)
}

/// Serves until `stop` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    dir: PathBuf,
    sync: SyncLink,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    axum::serve(listener, router(dir, addr, sync))
        .with_graceful_shutdown(stop)
        .await
}

/// `cchc-agent ui`: checks that the page answers at `addr` (a `run` serves it), then
/// opens it in the browser named by `BROWSER`, else the system's default browser.
/// Returns the URL.
pub fn open_browser(addr: SocketAddr, print_only: bool) -> Result<String> {
    let url = format!("http://{addr}/");
    std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).map_err(|e| {
        AgentError::UiSetting(format!(
            "{url} does not answer ({e}): the page is served by `cchc-agent run` (or the service); start it first"
        ))
    })?;
    if print_only {
        return Ok(url);
    }
    let mut cmd = match std::env::var_os("BROWSER").filter(|b| !b.is_empty()) {
        Some(b) => std::process::Command::new(b),
        None if cfg!(windows) => {
            let mut c = std::process::Command::new("rundll32");
            c.arg("url.dll,FileProtocolHandler");
            c
        }
        None if cfg!(target_os = "macos") => std::process::Command::new("open"),
        None => std::process::Command::new("xdg-open"),
    };
    cmd.arg(&url)
        .stdin(std::process::Stdio::null())
        .spawn()
        .map_err(|e| AgentError::io("browser", e))?;
    Ok(url)
}

/// Opens the database for one page: a small page cache, since a page reads little
/// and the resident process must stay small on an old PC (the default cache would
/// fill to 2 MB on the home page's count of the op log and stay in the heap).
fn open_store(dir: &std::path::Path) -> Result<crate::store::Store> {
    let store = crate::store::Store::open(&crate::commands::db_path(dir))?;
    store.set_cache_kib(256)?;
    Ok(store)
}

/// Runs `work` on a blocking thread with the page's own database connection, opened
/// on first use and kept: a save then costs its transaction, not an open with its
/// checks and a parse of the definitions (cached by the store). A database error
/// closes it, so the next request opens it afresh.
async fn with_store<T: Send + 'static>(
    state: &UiState,
    work: impl FnOnce(&mut crate::store::Store) -> Result<T> + Send + 'static,
) -> Result<T> {
    let (dir, slot) = (state.dir.clone(), state.store.clone());
    tokio::task::spawn_blocking(move || {
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        let store = match slot.as_mut() {
            Some(s) => s,
            None => slot.insert(open_store(&dir)?),
        };
        let r = work(store);
        if matches!(r, Err(AgentError::BadDatabase { .. } | AgentError::Sql(_))) {
            *slot = None;
        }
        r
    })
    .await
    .map_err(|e| AgentError::io("page task", std::io::Error::other(e.to_string())))?
}

/// Who is entering, as a saving form gives it (`by`): the name, or the message to
/// show next to the field (`errors["by"]`) when it is missing or breaks the rule.
fn who_entered(
    ctx: &Ctx,
    input: Option<&str>,
    errors: &mut std::collections::BTreeMap<String, String>,
) -> String {
    use cchc_common::Localize;
    match crate::commands::entered_by(input) {
        Ok(b) if b.is_empty() => {
            errors.insert(
                "by".into(),
                ctx.t("Hãy ghi tên người nhập.", "Say who is entering.")
                    .into(),
            );
            b
        }
        Ok(b) => b,
        Err(e) => {
            errors.insert("by".into(), e.localize(ctx.lang));
            String::new()
        }
    }
}

/// Saves one entry of several rows in one transaction, each row's op made by `make`
/// (the command line's op builder) and carrying who entered it. Ok: the ops saved.
/// Err: the message in the reader's language, with the key of the row that broke a
/// rule when one did (None: the database itself).
async fn save_rows<T: Send + Sync + 'static>(
    state: &UiState,
    lang: cchc_common::Lang,
    who: String,
    rows: Vec<(String, T)>,
    make: impl Fn(
            &mut crate::store::TxObjects<'_>,
            &cchc_common::crdt::OpCtx,
            &cchc_common::Definitions,
            &str,
            &T,
        ) -> Result<cchc_common::Op>
        + Send
        + 'static,
) -> std::result::Result<usize, (Option<String>, String)> {
    use cchc_common::Localize;
    let failing = Arc::new(std::sync::Mutex::new(None));
    let row_key = failing.clone();
    with_store(state, move |store| {
        store
            .transact_local(crate::clock::now_ms(), |tx| {
                tx.entered_by(&who);
                for (key, row) in &rows {
                    *row_key.lock().unwrap_or_else(|p| p.into_inner()) = Some(key.clone());
                    tx.edit(|o, ctx, defs| make(o, ctx, defs, key, row))?;
                }
                *row_key.lock().unwrap_or_else(|p| p.into_inner()) = None;
                Ok(())
            })
            .map(|ops| ops.len())
    })
    .await
    .map_err(|e| {
        let key = failing.lock().unwrap_or_else(|p| p.into_inner()).clone();
        (key, e.localize(lang))
    })
}

/// Runs blocking store work off the runtime's thread.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(AgentError::io("officer UI", std::io::Error::other(e))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_are_served() {
        assert!(check_addr("127.0.0.1:7878").is_ok());
        assert!(check_addr("[::1]:7878").is_ok());
        for bad in ["0.0.0.0:7878", "192.168.1.5:7878", "7878", "localhost"] {
            assert!(check_addr(bad).is_err(), "{bad}");
        }
    }
}
