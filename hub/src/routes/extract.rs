//! Who is calling and what they asked: the client's address, the signed-in [`Caller`]
//! (address and session, whose role each handler checks), the reader's language, the
//! query string ([`Params`], decoded by axum's `Query`) and cookies (the `cookie`
//! crate). In: a request's parts. Out: typed values; a malformed query is a 400 naming
//! the parameter.

use crate::admin::Actor;
use crate::auth::{Session, SESSION_COOKIE, SESSION_TTL_MS};
use crate::error::{HubError, Rule};
use crate::store::Role;
use axum::extract::{ConnectInfo, FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{header, Extensions, HeaderMap, HeaderValue, Uri};
use axum::response::Response;
use cchc_common::Lang;
use cookie::{Cookie, SameSite};
use serde::de::DeserializeOwned;
use std::net::{IpAddr, SocketAddr};

/// The client's address (the TCP peer; the hub is not behind a proxy it trusts).
pub fn client_ip(ext: &Extensions) -> IpAddr {
    ext.get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// A signed-in caller: where they call from and their session. The session guards
/// put the session in the request; each handler checks the role it needs.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The client's address.
    pub ip: IpAddr,
    /// The session.
    pub session: Session,
}

impl Caller {
    /// Refuses a caller whose role is below `needs`.
    pub fn require(&self, needs: Role) -> Result<(), HubError> {
        self.session.require(needs)
    }

    /// Who this is in the audit log.
    pub fn actor(&self) -> Actor {
        Actor {
            name: self.session.actor(),
            ip: Some(self.ip.to_string()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = HubError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Caller, HubError> {
        let session = parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or_else(|| HubError::Internal("a signed-in route without its guard".into()))?;
        Ok(Caller {
            ip: client_ip(&parts.extensions),
            session,
        })
    }
}

/// The query string decoded into `T` (axum's `Query`); a malformed one is refused
/// with the decoder's reason.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = HubError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Params<T>, HubError> {
        query(&parts.uri).map(Params)
    }
}

/// Decodes a URI's query string.
pub fn query<T: DeserializeOwned>(uri: &Uri) -> Result<T, HubError> {
    Query::<T>::try_from_uri(uri)
        .map(|Query(v)| v)
        .map_err(|e| {
            HubError::input(
                "query",
                uri.query().unwrap_or(""),
                Rule::UrlEncoded {
                    detail: e.body_text(),
                },
            )
        })
}

/// The parameters every dashboard URL may carry.
#[derive(Debug, Default, serde::Deserialize)]
pub struct PageQuery {
    /// A month, `YYYY-MM`.
    pub period: Option<String>,
    /// A year (commune pages).
    pub year: Option<String>,
    /// `vi` or `en`.
    pub lang: Option<String>,
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

/// The header a browser page's script sends its form token in.
pub const FORM_TOKEN_HEADER: &str = "x-cchc-form-token";

/// How a request carries its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// `Authorization: Bearer …`: a script or tool, which no other site can make a
    /// browser send.
    Bearer(String),
    /// The session cookie, which a browser attaches by itself.
    Cookie(String),
}

impl Token {
    /// The token itself.
    pub fn value(&self) -> &str {
        match self {
            Token::Bearer(t) | Token::Cookie(t) => t,
        }
    }
}

/// The session token of a request: `Authorization: Bearer …` or the session cookie.
pub fn session_token(headers: &HeaderMap) -> Option<Token> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| Token::Bearer(t.trim().to_string()));
    bearer.or_else(|| cookie(headers, SESSION_COOKIE).map(Token::Cookie))
}

/// Whether the request's `Origin` is this hub (`https://` and the `Host` it was sent
/// to). A request without an `Origin` is not.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let get = |h: header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok());
    match (get(header::ORIGIN), get(header::HOST)) {
        (Some(origin), Some(host)) => origin.eq_ignore_ascii_case(&format!("https://{host}")),
        _ => false,
    }
}

fn set_cookie(resp: &mut Response, c: Cookie<'_>) {
    if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Sets the session cookie: HTTPS only, not readable by scripts, never sent cross-site.
pub fn set_session_cookie(resp: &mut Response, token: &str) {
    set_cookie(
        resp,
        Cookie::build((SESSION_COOKIE, token.to_string()))
            .path("/")
            .max_age(cookie::time::Duration::milliseconds(SESSION_TTL_MS))
            .http_only(true)
            .secure(true)
            .same_site(SameSite::Strict)
            .build(),
    );
}

/// Clears the session cookie.
pub fn clear_session_cookie(resp: &mut Response) {
    set_cookie(
        resp,
        Cookie::build((SESSION_COOKIE, ""))
            .path("/")
            .max_age(cookie::time::Duration::ZERO)
            .http_only(true)
            .secure(true)
            .same_site(SameSite::Strict)
            .build(),
    );
}

/// The cookie that remembers the reader's language.
const LANG_COOKIE: &str = "cchc_lang";

/// The reader's language: `?lang=` (then remembered in a cookie), else the cookie,
/// else Vietnamese.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// The language.
    pub lang: Lang,
    /// Whether it came from `?lang=` and should be remembered.
    pub remember: bool,
}

impl Reading {
    /// The language of a request.
    pub fn of(uri: &Uri, headers: &HeaderMap) -> Reading {
        let asked = query::<PageQuery>(uri)
            .ok()
            .and_then(|q| q.lang)
            .and_then(|l| Lang::parse(&l));
        match asked {
            Some(lang) => Reading {
                lang,
                remember: true,
            },
            None => Reading {
                lang: cookie(headers, LANG_COOKIE)
                    .and_then(|l| Lang::parse(&l))
                    .unwrap_or_default(),
                remember: false,
            },
        }
    }

    /// Remembers the language in a cookie when it was asked for.
    pub fn remember_in(&self, resp: &mut Response) {
        if self.remember {
            set_cookie(
                resp,
                Cookie::build((LANG_COOKIE, self.lang.code()))
                    .path("/")
                    .max_age(cookie::time::Duration::days(365))
                    .secure(true)
                    .same_site(SameSite::Strict)
                    .build(),
            );
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Reading {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Reading, Self::Rejection> {
        Ok(Reading::of(&parts.uri, &parts.headers))
    }
}
