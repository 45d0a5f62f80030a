//! A browser session on the officers' page: the reader's language, the form token
//! and who is entering. In: the request's cookies and query. Out: [`Ctx`], and the
//! cookies a response sets.
//!
//! How officers identify themselves on a shared PC: every form that saves asks for
//! "Người nhập" (entered by), a short name (at most 40 characters), pre-filled with
//! the name this browser session last saved under. The name travels inside each op
//! it makes (count and assessment ops), so the history of a cell shows the desk and
//! who entered it, at every desk and at the hub. The cookie lives until the browser
//! is closed (no expiry); there is no password: the PC's own login guards the PC.
//!
//! Cross-site posts: every form carries the session's token, which must equal the
//! `SameSite=Strict` cookie (a page elsewhere can neither send the cookie nor read
//! it), besides the `Host` check every request passes.

use axum::extract::{FromRequestParts, Path, RawQuery};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cchc_common::Lang;
use std::convert::Infallible;

const TOKEN: &str = "cchc_form";
const WHO: &str = "cchc_who";
const LANG: &str = "cchc_lang";

/// The reader's session.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Language of the page: `?lang=` first, then the cookie, else Vietnamese.
    pub lang: Lang,
    /// The form token of this browser session.
    pub token: String,
    /// The name this session last saved under (empty at first).
    pub who: String,
    /// The path and query asked for (for the language switch).
    pub here: String,
    fresh: bool,
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn new_token() -> String {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).expect("the OS gives randomness");
    cchc_common::auth::hex(&b)
}

/// A name as the cookie holds it: its UTF-8 bytes in hex.
fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) || s.len() > 4 * 2 * cchc_common::text::BY_MAX {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Ctx, Infallible> {
        let h = &parts.headers;
        let query = parts.uri.query().unwrap_or("");
        let asked = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("lang="))
            .and_then(Lang::parse);
        let lang = asked
            .or_else(|| cookie(h, LANG).and_then(Lang::parse))
            .unwrap_or(Lang::Vi);
        let token = cookie(h, TOKEN)
            .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_string);
        let who = cookie(h, WHO)
            .and_then(unhex)
            .and_then(|w| crate::commands::entered_by(Some(&w)).ok())
            .unwrap_or_default();
        Ok(Ctx {
            lang,
            fresh: token.is_none(),
            token: token.unwrap_or_else(new_token),
            who,
            here: parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into()),
        })
    }
}

fn set_cookie(resp: &mut Response, c: String) {
    if let Ok(v) = HeaderValue::from_str(&c) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

impl Ctx {
    /// Picks the text in the reader's language.
    pub fn t<'a>(&self, vi: &'a str, en: &'a str) -> &'a str {
        self.lang.pick(vi, en)
    }

    /// Whether a posted form carries this session's token (and the session had one).
    pub fn token_ok(&self, posted: Option<&str>) -> bool {
        !self.fresh && posted == Some(self.token.as_str())
    }

    /// The answer to a post without the session's token: nothing is done.
    pub fn refused(&self) -> Response {
        (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Biểu mẫu không đến từ trang của máy này: hãy mở lại trang và nhập lại.\nThe form did not come from this computer's page: open the page again.\n",
        )
            .into_response()
    }

    /// Adds the session's cookies to a response: the token when it is new, and the
    /// name saved under when `who` is given.
    pub fn finish(&self, mut resp: Response, who: Option<&str>) -> Response {
        if self.fresh {
            set_cookie(
                &mut resp,
                format!("{TOKEN}={}; Path=/; HttpOnly; SameSite=Strict", self.token),
            );
        }
        if let Some(w) = who {
            set_cookie(
                &mut resp,
                format!(
                    "{WHO}={}; Path=/; HttpOnly; SameSite=Strict",
                    cchc_common::auth::hex(w.as_bytes())
                ),
            );
        }
        resp
    }
}

/// `GET /lang/{vi|en}?back=/path`: remembers the language and goes back.
pub async fn switch_lang(ctx: Ctx, Path(to): Path<String>, RawQuery(q): RawQuery) -> Response {
    let lang = Lang::parse(&to).unwrap_or(Lang::Vi);
    // Only a path of this site, never another origin.
    let back = q
        .as_deref()
        .and_then(|q| q.strip_prefix("back="))
        .map(|b| {
            b.replace("%2F", "/")
                .replace("%3F", "?")
                .replace("%3D", "=")
                .replace("%26", "&")
        })
        .filter(|b| b.starts_with('/') && !b.starts_with("//") && !b.contains('\\'))
        .unwrap_or_else(|| "/".into());
    let mut resp = (StatusCode::SEE_OTHER, [(header::LOCATION, back)]).into_response();
    set_cookie(
        &mut resp,
        format!("{LANG}={}; Path=/; SameSite=Strict", lang.code()),
    );
    ctx.finish(resp, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_survives_the_cookie() {
        let n = "Nguyễn Thị Lan";
        assert_eq!(
            unhex(&cchc_common::auth::hex(n.as_bytes())).as_deref(),
            Some(n)
        );
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("abc"), None);
    }
}
