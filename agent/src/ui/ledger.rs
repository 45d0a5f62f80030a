//! The monthly ledger (issue 14, in progress): for a chosen period, the merged totals
//! of every procedure × metric over all the station's desks, and a grid where the
//! officer types additions (or, ticked, corrections) for several procedures at once,
//! saved as one transaction through the same rules as `cchc-agent record`. In:
//! `?period=` a month, quarter or year (default: this month in Vietnam); the form.
//! Out: HTML; a bad value is said next to its field, what was typed is kept, and
//! nothing is stored.
//!
//! Cross-site posts: the form carries the session's token, which must equal the
//! `SameSite=Strict` cookie set with the page (a page elsewhere can neither send the
//! cookie nor read it), besides the `Host` check every request passes.

use super::pages::{html_response, page};
use super::UiState;
use crate::commands::{db_path, whole};
use crate::error::{AgentError, Result};
use crate::store::Store;
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cchc_common::view::StateView;
use cchc_common::{crdt, Date, Definitions, DomainError, Lang, Localize, Metric, Period};
use maud::html;
use std::collections::BTreeMap;

const COOKIE: &str = "cchc_form";

/// The query of the ledger page.
#[derive(serde::Deserialize)]
pub struct LedgerQuery {
    period: Option<String>,
    lang: Option<String>,
    saved: Option<String>,
}

fn lang_param(l: Option<&str>) -> Lang {
    match l {
        Some("en") => Lang::En,
        _ => Lang::Vi,
    }
}

fn period_of(input: Option<&str>) -> std::result::Result<Period, DomainError> {
    match input.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(Date::from_unix_ms_vn(crate::clock::now_ms()).month_period()),
        // The periods the command line records: a month, a quarter or a year.
        Some(s) => s.parse::<Period>(),
    }
}

/// The session's form token from the cookie, if any.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn new_token() -> String {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).expect("the OS gives randomness");
    cchc_common::auth::hex(&b)
}

/// What the form shows: typed values and messages by field name.
#[derive(Default)]
struct Typed {
    values: BTreeMap<String, String>,
    errors: BTreeMap<String, String>,
    correct: bool,
}

fn field(procedure: &str, m: Metric) -> String {
    format!("v.{procedure}.{}", m.as_str())
}

#[allow(clippy::too_many_arguments)]
fn body(
    view: &StateView,
    defs: &Definitions,
    period: Result<Period, &DomainError>,
    shown: &str,
    typed: &Typed,
    token: &str,
    saved: Option<&str>,
    lang: Lang,
) -> maud::Markup {
    let total = |p: &str, m: Metric, period: Period| {
        view.counts
            .iter()
            .find(|c| c.period == period && c.procedure == p && c.metric == m)
            .map(|c| lang.number(c.value as f64, 0))
            .unwrap_or_default()
    };
    html! {
        form method="get" action="/ledger" {
            @if lang == Lang::En { input type="hidden" name="lang" value="en"; }
            label for="period" { (lang.pick("Kỳ: tháng 2026-11, quý 2026-Q4 hoặc năm 2026", "Period: month 2026-11, quarter 2026-Q4 or year 2026")) }
            " "
            input id="period" name="period" value=(shown) aria-describedby="period-error";
            " "
            button type="submit" { (lang.pick("Xem", "Show")) }
            @if let Err(e) = period {
                p id="period-error" role="alert" { (e.localize(lang)) }
            }
        }
        @if let Some(n) = saved {
            p role="status" id="saved" { (lang.pick("Đã lưu ", "Saved ")) (n) (lang.pick(" thủ tục vào máy này.", " procedure(s) on this computer.")) }
        }
        @if let Some(e) = typed.errors.get("form") { p role="alert" id="form-error" { (e) } }
        @if let Ok(period) = period {
            form method="post" action=(if lang == Lang::En { "/ledger?lang=en" } else { "/ledger" }) {
                input type="hidden" name="token" value=(token);
                input type="hidden" name="period" value=(period.to_string());
                table id="ledger" {
                    caption { (lang.pick("Số liệu kỳ ", "Figures for ")) (period) (lang.pick(": đã ghi (mọi bàn) và số thêm", ": recorded (all desks) and to add")) }
                    thead { tr {
                        th scope="col" { (lang.pick("Thủ tục", "Procedure")) }
                        @for m in Metric::ALL { th scope="col" { (lang.pick(m.vi(), m.en())) } }
                    } }
                    tbody {
                        @for p in &defs.procedures {
                            tr {
                                th scope="row" {
                                    (p.code) " " (p.name)
                                    @if let Some(e) = typed.errors.get(&format!("row.{}", p.code)) {
                                        span.err role="alert" { " " (e) }
                                    }
                                }
                                @for m in Metric::ALL {
                                    @let name = field(&p.code, m);
                                    td data-metric=(m.as_str()) data-procedure=(p.code) {
                                        span.total { (total(&p.code, m, period)) }
                                        label.sr for=(name) { (p.code) " " (lang.pick(m.vi(), m.en())) }
                                        input id=(name) name=(name) inputmode="numeric" size="5"
                                            value=(typed.values.get(&name).map(String::as_str).unwrap_or(""))
                                            aria-invalid=(typed.errors.contains_key(&name));
                                        @if let Some(e) = typed.errors.get(&name) { span.err role="alert" { (e) } }
                                    }
                                }
                            }
                        }
                    }
                }
                p {
                    input type="checkbox" id="correct" name="correct" checked[typed.correct];
                    " "
                    label for="correct" { (lang.pick("Đây là đính chính: trừ các số trên (không xuống dưới 0)", "This is a correction: subtract these numbers (never below 0)")) }
                }
                button type="submit" id="save" { (lang.pick("Lưu", "Save")) }
            }
        }
    }
}

fn with_cookie(mut resp: Response, token: &str, set: bool) -> Response {
    if set {
        let c = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    resp
}

async fn load(state: &UiState) -> Result<(StateView, Definitions)> {
    let dir = (*state.dir).clone();
    tokio::task::spawn_blocking(move || -> Result<(StateView, Definitions)> {
        let mut store = Store::open(&db_path(&dir))?;
        Ok((store.view(None)?, store.definitions()?))
    })
    .await
    .unwrap_or_else(|e| Err(AgentError::io("officer UI", std::io::Error::other(e))))
}

fn failed(title: &str, e: &AgentError, lang: Lang) -> Response {
    html_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        page(title, lang, html! { p role="alert" { (e.localize(lang)) } }),
    )
}

/// `GET /ledger`.
pub async fn ledger(
    State(state): State<UiState>,
    headers: HeaderMap,
    Query(q): Query<LedgerQuery>,
) -> Response {
    let lang = lang_param(q.lang.as_deref());
    let title = lang.pick("Sổ theo dõi tháng", "Monthly ledger");
    let (token, set) = match cookie_token(&headers) {
        Some(t) => (t, false),
        None => (new_token(), true),
    };
    let period = period_of(q.period.as_deref());
    let (view, defs) = match load(&state).await {
        Ok(d) => d,
        Err(e) => return failed(title, &e, lang),
    };
    let (status, shown) = match &period {
        Ok(p) => (StatusCode::OK, p.to_string()),
        Err(_) => (
            StatusCode::BAD_REQUEST,
            q.period.clone().unwrap_or_default(),
        ),
    };
    let b = body(
        &view,
        &defs,
        period.as_ref().copied(),
        &shown,
        &Typed::default(),
        &token,
        q.saved
            .as_deref()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit())),
        lang,
    );
    with_cookie(html_response(status, page(title, lang, b)), &token, set)
}

/// `POST /ledger`: several procedures' additions (or corrections) as one entry.
pub async fn save(
    State(state): State<UiState>,
    headers: HeaderMap,
    Query(q): Query<LedgerQuery>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = lang_param(q.lang.as_deref());
    let title = lang.pick("Sổ theo dõi tháng", "Monthly ledger");
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let token = cookie_token(&headers);
    if token.is_none() || get("token") != token.as_deref() {
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Biểu mẫu không đến từ trang của máy này: hãy mở lại trang và nhập lại.\nThe form did not come from this computer's page: open the page again.\n",
        )
            .into_response();
    }
    let token = token.unwrap_or_default();
    let mut typed = Typed {
        correct: get("correct").is_some(),
        ..Typed::default()
    };
    for (k, v) in &fields {
        if k.starts_with("v.") && !v.trim().is_empty() {
            typed.values.insert(k.clone(), v.clone());
        }
    }
    let period = period_of(get("period"));
    let (view, defs) = match load(&state).await {
        Ok(d) => d,
        Err(e) => return failed(title, &e, lang),
    };
    let Ok(p) = period else {
        let shown = get("period").unwrap_or("").to_string();
        let b = body(
            &view,
            &defs,
            period.as_ref().copied(),
            &shown,
            &typed,
            &token,
            None,
            lang,
        );
        return html_response(StatusCode::UNPROCESSABLE_ENTITY, page(title, lang, b));
    };
    // The period as `record` takes it: not one that has not begun.
    if let Err(e) = p.check_not_future(crate::clock::today()) {
        typed.errors.insert("form".into(), e.localize(lang));
    }
    // Every number first, each with the CLI's rule; then one transaction.
    let mut entries: Vec<(String, Vec<(Metric, u64)>)> = Vec::new();
    for proc_ in &defs.procedures {
        let mut changes = Vec::new();
        for m in Metric::ALL {
            let name = field(&proc_.code, m);
            if let Some(v) = typed.values.get(&name) {
                match whole(m.as_str(), v) {
                    Ok(n) => changes.push((m, n)),
                    Err(e) => {
                        typed.errors.insert(name, e.localize(lang));
                    }
                }
            }
        }
        if !changes.is_empty() {
            entries.push((proc_.code.clone(), changes));
        }
    }
    if typed.errors.is_empty() && entries.is_empty() {
        typed.errors.insert(
            "form".into(),
            lang.pick(
                "Chưa nhập số nào: hãy điền ít nhất một ô.",
                "Nothing was entered: fill in at least one box.",
            )
            .into(),
        );
    }
    if typed.errors.is_empty() {
        let dir = (*state.dir).clone();
        let correct = typed.correct;
        let work = entries.clone();
        let saved = tokio::task::spawn_blocking(
            move || -> std::result::Result<usize, (Option<String>, String)> {
                let mut store =
                    Store::open(&db_path(&dir)).map_err(|e| (None, e.localize(lang)))?;
                let mut failing = None;
                let ops = store
                    .transact_local(crate::clock::now_ms(), |tx| {
                        for (code, changes) in &work {
                            failing = Some(code.clone());
                            tx.edit(|o, ctx, defs| {
                                crdt::count_op(o, ctx, defs, p, code, changes, correct)
                            })?;
                        }
                        failing = None;
                        Ok(())
                    })
                    .map_err(|e| (failing.clone(), e.localize(lang)))?;
                Ok(ops.len())
            },
        )
        .await
        .unwrap_or_else(|e| Err((None, e.to_string())));
        match saved {
            Ok(n) => {
                let to = format!(
                    "/ledger?period={p}&saved={n}{}",
                    if lang == Lang::En { "&lang=en" } else { "" }
                );
                return (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
            }
            Err((Some(code), e)) => {
                typed.errors.insert(format!("row.{code}"), e);
            }
            Err((None, e)) => {
                typed.errors.insert("form".into(), e);
            }
        }
    }
    let b = body(
        &view,
        &defs,
        Ok(p),
        &p.to_string(),
        &typed,
        &token,
        None,
        lang,
    );
    html_response(StatusCode::UNPROCESSABLE_ENTITY, page(title, lang, b))
}
