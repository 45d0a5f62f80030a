//! The officers' pages. Home: the commune, its device, what waits to sync, the last
//! sync, clock warnings, the definitions in force, and per phase the self and verified
//! scores with the province's comments. In: the same documents as `status --json` and
//! `assess show --json` (one source for the command line and the page). Out: HTML.

use super::{lang_of, UiState};
use crate::commands::{db_path, status_doc};
use crate::error::{AgentError, Result};
use crate::store::Store;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use cchc_common::{Date, Lang, Localize};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde_json::Value;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b}\
header{background:#7a1212;color:#fff;padding:.6rem 1rem;display:flex;gap:1rem;align-items:center}\
header a{color:#fff}nav{display:flex;gap:.8rem}main{padding:1rem;max-width:60rem}\
.cards{display:flex;flex-wrap:wrap;gap:.75rem}.card{border:1px solid #ccc;border-radius:4px;padding:.6rem .9rem;min-width:10rem}\
.card b{display:block;font-size:1.4rem}.warn{background:#fff3cd;border:1px solid #e0b000;padding:.5rem}\
label.sr{position:absolute;left:-9999px}.err{color:#a00;display:block}.total{display:block;color:#555}\
table{border-collapse:collapse;margin:.5rem 0}th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left}";

/// A page of the officers' UI: header, navigation, language switch.
pub(super) fn page(title: &str, lang: Lang, body: Markup) -> Markup {
    let other = match lang {
        Lang::Vi => ("?lang=en", "English"),
        Lang::En => ("?", "Tiếng Việt"),
    };
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width,initial-scale=1";
                title { (title) " — CCHC" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { "CCHC" }
                    nav {
                        a href=(if lang == Lang::En { "/?lang=en" } else { "/" }) { (lang.pick("Trang chính", "Home")) }
                        " "
                        a href=(if lang == Lang::En { "/ledger?lang=en" } else { "/ledger" }) { (lang.pick("Sổ theo dõi tháng", "Monthly ledger")) }
                    }
                    a href=(other.0) { (other.1) }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

fn when(ms: Option<i64>, lang: Lang) -> String {
    match ms {
        Some(ms) => Date::display_vn(ms),
        None => lang.pick("chưa lần nào", "never").to_string(),
    }
}

fn num(v: &Value, lang: Lang) -> String {
    match v.as_f64() {
        Some(f) => lang.number(f, if f.fract() == 0.0 { 0 } else { 1 }),
        None => "—".to_string(),
    }
}

fn home_body(status: &Value, assessment: &Value, lang: Lang) -> Markup {
    let pending = status["ops_pending"].as_u64().unwrap_or(0);
    html! {
        p {
            (status["unit_name"].as_str().unwrap_or("")) " ("
            (lang.pick("mã", "code")) " " (status["unit"]) "), "
            (status["province_name"].as_str().unwrap_or(""))
        }
        @if status["clock_warning"] == true {
            p.warn role="alert" {
                (lang.pick(
                    "Đồng hồ của máy này lệch nhiều so với máy chủ tỉnh hoặc máy khác: hãy chỉnh lại giờ.",
                    "This computer's clock is far from the hub's or another desk's: set it right.",
                ))
            }
        }
        div.cards {
            div.card { b { (lang.number(pending as f64, 0)) } (lang.pick("bản ghi chờ gửi", "entries waiting to sync")) }
            div.card { b { (when(status["last_sync_ms"].as_i64(), lang)) } (lang.pick("lần đồng bộ cuối", "last sync")) }
            div.card { b { (status["definitions_version"]) } (lang.pick("bộ định nghĩa đang dùng", "definitions in force")) }
            div.card { b { (status["device"].as_str().unwrap_or("")) } (lang.pick("mã máy", "device")) }
        }
        @for ph in assessment["phases"].as_array().into_iter().flatten() {
            @if ph["scored"].as_u64().unwrap_or(0) > 0 || ph["verified"].as_u64().unwrap_or(0) > 0 {
                h2 { (ph["name"].as_str().unwrap_or("")) }
                p {
                    (lang.pick("Tự chấm", "Self-score")) ": " (num(&ph["self_total"], lang))
                    " / " (num(&ph["max_total"], lang))
                    " · " (lang.pick("Thẩm định", "Verified")) ": " (num(&ph["verified_total"], lang))
                    " · " (lang.pick("Ngưỡng đạt", "Pass mark")) ": " (num(&ph["pass_threshold"], lang))
                    @if let Some(g) = ph["grade"].as_str() { " · " (lang.pick("Xếp loại", "Grade")) ": " (g) }
                }
                table {
                    thead { tr {
                        th scope="col" { (lang.pick("Tiêu chí", "Criterion")) }
                        th scope="col" { (lang.pick("Tối đa", "Max")) }
                        th scope="col" { (lang.pick("Tự chấm", "Self")) }
                        th scope="col" { (lang.pick("Tỉnh thẩm định", "Verified")) }
                        th scope="col" { (lang.pick("Nhận xét của tỉnh", "Province's comment")) }
                    } }
                    tbody {
                        @for c in ph["criteria"].as_array().into_iter().flatten() {
                            tr {
                                td { (c["code"].as_str().unwrap_or("")) " " (c["name"].as_str().unwrap_or("")) }
                                td { (num(&c["max_score"], lang)) }
                                td { (num(&c["score"], lang)) }
                                td { (num(&c["verified"]["score"], lang)) }
                                td { (c["verified"]["comment"].as_str().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// An HTML response that is never cached.
pub(super) fn html_response(status: StatusCode, m: Markup) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        m.into_string(),
    )
        .into_response()
}

fn error_page(e: &AgentError, lang: Lang) -> Response {
    let title = lang.pick("Không mở được dữ liệu", "The data cannot be opened");
    html_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        page(title, lang, html! { p role="alert" { (e.localize(lang)) } }),
    )
}

/// `GET /`: the home page.
pub async fn home(State(state): State<UiState>, RawQuery(q): RawQuery) -> Response {
    let lang = lang_of(q.as_deref());
    let dir = (*state.dir).clone();
    let docs = tokio::task::spawn_blocking(move || -> Result<(Value, Value)> {
        let mut store = Store::open(&db_path(&dir))?;
        let status = status_doc(&dir, &mut store)?;
        let view = store.view(None)?;
        let defs = store.definitions()?;
        Ok((status, crate::present::assessment_doc(&view, &defs, None)))
    })
    .await
    .unwrap_or_else(|e| Err(AgentError::io("officer UI", std::io::Error::other(e))));
    match docs {
        Ok((status, assessment)) => html_response(
            StatusCode::OK,
            page(
                lang.pick("Trang chính", "Home"),
                lang,
                home_body(&status, &assessment, lang),
            ),
        ),
        Err(e) => error_page(&e, lang),
    }
}
