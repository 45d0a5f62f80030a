//! Signing in and out, and the session guards. In: a password (JSON API or the
//! sign-in form), a session token (`Authorization: Bearer` or the cookie). Out: a
//! session cookie, a [`Session`] in the request for the handlers, or a refusal: 401
//! for the API, the sign-in form for a browser.

use super::body::{self, SMALL_BODY};
use super::extract::{self, Caller, Params, Reading};
use super::{html_response, json_response, redirect, AppState};
use crate::admin::Actor;
use crate::auth::{self, Session, SESSION_TTL_MS};
use crate::clock::now_ms;
use crate::error::{Body as JsonBody, Denied, HubError};
use crate::html;
use crate::store::{HubStore, User};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cchc_common::{Date, Localize};

/// The session of a request's token, or why there is none.
pub async fn session_of(state: &AppState, headers: &HeaderMap) -> Result<Session, HubError> {
    let token = extract::session_token(headers).ok_or(Denied::NoSession)?;
    state
        .run(move |store| Session::of_token(store, token.value(), now_ms()))
        .await
}

/// A change (anything but GET and HEAD) carried by the session cookie alone must also
/// carry the session's form token and come from this hub's own pages (`Origin`): a
/// browser attaches the cookie to another site's requests too. A Bearer token needs
/// neither: no other site can make a browser send it.
fn check_cross_site(req: &Request, session: &Session) -> Result<(), HubError> {
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD);
    match extract::session_token(req.headers()) {
        Some(extract::Token::Cookie(_)) if changes => {
            let token = req
                .headers()
                .get(extract::FORM_TOKEN_HEADER)
                .and_then(|v| v.to_str().ok());
            if !extract::same_origin(req.headers()) || session.check_form_token(token).is_err() {
                return Err(Denied::CrossSite.into());
            }
            Ok(())
        }
        Some(_) | None => Ok(()),
    }
}

/// The session guard of every signed-in API route: 401 without a session; a change
/// carried by the cookie alone from another site is refused (403 `cross_site`).
pub async fn require_session(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let session = match session_of(&state, req.headers()).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = check_cross_site(&req, &session) {
        // Logged under the session's user: it is their session another page used.
        let ip = extract::client_ip(req.extensions());
        let path = req.uri().path().to_string();
        state
            .audit_refusal(ip, Some(session.actor()), "cross_site", path, &e)
            .await;
        return e.into_response();
    }
    req.extensions_mut().insert(session);
    next.run(req).await
}

/// The session guard of the pages: without a session the browser goes to the
/// sign-in form, which brings it back here afterwards.
pub async fn page_session(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    match session_of(&state, req.headers()).await {
        Ok(s) => {
            req.extensions_mut().insert(s);
            next.run(req).await
        }
        Err(_) => {
            let here = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into());
            let q = serde_urlencoded::to_string([("next", here)]).unwrap_or_default();
            redirect(&format!("/login?{q}"))
        }
    }
}

/// Only a page of this hub may be the target after signing in (no open redirect): a
/// path the router serves pages at (`/`, `/completeness`, `/figures`, `/phase/N`,
/// `/commune/N`, `/verify/N`), with an optional query, and no whitespace, control
/// character or backslash anywhere (browsers drop tabs and newlines from URLs, so
/// `/\t/host` would become `//host`). Anything else goes to `/`.
pub fn safe_next(next: Option<String>) -> String {
    fn page(path: &str) -> bool {
        let numbered = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        };
        matches!(
            path,
            "/" | "/completeness" | "/figures" | "/quality" | "/admin"
        ) || numbered("/phase/")
            || numbered("/commune/")
            || numbered("/verify/")
    }
    next.filter(|n| {
        let path = n.split_once('?').map_or(n.as_str(), |(p, _)| p);
        page(path)
            && !n
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    })
    .unwrap_or_else(|| "/".into())
}

/// Checks a password and opens a session: (token, user, expiry).
fn open_session(
    store: &dyn HubStore,
    name: &str,
    password: &str,
    ip: String,
) -> Result<(String, User, i64), HubError> {
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

#[derive(serde::Deserialize)]
struct LoginRequest {
    user: String,
    password: String,
}

#[derive(serde::Serialize)]
struct LoginReply {
    token: String,
    user: String,
    role: &'static str,
    expires: String,
}

/// `POST /api/v1/login`: `{"user", "password"}` → a token (also set as the cookie).
pub async fn api_login(State(state): State<AppState>, req: Request) -> Response {
    let ip = extract::client_ip(req.extensions());
    let mut target = String::new();
    let result = async {
        state.limits.guess(ip)?;
        let body = body::read(req.into_body(), SMALL_BODY, &state.bodies, ip).await?;
        let req: LoginRequest = body::json(&body, JsonBody::SignIn)?;
        target = format!("user:{}", req.user);
        let addr = ip.to_string();
        state
            .run(move |store| open_session(store, &req.user, &req.password, addr))
            .await
    }
    .await;
    match result {
        Ok((token, user, expires)) => {
            let mut resp = json_response(
                StatusCode::OK,
                &LoginReply {
                    token: token.clone(),
                    user: user.name,
                    role: user.role.as_str(),
                    expires: Date::rfc3339_vn(expires),
                },
            );
            extract::set_session_cookie(&mut resp, &token);
            resp
        }
        Err(e) => {
            state.audit_refusal(ip, None, "login", target, &e).await;
            e.into_response()
        }
    }
}

#[derive(serde::Serialize)]
struct Whoami<'a> {
    user: &'a str,
    role: &'static str,
}

/// `GET /api/v1/whoami`.
pub async fn whoami(caller: Caller) -> Response {
    json_response(
        StatusCode::OK,
        &Whoami {
            user: &caller.session.user,
            role: caller.session.role.as_str(),
        },
    )
}

/// Ends the caller's session (audited).
async fn end_session(state: &AppState, caller: &Caller) -> Result<(), HubError> {
    let hash = caller.session.token_hash;
    let actor = caller.actor();
    state
        .run(move |store| {
            let target = actor.name.clone();
            store.end_session(&hash, &actor.entry("logout", target, "ok", ""), now_ms())
        })
        .await
}

#[derive(serde::Serialize)]
struct SignedOut {
    signed_out: bool,
}

/// `POST /api/v1/logout`.
pub async fn api_logout(State(state): State<AppState>, caller: Caller) -> Response {
    let mut resp = match end_session(&state, &caller).await {
        Ok(()) => json_response(StatusCode::OK, &SignedOut { signed_out: true }),
        Err(e) => e.into_response(),
    };
    extract::clear_session_cookie(&mut resp);
    resp
}

/// `POST /logout` from the page header.
pub async fn page_logout(State(state): State<AppState>, caller: Caller) -> Response {
    if let Err(e) = end_session(&state, &caller).await {
        tracing::error!(error = %e, "sign-out failed");
    }
    let mut resp = redirect("/login");
    extract::clear_session_cookie(&mut resp);
    resp
}

#[derive(serde::Deserialize)]
pub(super) struct NextParam {
    next: Option<String>,
}

/// `GET /login`: the sign-in form.
pub async fn login_form(reading: Reading, Params(q): Params<NextParam>) -> Response {
    let next = safe_next(q.next);
    html_response(
        StatusCode::OK,
        html::forms::login_page(reading.lang, &next, None),
        reading,
    )
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct LoginForm {
    user: String,
    password: String,
    next: Option<String>,
    lang: Option<String>,
}

/// `POST /login` from the sign-in form: on success a session cookie and a redirect.
pub async fn login_submit(
    State(state): State<AppState>,
    reading: Reading,
    req: Request<Body>,
) -> Response {
    let ip = extract::client_ip(req.extensions());
    let mut target = String::new();
    let mut lang = reading.lang;
    let mut next = "/".to_string();
    let result = async {
        state.limits.guess(ip)?;
        let body = body::read(req.into_body(), SMALL_BODY, &state.bodies, ip).await?;
        let form: LoginForm = body::form(&body)?;
        if let Some(l) = form.lang.as_deref().and_then(cchc_common::Lang::parse) {
            lang = l;
        }
        next = safe_next(form.next);
        target = format!("user:{}", form.user);
        let addr = ip.to_string();
        state
            .run(move |store| open_session(store, &form.user, &form.password, addr))
            .await
    }
    .await;
    match result {
        Ok((token, _, _)) => {
            let mut resp = redirect(&next);
            extract::set_session_cookie(&mut resp, &token);
            resp
        }
        Err(e) => {
            state.audit_refusal(ip, None, "login", target, &e).await;
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED);
            let msg = e.localize(lang);
            let reading = Reading {
                lang,
                remember: false,
            };
            html_response(
                status,
                html::forms::login_page(lang, &next, Some(&msg)),
                reading,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_targets_after_signing_in() {
        let s = |n: &str| safe_next(Some(n.to_string()));
        for good in [
            "/",
            "/commune/4?year=2026",
            "/phase/2",
            "/verify/70",
            "/figures?period=2026-11&lang=en",
        ] {
            assert_eq!(s(good), good);
        }
        for bad in [
            "//evil.example/x",
            "/\\evil.example",
            "/\t/evil.example/phish",
            "/\n/evil.example",
            "/ /evil",
            "https://evil.example",
            "https:evil.example",
            "evil",
            "",
            "/%2F/evil.example",
            "/%09/evil.example",
            "/.//evil.example",
            "/commune/4/../../evil",
            "/phase/",
            "/api/v1/devices",
        ] {
            assert_eq!(s(bad), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
