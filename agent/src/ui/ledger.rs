//! The monthly ledger, read side (issue 14, in progress): for a chosen period, the
//! merged totals of every procedure × metric, over all the station's desks, as the
//! hub will see them. Entering figures here comes next. In: `?period=` a month,
//! quarter or year (default: this month in Vietnam). Out: HTML; a bad period is said
//! next to the field, with what was typed kept.

use super::pages::{html_response, page};
use super::UiState;
use crate::commands::db_path;
use crate::error::{AgentError, Result};
use crate::store::Store;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use cchc_common::view::StateView;
use cchc_common::{Date, Definitions, Lang, Localize, Metric, Period};
use maud::html;

/// The query of the ledger page.
#[derive(serde::Deserialize)]
pub struct LedgerQuery {
    period: Option<String>,
    lang: Option<String>,
}

fn period_of(input: Option<&str>) -> std::result::Result<Period, cchc_common::DomainError> {
    match input.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(Date::from_unix_ms_vn(crate::clock::now_ms()).month_period()),
        // The periods the command line records: a month, a quarter or a year.
        Some(s) => s.parse::<Period>(),
    }
}

fn grid(view: &StateView, defs: &Definitions, period: Period, lang: Lang) -> maud::Markup {
    let value = |p: &str, m: Metric| {
        view.counts
            .iter()
            .find(|c| c.period == period && c.procedure == p && c.metric == m)
            .map(|c| lang.number(c.value as f64, 0))
            .unwrap_or_default()
    };
    html! {
        table id="ledger" {
            caption { (lang.pick("Số liệu đã ghi kỳ ", "Figures recorded for ")) (period) }
            thead { tr {
                th scope="col" { (lang.pick("Thủ tục", "Procedure")) }
                @for m in Metric::ALL { th scope="col" { (lang.pick(m.vi(), m.en())) } }
            } }
            tbody {
                @for p in &defs.procedures {
                    tr {
                        th scope="row" { (p.code) " " (p.name) }
                        @for m in Metric::ALL { td data-metric=(m.as_str()) { (value(&p.code, m)) } }
                    }
                }
            }
        }
    }
}

/// `GET /ledger`.
pub async fn ledger(State(state): State<UiState>, Query(q): Query<LedgerQuery>) -> Response {
    let lang = match q.lang.as_deref() {
        Some("en") => Lang::En,
        _ => Lang::Vi,
    };
    let title = lang.pick("Sổ theo dõi tháng", "Monthly ledger");
    let typed = q.period.clone().unwrap_or_default();
    let month = period_of(q.period.as_deref());
    let dir = (*state.dir).clone();
    let data = tokio::task::spawn_blocking(move || -> Result<(StateView, Definitions)> {
        let mut store = Store::open(&db_path(&dir))?;
        Ok((store.view(None)?, store.definitions()?))
    })
    .await
    .unwrap_or_else(|e| Err(AgentError::io("officer UI", std::io::Error::other(e))));
    let (view, defs) = match data {
        Ok(d) => d,
        Err(e) => {
            return html_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                page(title, lang, html! { p role="alert" { (e.localize(lang)) } }),
            )
        }
    };
    let (status, shown) = match &month {
        Ok(p) => (StatusCode::OK, p.to_string()),
        Err(_) => (StatusCode::BAD_REQUEST, typed),
    };
    let body = html! {
        form method="get" action="/ledger" {
            @if lang == Lang::En { input type="hidden" name="lang" value="en"; }
            label for="period" { (lang.pick("Kỳ: tháng 2026-11, quý 2026-Q4 hoặc năm 2026", "Period: month 2026-11, quarter 2026-Q4 or year 2026")) }
            " "
            input id="period" name="period" value=(shown) aria-describedby="period-error";
            " "
            button type="submit" { (lang.pick("Xem", "Show")) }
            @if let Err(e) = &month {
                p id="period-error" role="alert" { (e.localize(lang)) }
            }
        }
        @if let Ok(p) = month { (grid(&view, &defs, p, lang)) }
    };
    html_response(status, page(title, lang, body))
}
