//! The analysts' verification form (thẩm định) as data: one commune's assigned phase
//! with each criterion's self-score, evidence and verified score. In: the rollups.
//! Out: a [`VerifyForm`].

use crate::error::{HubError, Missing, Result};
use crate::store::Dashboard;
use cchc_common::{Score, UnitCode};

/// One criterion on the analysts' verification form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyFormRow {
    /// Criterion code.
    pub code: String,
    /// Criterion name.
    pub name: String,
    /// Highest score allowed.
    pub max: Score,
    /// The commune's self-score.
    pub self_score: Option<Score>,
    /// The commune's evidence note.
    pub evidence: String,
    /// The province's verified score so far.
    pub verified: Option<Score>,
    /// The province's comment so far.
    pub comment: String,
}

/// The verification form of one commune: its assigned phase's criteria with both scores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyForm {
    /// Commune.
    pub unit: UnitCode,
    /// Its name.
    pub name: String,
    /// Its phase in the rollout plan; `None` when it has none (nothing to verify).
    pub phase: Option<u32>,
    /// The phase's pass threshold.
    pub pass_threshold: Score,
    /// One row per criterion of the phase, in the definitions' order.
    pub rows: Vec<VerifyFormRow>,
}

impl VerifyForm {
    /// The score an analyst starts from: the verified one if any, else the self-score.
    pub fn prefill(row: &VerifyFormRow) -> Option<Score> {
        row.verified.or(row.self_score)
    }
}

/// The data behind the verification form of `unit`.
pub fn verify_form(store: &dyn Dashboard, unit: UnitCode) -> Result<VerifyForm> {
    let u = store
        .units()?
        .into_iter()
        .find(|u| u.unit == unit)
        .ok_or(HubError::NotFound(Missing::Commune(unit.0)))?;
    let data = store.commune(unit)?;
    let defs = store.newest_definitions()?;
    let mut form = VerifyForm {
        unit,
        name: u.name,
        phase: u.phase,
        pass_threshold: Score(0),
        rows: Vec::new(),
    };
    let Some(ph) = u
        .phase
        .and_then(|p| defs.phases.iter().find(|d| d.phase == p))
    else {
        return Ok(form);
    };
    form.pass_threshold = ph.pass_threshold;
    let view = data.map(|d| d.view);
    for c in &ph.criteria {
        let own = view.as_ref().and_then(|v| {
            v.assessments
                .iter()
                .find(|a| a.phase == ph.phase && a.criterion == c.code)
        });
        let ver = view.as_ref().and_then(|v| {
            v.verifications
                .iter()
                .find(|a| a.phase == ph.phase && a.criterion == c.code)
        });
        form.rows.push(VerifyFormRow {
            code: c.code.clone(),
            name: c.name.clone(),
            max: c.max_score,
            self_score: own.map(|a| a.score),
            evidence: own.map(|a| a.evidence.clone()).unwrap_or_default(),
            verified: ver.map(|v| v.score),
            comment: ver.map(|v| v.comment.clone()).unwrap_or_default(),
        });
    }
    Ok(form)
}
