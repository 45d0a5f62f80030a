//! The self-assessment page (tự đánh giá): for a phase, each criterion with its
//! maximum, this station's score and evidence, and — once the province has verified
//! — the verified score and the province's comment beside it. In: the form (a score
//! and an evidence note per criterion). Out: HTML; the changed criteria are saved as
//! one transaction of the ops `cchc-agent assess` makes (`crdt::assess_op`, the same
//! score rules), each with who entered it. A refused score is said next to its field
//! with what was typed kept.

use super::pages::{failed, html_response, page, who_field};
use super::{blocking, Ctx, UiState};
use crate::commands::whole;
use crate::error::Result;
use axum::extract::{Form, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use cchc_common::view::StateView;
use cchc_common::{crdt, Definitions, Localize, Score};
use maud::{html, Markup};
use std::collections::BTreeMap;

/// The query of the page.
#[derive(serde::Deserialize)]
pub struct AssessQuery {
    phase: Option<String>,
    saved: Option<String>,
}

#[derive(Default)]
struct Typed {
    values: BTreeMap<String, String>,
    errors: BTreeMap<String, String>,
}

#[allow(clippy::too_many_arguments)]
fn body(
    view: &StateView,
    defs: &Definitions,
    phase: u32,
    assigned: Option<u32>,
    typed: &Typed,
    saved: Option<&str>,
    ctx: &Ctx,
) -> Markup {
    let lang = ctx.lang;
    let doc = crate::present::assessment_doc(view, defs, Some(phase));
    let ph = &doc["phases"][0];
    let score_text = |v: &serde_json::Value| {
        v.as_f64()
            .and_then(Score::from_f64)
            .map(|s| s.display(lang))
            .unwrap_or_default()
    };
    html! {
        form method="get" action="/assess" {
            label for="phase" { (ctx.t("Giai đoạn", "Phase")) }
            " "
            select id="phase" name="phase" {
                @for p in &defs.phases {
                    option value=(p.phase) selected[p.phase == phase] { (p.phase) " — " (p.name) }
                }
            }
            " "
            button type="submit" { (ctx.t("Xem", "Show")) }
        }
        @if let Some(n) = saved {
            p.ok role="status" #saved { (ctx.t("Đã lưu điểm của ", "Saved the scores of ")) (n) (ctx.t(" tiêu chí vào máy này.", " criteria on this computer.")) }
        }
        p #totals {
            (ctx.t("Tự chấm", "Self-score")) ": " (score_text(&ph["self_total"])) " / " (score_text(&ph["max_total"]))
            " · " (ctx.t("đã chấm ", "scored ")) (ph["scored"]) "/" (ph["criteria"].as_array().map(|a| a.len()).unwrap_or(0))
            " · " (ctx.t("Ngưỡng đạt", "Pass mark")) ": " (score_text(&ph["pass_threshold"]))
            " · " (ctx.t("Tỉnh thẩm định", "Verified")) ": " (score_text(&ph["verified_total"]))
            @if let Some(g) = ph["grade"].as_str() { " · " (ctx.t("Xếp loại", "Grade")) ": " (g) }
        }
        @if let Some(e) = typed.errors.get("form") { p.warn role="alert" #form-error { (e) } }
        @let other = assigned.filter(|a| *a != phase);
        form method="post" action="/assess" {
            input type="hidden" name="token" value=(ctx.token);
            input type="hidden" name="phase" value=(phase);
            table #criteria {
                thead { tr {
                    th scope="col" { (ctx.t("Tiêu chí", "Criterion")) }
                    th scope="col" { (ctx.t("Điểm tối đa", "Max")) }
                    th scope="col" { (ctx.t("Điểm tự chấm", "Score")) }
                    th scope="col" { (ctx.t("Minh chứng", "Evidence")) }
                    th scope="col" { (ctx.t("Tỉnh thẩm định", "Verified")) }
                    th scope="col" { (ctx.t("Nhận xét của tỉnh", "Province's comment")) }
                } }
                tbody {
                    @for c in ph["criteria"].as_array().into_iter().flatten() {
                        @let code = c["code"].as_str().unwrap_or("");
                        @let (s, e) = (format!("s.{code}"), format!("e.{code}"));
                        tr data-criterion=(code) {
                            th scope="row" { (code) " " (c["name"].as_str().unwrap_or("")) }
                            td.max { (score_text(&c["max_score"])) }
                            td {
                                label.sr for=(s) { (ctx.t("Điểm ", "Score ")) (code) }
                                input id=(s) name=(s) size="5" inputmode="decimal"
                                    value=(typed.values.get(&s).cloned().unwrap_or_else(|| score_text(&c["score"])))
                                    aria-invalid=(typed.errors.contains_key(&s));
                                @if let Some(m) = typed.errors.get(&s) { span.err role="alert" { (m) } }
                            }
                            td {
                                label.sr for=(e) { (ctx.t("Minh chứng ", "Evidence ")) (code) }
                                textarea id=(e) name=(e) rows="2" cols="30" {
                                    (typed.values.get(&e).map(String::as_str).unwrap_or(c["evidence"].as_str().unwrap_or("")))
                                }
                            }
                            td.verified { (score_text(&c["verified"]["score"])) }
                            td.comment { (c["verified"]["comment"].as_str().unwrap_or("")) }
                        }
                    }
                }
            }
            @if let Some(a) = other {
                p.warn #other-phase {
                    input type="checkbox" id="confirm-phase" name="confirm_phase" value=(phase);
                    " "
                    label for="confirm-phase" {
                        (ctx.t("Tỉnh xếp đơn vị ở giai đoạn ", "The province assigned this commune to phase ")) (a)
                        (ctx.t(". Tôi vẫn chấm điểm giai đoạn ", ". I am scoring phase ")) (phase) (ctx.t(" (chuẩn bị trước).", " all the same (preparing ahead)."))
                    }
                    @if let Some(e) = typed.errors.get("confirm") { span.err role="alert" { (e) } }
                }
            }
            (who_field(ctx, typed.values.get("by").map(String::as_str), typed.errors.get("by").map(String::as_str)))
            button type="submit" #save { (ctx.t("Lưu điểm", "Save scores")) }
        }
    }
}

async fn load(state: &UiState) -> Result<(StateView, Definitions, Option<u32>)> {
    let dir = (*state.dir).clone();
    blocking(move || {
        let mut store = super::open_store(&dir)?;
        let phase = store.get_meta("phase")?.and_then(|p| p.parse().ok());
        Ok((store.view(None)?, store.definitions()?, phase))
    })
    .await
}

/// The phase asked for, else the one the province assigned, else the first.
fn phase_of(asked: Option<&str>, assigned: Option<u32>, defs: &Definitions) -> u32 {
    let first = defs.phases.first().map(|p| p.phase).unwrap_or(1);
    let known = |p: u32| defs.phase(p).is_ok();
    asked
        .and_then(|a| whole("phase", a).ok())
        .map(|p| p as u32)
        .filter(|p| known(*p))
        .or(assigned.filter(|p| known(*p)))
        .unwrap_or(first)
}

/// `GET /assess?phase=`.
pub async fn page_get(
    State(state): State<UiState>,
    ctx: Ctx,
    Query(q): Query<AssessQuery>,
) -> Response {
    let title = ctx.t("Tự đánh giá, chấm điểm", "Self-assessment");
    let (view, defs, assigned) = match load(&state).await {
        Ok(d) => d,
        Err(e) => return failed(title, &e, &ctx),
    };
    let phase = phase_of(q.phase.as_deref(), assigned, &defs);
    let saved = q
        .saved
        .as_deref()
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()));
    let b = body(
        &view,
        &defs,
        phase,
        assigned,
        &Typed::default(),
        saved,
        &ctx,
    );
    ctx.finish(html_response(StatusCode::OK, page(title, &ctx, b)), None)
}

/// `POST /assess`: the criteria whose score or evidence changed, as one entry.
pub async fn save(
    State(state): State<UiState>,
    ctx: Ctx,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let lang = ctx.lang;
    let title = ctx.t("Tự đánh giá, chấm điểm", "Self-assessment");
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if !ctx.token_ok(get("token")) {
        return ctx.refused();
    }
    let (view, defs, assigned) = match load(&state).await {
        Ok(d) => d,
        Err(e) => return failed(title, &e, &ctx),
    };
    let phase = phase_of(get("phase"), assigned, &defs);
    let mut typed = Typed::default();
    for (k, v) in &f {
        if k.starts_with("s.") || k.starts_with("e.") || k == "by" {
            typed.values.insert(k.clone(), v.clone());
        }
    }
    let by = super::who_entered(&ctx, get("by"), &mut typed.errors);
    // Another phase than the one assigned: only when the officer confirms it.
    if assigned.is_some_and(|a| a != phase) && get("confirm_phase") != Some(&phase.to_string()) {
        typed.errors.insert(
            "confirm".into(),
            ctx.t(
                "Hãy đánh dấu ô này nếu thật sự chấm giai đoạn khác.",
                "Tick this box if you do mean another phase.",
            )
            .into(),
        );
    }
    // Each criterion: its score parsed by the CLI's rule; unchanged ones are skipped.
    let mut work: Vec<(String, (Score, String))> = Vec::new();
    let criteria = defs
        .phase(phase)
        .map(|p| p.criteria.clone())
        .unwrap_or_default();
    for c in &criteria {
        let score_in = get(&format!("s.{}", c.code)).unwrap_or("").trim();
        let evidence = get(&format!("e.{}", c.code)).unwrap_or("");
        let held = view
            .assessments
            .iter()
            .find(|a| a.phase == phase && a.criterion == c.code);
        if score_in.is_empty() {
            if !evidence.trim().is_empty() && held.is_none_or(|h| h.evidence != evidence.trim()) {
                typed.errors.insert(
                    format!("s.{}", c.code),
                    ctx.t(
                        "Hãy cho điểm cùng với minh chứng.",
                        "Give a score with the evidence.",
                    )
                    .into(),
                );
            }
            continue;
        }
        match Score::parse(score_in) {
            Ok(s) => {
                let same = held.is_some_and(|h| h.score == s && h.evidence == evidence.trim());
                if !same {
                    work.push((c.code.clone(), (s, evidence.to_string())));
                }
            }
            Err(e) => {
                typed
                    .errors
                    .insert(format!("s.{}", c.code), e.localize(lang));
            }
        }
    }
    if typed.errors.is_empty() && work.is_empty() {
        typed.errors.insert(
            "form".into(),
            ctx.t("Không có điểm nào thay đổi.", "No score changed.")
                .into(),
        );
    }
    if typed.errors.is_empty() {
        let saved = super::save_rows(
            &state,
            lang,
            by.clone(),
            work,
            move |_, ctx, defs, code, (score, evidence): &(Score, String)| {
                Ok(crdt::assess_op(ctx, defs, phase, code, *score, evidence)?)
            },
        )
        .await;
        match saved {
            Ok(n) => {
                let to = format!("/assess?phase={phase}&saved={n}");
                return ctx.finish(
                    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response(),
                    Some(&by),
                );
            }
            Err((Some(code), e)) => {
                typed.errors.insert(format!("s.{code}"), e);
            }
            Err((None, e)) => {
                typed.errors.insert("form".into(), e);
            }
        }
    }
    let b = body(&view, &defs, phase, assigned, &typed, None, &ctx);
    html_response(StatusCode::UNPROCESSABLE_ENTITY, page(title, &ctx, b))
}
