//! The officers' pages. Home: the commune, its device, what waits to sync, the last
//! sync, clock warnings, the definitions in force, and per phase the self and verified
//! scores with the province's comments. In: the same documents as `status --json` and
//! `assess show --json` (one source for the command line and the page). Out: HTML.

use super::{blocking, Ctx, UiState};
use crate::commands::status_doc;
use crate::error::AgentError;
use axum::extract::State;
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
label.sr{position:absolute;left:-9999px}#who{margin-left:auto}\
input,select,textarea,button{font:inherit}button{padding:.3rem .8rem}a:focus,input:focus,button:focus,select:focus,textarea:focus{outline:3px solid #e0b000}\
.ok{background:#e6f4ea;border:1px solid #2e7d32;padding:.5rem}.corr{background:#fdecea}.err{color:#a00;display:block}.total{display:block;color:#555}\
table{border-collapse:collapse;margin:.5rem 0}th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left}";

/// The officers' pages, in the order of the navigation.
const NAV: [(&str, &str, &str); 5] = [
    ("/", "Trang chính", "Home"),
    ("/ledger", "Sổ theo dõi tháng", "Monthly ledger"),
    ("/pledge", "Cam kết", "Pledge"),
    ("/assess", "Tự đánh giá", "Self-assessment"),
    ("/sync", "Đồng bộ", "Sync"),
];

/// A path and query as the language switch carries it back.
fn back_param(here: &str) -> String {
    here.replace('%', "%25")
        .replace('&', "%26")
        .replace('=', "%3D")
        .replace('?', "%3F")
}

/// A page of the officers' UI: header, navigation, who is entering, language switch.
pub(super) fn page(title: &str, ctx: &Ctx, body: Markup) -> Markup {
    let lang = ctx.lang;
    let other = match lang {
        Lang::Vi => ("en", "English"),
        Lang::En => ("vi", "Tiếng Việt"),
    };
    let path = ctx.here.split('?').next().unwrap_or("/");
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
                    nav aria-label=(ctx.t("Các trang", "Pages")) {
                        @for (href, vi, en) in NAV {
                            @if href == path {
                                a href=(href) aria-current="page" { (lang.pick(vi, en)) }
                            } @else {
                                a href=(href) { (lang.pick(vi, en)) }
                            }
                        }
                    }
                    @if !ctx.who.is_empty() {
                        span #who { (ctx.t("Người nhập: ", "Entered by: ")) (ctx.who) }
                    }
                    a #lang href=(format!("/lang/{}?back={}", other.0, back_param(&ctx.here))) hreflang=(other.0) { (other.1) }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// The "entered by" field of a form that saves: pre-filled with the session's name.
pub(super) fn who_field(ctx: &Ctx, typed: Option<&str>, error: Option<&str>) -> Markup {
    html! {
        p {
            label for="by" { (ctx.t("Người nhập (tên ngắn, ghi vào lịch sử)", "Entered by (a short name, kept in the history)")) }
            " "
            input id="by" name="by" required maxlength="40" autocomplete="name"
                value=(typed.unwrap_or(&ctx.who)) aria-invalid=(error.is_some())
                aria-describedby=[error.map(|_| "by-error")];
            @if let Some(e) = error { span.err #by-error role="alert" { (e) } }
        }
    }
}

/// A date as officers write it: dd/mm/yyyy.
pub(super) fn date(d: Date) -> String {
    d.to_vn_string()
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

fn home_body(status: &Value, assessment: &Value, ctx: &Ctx) -> Markup {
    let lang = ctx.lang;
    let pending = status["ops_pending"].as_u64().unwrap_or(0);
    let phase = status["phase"].as_u64();
    let phases = assessment["phases"].as_array().cloned().unwrap_or_default();
    // The phase shown first: the one the province assigned, else the first scored.
    let current = phases
        .iter()
        .find(|ph| Some(ph["phase"].as_u64().unwrap_or(0)) == phase)
        .or_else(|| {
            phases
                .iter()
                .find(|ph| ph["scored"].as_u64().unwrap_or(0) > 0)
        })
        .or(phases.first());
    html! {
        p #unit {
            (status["unit_name"].as_str().unwrap_or("")) " ("
            (ctx.t("mã", "code")) " " (status["unit"]) "), "
            (status["province_name"].as_str().unwrap_or(""))
        }
        @if status["clock_warning"] == true {
            p.warn role="alert" #clock {
                (ctx.t(
                    "Đồng hồ của máy này lệch nhiều so với máy chủ tỉnh hoặc máy khác: hãy chỉnh lại giờ.",
                    "This computer's clock is far from the hub's or another desk's: set it right.",
                ))
            }
        }
        div.cards {
            div.card #phase {
                b { @match phase { Some(p) => { (ctx.t("Giai đoạn ", "Phase ")) (p) }, None => "—" } }
                @if phase.is_none() { (ctx.t("tỉnh chưa xếp giai đoạn", "no phase assigned yet")) } @else { (ctx.t("giai đoạn triển khai", "rollout phase")) }
            }
            @if let Some(ph) = current {
                div.card #score {
                    b { (num(&ph["self_total"], lang)) " / " (num(&ph["max_total"], lang)) }
                    (ctx.t("tự chấm", "self-score")) " · " (ctx.t("giai đoạn ", "phase ")) (ph["phase"])
                }
                div.card #verified {
                    b { (num(&ph["verified_total"], lang)) }
                    (ctx.t("tỉnh thẩm định", "verified by the province"))
                    @if let Some(g) = ph["grade"].as_str() { " · " (ctx.t("xếp loại ", "grade ")) (g) }
                }
            }
            div.card #pending { b { (lang.number(pending as f64, 0)) } (ctx.t("bản ghi chờ gửi", "entries waiting to sync")) }
            div.card #last-sync { b { (when(status["last_sync_ms"].as_i64(), lang)) } (ctx.t("lần đồng bộ cuối", "last sync")) }
            div.card #definitions { b { (status["definitions_version"]) } (ctx.t("phiên bản bộ định nghĩa", "definitions version")) }
            div.card { b { (status["device"].as_str().unwrap_or("")) } (ctx.t("mã máy", "device")) }
        }
        h2 { (ctx.t("Nhận xét của tỉnh", "The province's comments")) }
        @let comments: Vec<(&Value, &Value)> = phases.iter()
            .flat_map(|ph| ph["criteria"].as_array().into_iter().flatten().map(move |c| (ph, c)))
            .filter(|(_, c)| c["verified"]["comment"].as_str().is_some_and(|t| !t.is_empty()))
            .collect();
        @if comments.is_empty() {
            p { (ctx.t("Chưa có nhận xét nào.", "No comments yet.")) }
        } @else {
            ul #comments {
                @for (ph, c) in &comments {
                    li {
                        (ctx.t("Giai đoạn ", "Phase ")) (ph["phase"]) ", " (c["code"].as_str().unwrap_or("")) " "
                        (c["name"].as_str().unwrap_or("")) ": " q { (c["verified"]["comment"].as_str().unwrap_or("")) }
                        " — " (c["verified"]["by"].as_str().unwrap_or(""))
                        " (" (num(&c["verified"]["score"], lang)) "/" (num(&c["max_score"], lang)) ")"
                    }
                }
            }
        }
        @for ph in &phases {
            @if ph["scored"].as_u64().unwrap_or(0) > 0 || ph["verified"].as_u64().unwrap_or(0) > 0 {
                h2 { (ph["name"].as_str().unwrap_or("")) }
                p {
                    (ctx.t("Tự chấm", "Self-score")) ": " (num(&ph["self_total"], lang))
                    " / " (num(&ph["max_total"], lang))
                    " · " (ctx.t("Thẩm định", "Verified")) ": " (num(&ph["verified_total"], lang))
                    " · " (ctx.t("Ngưỡng đạt", "Pass mark")) ": " (num(&ph["pass_threshold"], lang))
                    @if let Some(g) = ph["grade"].as_str() { " · " (ctx.t("Xếp loại", "Grade")) ": " (g) }
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

/// A page saying the data could not be read or saved, and why.
pub(super) fn failed(title: &str, e: &AgentError, ctx: &Ctx) -> Response {
    ctx.finish(
        html_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            page(
                title,
                ctx,
                html! { p role="alert" { (e.localize(ctx.lang)) } },
            ),
        ),
        None,
    )
}

/// `GET /`: the home page.
pub async fn home(State(state): State<UiState>, ctx: Ctx) -> Response {
    let title = ctx.t("Trang chính", "Home");
    let dir = (*state.dir).clone();
    let docs = blocking(move || {
        let mut store = super::open_store(&dir)?;
        let status = status_doc(&dir, &mut store)?;
        let view = store.view(None)?;
        let defs = store.definitions()?;
        Ok((status, crate::present::assessment_doc(&view, &defs, None)))
    })
    .await;
    match docs {
        Ok((status, assessment)) => ctx.finish(
            html_response(
                StatusCode::OK,
                page(title, &ctx, home_body(&status, &assessment, &ctx)),
            ),
            None,
        ),
        Err(e) => failed(title, &e, &ctx),
    }
}
