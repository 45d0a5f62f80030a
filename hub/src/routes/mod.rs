//! HTTP routes. In: requests from agents and signed-in people. Out: responses; every
//! refusal is a 4xx with an [`ErrorBody`](cchc_common::sync::ErrorBody) naming the
//! problem (or, for a browser, a page saying it).
//!
//! Default deny: only `GET /health` (and the browser's `GET /favicon.ico`) answers
//! without credentials. Three routes carry
//! their own: `/api/v1/sync` (a device signature), `/api/v1/enroll` (a one-time code
//! and the new key's signature) and `/api/v1/login` (a password). Every other route,
//! and every unknown path, needs a session (401 without one) and checks the role.
//!
//! One file per caller: [`device`] (agents), [`session`] (signing in and out, the
//! session guards), [`api`] (the JSON API of people), [`pages`] (the HTML dashboard).
//! [`state`] holds what they share and runs store calls off the async threads;
//! [`extract`] reads who is calling (address, session, language), query strings and
//! cookies; [`body`] reads bodies within a size limit and an idle timeout.

mod admin_pages;
mod api;
mod body;
mod device;
mod extract;
mod pages;
mod release;
mod session;
mod state;
mod upstream;

pub use state::AppState;

use crate::error::{Denied, HubError, Missing};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use cchc_common::auth::{ENROLL_PATH, UPSTREAM_ENROLL_PATH, UPSTREAM_SYNC_PATH};
use cchc_common::sync::SYNC_PATH;
use extract::Reading;

/// The router.
pub fn router(state: AppState) -> Router {
    let signed_in = Router::new()
        .route("/api/v1/whoami", get(session::whoami))
        .route("/api/v1/logout", post(session::api_logout))
        .route("/api/v1/status", get(api::status))
        .route("/api/v1/report", get(api::report))
        .route("/api/v1/devices", get(api::devices))
        .route("/api/v1/devices/{id}/revoke", post(api::revoke))
        .route("/api/v1/enrollments", post(api::create_enrollment))
        .route("/api/v1/definitions", post(api::publish_definitions))
        .route("/api/v1/audit", get(api::audit))
        .route("/api/v1/overview", get(api::page))
        .route("/api/v1/completeness", get(api::page))
        .route("/api/v1/quality", get(api::page))
        .route("/api/v1/figures", get(api::page))
        .route("/api/v1/updates", get(api::page))
        .route("/api/v1/phases/{phase}", get(api::page))
        .route("/api/v1/communes/{unit}", get(api::page))
        .route("/api/v1/provinces", get(api::page))
        .route("/api/v1/provinces/{code}", get(api::page))
        .route("/api/v1/communes/{unit}/verification", post(api::verify))
        .route("/api/v1/phases", post(api::assign))
        .route("/api/v1/export/{page}/{file}", get(api::export))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            session::require_session,
        ));
    let pages = Router::new()
        .route("/", get(pages::dashboard))
        .route("/completeness", get(pages::dashboard))
        .route("/quality", get(pages::dashboard))
        .route("/figures", get(pages::dashboard))
        .route("/releases", get(pages::dashboard))
        .route("/phase/{phase}", get(pages::dashboard))
        .route("/commune/{unit}", get(pages::dashboard))
        .route("/provinces", get(pages::dashboard))
        .route("/province/{code}", get(pages::dashboard))
        .route(
            "/verify/{unit}",
            get(pages::verify_form).post(pages::verify_submit),
        )
        .route("/logout", post(session::page_logout))
        .route("/admin", get(admin_pages::page))
        .route("/admin/codes", post(admin_pages::codes))
        .route("/admin/devices/{id}/revoke", post(admin_pages::revoke))
        .route("/admin/users", post(admin_pages::add_user))
        .route("/admin/users/{name}/remove", post(admin_pages::remove_user))
        .route("/admin/plan", post(admin_pages::plan))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            session::page_session,
        ));
    Router::new()
        .route("/health", get(health))
        .route("/favicon.ico", get(favicon))
        .route("/api/v1/releases/{sha256}", get(release::download))
        .route(
            "/api/v1/releases/{sha256}/delta/{from}",
            get(release::download_delta),
        )
        .route(
            "/login",
            get(session::login_form).post(session::login_submit),
        )
        .merge(pages)
        .route(SYNC_PATH, post(device::sync))
        .route(ENROLL_PATH, post(device::enroll))
        .route(UPSTREAM_SYNC_PATH, post(upstream::sync))
        .route(UPSTREAM_ENROLL_PATH, post(upstream::enroll))
        .route("/api/v1/login", post(session::api_login))
        .merge(signed_in)
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(state.clone(), per_address))
        .with_state(state)
}

/// The browser tab's icon (asked for by every browser before anyone signs in): a red
/// square with "CCHC", inline SVG, cached for a day.
async fn favicon() -> impl axum::response::IntoResponse {
    (
        [
            (axum::http::header::CONTENT_TYPE, "image/svg+xml"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 32 32\"><rect width=\"32\" height=\"32\" rx=\"5\" fill=\"#7a1212\"/><text x=\"16\" y=\"21\" font-family=\"sans-serif\" font-size=\"10\" font-weight=\"bold\" fill=\"#ffd54f\" text-anchor=\"middle\">CCHC</text></svg>",
    )
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
        let mut resp = json_response(status, &self.body());
        let retry_after = if let HubError::Denied(Denied::RateLimited { retry_after_s, .. }) = &self
        {
            Some(*retry_after_s)
        } else if matches!(self, HubError::Busy) {
            Some(60)
        } else {
            None
        };
        if let Some(s) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

/// A JSON document as a response.
fn json_response<T: serde::Serialize>(status: StatusCode, v: &T) -> Response {
    match serde_json::to_vec_pretty(v) {
        Ok(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(e) => HubError::Internal(format!("JSON response: {e}")).into_response(),
    }
}

/// A 303 to a local path.
fn redirect(to: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// An HTML page as a response, remembering the reader's language if asked.
fn html_response(status: StatusCode, page: maud::Markup, reading: Reading) -> Response {
    let mut resp = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        page.into_string(),
    )
        .into_response();
    reading.remember_in(&mut resp);
    resp
}

/// Every request from one address counts against its limit.
async fn per_address(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let ip = extract::client_ip(req.extensions());
    if let Err(e) = state.limits.request(ip) {
        state
            .audit_refusal(ip, None, "request", req.uri().path().to_string(), &e)
            .await;
        return e.into_response();
    }
    next.run(req).await
}

/// Unknown paths: 401 without a session (nothing is revealed), 404 with one.
async fn fallback(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    match session::session_of(&state, &headers).await {
        Ok(_) => HubError::NotFound(Missing::Path(uri.path().to_string())).into_response(),
        Err(e) => e.into_response(),
    }
}
