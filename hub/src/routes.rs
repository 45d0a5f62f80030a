//! HTTP routes. In: requests from agents and signed-in people. Out: responses; every
//! refusal is a 4xx with an [`ErrorBody`](cchc_common::sync::ErrorBody) naming the
//! problem. Blocking store work runs on tokio's blocking pool.
//!
//! Default deny: only `GET /health` answers without credentials. Three routes carry
//! their own: `/api/v1/sync` (a device signature), `/api/v1/enroll` (a one-time code
//! and the new key's signature) and `/api/v1/login` (a password). Every other route,
//! and every unknown path, needs a session (401 without one) and checks the role.

use crate::admin::{self, Actor};
use crate::auth::{self, Limits, Session, Signed, SESSION_COOKIE, SESSION_TTL_MS};
use crate::error::{Body as JsonBody, Denied, HubError, Missing, Rule};
use crate::export;
use crate::pages::PageRef;
use crate::server::now_ms;
use crate::store::{Access, Dashboard, Enrolled, HubStore, Role, Store, Verification};
use crate::{sync, views};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path as UrlPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use cchc_common::auth::{normalize_code, EnrollRequest, EnrollResponse, ENROLL_PATH};
use cchc_common::sync::{MAX_WIRE_BYTES, MEDIA_TYPE, PROTOCOL_HEADER, SYNC_PATH};
use cchc_common::{Lang, Period, Score, UnitCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Largest body of a sign-in, enrollment or admin request.
const SMALL_BODY: usize = 64 << 10;
/// Largest definitions document published over HTTPS.
const DEFINITIONS_BODY: usize = 1 << 20;
/// How long a refusal of one kind from one address is logged only once.
const AUDIT_QUIET_MS: i64 = 60_000;

/// Shared state of the routes.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Arc<dyn HubStore>,
    /// Rate limits.
    pub limits: Arc<Limits>,
    /// Longest wait for the next piece of a request body.
    pub body_idle: Duration,
    /// Refusals recently logged: (address, action, code) → (when, suppressed since).
    quiet: Arc<Mutex<QuietMap>>,
}

/// (address, action, refusal code) → (when last logged, refusals not logged since).
type QuietMap = HashMap<(IpAddr, String, &'static str), (i64, u64)>;

impl AppState {
    /// State for a store and limits.
    pub fn new(store: Arc<dyn HubStore>, limits: Limits, body_idle: Duration) -> AppState {
        AppState {
            store,
            limits: Arc::new(limits),
            body_idle,
            quiet: Arc::default(),
        }
    }

    /// Logs a refused request to the audit log. Refusals of someone who proved who
    /// they are (a verified device signature, a session) are always logged; anonymous
    /// ones at most once a minute per address, action and reason (a flood of guesses
    /// must not flood the log), the next entry counting the ones left out.
    async fn audit_refusal(
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
        let key = (ip, action.to_string(), e.code());
        let suppressed = if actor.is_some() {
            0
        } else {
            let mut q = self.quiet.lock().unwrap_or_else(|p| p.into_inner());
            if q.len() > 10_000 {
                q.retain(|_, (at, _)| now - *at < AUDIT_QUIET_MS);
            }
            match q.get_mut(&key) {
                Some((at, n)) if now - *at < AUDIT_QUIET_MS => {
                    *n += 1;
                    return;
                }
                Some((at, n)) => {
                    let s = *n;
                    *at = now;
                    *n = 0;
                    s
                }
                None => {
                    q.insert(key, (now, 0));
                    0
                }
            }
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
        let store = self.store.clone();
        let _ = blocking(move || store.audit(&entry, now)).await;
    }
}

/// The router.
pub fn router(state: AppState) -> Router {
    let signed_in = Router::new()
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/status", get(status))
        .route("/api/v1/report", get(report))
        .route("/api/v1/devices", get(devices))
        .route("/api/v1/devices/{id}/revoke", post(revoke))
        .route("/api/v1/enrollments", post(create_enrollment))
        .route("/api/v1/definitions", post(publish_definitions))
        .route("/api/v1/audit", get(audit))
        .route("/api/v1/overview", get(api_page))
        .route("/api/v1/completeness", get(api_page))
        .route("/api/v1/figures", get(api_page))
        .route("/api/v1/phases/{phase}", get(api_page))
        .route("/api/v1/communes/{unit}", get(api_page))
        .route("/api/v1/communes/{unit}/verification", post(api_verify))
        .route("/api/v1/phases", post(api_assign))
        .route("/api/v1/export/{page}/{file}", get(api_export))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_session,
        ));
    let pages = Router::new()
        .route("/", get(html_page))
        .route("/completeness", get(html_page))
        .route("/figures", get(html_page))
        .route("/phase/{phase}", get(html_page))
        .route("/commune/{unit}", get(html_page))
        .route("/verify/{unit}", get(verify_page).post(verify_submit))
        .route("/logout", post(html_logout))
        .route_layer(middleware::from_fn_with_state(state.clone(), html_session));
    Router::new()
        .route("/health", get(health))
        .route("/login", get(login_form).post(login_submit))
        .merge(pages)
        .route(SYNC_PATH, post(sync_route))
        .route(ENROLL_PATH, post(enroll_route))
        .route("/api/v1/login", post(login))
        .merge(signed_in)
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(state.clone(), per_address))
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
        let mut resp = (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
        if let HubError::Denied(Denied::RateLimited { retry_after_s, .. }) = &self {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_s));
        }
        resp
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, HubError> + Send + 'static,
) -> Result<T, HubError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| HubError::Internal(format!("store task failed: {e}")))?
}

fn client_ip(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// Every request from one address counts against its limit.
async fn per_address(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let ip = client_ip(&req);
    if let Err(e) = state.limits.request(ip) {
        state
            .audit_refusal(ip, None, "request", req.uri().path().to_string(), &e)
            .await;
        return e.into_response();
    }
    next.run(req).await
}

async fn session_of(state: &AppState, headers: &HeaderMap) -> Result<Session, HubError> {
    let token = auth::token_of(headers).ok_or(Denied::NoSession)?;
    let store = state.store.clone();
    blocking(move || Session::of_token(store.as_ref(), &token, now_ms())).await
}

/// The session guard of every signed-in route.
async fn require_session(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    match session_of(&state, req.headers()).await {
        Ok(s) => {
            req.extensions_mut().insert(s);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// Unknown paths: 401 without a session (nothing is revealed), 404 with one.
async fn fallback(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    match session_of(&state, &headers).await {
        Ok(_) => HubError::NotFound(Missing::Path(uri.path().to_string())).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Most bytes read and thrown away after a body passes the limit, so that a client
/// that is still sending gets to read the 413 instead of a reset connection.
const DRAIN_LIMIT: usize = 4 * MAX_WIRE_BYTES;

/// Reads a request body of at most `limit` bytes, waiting at most `idle` for each
/// piece (a client that stalls is dropped). A longer body is read on (and discarded)
/// up to `DRAIN_LIMIT` before it is refused; a body cut off is refused as unreadable.
async fn read_body(body: Body, limit: usize, idle: Duration) -> Result<Bytes, HubError> {
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
        return Err(HubError::Wire(cchc_common::sync::WireError::TooLarge {
            size: seen,
            limit,
        }));
    }
    Ok(Bytes::from(buf))
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        serde_json::to_vec_pretty(v).expect("serializes"),
    )
        .into_response()
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], what: JsonBody) -> Result<T, HubError> {
    serde_json::from_slice(body).map_err(|e| HubError::BadJson {
        body: what,
        detail: e.to_string(),
    })
}

async fn sync_route(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut who = None;
    let result = async {
        let signed = Signed::from_headers(&headers)?;
        sync::check_header(headers.get(PROTOCOL_HEADER).and_then(|v| v.to_str().ok()))?;
        let body = read_body(body, MAX_WIRE_BYTES, state.body_idle).await?;
        let store = state.store.clone();
        let device = signed.device;
        let known = blocking(move || store.device_auth(device)).await?;
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
        let store = state.store.clone();
        blocking(move || sync::exchange(store.as_ref(), &auth, signed.nonce, &body, now_ms())).await
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
        Err(e) => {
            state
                .audit_refusal(addr.ip(), who, "sync", String::new(), &e)
                .await;
            e.into_response()
        }
    }
}

async fn enroll_route(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut target = String::new();
    let result = async {
        // Every attempt counts, right or wrong: this is what a code guesser needs.
        state.limits.guess(addr.ip())?;
        let signed = Signed::from_headers(&headers)?;
        let body = read_body(body, SMALL_BODY, state.body_idle).await?;
        let req: EnrollRequest = parse_json(&body, JsonBody::Enrollment)?;
        target = format!("unit:{} device:{}", req.unit, req.device);
        if signed.device != req.device {
            return Err(Denied::SignerMismatch {
                signed: signed.device.to_string(),
                named: req.device.to_string(),
            }
            .into());
        }
        req.public_key
            .verify(
                &signed.signature,
                "POST",
                ENROLL_PATH,
                signed.device,
                signed.nonce,
                &body,
            )
            .map_err(|_| Denied::BadSignature {
                device: signed.device.to_string(),
            })?;
        let code = normalize_code(&req.code).map_err(|_| Denied::BadCode)?;
        let hash = auth::sha256(code.as_bytes());
        let store = state.store.clone();
        let actor = Actor {
            name: format!("device:{}", req.device),
            ip: Some(addr.ip().to_string()),
        };
        let now = now_ms();
        let entry = actor.entry(
            "enroll.use",
            target.clone(),
            "ok",
            format!("agent {}", req.agent_version),
        );
        let province = {
            let store = state.store.clone();
            blocking(move || store.province()).await?.code
        };
        let req2 = req.clone();
        let nonce = signed.nonce;
        let done = blocking(move || store.enroll(&hash, &req2, nonce, &entry, now)).await?;
        if done == Enrolled::Again {
            tracing::info!(device = %req.device, "enrollment repeated by the same device");
        }
        Ok(EnrollResponse {
            device: req.device,
            unit: req.unit,
            province,
            enrolled_ms: now,
        })
    }
    .await;
    match result {
        Ok(r) => json_response(
            StatusCode::OK,
            &serde_json::to_value(r).expect("serializes"),
        ),
        Err(e) => {
            state
                .audit_refusal(addr.ip(), None, "enroll.use", target, &e)
                .await;
            e.into_response()
        }
    }
}

#[derive(serde::Deserialize)]
struct LoginRequest {
    user: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    body: Body,
) -> Response {
    let mut target = String::new();
    let result = async {
        state.limits.guess(addr.ip())?;
        let body = read_body(body, SMALL_BODY, state.body_idle).await?;
        let req: LoginRequest = parse_json(&body, JsonBody::SignIn)?;
        target = format!("user:{}", req.user);
        let store = state.store.clone();
        let ip = addr.ip().to_string();
        blocking(move || open_session(store.as_ref(), &req.user, &req.password, ip)).await
    }
    .await;
    match result {
        Ok((token, user, expires)) => {
            let mut resp = json_response(
                StatusCode::OK,
                &json!({
                    "token": token,
                    "user": user.name,
                    "role": user.role.as_str(),
                    "expires": cchc_common::Date::rfc3339_vn(expires),
                }),
            );
            set_session_cookie(&mut resp, &token);
            resp
        }
        Err(e) => {
            state
                .audit_refusal(addr.ip(), None, "login", target, &e)
                .await;
            e.into_response()
        }
    }
}

fn set_session_cookie(resp: &mut Response, token: &str) {
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
        SESSION_TTL_MS / 1000
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
}

fn clear_session_cookie(resp: &mut Response) {
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "cchc_session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict",
        ),
    );
}

/// Checks a password and opens a session: (token, user, expiry).
fn open_session(
    store: &dyn HubStore,
    name: &str,
    password: &str,
    ip: String,
) -> Result<(String, crate::store::User, i64), HubError> {
    let user = store.user(name)?;
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.as_str())
        .unwrap_or(auth::dummy_hash());
    let ok = auth::verify_password(hash, password);
    let user = match user {
        Some(u) if ok => u,
        _ => return Err(Denied::LoginFailed.into()),
    };
    let (token, hash) = auth::new_token()?;
    let now = now_ms();
    let expires = now + SESSION_TTL_MS;
    let actor = Actor {
        name: format!("user:{}", user.name),
        ip: Some(ip),
    };
    store.create_session(
        &hash,
        &user.name,
        expires,
        &actor.entry("login", format!("user:{}", user.name), "ok", ""),
        now,
    )?;
    Ok((token, user, expires))
}

/// What a signed-in handler answers: a JSON document or a file to download.
enum Reply {
    Json(Value),
    File {
        content_type: &'static str,
        name: String,
        bytes: Vec<u8>,
    },
}

impl From<Value> for Reply {
    fn from(v: Value) -> Reply {
        Reply::Json(v)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Reply::Json(v) => json_response(StatusCode::OK, &v),
            Reply::File {
                content_type,
                name,
                bytes,
            } => {
                let mut resp = (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
                    bytes,
                )
                    .into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                    resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
                }
                resp
            }
        }
    }
}

/// Runs a signed-in handler: role check, then the work; a refusal is logged.
async fn signed_in<F, R>(
    state: &AppState,
    s: &Session,
    addr: SocketAddr,
    action: &str,
    needs: Role,
    work: F,
) -> Response
where
    F: FnOnce(Arc<dyn HubStore>, Actor) -> Result<R, HubError> + Send + 'static,
    R: Into<Reply> + Send + 'static,
{
    let actor = Actor {
        name: s.actor(),
        ip: Some(addr.ip().to_string()),
    };
    let result = match s.require(needs) {
        Ok(()) => {
            let store = state.store.clone();
            let a = actor.clone();
            blocking(move || work(store, a)).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => v.into().into_response(),
        Err(e) => {
            state
                .audit_refusal(addr.ip(), Some(actor.name), action, String::new(), &e)
                .await;
            e.into_response()
        }
    }
}

async fn whoami(Extension(s): Extension<Session>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"user": s.user, "role": s.role.as_str()}),
    )
}

async fn logout(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Extension(s): Extension<Session>,
) -> Response {
    let hash = s.token_hash;
    let mut resp = signed_in(
        &state,
        &s,
        addr,
        "logout",
        Role::Viewer,
        move |store, actor| {
            let target = actor.name.clone();
            store.end_session(&hash, &actor.entry("logout", target, "ok", ""), now_ms())?;
            Ok(json!({"signed_out": true}))
        },
    )
    .await;
    clear_session_cookie(&mut resp);
    resp
}

async fn status(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Extension(s): Extension<Session>,
) -> Response {
    signed_in(&state, &s, addr, "status", Role::Viewer, |store, _| {
        views::status_doc(store.as_ref() as &dyn Store)
    })
    .await
}

fn query_param(uri: &Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn report(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Extension(s): Extension<Session>,
    uri: Uri,
) -> Response {
    let period = query_param(&uri, "period");
    signed_in(&state, &s, addr, "report", Role::Viewer, move |store, _| {
        let period: Period = period
            .ok_or_else(|| HubError::input("period", "", Rule::Required))?
            .parse()
            .map_err(HubError::Invalid)?;
        views::report_doc(store.as_ref() as &dyn Store, period)
    })
    .await
}

async fn devices(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Extension(s): Extension<Session>,
) -> Response {
    signed_in(&state, &s, addr, "device.list", Role::Viewer, |store, _| {
        Ok(admin::devices_doc(&store.devices()?))
    })
    .await
}

async fn revoke(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Extension(s): Extension<Session>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    signed_in(
        &state,
        &s,
        addr,
        "device.revoke",
        Role::Admin,
        move |store, actor| {
            let (id, done) = admin::revoke(store.as_ref() as &dyn Access, &id, &actor, now_ms())?;
            Ok(json!({"id": id.to_string(), "revoked": true, "already": !done}))
        },
    )
    .await
}

#[derive(serde::Deserialize)]
struct EnrollmentRequest {
    unit: u32,
    #[serde(default)]
    expires: Option<String>,
}

async fn create_enrollment(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Extension(s): Extension<Session>,
    body: Body,
) -> Response {
    let body = match read_body(body, SMALL_BODY, state.body_idle).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    signed_in(
        &state,
        &s,
        addr,
        "enroll.create",
        Role::Admin,
        move |store, actor| {
            let req: EnrollmentRequest = parse_json(&body, JsonBody::EnrollmentCode)?;
            let lifetime = admin::parse_lifetime(req.expires.as_deref().unwrap_or("7d"))?;
            let unit = UnitCode(req.unit);
            let (code, expires) = admin::create_code(
                store.as_ref() as &dyn Access,
                unit,
                lifetime,
                &actor,
                now_ms(),
            )?;
            Ok(admin::code_doc(&code, unit, expires))
        },
    )
    .await
}

async fn publish_definitions(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Extension(s): Extension<Session>,
    body: Body,
) -> Response {
    let body = match read_body(body, DEFINITIONS_BODY, state.body_idle).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    signed_in(
        &state,
        &s,
        addr,
        "definitions.publish",
        Role::Admin,
        move |store, actor| {
            let text = std::str::from_utf8(&body)
                .map_err(|_| HubError::input("definitions", "request body", Rule::Utf8))?;
            let version = admin::publish(store.as_ref(), text, "request body", &actor, now_ms())?;
            Ok(json!({"published": version}))
        },
    )
    .await
}

async fn audit(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Extension(s): Extension<Session>,
    uri: Uri,
) -> Response {
    let limit = query_param(&uri, "limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(100usize);
    let action = query_param(&uri, "action");
    signed_in(&state, &s, addr, "audit", Role::Analyst, move |store, _| {
        Ok(admin::audit_doc(
            &store.audit_log(limit.min(10_000), action.as_deref())?,
        ))
    })
    .await
}

/// The page a `/api/v1/…` dashboard path names.
fn page_ref(uri: &Uri) -> Result<PageRef, HubError> {
    let path = uri.path().trim_start_matches("/api/v1/");
    let name = match path.split_once('/') {
        Some(("phases", n)) => format!("phase-{n}"),
        Some(("communes", c)) => format!("commune-{c}"),
        _ => path.to_string(),
    };
    PageRef::parse(
        &name,
        query_param(uri, "period").as_deref(),
        query_param(uri, "year").as_deref(),
        now_ms(),
    )
}

/// `GET /api/v1/overview`, `/completeness`, `/figures` (`?period=YYYY-MM`),
/// `/phases/{n}` and `/communes/{code}` (`?year=`): the page's JSON document.
async fn api_page(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Extension(s): Extension<Session>,
    uri: Uri,
) -> Response {
    signed_in(
        &state,
        &s,
        addr,
        "dashboard",
        Role::Viewer,
        move |store, _| {
            Ok(page_ref(&uri)?
                .build(store.as_ref() as &dyn Dashboard)?
                .json())
        },
    )
    .await
}

/// `GET /api/v1/export/{page}/{table}.csv|.xlsx`: one table of a page.
async fn api_export(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Extension(s): Extension<Session>,
    UrlPath((page, file)): UrlPath<(String, String)>,
    uri: Uri,
) -> Response {
    let lang = query_param(&uri, "lang")
        .and_then(|l| Lang::parse(&l))
        .unwrap_or(Lang::Vi);
    signed_in(&state, &s, addr, "export", Role::Viewer, move |store, _| {
        let (table, ext) = file
            .rsplit_once('.')
            .ok_or_else(|| HubError::input("file", &file, Rule::ExportFormat))?;
        let r = PageRef::parse(
            &page,
            query_param(&uri, "period").as_deref(),
            query_param(&uri, "year").as_deref(),
            now_ms(),
        )?;
        let p = r.build(store.as_ref() as &dyn Dashboard)?;
        let t = p.table(table).ok_or_else(|| {
            HubError::NotFound(Missing::Table {
                page: page.clone(),
                table: table.to_string(),
            })
        })?;
        let suffix = p.period.map(|p| format!("-{p}")).unwrap_or_default();
        let name = format!("cchc-{page}-{table}{suffix}.{ext}");
        match ext {
            "csv" => Ok(Reply::File {
                content_type: "text/csv; charset=utf-8",
                name,
                bytes: export::csv(t, lang)?,
            }),
            "xlsx" => Ok(Reply::File {
                content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                name,
                bytes: export::xlsx(t, lang)?,
            }),
            _ => Err(HubError::input("file", &file, Rule::ExportFormat)),
        }
    })
    .await
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    phase: u32,
    scores: Vec<VerifyScore>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyScore {
    criterion: String,
    score: f64,
    #[serde(default)]
    comment: String,
}

/// `POST /api/v1/communes/{code}/verification` (analyst): `{"phase": 1, "scores":
/// [{"criterion": "TC-01", "score": 9.5, "comment": "…"}]}`.
async fn api_verify(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Extension(s): Extension<Session>,
    UrlPath(unit): UrlPath<String>,
    body: Body,
) -> Response {
    let body = match read_body(body, SMALL_BODY, state.body_idle).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let by = s.user.clone();
    signed_in(
        &state,
        &s,
        addr,
        "verify",
        Role::Analyst,
        move |store, actor| {
            let unit = UnitCode::parse(&unit).map_err(HubError::Invalid)?;
            let req: VerifyRequest = parse_json(&body, JsonBody::Verification)?;
            let scores = req
                .scores
                .iter()
                .map(|v| {
                    Ok(Verification {
                        criterion: v.criterion.clone(),
                        score: Score::from_f64(v.score).ok_or_else(|| {
                            HubError::Invalid(cchc_common::DomainError::BadScore {
                                input: v.score.to_string(),
                            })
                        })?,
                        comment: v.comment.clone(),
                    })
                })
                .collect::<Result<Vec<_>, HubError>>()?;
            let ops = admin::verify(
                store.as_ref(),
                unit,
                req.phase,
                &scores,
                &by,
                &actor,
                now_ms(),
            )?;
            Ok(json!({"unit": unit.0, "phase": req.phase, "recorded": ops.len()}))
        },
    )
    .await
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignRequest {
    phase: u32,
    units: Vec<u32>,
}

/// `POST /api/v1/phases` (admin): `{"phase": 1, "units": [70, 73]}`.
async fn api_assign(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Extension(s): Extension<Session>,
    body: Body,
) -> Response {
    let body = match read_body(body, SMALL_BODY, state.body_idle).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    signed_in(
        &state,
        &s,
        addr,
        "phase.assign",
        Role::Admin,
        move |store, actor| {
            let req: AssignRequest = parse_json(&body, JsonBody::PhaseAssignment)?;
            let units: Vec<String> = req.units.iter().map(|u| u.to_string()).collect();
            let plan = admin::parse_plan(&units, Some(&req.phase.to_string()), None)?;
            admin::assign(store.as_ref(), &plan, &actor, now_ms())?;
            Ok(json!({"phase": req.phase, "assigned": plan.len()}))
        },
    )
    .await
}

/// The reader's language: `?lang=` (remembered in a cookie), else the cookie, else Vietnamese.
fn lang_of(uri: &Uri, headers: &HeaderMap) -> (Lang, bool) {
    if let Some(l) = query_param(uri, "lang").and_then(|l| Lang::parse(&l)) {
        return (l, true);
    }
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix("cchc_lang="))
        .and_then(Lang::parse);
    (cookie.unwrap_or_default(), false)
}

fn html_response(status: StatusCode, html: String, lang: Lang, remember: bool) -> Response {
    let mut resp = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        html,
    )
        .into_response();
    if remember {
        if let Ok(v) = HeaderValue::from_str(&format!(
            "cchc_lang={}; Path=/; Max-Age=31536000; Secure; SameSite=Strict",
            lang.code()
        )) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

fn redirect(to: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// Pages need a session; without one the browser is sent to the sign-in form.
async fn html_session(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    match session_of(&state, req.headers()).await {
        Ok(s) => {
            req.extensions_mut().insert(s);
            next.run(req).await
        }
        Err(_) => {
            let next = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into());
            redirect(&format!("/login?next={}", form_encode(&next)))
        }
    }
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn form_field(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

/// Only a local path may be the target after signing in (no open redirect).
fn safe_next(next: Option<String>) -> String {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or_else(|| "/".into())
}

fn login_page(lang: Lang, next: &str, error: Option<&str>) -> String {
    use crate::web::esc;
    let error = error
        .map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, esc(e)))
        .unwrap_or_default();
    format!(
        r#"<!doctype html><html lang="{code}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{title}</title><style>body{{font-family:system-ui,Arial,sans-serif;background:#f5f6f8;display:flex;justify-content:center;padding-top:10vh}}form{{background:#fff;border:1px solid #dde;border-radius:6px;padding:20px;min-width:300px}}label{{display:block;margin:8px 0}}input{{width:100%;font:inherit;padding:4px}}button{{font:inherit;margin-top:8px}}.error{{background:#fbeaea;border:1px solid #d99;padding:8px}}</style></head><body><form method="post" action="/login"><h1>{title}</h1><p>{sub}</p>{error}<label>{user} <input name="user" autocomplete="username" required autofocus></label><label>{pass} <input name="password" type="password" autocomplete="current-password" required></label><input type="hidden" name="next" value="{next}"><input type="hidden" name="lang" value="{code}"><button type="submit">{go}</button> <a href="/login?lang={other}&amp;next={next_enc}">{other_name}</a></form></body></html>"#,
        code = lang.code(),
        title = lang.pick("Đăng nhập", "Sign in"),
        sub = lang.pick(
            "Theo dõi triển khai mô hình cải cách hành chính Công an cấp xã",
            "Rollout of the commune police reform model"
        ),
        user = lang.pick("Tên đăng nhập", "User name"),
        pass = lang.pick("Mật khẩu", "Password"),
        go = lang.pick("Đăng nhập", "Sign in"),
        next = esc(next),
        next_enc = esc(&form_encode(next)),
        other = lang.pick("en", "vi"),
        other_name = lang.pick("English", "Tiếng Việt"),
    )
}

async fn login_form(uri: Uri, headers: HeaderMap) -> Response {
    let (lang, remember) = lang_of(&uri, &headers);
    let next = safe_next(query_param(&uri, "next"));
    html_response(
        StatusCode::OK,
        login_page(lang, &next, None),
        lang,
        remember,
    )
}

/// `POST /login` from the sign-in form: on success a session cookie and a redirect.
async fn login_submit(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let (cookie_lang, _) = lang_of(&uri, &headers);
    let mut target = String::new();
    let mut lang = cookie_lang;
    let mut next = "/".to_string();
    let result = async {
        state.limits.guess(addr.ip())?;
        let body = read_body(body, SMALL_BODY, state.body_idle).await?;
        let body = String::from_utf8_lossy(&body).into_owned();
        lang = form_field(&body, "lang")
            .and_then(|l| Lang::parse(&l))
            .unwrap_or(cookie_lang);
        next = safe_next(form_field(&body, "next"));
        let user = form_field(&body, "user").unwrap_or_default();
        let password = form_field(&body, "password").unwrap_or_default();
        target = format!("user:{user}");
        let store = state.store.clone();
        let ip = addr.ip().to_string();
        blocking(move || open_session(store.as_ref(), &user, &password, ip)).await
    }
    .await;
    match result {
        Ok((token, _, _)) => {
            let mut resp = redirect(&next);
            set_session_cookie(&mut resp, &token);
            resp
        }
        Err(e) => {
            state
                .audit_refusal(addr.ip(), None, "login", target, &e)
                .await;
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED);
            let msg = cchc_common::Localize::localize(&e, lang);
            html_response(status, login_page(lang, &next, Some(&msg)), lang, false)
        }
    }
}

/// `POST /logout` from the page header.
async fn html_logout(State(state): State<AppState>, Extension(s): Extension<Session>) -> Response {
    let hash = s.token_hash;
    let actor = s.actor();
    let store = state.store.clone();
    let _ = blocking(move || {
        store.end_session(
            &hash,
            &Actor {
                name: actor.clone(),
                ip: None,
            }
            .entry("logout", actor, "ok", ""),
            now_ms(),
        )
    })
    .await;
    let mut resp = redirect("/login");
    clear_session_cookie(&mut resp);
    resp
}

/// Who reads a page and how: the frame's inputs shared by every HTML handler.
struct HtmlCtx {
    lang: Lang,
    remember: bool,
    path: String,
    session: Session,
    addr: SocketAddr,
}

impl HtmlCtx {
    fn new(s: Session, addr: SocketAddr, headers: &HeaderMap, uri: &Uri) -> HtmlCtx {
        let (lang, remember) = lang_of(uri, headers);
        HtmlCtx {
            lang,
            remember,
            path: uri.path().to_string(),
            session: s,
            addr,
        }
    }

    /// A page in the frame.
    fn page(&self, status: StatusCode, title: &str, body: &str, phases: &[u32]) -> Response {
        let reader = crate::web::Reader {
            user: &self.session.user,
            role: self.session.role.as_str(),
        };
        let html = crate::web::layout(title, body, &reader, &self.path, self.lang, phases);
        html_response(status, html, self.lang, self.remember)
    }

    /// A refusal or failure as a page; refusals are audited, failures not detailed.
    async fn error(&self, state: &AppState, action: &str, e: HubError) -> Response {
        state
            .audit_refusal(
                self.addr.ip(),
                Some(self.session.actor()),
                action,
                self.path.clone(),
                &e,
            )
            .await;
        let lang = self.lang;
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let msg = if status.is_server_error() {
            lang.pick(
                "Máy chủ gặp lỗi; lỗi đã được ghi lại.",
                "The hub failed; it has been logged.",
            )
            .to_string()
        } else {
            cchc_common::Localize::localize(&e, lang)
        };
        let body = format!(
            r#"<p class="error" role="alert">{}</p>"#,
            crate::web::esc(&msg)
        );
        self.page(status, lang.pick("Lỗi", "Error"), &body, &[1, 2, 3])
    }
}

/// The phase numbers of the definitions in force, for the navigation.
fn phase_numbers(store: &dyn HubStore) -> Result<Vec<u32>, HubError> {
    Ok(store
        .newest_definitions()?
        .phases
        .iter()
        .map(|p| p.phase)
        .collect())
}

/// The HTML dashboard pages.
async fn html_page(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Extension(s): Extension<Session>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let cx = HtmlCtx::new(s, addr, &headers, &uri);
    let path = cx.path.clone();
    let name = match path.trim_start_matches('/').split_once('/') {
        Some(("phase", n)) => format!("phase-{n}"),
        Some(("commune", c)) => format!("commune-{c}"),
        _ if path == "/" => "overview".to_string(),
        _ => path.trim_start_matches('/').to_string(),
    };
    let result = async {
        cx.session.require(Role::Viewer)?;
        let r = PageRef::parse(
            &name,
            query_param(&uri, "period").as_deref(),
            query_param(&uri, "year").as_deref(),
            now_ms(),
        )?;
        let store = state.store.clone();
        blocking(move || {
            let page = r.build(store.as_ref() as &dyn Dashboard)?;
            Ok((page, phase_numbers(store.as_ref())?))
        })
        .await
    }
    .await;
    match result {
        Ok((page, phases)) => {
            let lang = cx.lang;
            let mut extra = String::new();
            if let Some(unit) = path.strip_prefix("/commune/") {
                extra = commune_extra(&cx, unit, &uri);
            }
            let body = crate::web::page_body(&page, &path, lang, &extra);
            cx.page(
                StatusCode::OK,
                lang.pick(&page.vi, &page.en),
                &body,
                &phases,
            )
        }
        Err(e) => cx.error(&state, "dashboard", e).await,
    }
}

/// On a commune page: the note after a verification was recorded, and the way to the
/// verification form for those who may verify.
fn commune_extra(cx: &HtmlCtx, unit: &str, uri: &Uri) -> String {
    use crate::web::esc;
    let lang = cx.lang;
    let mut s = String::new();
    if let Some(n) = query_param(uri, "saved").and_then(|n| n.parse::<u32>().ok()) {
        let msg = if n == 0 {
            lang.pick(
                "Không có điểm thẩm định nào thay đổi.",
                "No verified score changed.",
            )
            .to_string()
        } else {
            match lang {
                Lang::Vi => {
                    format!("Đã ghi {n} điểm thẩm định; xã sẽ nhận được ở lần đồng bộ tới.")
                }
                Lang::En => format!(
                    "Recorded {n} verified score(s); the commune receives them on its next sync."
                ),
            }
        };
        s.push_str(&format!(
            r#"<p class="flash" role="status" id="flash">{}</p>"#,
            esc(&msg)
        ));
    }
    if cx.session.require(Role::Analyst).is_ok() {
        s.push_str(&format!(
            r#"<p><a href="/verify/{}" id="verify-link">{}</a></p>"#,
            esc(unit),
            lang.pick("Thẩm định xã này", "Verify this commune"),
        ));
    }
    s
}

/// `GET /verify/{unit}` (analyst): the verification form.
async fn verify_page(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Extension(s): Extension<Session>,
    UrlPath(unit): UrlPath<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let cx = HtmlCtx::new(s, addr, &headers, &uri);
    let result = async {
        cx.session.require(Role::Analyst)?;
        let unit = UnitCode::parse(&unit).map_err(HubError::Invalid)?;
        let store = state.store.clone();
        blocking(move || {
            let form = crate::pages::verify_form(store.as_ref() as &dyn Dashboard, unit)?;
            Ok((form, phase_numbers(store.as_ref())?))
        })
        .await
    }
    .await;
    match result {
        Ok((form, phases)) => {
            let body =
                crate::web::verify_form_html(&form, &cx.session.form_token(), None, None, cx.lang);
            cx.page(
                StatusCode::OK,
                &verify_title(&form, cx.lang),
                &body,
                &phases,
            )
        }
        Err(e) => cx.error(&state, "verify", e).await,
    }
}

fn verify_title(form: &crate::pages::VerifyForm, lang: Lang) -> String {
    format!(
        "{} {} ({})",
        lang.pick("Thẩm định", "Verification of"),
        form.name,
        form.unit
    )
}

/// `POST /verify/{unit}` (analyst) from the form: every score is checked before any is
/// stored; on a mistake the form comes back with what was typed and the reason.
async fn verify_submit(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Extension(s): Extension<Session>,
    UrlPath(unit): UrlPath<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let cx = HtmlCtx::new(s, addr, &headers, &uri);
    let lang = cx.lang;
    let ready = async {
        cx.session.require(Role::Analyst)?;
        let body = read_body(body, SMALL_BODY, state.body_idle).await?;
        let body = String::from_utf8_lossy(&body).into_owned();
        cx.session
            .check_form_token(form_field(&body, "csrf").as_deref())?;
        let unit = UnitCode::parse(&unit).map_err(HubError::Invalid)?;
        Ok::<_, HubError>((unit, body))
    }
    .await;
    let (unit, body) = match ready {
        Ok(v) => v,
        Err(e) => return cx.error(&state, "verify", e).await,
    };
    let store = state.store.clone();
    let by = cx.session.user.clone();
    let actor = Actor {
        name: cx.session.actor(),
        ip: Some(addr.ip().to_string()),
    };
    let outcome = blocking(move || {
        let form = crate::pages::verify_form(store.as_ref() as &dyn Dashboard, unit)?;
        let phases = phase_numbers(store.as_ref())?;
        let mut entered = crate::web::Entered::new();
        let mut scores = Vec::new();
        let mut problems = Vec::new();
        for r in &form.rows {
            let text = form_field(&body, &format!("s_{}", r.code)).unwrap_or_default();
            let comment = form_field(&body, &format!("c_{}", r.code)).unwrap_or_default();
            entered.insert(r.code.clone(), (text.clone(), comment.clone()));
            if text.trim().is_empty() {
                continue;
            }
            match Score::parse(&text) {
                Ok(score) => scores.push(Verification {
                    criterion: r.code.clone(),
                    score,
                    comment,
                }),
                Err(e) => problems.push((r.code.clone(), e)),
            }
        }
        let phase = form_field(&body, "phase")
            .and_then(|p| p.trim().parse::<u32>().ok())
            .unwrap_or(0);
        let result = if problems.is_empty() {
            admin::verify(store.as_ref(), unit, phase, &scores, &by, &actor, now_ms())
                .map(|ops| ops.len())
        } else {
            Err(HubError::BadForm { problems })
        };
        Ok::<_, HubError>((form, phases, entered, result))
    })
    .await;
    match outcome {
        Ok((_, _, _, Ok(n))) => redirect(&format!("/commune/{unit}?saved={n}")),
        Ok((form, phases, entered, Err(e))) => {
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            if status.is_server_error() {
                return cx.error(&state, "verify", e).await;
            }
            state
                .audit_refusal(
                    addr.ip(),
                    Some(cx.session.actor()),
                    "verify",
                    cx.path.clone(),
                    &e,
                )
                .await;
            let msg = cchc_common::Localize::localize(&e, lang);
            let body = crate::web::verify_form_html(
                &form,
                &cx.session.form_token(),
                Some(&entered),
                Some(&msg),
                lang,
            );
            cx.page(status, &verify_title(&form, lang), &body, &phases)
        }
        Err(e) => cx.error(&state, "verify", e).await,
    }
}
