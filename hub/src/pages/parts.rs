//! Cells and tables more than one page shows: ranks within a phase, grades, stages,
//! and the criteria table. In: rollups and definitions. Out: [`Cell`]s and [`Table`]s.

use super::{col, Cell, Table};
use crate::store::StandingRow;
use cchc_common::kpi::rate;
use cchc_common::rollout::{competition_ranks, Stage};
use cchc_common::{Definitions, Lang, Score, UnitCode};
use std::collections::{BTreeMap, BTreeSet};

/// Ranks of planned communes within their phase, by score share (ties share a
/// place); communes with no score at all are not ranked.
pub fn ranks(standings: &[StandingRow]) -> BTreeMap<UnitCode, (u32, u32)> {
    let mut out = BTreeMap::new();
    let phases: BTreeSet<u32> = standings.iter().map(|s| s.standing.phase).collect();
    for ph in phases {
        let scored: Vec<&StandingRow> = standings
            .iter()
            .filter(|s| s.standing.phase == ph && s.standing.has_score())
            .collect();
        let keys: Vec<u32> = scored.iter().map(|s| s.standing.permille()).collect();
        let n = scored.len() as u32;
        for (s, r) in scored.iter().zip(competition_ranks(&keys)) {
            out.insert(s.unit, (r, n));
        }
    }
    out
}

pub(crate) fn grade_name(defs: &Definitions, code: &str) -> String {
    defs.grade_bands
        .iter()
        .find(|b| b.grade == code)
        .map(|b| b.name.clone())
        .unwrap_or_default()
}

pub(crate) fn criteria_table(
    defs: &Definitions,
    totals: &[crate::store::CriterionTotal],
    only: Option<u32>,
) -> Table {
    let mut rows = Vec::new();
    for ph in defs
        .phases
        .iter()
        .filter(|p| only.is_none_or(|o| o == p.phase))
    {
        // Average as a share of the maximum, per criterion; the weakest ranks 1.
        let avgs: Vec<Option<f64>> = ph
            .criteria
            .iter()
            .map(|c| {
                totals
                    .iter()
                    .find(|t| t.phase == ph.phase && t.criterion == c.code)
                    .filter(|t| t.communes > 0)
                    .map(|t| {
                        t.total_tenths as f64 / t.communes as f64 / c.max_score.0 as f64 * 100.0
                    })
            })
            .collect();
        let keys: Vec<u32> = avgs
            .iter()
            // Lower share, larger key, ranked first; an unscored criterion ranks last
            // and does not push the scored ones down.
            .map(|a| a.map_or(0, |v| u32::MAX - 1 - (v * 10.0).round() as u32))
            .collect();
        let weak = competition_ranks(&keys);
        for (i, c) in ph.criteria.iter().enumerate() {
            let t = totals
                .iter()
                .find(|t| t.phase == ph.phase && t.criterion == c.code);
            let n = t.map_or(0, |t| t.communes) as i64;
            rows.push(vec![
                Cell::Int(ph.phase as i64),
                Cell::Text(c.code.clone()),
                Cell::Text(c.name.clone()),
                Cell::Score(Some(c.max_score)),
                Cell::Int(n),
                Cell::Score(t.filter(|t| t.communes > 0).map(|t| {
                    Score(((t.total_tenths as f64) / (t.communes as f64)).round() as u32)
                })),
                Cell::Pct(avgs[i]),
                Cell::Pct(t.and_then(|t| rate(t.at_max as i64, t.communes as i64))),
                if avgs[i].is_some() {
                    Cell::Int(weak[i] as i64)
                } else {
                    Cell::Text(String::new())
                },
            ]);
        }
    }
    Table {
        id: "criteria",
        vi: "Kết quả theo tiêu chí (điểm thẩm định nếu có, nếu không là điểm tự chấm)".into(),
        en: "Results by criterion (verified score where one exists, else the self-score)".into(),
        columns: vec![
            col("phase", "Giai đoạn", "Phase"),
            col("code", "Mã", "Code"),
            col("criterion", "Tiêu chí", "Criterion"),
            col("max_score", "Điểm tối đa", "Max score"),
            col("communes", "Số đơn vị có điểm", "Communes scored"),
            col("average", "Điểm trung bình", "Average"),
            col(
                "average_share",
                "Trung bình / tối đa (%)",
                "Average / max (%)",
            ),
            col(
                "at_max_share",
                "Đơn vị đạt tối đa (%)",
                "Communes at max (%)",
            ),
            col(
                "weakness",
                "Thứ tự yếu (1 = yếu nhất)",
                "Weakness (1 = weakest)",
            ),
        ],
        rows,
    }
}

pub(crate) fn stage_cell(stage: Stage) -> Cell {
    Cell::Tag {
        key: stage.as_str().into(),
        vi: stage.label(Lang::Vi).into(),
        en: stage.label(Lang::En).into(),
    }
}

pub(crate) fn grade_cell(defs: &Definitions, code: &str) -> Cell {
    let name = grade_name(defs, code);
    Cell::Tag {
        key: code.into(),
        vi: name.clone(),
        en: name,
    }
}

pub(crate) fn provisional_cell(provisional: bool) -> Cell {
    if provisional {
        Cell::Tag {
            key: "provisional".into(),
            vi: "tạm tính".into(),
            en: "provisional".into(),
        }
    } else {
        Cell::Tag {
            key: String::new(),
            vi: String::new(),
            en: String::new(),
        }
    }
}
