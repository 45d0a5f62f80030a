//! The monthly ledger: for a chosen period, the merged totals
//! of every procedure × metric over all the station's desks, and a grid where the
//! officer types additions (or, ticked, corrections) for several procedures at once,
//! saved as one transaction through the same rules as `cchc-agent record`. In:
//! `?period=` a month, quarter or year (default: this month in Vietnam); the form.
//! Out: HTML; a bad value is said next to its field, what was typed is kept, and
//! nothing is stored.
//!
//! The history of a procedure's cells (`/ledger/history`) lists every count op of the
//! period from every desk, with who entered it, read from the op log.

use super::pages::{failed, html_response, page, who_field};
use super::{blocking, Ctx, UiState};
use crate::commands::whole;
use crate::error::Result;
use axum::extract::{Form, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use cchc_common::op::{Dir, OpBody};
use cchc_common::view::StateView;
use cchc_common::{crdt, Date, Definitions, DomainError, Localize, Metric, Period};
use maud::html;
use std::collections::BTreeMap;

/// The query of the ledger page.
#[derive(serde::Deserialize)]
pub struct LedgerQuery {
    period: Option<String>,
    saved: Option<String>,
    procedure: Option<String>,
    metric: Option<String>,
}

fn period_of(input: Option<&str>) -> std::result::Result<Period, DomainError> {
    match input.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(Date::from_unix_ms_vn(crate::clock::now_ms()).month_period()),
        // The periods the command line records: a month, a quarter or a year.
        Some(s) => s.parse::<Period>(),
    }
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

fn body(
    view: &StateView,
    defs: &Definitions,
    period: std::result::Result<Period, &DomainError>,
    shown: &str,
    typed: &Typed,
    saved: Option<&str>,
    ctx: &Ctx,
) -> maud::Markup {
    let lang = ctx.lang;
    let total = |p: &str, m: Metric, period: Period| {
        view.counts
            .iter()
            .find(|c| c.period == period && c.procedure == p && c.metric == m)
            .map(|c| lang.number(c.value as f64, 0))
            .unwrap_or_default()
    };
    html! {
        form method="get" action="/ledger" {
            label for="period" { (ctx.t("Kỳ: tháng 2026-11, quý 2026-Q4 hoặc năm 2026", "Period: month 2026-11, quarter 2026-Q4 or year 2026")) }
            " "
            input id="period" name="period" value=(shown) aria-describedby="period-error";
            " "
            button type="submit" { (ctx.t("Xem", "Show")) }
            @if let Err(e) = period {
                p id="period-error" role="alert" { (e.localize(lang)) }
            }
        }
        @if let Some(n) = saved {
            p.ok role="status" id="saved" { (ctx.t("Đã lưu ", "Saved ")) (n) (ctx.t(" thủ tục vào máy này.", " procedure(s) on this computer.")) }
        }
        @if let Some(e) = typed.errors.get("form") { p.warn role="alert" id="form-error" { (e) } }
        @if let Ok(period) = period {
            form method="post" action="/ledger" {
                input type="hidden" name="token" value=(ctx.token);
                input type="hidden" name="period" value=(period.to_string());
                table id="ledger" {
                    caption { (ctx.t("Số liệu kỳ ", "Figures for ")) (period) (ctx.t(": đã ghi (mọi bàn) và số thêm", ": recorded (all desks) and to add")) }
                    thead { tr {
                        th scope="col" { (ctx.t("Thủ tục", "Procedure")) }
                        @for m in Metric::ALL { th scope="col" { (lang.pick(m.vi(), m.en())) } }
                        th scope="col" { (ctx.t("Lịch sử", "History")) }
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
                                td { a href=(format!("/ledger/history?period={period}&procedure={}", p.code)) { (ctx.t("Xem", "View")) } }
                            }
                        }
                    }
                }
                p.corr {
                    input type="checkbox" id="correct" name="correct" checked[typed.correct];
                    " "
                    label for="correct" { (ctx.t("Đây là đính chính: trừ các số trên (không xuống dưới 0)", "This is a correction: subtract these numbers (never below 0)")) }
                }
                (who_field(ctx, typed.values.get("by").map(String::as_str), typed.errors.get("by").map(String::as_str)))
                button type="submit" id="save" { (ctx.t("Lưu", "Save")) }
            }
        }
    }
}

async fn load(state: &UiState) -> Result<(StateView, Definitions)> {
    let dir = (*state.dir).clone();
    blocking(move || {
        let mut store = super::open_store(&dir)?;
        Ok((store.view(None)?, store.definitions()?))
    })
    .await
}

/// `GET /ledger`.
pub async fn ledger(
    State(state): State<UiState>,
    ctx: Ctx,
    Query(q): Query<LedgerQuery>,
) -> Response {
    let title = ctx.t("Sổ theo dõi tháng", "Monthly ledger");
    let period = period_of(q.period.as_deref());
    let (view, defs) = match load(&state).await {
        Ok(d) => d,
        Err(e) => return failed(title, &e, &ctx),
    };
    let (status, shown) = match &period {
        Ok(p) => (StatusCode::OK, p.to_string()),
        Err(_) => (
            StatusCode::BAD_REQUEST,
            q.period.clone().unwrap_or_default(),
        ),
    };
    let saved = q
        .saved
        .as_deref()
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()));
    let b = body(
        &view,
        &defs,
        period.as_ref().copied(),
        &shown,
        &Typed::default(),
        saved,
        &ctx,
    );
    ctx.finish(html_response(status, page(title, &ctx, b)), None)
}

/// `POST /ledger`: several procedures' additions (or corrections) as one entry.
pub async fn save(
    State(state): State<UiState>,
    ctx: Ctx,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = ctx.lang;
    let title = ctx.t("Sổ theo dõi tháng", "Monthly ledger");
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if !ctx.token_ok(get("token")) {
        return ctx.refused();
    }
    let mut typed = Typed {
        correct: get("correct").is_some(),
        ..Typed::default()
    };
    for (k, v) in &fields {
        if (k.starts_with("v.") && !v.trim().is_empty()) || k == "by" {
            typed.values.insert(k.clone(), v.clone());
        }
    }
    let period = period_of(get("period"));
    let Ok(p) = period else {
        let (view, defs) = match load(&state).await {
            Ok(d) => d,
            Err(e) => return failed(title, &e, &ctx),
        };
        let shown = get("period").unwrap_or("").to_string();
        let b = body(
            &view,
            &defs,
            period.as_ref().copied(),
            &shown,
            &typed,
            None,
            &ctx,
        );
        return html_response(StatusCode::UNPROCESSABLE_ENTITY, page(title, &ctx, b));
    };
    // Saving needs the catalog only; the merged view is read again only to show the
    // form back with a refusal.
    let defs = match super::with_store(&state, |store| store.definitions()).await {
        Ok(d) => d,
        Err(e) => return failed(title, &e, &ctx),
    };
    // The period as `record` takes it: not one that has not begun.
    if let Err(e) = p.check_not_future(crate::clock::today()) {
        typed.errors.insert("form".into(), e.localize(lang));
    }
    let by = super::who_entered(&ctx, get("by"), &mut typed.errors);
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
            ctx.t(
                "Chưa nhập số nào: hãy điền ít nhất một ô.",
                "Nothing was entered: fill in at least one box.",
            )
            .into(),
        );
    }
    if typed.errors.is_empty() {
        let correct = typed.correct;
        let saved = super::save_rows(
            &state,
            lang,
            by.clone(),
            entries,
            move |o, ctx, defs, code, changes| {
                crdt::count_op(o, ctx, defs, p, code, changes, correct)
            },
        )
        .await;
        match saved {
            Ok(n) => {
                let to = format!("/ledger?period={p}&saved={n}");
                return ctx.finish(
                    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response(),
                    Some(&by),
                );
            }
            Err((Some(code), e)) => {
                typed.errors.insert(format!("row.{code}"), e);
            }
            Err((None, e)) => {
                typed.errors.insert("form".into(), e);
            }
        }
    }
    let (view, defs) = match load(&state).await {
        Ok(d) => d,
        Err(e) => return failed(title, &e, &ctx),
    };
    let b = body(&view, &defs, Ok(p), &p.to_string(), &typed, None, &ctx);
    html_response(StatusCode::UNPROCESSABLE_ENTITY, page(title, &ctx, b))
}

/// One entry of a cell's history.
struct Line {
    at_ms: u64,
    device: String,
    by: String,
    metric: Metric,
    dir: Dir,
    amount: u64,
}

/// `GET /ledger/history?period=&procedure=`: every entry of one procedure in one
/// period, from every desk, oldest first, with who entered it.
pub async fn history(
    State(state): State<UiState>,
    ctx: Ctx,
    Query(q): Query<LedgerQuery>,
) -> Response {
    let lang = ctx.lang;
    let title = ctx.t("Lịch sử nhập số liệu", "History of entries");
    let period = match period_of(q.period.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            return ctx.finish(
                html_response(
                    StatusCode::BAD_REQUEST,
                    page(title, &ctx, html! { p role="alert" { (e.localize(lang)) } }),
                ),
                None,
            )
        }
    };
    let procedure = q
        .procedure
        .clone()
        .unwrap_or_default()
        .trim()
        .to_ascii_uppercase();
    let dir = (*state.dir).clone();
    // One cell (`&metric=received`) or the whole procedure.
    let only = match q.metric.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        None => None,
        Some(m) => match m.parse::<Metric>() {
            Ok(m) => Some(m),
            Err(e) => {
                return ctx.finish(
                    html_response(
                        StatusCode::BAD_REQUEST,
                        page(title, &ctx, html! { p role="alert" { (e.localize(lang)) } }),
                    ),
                    None,
                )
            }
        },
    };
    let code = procedure.clone();
    let found = blocking(move || {
        let store = super::open_store(&dir)?;
        let defs = store.definitions()?;
        let name = defs.procedure(&code).map(|p| p.name.clone())?;
        let mut lines = Vec::new();
        for op in store.count_ops(period, &code)? {
            if let OpBody::Count { deltas, by, .. } = &op.body {
                for d in deltas.iter().filter(|d| only.is_none_or(|m| m == d.metric)) {
                    lines.push(Line {
                        at_ms: op.hlc_ms,
                        device: op.actor.to_string(),
                        by: by.clone(),
                        metric: d.metric,
                        dir: d.dir,
                        amount: d.amount,
                    });
                }
            }
        }
        Ok((name, lines))
    })
    .await;
    let (name, lines) = match found {
        Ok(f) => f,
        Err(e) => return failed(title, &e, &ctx),
    };
    let b = html! {
        p { (procedure) " " (name) " · " (ctx.t("kỳ ", "period ")) (period) " · "
            a href=(format!("/ledger?period={period}")) { (ctx.t("Về sổ theo dõi", "Back to the ledger")) } }
        @if lines.is_empty() {
            p { (ctx.t("Chưa có số liệu nào cho thủ tục này trong kỳ.", "Nothing recorded for this procedure in this period.")) }
        } @else {
            table #history {
                thead { tr {
                    th scope="col" { (ctx.t("Thời điểm", "When")) }
                    th scope="col" { (ctx.t("Chỉ tiêu", "Metric")) }
                    th scope="col" { (ctx.t("Số", "Amount")) }
                    th scope="col" { (ctx.t("Người nhập", "Entered by")) }
                    th scope="col" { (ctx.t("Máy", "Device")) }
                } }
                tbody {
                    @for l in &lines {
                        tr class=[(l.dir == Dir::Dec).then_some("corr")] {
                            td { (Date::display_vn(l.at_ms as i64)) }
                            td data-metric=(l.metric.as_str()) { (lang.pick(l.metric.vi(), l.metric.en())) }
                            td {
                                @if l.dir == Dir::Dec { "−" (lang.number(l.amount as f64, 0)) " (" (ctx.t("đính chính", "correction")) ")" }
                                @else { "+" (lang.number(l.amount as f64, 0)) }
                            }
                            td.by { @if l.by.is_empty() { "—" } @else { (l.by) } }
                            td { (l.device) }
                        }
                    }
                }
            }
        }
    };
    ctx.finish(html_response(StatusCode::OK, page(title, &ctx, b)), None)
}
