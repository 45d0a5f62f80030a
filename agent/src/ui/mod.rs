//! The officers' web interface (issue 14, first part): served by `cchc-agent run` on
//! loopback only, in Vietnamese by default. In: requests from the browser on this PC.
//! Out: server-rendered HTML (maud, every value escaped), no asset from the internet.
//!
//! Guards: the listener is refused on any address that is not loopback; a request
//! whose `Host` is not this listener's own address (`127.0.0.1:PORT`, `localhost:PORT`,
//! `[::1]:PORT`) is refused before anything runs, so a web page elsewhere that points a
//! name of its own at 127.0.0.1 (DNS rebinding) reads nothing. Every page opens the
//! database for its own request; the resident sync loop keeps its own connection.

mod ledger;
mod pages;

use crate::error::{AgentError, Result};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use cchc_common::Lang;
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

/// The router for a data directory, answering to the listener's own address.
pub fn router(dir: PathBuf, addr: SocketAddr) -> Router {
    let state = UiState {
        dir: Arc::new(dir),
        hosts: Arc::new(hosts_of(addr)),
    };
    Router::new()
        .route("/", get(pages::home))
        .route("/ledger", get(ledger::ledger).post(ledger::save))
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
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    axum::serve(listener, router(dir, addr))
        .with_graceful_shutdown(stop)
        .await
}

/// The reader's language: `?lang=en`, else Vietnamese.
fn lang_of(query: Option<&str>) -> Lang {
    let en = query
        .unwrap_or("")
        .split('&')
        .any(|kv| kv.eq_ignore_ascii_case("lang=en"));
    if en {
        Lang::En
    } else {
        Lang::Vi
    }
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
        assert_eq!(lang_of(Some("lang=en")), Lang::En);
        assert_eq!(lang_of(None), Lang::Vi);
    }
}
