//! The pledge page (cam kết): for a year, each pledge signed at this station with its
//! tasks, their status and the progress; a form to sign (or re-sign) with tasks, one
//! to register a task and one per task to set its status. In: the forms. Out: HTML;
//! each save is one transaction of the same ops `cchc-agent pledge` makes, through the
//! same rules (`crdt::pledge_sign_op`, `task_add_op`, `task_status_op`); a refused
//! value is said next to its field with what was typed kept.

use super::pages::{date, failed, html_response, page};
use super::{blocking, Ctx, UiState};
use crate::commands::year;
use crate::error::{AgentError, Result};
use crate::present::status_label;
use axum::extract::{Form, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use cchc_common::op::TaskStatus;
use cchc_common::view::PledgeView;
use cchc_common::{crdt, Date, DomainError, Localize};
use maud::{html, Markup};
use std::collections::BTreeMap;

/// The query of the pledge page.
#[derive(serde::Deserialize)]
pub struct PledgeQuery {
    year: Option<String>,
    saved: Option<String>,
}

/// What a refused form shows again: typed values and messages by field name
/// (`sign.signer`, `task.<id>`, `add.<signer>` …).
#[derive(Default)]
struct Typed {
    values: BTreeMap<String, String>,
    errors: BTreeMap<String, String>,
}

impl Typed {
    fn value<'a>(&'a self, k: &str, default: &'a str) -> &'a str {
        self.values.get(k).map(String::as_str).unwrap_or(default)
    }
    fn error(&self, k: &str) -> Option<&str> {
        self.errors.get(k).map(String::as_str)
    }
}

const STATUSES: [TaskStatus; 3] = [
    TaskStatus::NotStarted,
    TaskStatus::InProgress,
    TaskStatus::Done,
];

fn status_code(s: TaskStatus) -> &'static str {
    match s {
        TaskStatus::NotStarted => "not_started",
        TaskStatus::InProgress => "in_progress",
        TaskStatus::Done => "done",
    }
}

fn this_year() -> i32 {
    crate::clock::today().year()
}

fn err_span(id: &str, e: Option<&str>) -> Markup {
    html! { @if let Some(e) = e { span.err id=(id) role="alert" { (e) } } }
}

fn pledge_block(p: &PledgeView, typed: &Typed, ctx: &Ctx) -> Markup {
    let lang = ctx.lang;
    let done = p
        .tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Done)
        .count();
    let pct = if p.tasks.is_empty() {
        0.0
    } else {
        100.0 * done as f64 / p.tasks.len() as f64
    };
    let key = cchc_common::text::slug(&p.signer);
    html! {
        section.pledge data-signer=(p.signer) {
            h2 { (p.signer) " — " (p.role) }
            p {
                (ctx.t("Ký ngày ", "Signed on ")) (p.signed_on.map(date).unwrap_or_else(|| "—".into()))
                " · " span.progress { (ctx.t("Hoàn thành ", "Done ")) (done) "/" (p.tasks.len()) " (" (lang.number(pct, 0)) " %)" }
                " " progress max=(p.tasks.len().max(1)) value=(done) aria-label=(ctx.t("Tiến độ", "Progress")) {}
            }
            table.tasks {
                thead { tr {
                    th scope="col" { (ctx.t("STT", "No.")) }
                    th scope="col" { (ctx.t("Nhiệm vụ", "Task")) }
                    th scope="col" { (ctx.t("Trạng thái", "Status")) }
                } }
                tbody {
                    @for (i, t) in p.tasks.iter().enumerate() {
                        @let sel = format!("status-{}", t.id);
                        tr data-task=(t.id) data-status=(status_code(t.status)) {
                            td { (i + 1) }
                            td { (t.title) }
                            td {
                                form method="post" action="/pledge/task" {
                                    input type="hidden" name="token" value=(ctx.token);
                                    input type="hidden" name="year" value=(p.year);
                                    input type="hidden" name="signer" value=(p.signer);
                                    input type="hidden" name="task" value=(t.id);
                                    label.sr for=(sel) { (ctx.t("Trạng thái của nhiệm vụ ", "Status of task ")) (i + 1) }
                                    select id=(sel) name="status" {
                                        @for s in STATUSES {
                                            option value=(status_code(s)) selected[s == t.status] { (status_label(s, lang)) }
                                        }
                                    }
                                    " "
                                    button type="submit" { (ctx.t("Cập nhật", "Update")) }
                                    (err_span(&format!("task-{}-error", t.id), typed.error(&format!("task.{}", t.id))))
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action="/pledge/task" {
                @let id = format!("add-{key}");
                input type="hidden" name="token" value=(ctx.token);
                input type="hidden" name="year" value=(p.year);
                input type="hidden" name="signer" value=(p.signer);
                label for=(id) { (ctx.t("Thêm nhiệm vụ", "Add a task")) }
                " "
                input id=(id) name="add" size="50" value=(typed.value(&format!("add.{key}"), ""));
                " "
                button type="submit" { (ctx.t("Thêm", "Add")) }
                (err_span(&format!("add-{key}-error"), typed.error(&format!("add.{key}"))))
            }
        }
    }
}

fn body(
    pledges: &[PledgeView],
    y: i32,
    shown: &str,
    typed: &Typed,
    saved: bool,
    ctx: &Ctx,
) -> Markup {
    let today = date(crate::clock::today());
    html! {
        form method="get" action="/pledge" {
            label for="year" { (ctx.t("Năm", "Year")) }
            " "
            input id="year" name="year" value=(shown) size="6" inputmode="numeric";
            " "
            button type="submit" { (ctx.t("Xem", "Show")) }
            (err_span("year-error", typed.error("year")))
        }
        @if saved { p.ok role="status" #saved { (ctx.t("Đã lưu vào máy này.", "Saved on this computer.")) } }
        // A refusal about a task that is not shown (withdrawn, or another year's).
        @for (k, e) in &typed.errors {
            @if k.strip_prefix("task.").is_some_and(|id| !pledges.iter().any(|p| p.tasks.iter().any(|t| t.id == id))) {
                p.warn role="alert" { (e) }
            }
        }
        @if pledges.is_empty() {
            p { (ctx.t("Chưa có cam kết nào cho năm ", "No pledge signed for ")) (y) "." }
        }
        @for p in pledges { (pledge_block(p, typed, ctx)) }
        h2 { (ctx.t("Ký cam kết năm ", "Sign the pledge for ")) (y) }
        form method="post" action="/pledge/sign" #sign {
            input type="hidden" name="token" value=(ctx.token);
            input type="hidden" name="year" value=(y);
            p {
                label for="signer" { (ctx.t("Họ tên người ký", "Signer's full name")) }
                " " input id="signer" name="signer" size="30" required value=(typed.value("sign.signer", ""));
                (err_span("signer-error", typed.error("sign.signer")))
            }
            p {
                label for="role" { (ctx.t("Chức vụ", "Role")) }
                " " input id="role" name="role" size="30" required value=(typed.value("sign.role", "Trưởng Công an xã"));
                (err_span("role-error", typed.error("sign.role")))
            }
            p {
                label for="date" { (ctx.t("Ngày ký (dd/mm/yyyy)", "Date signed (dd/mm/yyyy)")) }
                " " input id="date" name="date" size="12" value=(typed.value("sign.date", &today));
                (err_span("date-error", typed.error("sign.date")))
            }
            p {
                label for="tasks" { (ctx.t("Nhiệm vụ đăng ký (mỗi dòng một nhiệm vụ)", "Tasks registered (one per line)")) }
                br;
                textarea id="tasks" name="tasks" rows="4" cols="60" { (typed.value("sign.tasks", "")) }
                (err_span("tasks-error", typed.error("sign.tasks")))
            }
            @if let Some(e) = typed.error("sign") { p.warn role="alert" { (e) } }
            button type="submit" #sign-button { (ctx.t("Ký cam kết", "Sign")) }
        }
    }
}

async fn load(state: &UiState, y: i32) -> Result<Vec<PledgeView>> {
    let dir = (*state.dir).clone();
    blocking(move || {
        let mut store = super::open_store(&dir)?;
        Ok(store
            .view(None)?
            .pledges
            .into_iter()
            .filter(|p| p.year == y)
            .collect())
    })
    .await
}

async fn show(
    state: &UiState,
    ctx: &Ctx,
    y: i32,
    shown: &str,
    typed: &Typed,
    saved: bool,
    status: StatusCode,
) -> Response {
    let title = ctx.t("Cam kết", "Pledge");
    match load(state, y).await {
        Ok(p) => ctx.finish(
            html_response(
                status,
                page(title, ctx, body(&p, y, shown, typed, saved, ctx)),
            ),
            None,
        ),
        Err(e) => failed(title, &e, ctx),
    }
}

/// `GET /pledge?year=`.
pub async fn page_get(
    State(state): State<UiState>,
    ctx: Ctx,
    Query(q): Query<PledgeQuery>,
) -> Response {
    let shown = q.year.clone().unwrap_or_else(|| this_year().to_string());
    let mut typed = Typed::default();
    let (y, status) = match year(&shown) {
        Ok(y) => (y, StatusCode::OK),
        Err(e) => {
            typed.errors.insert("year".into(), e.localize(ctx.lang));
            (this_year(), StatusCode::BAD_REQUEST)
        }
    };
    show(&state, &ctx, y, &shown, &typed, q.saved.is_some(), status).await
}

/// Which field of the sign form an error is about.
fn sign_field(e: &AgentError) -> &'static str {
    match e {
        AgentError::Invalid(
            DomainError::EmptyText { field }
            | DomainError::TextTooLong { field, .. }
            | DomainError::ControlChars { field },
        ) => match *field {
            "signer" => "sign.signer",
            "role" => "sign.role",
            "title" => "sign.tasks",
            _ => "sign",
        },
        _ => "sign",
    }
}

fn saved_to(y: i32, ctx: &Ctx) -> Response {
    ctx.finish(
        (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, format!("/pledge?year={y}&saved=1"))],
        )
            .into_response(),
        None,
    )
}

/// `POST /pledge/sign`: signs (or re-signs) a pledge with its tasks, one transaction.
pub async fn sign(
    State(state): State<UiState>,
    ctx: Ctx,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| {
        f.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    if !ctx.token_ok(
        f.iter()
            .find(|(n, _)| n == "token")
            .map(|(_, v)| v.as_str()),
    ) {
        return ctx.refused();
    }
    let lang = ctx.lang;
    let mut typed = Typed::default();
    for k in ["signer", "role", "date", "tasks"] {
        typed.values.insert(format!("sign.{k}"), get(k));
    }
    let y = match year(&get("year")) {
        Ok(y) => y,
        Err(e) => {
            typed.errors.insert("sign".into(), e.localize(lang));
            this_year()
        }
    };
    let when = get("date");
    let signed_on = if when.trim().is_empty() {
        Ok(crate::clock::today())
    } else {
        when.parse::<Date>()
    };
    let signed_on = match signed_on {
        Ok(d) => d,
        Err(e) => {
            typed.errors.insert("sign.date".into(), e.localize(lang));
            crate::clock::today()
        }
    };
    if typed.errors.is_empty() {
        let dir = (*state.dir).clone();
        let (signer, role) = (get("signer"), get("role"));
        let tasks: Vec<String> = get("tasks")
            .lines()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect();
        let done = blocking(move || {
            let mut store = super::open_store(&dir)?;
            store.transact_local(crate::clock::now_ms(), |tx| {
                tx.edit(|_, ctx, _| Ok(crdt::pledge_sign_op(ctx, y, &signer, &role, signed_on)?))?;
                for t in &tasks {
                    tx.edit(|o, ctx, _| crdt::task_add_op(o, ctx, y, &signer, t))?;
                }
                Ok(())
            })
        })
        .await;
        match done {
            Ok(_) => return saved_to(y, &ctx),
            Err(e) => {
                typed.errors.insert(sign_field(&e).into(), e.localize(lang));
            }
        }
    }
    show(
        &state,
        &ctx,
        y,
        &y.to_string(),
        &typed,
        false,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// `POST /pledge/task`: registers a task (`add`) or sets a task's status.
pub async fn task(
    State(state): State<UiState>,
    ctx: Ctx,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if !ctx.token_ok(get("token").as_deref()) {
        return ctx.refused();
    }
    let lang = ctx.lang;
    let signer = get("signer").unwrap_or_default();
    let key = cchc_common::text::slug(&signer);
    let mut typed = Typed::default();
    let (field, y) = match (&get("add"), &get("task")) {
        (Some(add), _) => {
            typed.values.insert(format!("add.{key}"), add.clone());
            (format!("add.{key}"), year(&get("year").unwrap_or_default()))
        }
        (None, Some(t)) => (format!("task.{t}"), year(&get("year").unwrap_or_default())),
        (None, None) => (
            "year".to_string(),
            Err(DomainError::EmptyText { field: "task" }),
        ),
    };
    let y = match y {
        Ok(y) => y,
        Err(e) => {
            typed.errors.insert("year".into(), e.localize(lang));
            return show(
                &state,
                &ctx,
                this_year(),
                &this_year().to_string(),
                &typed,
                false,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let status = match get("status").map(|s| s.parse::<TaskStatus>()).transpose() {
        Ok(s) => s,
        Err(e) => {
            typed.errors.insert(field, e.localize(lang));
            return show(
                &state,
                &ctx,
                y,
                &y.to_string(),
                &typed,
                false,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let dir = (*state.dir).clone();
    let (add, task_id) = (get("add"), get("task").unwrap_or_default());
    let done = blocking(move || {
        let mut store = super::open_store(&dir)?;
        store.transact_local(crate::clock::now_ms(), |tx| {
            match (&add, status) {
                (Some(title), _) => {
                    tx.edit(|o, ctx, _| crdt::task_add_op(o, ctx, y, &signer, title))?
                }
                (None, Some(s)) => {
                    tx.edit(|o, ctx, _| crdt::task_status_op(o, ctx, y, &signer, &task_id, s))?
                }
                (None, None) => return Err(DomainError::EmptyText { field: "status" }.into()),
            };
            Ok(())
        })
    })
    .await;
    match done {
        Ok(_) => saved_to(y, &ctx),
        Err(e) => {
            typed.errors.insert(field, e.localize(lang));
            show(
                &state,
                &ctx,
                y,
                &y.to_string(),
                &typed,
                false,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}
