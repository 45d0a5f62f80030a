//! The materialized state as people and scripts read it. In: CRDT objects from any
//! store. Out: [`StateView`], the stable `cchc-agent show --json` document, ordered so
//! that equal states give byte-equal documents.

use crate::crdt::{AssessReg, CountCell, CountKey, PledgeCrdt, VerifyReg};
use crate::op::TaskStatus;
use crate::period::{Date, Period};
use crate::score::Score;
use crate::units::UnitCode;
use crate::Metric;
use serde::{Deserialize, Serialize};

/// One count cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountRow {
    /// Period.
    pub period: Period,
    /// Procedure code.
    pub procedure: String,
    /// Metric.
    pub metric: Metric,
    /// Merged value over all desks.
    pub value: i64,
}

/// One task of a pledge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskView {
    /// Stable task id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Status.
    pub status: TaskStatus,
}

/// One pledge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PledgeView {
    /// Year.
    pub year: i32,
    /// Signer's name.
    pub signer: String,
    /// Signer's role.
    pub role: String,
    /// Date signed.
    pub signed_on: Option<Date>,
    /// Registered tasks in creation order.
    pub tasks: Vec<TaskView>,
}

/// One self-assessment score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssessRow {
    /// Phase.
    pub phase: u32,
    /// Criterion code.
    pub criterion: String,
    /// Self-assessed score.
    pub score: Score,
    /// Evidence note.
    pub evidence: String,
}

/// One verified score (thẩm định) from the province.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyRow {
    /// Phase.
    pub phase: u32,
    /// Criterion code.
    pub criterion: String,
    /// Verified score.
    pub score: Score,
    /// The analyst's comment.
    pub comment: String,
    /// The analyst.
    pub by: String,
}

/// The whole materialized state of one commune.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateView {
    /// Commune code.
    pub unit: UnitCode,
    /// Counts, by period, procedure, metric.
    pub counts: Vec<CountRow>,
    /// Signed pledges, by year and signer key.
    pub pledges: Vec<PledgeView>,
    /// Assessments, by phase and criterion.
    pub assessments: Vec<AssessRow>,
    /// The province's verified scores, by phase and criterion.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verifications: Vec<VerifyRow>,
}

impl StateView {
    /// Builds the view; inputs may come in any order.
    pub fn build<'a>(
        unit: UnitCode,
        counts: impl IntoIterator<Item = (&'a CountKey, &'a CountCell)>,
        pledges: impl IntoIterator<Item = &'a PledgeCrdt>,
        assessments: impl IntoIterator<Item = ((u32, &'a str), &'a AssessReg)>,
        verifications: impl IntoIterator<Item = ((u32, &'a str), &'a VerifyReg)>,
    ) -> StateView {
        let mut counts: Vec<CountRow> = counts
            .into_iter()
            .map(|(k, c)| CountRow {
                period: k.period,
                procedure: k.procedure.clone(),
                metric: k.metric,
                value: c.value(),
            })
            .collect();
        counts.sort_by(|a, b| {
            (a.period, &a.procedure, a.metric).cmp(&(b.period, &b.procedure, b.metric))
        });
        let mut pl: Vec<(i32, String, PledgeView)> = pledges
            .into_iter()
            .filter_map(|p| {
                let h = p.header.as_ref()?;
                let tasks = p
                    .task_ids()
                    .into_iter()
                    .map(|id| TaskView {
                        title: p.titles.get(&id).map(|t| t.val.clone()).unwrap_or_default(),
                        status: p.statuses.get(&id).map(|s| s.val).unwrap_or_default(),
                        id,
                    })
                    .collect();
                Some((
                    p.year,
                    p.key.clone(),
                    PledgeView {
                        year: p.year,
                        signer: h.val.signer.clone(),
                        role: h.val.role.clone(),
                        signed_on: h.val.signed_on,
                        tasks,
                    },
                ))
            })
            .collect();
        pl.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let mut assessments: Vec<AssessRow> = assessments
            .into_iter()
            .map(|((phase, c), r)| AssessRow {
                phase,
                criterion: c.to_string(),
                score: r.val.score,
                evidence: r.val.evidence.clone(),
            })
            .collect();
        assessments.sort_by(|a, b| (a.phase, &a.criterion).cmp(&(b.phase, &b.criterion)));
        let mut verifications: Vec<VerifyRow> = verifications
            .into_iter()
            .map(|((phase, c), r)| VerifyRow {
                phase,
                criterion: c.to_string(),
                score: r.val.score,
                comment: r.val.comment.clone(),
                by: r.val.by.clone(),
            })
            .collect();
        verifications.sort_by(|a, b| (a.phase, &a.criterion).cmp(&(b.phase, &b.criterion)));
        StateView {
            unit,
            counts,
            pledges: pl.into_iter().map(|p| p.2).collect(),
            assessments,
            verifications,
        }
    }
}
