//! The sync page: "Đồng bộ ngay" asks the resident loop of `cchc-agent run` to sync
//! now (it is the only one that talks to the hub, so a click never races it); the
//! page shows the sync under way (refreshing itself every second, no script needed)
//! and the last result in plain words, including what the officer can do when the
//! hub cannot be reached (exit 7) or refuses (exit 8). For desks without a network,
//! the USB bundle: download this desk's ops as a file, or load a file from another
//! desk (all or nothing, the same checks as `cchc-agent bundle import`).

use super::pages::{failed, html_response, page};
use super::{blocking, Ctx, UiState};
use crate::error::{exit, AgentError};
use axum::extract::{Form, Multipart, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cchc_common::{Date, Lang, Localize};
use maud::{html, Markup, PreEscaped};
use std::sync::Arc;
use tokio::sync::{watch, Notify};

/// The last sync as the page tells it.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    /// A sync is under way (since `started_ms`).
    pub running: bool,
    /// When the sync under way (or the last) started.
    pub started_ms: i64,
    /// Syncs finished since the loop started.
    pub finished: u64,
    /// The last result, if any sync finished.
    pub last: Option<Outcome>,
}

/// One finished sync.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// When it finished.
    pub at_ms: i64,
    /// The exit code `cchc-agent sync` would have ended with.
    pub code: i32,
    /// What happened, in both languages.
    pub vi: String,
    /// What happened, in English.
    pub en: String,
}

impl Outcome {
    /// A sync that went through.
    pub fn synced(s: &crate::sync::Summary, at_ms: i64) -> Outcome {
        Outcome {
            at_ms,
            code: exit::OK,
            vi: crate::present::sync_summary(s, Lang::Vi),
            en: crate::present::sync_summary(s, Lang::En),
        }
    }

    /// A sync that failed.
    pub fn failed(e: &AgentError, at_ms: i64) -> Outcome {
        Outcome {
            at_ms,
            code: e.exit_code(),
            vi: e.localize(Lang::Vi),
            en: e.localize(Lang::En),
        }
    }
}

/// The link between the page and the resident loop.
#[derive(Clone, Default)]
pub struct SyncLink {
    now: Arc<Notify>,
    report: Arc<watch::Sender<SyncReport>>,
}

impl SyncLink {
    /// Waits until the page asks for a sync now.
    pub async fn asked(&self) {
        self.now.notified().await
    }

    /// A sync starts.
    pub fn started(&self, at_ms: i64) {
        self.report.send_modify(|r| {
            r.running = true;
            r.started_ms = at_ms;
        });
    }

    /// A sync finished.
    pub fn finished(&self, outcome: Outcome) {
        self.report.send_modify(|r| {
            r.running = false;
            r.finished += 1;
            r.last = Some(outcome);
        });
    }

    fn ask(&self, at_ms: i64) {
        self.report.send_modify(|r| {
            if !r.running {
                r.running = true;
                r.started_ms = at_ms;
            }
        });
        self.now.notify_one();
    }

    fn now(&self) -> SyncReport {
        self.report.borrow().clone()
    }
}

/// What an officer can do about a result, by the exit code the CLI would give.
fn advice(code: i32, ctx: &Ctx) -> &'static str {
    match code {
        exit::OK => "",
        exit::OFFLINE => ctx.t(
            "Chưa kết nối được máy chủ tỉnh (mã 7). Số liệu đã lưu an toàn trên máy này và sẽ tự gửi khi có mạng; không cần nhập lại. Nếu mất mạng lâu ngày, hãy chép tệp USB bên dưới mang sang máy có mạng.",
            "The provincial hub cannot be reached (code 7). The data is safe on this computer and will be sent by itself when the link is back; nothing needs entering again. If the link stays down, carry the USB file below to a desk that has one.",
        ),
        exit::HUB_REFUSED => ctx.t(
            "Máy chủ tỉnh từ chối nhận (mã 8). Số liệu vẫn nằm trên máy này. Hãy báo cán bộ phụ trách ở tỉnh, đọc cho họ dòng lý do dưới đây.",
            "The provincial hub refused the sync (code 8). The data stays on this computer. Tell the province's staff, reading them the reason below.",
        ),
        exit::STATE => ctx.t(
            "Máy này chưa được đăng ký với máy chủ tỉnh (mã 4). Xin tỉnh một mã đăng ký và chạy cchc-agent init --hub … --ca … --code ….",
            "This computer is not enrolled with the provincial hub (code 4). Ask the province for an enrollment code and run cchc-agent init --hub … --ca … --code ….",
        ),
        _ => ctx.t(
            "Đồng bộ chưa xong. Số liệu đã lưu vẫn an toàn; máy sẽ thử lại.",
            "The sync did not finish. The data saved is safe; it will be tried again.",
        ),
    }
}

/// The query of the sync page: `after` is the number of syncs finished when "sync
/// now" was pressed, so the page can tell the result of that sync from an older one.
#[derive(serde::Deserialize, Default)]
pub struct SyncQuery {
    after: Option<u64>,
}

fn body(
    r: &SyncReport,
    status: &serde_json::Value,
    note: Option<(bool, String)>,
    after: Option<u64>,
    ctx: &Ctx,
) -> Markup {
    let lang = ctx.lang;
    // Fresh: the sync asked for on this page has finished.
    let fresh = !r.running && after.is_some_and(|a| r.finished > a);
    let pending = status["ops_pending"].as_u64().unwrap_or(0);
    html! {
        @if let Some((ok, msg)) = &note {
            @if *ok { p.ok role="status" #note { (msg) } } @else { p.warn role="alert" #note { (msg) } }
        }
        p #pending { (ctx.t("Bản ghi chờ gửi: ", "Entries waiting to sync: ")) b { (lang.number(pending as f64, 0)) } }
        p { (ctx.t("Máy chủ tỉnh: ", "Provincial hub: ")) (status["hub_url"].as_str().unwrap_or("—")) }
        @if r.running {
            p role="status" #running {
                (ctx.t("Đang đồng bộ… ", "Syncing… ")) "("
                (((crate::clock::now_ms() - r.started_ms).max(0) / 1000)) (ctx.t(" giây", " s")) ")"
            }
        } @else {
            form method="post" action="/sync" {
                input type="hidden" name="token" value=(ctx.token);
                button type="submit" #sync-now { (ctx.t("Đồng bộ ngay", "Sync now")) }
            }
        }
        h2 { (ctx.t("Kết quả lần đồng bộ gần nhất", "The last sync")) }
        @match &r.last {
            Some(o) => {
                div #last data-code=(o.code) data-fresh=(if fresh { "1" } else { "0" }) class=(if o.code == exit::OK { "ok" } else { "warn" }) {
                    p { (Date::display_vn(o.at_ms)) ": " (lang.pick(&o.vi, &o.en)) }
                    @let a = advice(o.code, ctx);
                    @if !a.is_empty() { p { (a) } }
                }
            }
            None => {
                p #last {
                    (ctx.t("Chưa đồng bộ lần nào từ khi máy bật. Lần đồng bộ thành công cuối: ", "No sync since this program started. Last successful sync: "))
                    (status["last_sync_ms"].as_i64().map(Date::display_vn).unwrap_or_else(|| ctx.t("chưa có", "never").into()))
                }
            }
        }
        h2 { (ctx.t("Chép qua USB (khi không có mạng)", "By USB stick (without a network)")) }
        form method="post" action="/bundle/export" {
            input type="hidden" name="token" value=(ctx.token);
            button type="submit" #export { (ctx.t("Tải tệp số liệu của máy này", "Download this desk's data file")) }
        }
        form method="post" action="/bundle/import" enctype="multipart/form-data" {
            input type="hidden" name="token" value=(ctx.token);
            label for="bundle" { (ctx.t("Nạp tệp từ máy khác của cùng đơn vị", "Load a file from another desk of this station")) }
            " "
            input type="file" id="bundle" name="bundle" accept=".json,application/json";
            " "
            button type="submit" #import { (ctx.t("Nạp tệp", "Load")) }
        }
    }
}

async fn show(
    state: &UiState,
    ctx: &Ctx,
    note: Option<(bool, String)>,
    after: Option<u64>,
    code: StatusCode,
) -> Response {
    let title = ctx.t("Đồng bộ", "Sync");
    let dir = (*state.dir).clone();
    let status = blocking(move || {
        let mut store = super::open_store(&dir)?;
        crate::commands::status_doc(&dir, &mut store)
    })
    .await;
    let status = match status {
        Ok(s) => s,
        Err(e) => return failed(title, &e, ctx),
    };
    let r = state.sync.now();
    let mut m = page(title, ctx, body(&r, &status, note, after, ctx)).into_string();
    if r.running {
        // The page follows the sync by itself, without a script.
        m = m.replacen(
            "<head>",
            "<head><meta http-equiv=\"refresh\" content=\"1\">",
            1,
        );
    }
    ctx.finish(html_response(code, PreEscaped(m)), None)
}

/// `GET /sync`.
pub async fn page_get(
    State(state): State<UiState>,
    ctx: Ctx,
    Query(q): Query<SyncQuery>,
) -> Response {
    show(&state, &ctx, None, q.after, StatusCode::OK).await
}

fn token_of(f: &[(String, String)]) -> Option<&str> {
    f.iter()
        .find(|(n, _)| n == "token")
        .map(|(_, v)| v.as_str())
}

/// `POST /sync`: asks the loop to sync now, then shows the page following it.
pub async fn now(
    State(state): State<UiState>,
    ctx: Ctx,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    if !ctx.token_ok(token_of(&f)) {
        return ctx.refused();
    }
    // A sync already under way may have started before the last entry: the result
    // the officer waits for is the one after it.
    let r = state.sync.now();
    let before = r.finished + u64::from(r.running);
    state.sync.ask(crate::clock::now_ms());
    let to = format!("/sync?after={before}");
    ctx.finish(
        (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response(),
        None,
    )
}

/// `POST /bundle/export`: this desk's ops as a bundle file download.
pub async fn export(
    State(state): State<UiState>,
    ctx: Ctx,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    if !ctx.token_ok(token_of(&f)) {
        return ctx.refused();
    }
    let dir = (*state.dir).clone();
    let made = blocking(move || {
        let mut store = super::open_store(&dir)?;
        let id = store.identity()?;
        let b = crate::bundle::export(&mut store, &Default::default(), crate::clock::now_ms())?;
        let bytes = serde_json::to_vec(&b).expect("a bundle serializes");
        let day = crate::clock::today().to_string();
        Ok((format!("cchc-{}-{}-{day}.json", id.unit, id.actor), bytes))
    })
    .await;
    match made {
        Ok((name, bytes)) => {
            let mut resp = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                bytes,
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            resp
        }
        Err(e) => failed(ctx.t("Đồng bộ", "Sync"), &e, &ctx),
    }
}

/// `POST /bundle/import` (multipart: `token`, `bundle`): applies another desk's file.
pub async fn import(State(state): State<UiState>, ctx: Ctx, mut form: Multipart) -> Response {
    let mut token = None;
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut broken = None;
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_string();
                let fname = field.file_name().unwrap_or("bundle").to_string();
                match field.bytes().await {
                    Ok(b) if name == "token" => {
                        token = Some(String::from_utf8_lossy(&b).into_owned())
                    }
                    Ok(b) if name == "bundle" => file = Some((fname, b.to_vec())),
                    Ok(_) => {}
                    Err(e) => broken = Some(e.body_text()),
                }
            }
            Ok(None) => break,
            Err(e) => {
                broken = Some(e.body_text());
                break;
            }
        }
    }
    if !ctx.token_ok(token.as_deref()) {
        return ctx.refused();
    }
    let lang = ctx.lang;
    let (name, bytes) = match (broken, file) {
        (None, Some(f)) if !f.1.is_empty() => f,
        (Some(e), _) => {
            return show(
                &state,
                &ctx,
                Some((false, e)),
                None,
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        _ => {
            let m = ctx.t("Hãy chọn một tệp.", "Choose a file.").to_string();
            return show(
                &state,
                &ctx,
                Some((false, m)),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let dir = (*state.dir).clone();
    let done = blocking(move || {
        let path = std::path::PathBuf::from(&name);
        let b = cchc_common::bundle::parse(&bytes).map_err(|e| AgentError::BadFile {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        let mut store = super::open_store(&dir)?;
        crate::bundle::import(&mut store, b, &path, crate::clock::now_ms())
    })
    .await;
    match done {
        Ok(d) => {
            let mut msg = crate::present::imported(&d, lang);
            if let Some(w) = crate::present::imported_clock(&d, lang) {
                msg = format!("{msg} {w}");
            }
            show(&state, &ctx, Some((true, msg)), None, StatusCode::OK).await
        }
        Err(e) => {
            show(
                &state,
                &ctx,
                Some((false, e.localize(lang))),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}
