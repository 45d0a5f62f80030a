//! The JSON API of signed-in people under `/api/v1`: status and report, devices and
//! enrollment codes, definitions, the audit log, every dashboard page as JSON, table
//! exports (CSV, XLSX), verification (analysts) and the phase plan (admins). In: a
//! [`Caller`] and the request. Out: a JSON document or a file; every refusal is
//! audited under the caller's name.

use super::body::{self, DEFINITIONS_BODY, SMALL_BODY};
use super::extract::{Caller, PageQuery, Params};
use super::{json_response, AppState};
use crate::admin::{self, Actor};
use crate::clock::now_ms;
use crate::error::{Body as JsonBody, HubError, Missing, Rule};
use crate::export;
use crate::pages::PageRef;
use crate::store::{Access, HubStore, Role, Verification};
use crate::views;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use cchc_common::{Lang, Period, Score, UnitCode};
use serde::Serialize;

/// What a signed-in handler answers: a JSON document or a file to download.
pub enum Reply {
    /// A JSON document, serialized.
    Json(serde_json::Value),
    /// A file.
    File {
        /// Its media type.
        content_type: &'static str,
        /// Its name for the browser.
        name: String,
        /// Its bytes.
        bytes: Vec<u8>,
    },
}

impl Reply {
    /// A typed document.
    fn doc<T: Serialize>(v: &T) -> Result<Reply, HubError> {
        serde_json::to_value(v)
            .map(Reply::Json)
            .map_err(|e| HubError::Internal(format!("JSON document: {e}")))
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Reply::Json(v) => json_response(StatusCode::OK, &v),
            Reply::File {
                content_type,
                name,
                bytes,
            } => {
                let mut resp = (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
                    bytes,
                )
                    .into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                    resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
                }
                resp
            }
        }
    }
}

/// A refusal, audited under the caller's name.
async fn refused(state: &AppState, caller: &Caller, action: &str, e: HubError) -> Response {
    state
        .audit_refusal(
            caller.ip,
            Some(caller.actor().name),
            action,
            String::new(),
            &e,
        )
        .await;
    e.into_response()
}

/// Runs a signed-in handler: role check, then the store work off the async threads;
/// a refusal is audited under the caller's name.
async fn answer<F>(
    state: &AppState,
    caller: &Caller,
    action: &str,
    needs: Role,
    work: F,
) -> Response
where
    F: FnOnce(&dyn HubStore, Actor) -> Result<Reply, HubError> + Send + 'static,
{
    if let Err(e) = caller.require(needs) {
        return refused(state, caller, action, e).await;
    }
    let actor = caller.actor();
    match state.run(move |store| work(store, actor)).await {
        Ok(v) => v.into_response(),
        Err(e) => refused(state, caller, action, e).await,
    }
}

/// [`answer`] for a handler with a request body: the role is checked before a byte
/// of the body is read (within `limit` and the caller's share of the budget).
async fn answer_with_body<F>(
    state: &AppState,
    caller: &Caller,
    action: &str,
    needs: Role,
    (body, limit): (Body, usize),
    work: F,
) -> Response
where
    F: FnOnce(&dyn HubStore, Actor, body::Held) -> Result<Reply, HubError> + Send + 'static,
{
    if let Err(e) = caller.require(needs) {
        return refused(state, caller, action, e).await;
    }
    match body::read(body, limit, &state.bodies, caller.ip).await {
        Ok(held) => {
            answer(state, caller, action, needs, move |store, actor| {
                work(store, actor, held)
            })
            .await
        }
        Err(e) => e.into_response(),
    }
}

/// `GET /api/v1/status`.
pub async fn status(State(state): State<AppState>, caller: Caller) -> Response {
    answer(&state, &caller, "status", Role::Viewer, |store, _| {
        Reply::doc(&views::status_doc(store)?)
    })
    .await
}

#[derive(serde::Deserialize)]
pub(super) struct PeriodParam {
    period: Option<String>,
}

/// `GET /api/v1/report?period=2026-11` (a month, quarter or year).
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<PeriodParam>,
) -> Response {
    answer(&state, &caller, "report", Role::Viewer, move |store, _| {
        let period: Period = q
            .period
            .ok_or_else(|| HubError::input("period", "", Rule::Required))?
            .parse()
            .map_err(HubError::Invalid)?;
        Reply::doc(&views::report_doc(store, period)?)
    })
    .await
}

/// `GET /api/v1/devices`.
pub async fn devices(State(state): State<AppState>, caller: Caller) -> Response {
    answer(&state, &caller, "device.list", Role::Viewer, |store, _| {
        Reply::doc(&admin::devices_doc(&store.devices()?))
    })
    .await
}

#[derive(Serialize)]
struct Revoked {
    id: String,
    revoked: bool,
    already: bool,
}

/// `POST /api/v1/devices/{id}/revoke` (admin).
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    answer(
        &state,
        &caller,
        "device.revoke",
        Role::Admin,
        move |store, actor| {
            let (id, done) = admin::revoke(store as &dyn Access, &id, &actor, now_ms())?;
            Reply::doc(&Revoked {
                id: id.to_string(),
                revoked: true,
                already: !done,
            })
        },
    )
    .await
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollmentRequest {
    unit: u32,
    #[serde(default)]
    expires: Option<String>,
}

/// `POST /api/v1/enrollments` (admin): `{"unit": 70, "expires": "7d"}`.
pub async fn create_enrollment(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Response {
    answer_with_body(
        &state,
        &caller,
        "enroll.create",
        Role::Admin,
        (body, SMALL_BODY),
        move |store, actor, body| {
            let req: EnrollmentRequest = body::json(&body, JsonBody::EnrollmentCode)?;
            let lifetime =
                admin::parse_lifetime(req.expires.as_deref().unwrap_or("7d"), "expires")?;
            let unit = UnitCode(req.unit);
            let (code, expires) =
                admin::create_code(store as &dyn Access, unit, lifetime, &actor, now_ms())?;
            Reply::doc(&admin::code_doc(&code, unit, expires))
        },
    )
    .await
}

#[derive(Serialize)]
struct Published {
    published: u32,
}

/// `POST /api/v1/definitions` (admin): a signed definitions bundle.
pub async fn publish_definitions(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Response {
    answer_with_body(
        &state,
        &caller,
        "definitions.publish",
        Role::Admin,
        (body, DEFINITIONS_BODY),
        move |store, actor, body| match crate::release::publish(
            store,
            None,
            &body,
            "request body",
            &actor,
            now_ms(),
        )? {
            crate::release::Published::Definitions(version) => {
                Reply::doc(&Published { published: version })
            }
            crate::release::Published::Agent { .. } => {
                unreachable!("agent bundles are refused without a directory")
            }
        },
    )
    .await
}

#[derive(serde::Deserialize)]
pub(super) struct AuditParams {
    limit: Option<String>,
    action: Option<String>,
}

/// `GET /api/v1/audit?limit=100&action=login` (analysts and admins).
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<AuditParams>,
) -> Response {
    answer(&state, &caller, "audit", Role::Analyst, move |store, _| {
        let limit = match q.limit.as_deref().map(str::trim) {
            None | Some("") => 100,
            Some(l) => l
                .parse::<usize>()
                .map_err(|_| HubError::input("limit", l, Rule::WholeNumber))?,
        };
        Reply::doc(&admin::audit_doc(
            &store.audit_log(limit.min(10_000), q.action.as_deref())?,
        ))
    })
    .await
}

/// The page a `/api/v1/…` dashboard path names.
fn page_ref(uri: &Uri, q: &PageQuery) -> Result<PageRef, HubError> {
    let path = uri.path().trim_start_matches("/api/v1/");
    let name = match path.split_once('/') {
        Some(("phases", n)) => format!("phase-{n}"),
        Some(("communes", c)) => format!("commune-{c}"),
        Some(("provinces", p)) => format!("province-{p}"),
        _ if path == "updates" => "releases".to_string(),
        _ => path.to_string(),
    };
    PageRef::parse(&name, q.period.as_deref(), q.year.as_deref(), now_ms())
}

/// `GET /api/v1/overview`, `/completeness`, `/figures` (`?period=YYYY-MM`),
/// `/phases/{n}`, `/communes/{code}` (`?year=`) and `/updates`: the page's JSON
/// document.
pub async fn page(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<PageQuery>,
    uri: Uri,
) -> Response {
    answer(
        &state,
        &caller,
        "dashboard",
        Role::Viewer,
        move |store, _| {
            let page = page_ref(&uri, &q)?.build(store)?;
            Reply::doc(&page)
        },
    )
    .await
}

/// `GET /api/v1/export/{page}/{table}.csv|.xlsx`: one table of a page.
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path((page, file)): Path<(String, String)>,
    Params(q): Params<PageQuery>,
) -> Response {
    let lang = q.lang.as_deref().and_then(Lang::parse).unwrap_or(Lang::Vi);
    answer(&state, &caller, "export", Role::Viewer, move |store, _| {
        let (table, ext) = file
            .rsplit_once('.')
            .ok_or_else(|| HubError::input("file", &file, Rule::ExportFormat))?;
        let r = PageRef::parse(&page, q.period.as_deref(), q.year.as_deref(), now_ms())?;
        let p = r.build(store)?;
        let t = p.table(table).ok_or_else(|| {
            HubError::NotFound(Missing::Table {
                page: page.clone(),
                table: table.to_string(),
            })
        })?;
        let suffix = p.period.map(|p| format!("-{p}")).unwrap_or_default();
        let name = format!("cchc-{page}-{table}{suffix}.{ext}");
        match ext {
            "csv" => Ok(Reply::File {
                content_type: "text/csv; charset=utf-8",
                name,
                bytes: export::csv(t, lang)?,
            }),
            "xlsx" => Ok(Reply::File {
                content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                name,
                bytes: export::xlsx(t, lang)?,
            }),
            _ => Err(HubError::input("file", &file, Rule::ExportFormat)),
        }
    })
    .await
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    phase: u32,
    scores: Vec<VerifyScore>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyScore {
    criterion: String,
    score: f64,
    #[serde(default)]
    comment: String,
}

#[derive(Serialize)]
struct Verified {
    unit: u32,
    phase: u32,
    recorded: usize,
}

/// `POST /api/v1/communes/{code}/verification` (analyst): `{"phase": 1, "scores":
/// [{"criterion": "TC-01", "score": 9.5, "comment": "…"}]}`.
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    Path(unit): Path<String>,
    body: Body,
) -> Response {
    let by = caller.session.shown_name().to_string();
    answer_with_body(
        &state,
        &caller,
        "verify",
        Role::Analyst,
        (body, SMALL_BODY),
        move |store, actor, body| {
            let unit = UnitCode::parse(&unit).map_err(HubError::Invalid)?;
            let req: VerifyRequest = body::json(&body, JsonBody::Verification)?;
            let scores = req
                .scores
                .iter()
                .map(|v| {
                    Ok(Verification {
                        criterion: v.criterion.clone(),
                        score: Score::from_f64(v.score).ok_or_else(|| {
                            HubError::Invalid(cchc_common::DomainError::BadScore {
                                input: v.score.to_string(),
                            })
                        })?,
                        comment: v.comment.clone(),
                    })
                })
                .collect::<Result<Vec<_>, HubError>>()?;
            let ops = admin::verify(store, unit, req.phase, &scores, &by, &actor, now_ms())?;
            Reply::doc(&Verified {
                unit: unit.0,
                phase: req.phase,
                recorded: ops.len(),
            })
        },
    )
    .await
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignRequest {
    phase: u32,
    units: Vec<u32>,
}

#[derive(Serialize)]
struct Assigned {
    phase: u32,
    assigned: usize,
}

/// `POST /api/v1/phases` (admin): `{"phase": 1, "units": [70, 73]}`.
pub async fn assign(State(state): State<AppState>, caller: Caller, body: Body) -> Response {
    answer_with_body(
        &state,
        &caller,
        "phase.assign",
        Role::Admin,
        (body, SMALL_BODY),
        move |store, actor, body| {
            let req: AssignRequest = body::json(&body, JsonBody::PhaseAssignment)?;
            let units: Vec<String> = req.units.iter().map(|u| u.to_string()).collect();
            let plan = admin::parse_plan(&units, Some(&req.phase.to_string()), None)?;
            admin::assign(store, &plan, &actor, now_ms())?;
            Reply::doc(&Assigned {
                phase: req.phase,
                assigned: plan.len(),
            })
        },
    )
    .await
}
