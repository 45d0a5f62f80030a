//! The phase page: every commune of one phase with its standing and rank. In: the
//! standings. Out: a [`Page`].

use super::parts::{criteria_table, grade_cell, provisional_cell, ranks, stage_cell};
use super::{col, figure, Cell, Chart, Page, Series, Table};
use crate::error::{HubError, Result};
use crate::store::{Dashboard, UnitRow};
use cchc_common::rollout::Stage;
use cchc_common::{Lang, UnitCode};
use std::collections::BTreeMap;

/// The phase page: every commune of the phase with its standing and rank.
pub fn phase(store: &dyn Dashboard, phase: u32) -> Result<Page> {
    let defs = store.newest_definitions()?;
    let ph = defs.phase(phase).map_err(HubError::Invalid)?.clone();
    let units: BTreeMap<UnitCode, UnitRow> =
        store.units()?.into_iter().map(|u| (u.unit, u)).collect();
    let standings = store.standings(Some(phase))?;
    let ranks = ranks(&standings);
    let totals = store
        .phase_totals()?
        .into_iter()
        .find(|t| t.phase == phase)
        .unwrap_or_default();
    let rows = standings
        .iter()
        .map(|s| {
            let u = units.get(&s.unit);
            let (rank, of) = ranks.get(&s.unit).copied().unzip();
            let st = &s.standing;
            vec![
                rank.map_or(Cell::Text(String::new()), |r| Cell::Int(r as i64)),
                Cell::Id(s.unit.0 as i64),
                Cell::Link(
                    u.map(|u| u.name.clone()).unwrap_or_default(),
                    format!("/commune/{}", s.unit),
                ),
                stage_cell(st.stage),
                Cell::Score(st.has_score().then_some(st.self_total)),
                Cell::Int(st.verified as i64),
                Cell::Score((st.verified > 0).then_some(st.verified_total)),
                Cell::Score(st.has_score().then_some(st.score)),
                Cell::Pct(st.has_score().then(|| st.permille() as f64 / 10.0)),
                grade_cell(&defs, &s.grade),
                provisional_cell(st.provisional && st.has_score()),
                Cell::Date(Some(s.assigned_at)),
                Cell::Date(s.self_assessed_at),
                Cell::Date(s.verified_at),
                of.map_or(Cell::Text(String::new()), |n| Cell::Int(n as i64)),
            ]
        })
        .collect();
    let stage_counts: Vec<Option<f64>> = Stage::ALL
        .iter()
        .map(|st| Some(standings.iter().filter(|s| s.standing.stage == *st).count() as f64))
        .collect();
    Ok(Page {
        name: format!("phase-{phase}"),
        vi: ph.name.clone(),
        en: format!("Phase {phase}"),
        period: None,
        figures: vec![
            figure(
                "assigned",
                "Được giao",
                "Assigned",
                Cell::Int(totals.assigned as i64),
                None,
            ),
            figure(
                "reported",
                "Đã tự đánh giá",
                "Self-assessed",
                Cell::Int(totals.reported as i64),
                Some(totals.assigned as i64),
            ),
            figure(
                "verified",
                "Đã thẩm định",
                "Verified",
                Cell::Int(totals.verified as i64),
                Some(totals.assigned as i64),
            ),
            figure(
                "passed",
                "Đạt",
                "Passed",
                Cell::Int(totals.passed as i64),
                Some(totals.assigned as i64),
            ),
            figure(
                "pass_threshold",
                "Ngưỡng đạt",
                "Pass threshold",
                Cell::Score(Some(ph.pass_threshold)),
                Some((ph.max_total().0 / 10) as i64),
            ),
        ],
        charts: vec![Chart {
            vi: "Đơn vị theo trạng thái".into(),
            en: "Communes by stage".into(),
            lines: false,
            percent: false,
            categories: Stage::ALL
                .iter()
                .map(|s| (s.label(Lang::Vi).to_string(), s.label(Lang::En).to_string()))
                .collect(),
            series: vec![Series {
                vi: "Số đơn vị",
                en: "Communes",
                values: stage_counts,
            }],
        }],
        tables: vec![
            Table {
                id: "communes",
                vi: format!("Đơn vị giai đoạn {phase}: trạng thái, điểm, xếp loại, xếp hạng"),
                en: format!("Communes of phase {phase}: stage, score, grade, rank"),
                columns: vec![
                    col("rank", "Hạng", "Rank"),
                    col("unit", "Mã đơn vị", "Code"),
                    col("name", "Đơn vị", "Commune"),
                    col("stage", "Trạng thái", "Stage"),
                    col("self_total", "Tự chấm", "Self-score"),
                    col(
                        "verified_criteria",
                        "Số tiêu chí đã thẩm định",
                        "Criteria verified",
                    ),
                    col("verified_total", "Điểm thẩm định", "Verified score"),
                    col("score", "Điểm", "Score"),
                    col("score_share", "Điểm / tối đa (%)", "Score / max (%)"),
                    col("grade", "Xếp loại", "Grade"),
                    col("provisional", "Tạm tính", "Provisional"),
                    col("assigned_at", "Ngày giao", "Assigned"),
                    col("self_assessed_at", "Ngày tự đánh giá xong", "Self-assessed"),
                    col("verified_at", "Ngày thẩm định", "Verified"),
                    col("ranked", "Số đơn vị xếp hạng", "Communes ranked"),
                ],
                rows,
            },
            criteria_table(&defs, &store.criterion_totals()?, Some(phase)),
        ],
    })
}
