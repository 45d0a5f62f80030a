//! The HTML dashboard's routes: the pages (overview, phase, commune, completeness,
//! figures) and the analysts' verification form. In: a [`Caller`], the reader's
//! language and the page's parameters. Out: a page in the frame; a refusal is a page
//! saying why (audited), never a bare JSON body.

use super::body::{self, SMALL_BODY};
use super::extract::{Caller, Params, Reading};
use super::{html_response, redirect, AppState};
use crate::clock::now_ms;
use crate::error::HubError;
use crate::html::{self, forms::Entered, Reader};
use crate::pages::{self, PageRef};
use crate::store::{Dashboard, HubStore, Role, Verification};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use cchc_common::{Lang, Localize, Score, UnitCode};
use maud::Markup;
use std::collections::BTreeMap;

/// The navigation: the phases of the definitions in force, and the provinces' page on
/// a hub of several provinces.
pub(super) fn phase_numbers(store: &dyn HubStore) -> Result<html::Nav, HubError> {
    Ok(html::Nav {
        phases: store
            .newest_definitions()?
            .phases
            .iter()
            .map(|p| p.phase)
            .collect(),
        provinces: store.province()?.code == 0,
    })
}

/// Who reads a page, where and in which language: what every page handler shares.
pub(super) struct Frame {
    pub(super) caller: Caller,
    pub(super) reading: Reading,
    pub(super) path: String,
}

impl Frame {
    pub(super) fn lang(&self) -> Lang {
        self.reading.lang
    }

    /// A page in the frame.
    pub(super) fn page(
        &self,
        status: StatusCode,
        title: &str,
        body: Markup,
        phases: &html::Nav,
    ) -> Response {
        let reader = Reader {
            user: &self.caller.session.user,
            role: self.caller.session.role.as_str(),
        };
        let page = html::frame(title, body, &reader, &self.path, self.lang(), phases);
        html_response(status, page, self.reading)
    }

    /// A refusal or failure as a page; refusals are audited, failures not detailed.
    pub(super) async fn error(&self, state: &AppState, action: &str, e: HubError) -> Response {
        state
            .audit_refusal(
                self.caller.ip,
                Some(self.caller.session.actor()),
                action,
                self.path.clone(),
                &e,
            )
            .await;
        let lang = self.lang();
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let msg = if status.is_server_error() {
            lang.pick(
                "Máy chủ gặp lỗi; lỗi đã được ghi lại.",
                "The hub failed; it has been logged.",
            )
            .to_string()
        } else {
            e.localize(lang)
        };
        self.page(
            status,
            lang.pick("Lỗi", "Error"),
            html::error_body(&msg),
            &html::Nav {
                phases: vec![1, 2, 3],
                provinces: false,
            },
        )
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct DashboardQuery {
    period: Option<String>,
    year: Option<String>,
    /// After a verification: how many scores were recorded.
    saved: Option<String>,
}

/// `GET /`, `/completeness`, `/figures`, `/phase/{n}`, `/commune/{code}`.
pub async fn dashboard(
    State(state): State<AppState>,
    caller: Caller,
    reading: Reading,
    uri: Uri,
    query: Result<Params<DashboardQuery>, HubError>,
) -> Response {
    let path = uri.path().to_string();
    let frame = Frame {
        caller,
        reading,
        path: path.clone(),
    };
    let name = match path.trim_start_matches('/').split_once('/') {
        Some(("phase", n)) => format!("phase-{n}"),
        Some(("commune", c)) => format!("commune-{c}"),
        Some(("province", p)) => format!("province-{p}"),
        _ if path == "/" => "overview".to_string(),
        _ => path.trim_start_matches('/').to_string(),
    };
    let result = async {
        frame.caller.require(Role::Viewer)?;
        let Params(q) = query?;
        let r = PageRef::parse(&name, q.period.as_deref(), q.year.as_deref(), now_ms())?;
        let page = state
            .run(move |store| {
                let page = r.build(store)?;
                Ok((page, phase_numbers(store)?))
            })
            .await?;
        Ok::<_, HubError>((page, q.saved.and_then(|n| n.trim().parse::<u32>().ok())))
    }
    .await;
    match result {
        Ok(((page, phases), saved)) => {
            let lang = frame.lang();
            let extra = match path.strip_prefix("/commune/") {
                Some(unit) => html::forms::commune_notes(
                    unit,
                    saved,
                    frame.caller.require(Role::Analyst).is_ok(),
                    lang,
                ),
                None => maud::html! {},
            };
            let body = html::page_body(&page, &path, lang, extra);
            frame.page(StatusCode::OK, lang.pick(&page.vi, &page.en), body, &phases)
        }
        Err(e) => frame.error(&state, "dashboard", e).await,
    }
}

fn verify_title(form: &pages::VerifyForm, lang: Lang) -> String {
    format!(
        "{} {} ({})",
        lang.pick("Thẩm định", "Verification of"),
        form.name,
        form.unit
    )
}

/// `GET /verify/{unit}` (analyst): the verification form.
pub async fn verify_form(
    State(state): State<AppState>,
    caller: Caller,
    reading: Reading,
    Path(unit): Path<String>,
    uri: Uri,
) -> Response {
    let frame = Frame {
        caller,
        reading,
        path: uri.path().to_string(),
    };
    let result = async {
        frame.caller.require(Role::Analyst)?;
        let unit = UnitCode::parse(&unit).map_err(HubError::Invalid)?;
        state
            .run(move |store| {
                let form = pages::verify_form(store as &dyn Dashboard, unit)?;
                Ok((form, phase_numbers(store)?))
            })
            .await
    }
    .await;
    match result {
        Ok((form, phases)) => {
            let token = frame.caller.session.form_token();
            let body = html::forms::verify_form(&form, &token, None, None, frame.lang());
            frame.page(
                StatusCode::OK,
                &verify_title(&form, frame.lang()),
                body,
                &phases,
            )
        }
        Err(e) => frame.error(&state, "verify", e).await,
    }
}

/// `POST /verify/{unit}` (analyst) from the form: every score is checked before any is
/// stored; on a mistake the form comes back with what was typed and the reason.
pub async fn verify_submit(
    State(state): State<AppState>,
    caller: Caller,
    reading: Reading,
    Path(unit): Path<String>,
    uri: Uri,
    body: Body,
) -> Response {
    let frame = Frame {
        caller,
        reading,
        path: uri.path().to_string(),
    };
    let lang = frame.lang();
    let ready = async {
        frame.caller.require(Role::Analyst)?;
        let body = body::read(body, SMALL_BODY, &state.bodies, frame.caller.ip).await?;
        let fields: BTreeMap<String, String> = body::form(&body)?;
        frame
            .caller
            .session
            .check_form_token(fields.get("csrf").map(String::as_str))?;
        let unit = UnitCode::parse(&unit).map_err(HubError::Invalid)?;
        Ok::<_, HubError>((unit, fields))
    }
    .await;
    let (unit, fields) = match ready {
        Ok(v) => v,
        Err(e) => return frame.error(&state, "verify", e).await,
    };
    let by = frame.caller.session.shown_name().to_string();
    let actor = frame.caller.actor();
    let outcome = state
        .run(move |store| {
            let form = pages::verify_form(store as &dyn Dashboard, unit)?;
            let phases = phase_numbers(store)?;
            let field = |name: String| fields.get(&name).cloned().unwrap_or_default();
            let mut entered = Entered::new();
            let mut scores = Vec::new();
            let mut problems = Vec::new();
            for r in &form.rows {
                let text = field(format!("s_{}", r.code));
                let comment = field(format!("c_{}", r.code));
                entered.insert(r.code.clone(), (text.clone(), comment.clone()));
                if text.trim().is_empty() {
                    continue;
                }
                match Score::parse(&text) {
                    Ok(score) => scores.push(Verification {
                        criterion: r.code.clone(),
                        score,
                        comment,
                    }),
                    Err(e) => problems.push((r.code.clone(), e)),
                }
            }
            let phase = field("phase".into()).trim().parse::<u32>().unwrap_or(0);
            let result = if problems.is_empty() {
                crate::admin::verify(store, unit, phase, &scores, &by, &actor, now_ms())
                    .map(|ops| ops.len())
            } else {
                Err(HubError::BadForm { problems })
            };
            Ok((form, phases, entered, result))
        })
        .await;
    match outcome {
        Ok((_, _, _, Ok(n))) => redirect(&format!("/commune/{unit}?saved={n}")),
        Ok((form, phases, entered, Err(e))) => {
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            if status.is_server_error() {
                return frame.error(&state, "verify", e).await;
            }
            state
                .audit_refusal(
                    frame.caller.ip,
                    Some(frame.caller.session.actor()),
                    "verify",
                    frame.path.clone(),
                    &e,
                )
                .await;
            let token = frame.caller.session.form_token();
            let msg = e.localize(lang);
            let body = html::forms::verify_form(&form, &token, Some(&entered), Some(&msg), lang);
            frame.page(status, &verify_title(&form, lang), body, &phases)
        }
        Err(e) => frame.error(&state, "verify", e).await,
    }
}
