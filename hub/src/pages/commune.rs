//! The commune page: standing, scores with evidence and verification, pledges,
//! figures by month and history. In: one commune's rollups. Out: a [`Page`].

use super::kpi::{kpi_table, months_of, rates_chart};
use super::parts::{grade_cell, provisional_cell, ranks, stage_cell};
use super::{col, figure, Cell, Page, Table};
use crate::error::{HubError, Missing, Result};
use crate::store::{Dashboard, KpiValue};
use cchc_common::kpi::rate;
use cchc_common::{Lang, Period, UnitCode};

/// The commune page: standing, scores with evidence and verification, pledges,
/// figures by month and history. None if the hub does not serve the commune.
pub fn commune(store: &dyn Dashboard, unit: UnitCode, year: i32) -> Result<Option<Page>> {
    let Some(data) = store.commune(unit)? else {
        return Ok(None);
    };
    let defs = store.newest_definitions()?;
    let u = store
        .units()?
        .into_iter()
        .find(|u| u.unit == unit)
        .ok_or(HubError::NotFound(Missing::Commune(unit.0)))?;
    let mut figures = vec![figure(
        "phase",
        "Giai đoạn",
        "Phase",
        u.phase
            .map_or(Cell::Text(String::new()), |p| Cell::Int(p as i64)),
        None,
    )];
    // (when, stable key, Vietnamese, English, detail)
    let mut history: Vec<(i64, &'static str, &'static str, &'static str, String)> = Vec::new();
    if let Some(p) = u.phase {
        let standings = store.standings(Some(p))?;
        let ranks = ranks(&standings);
        if let Some(s) = standings.iter().find(|s| s.unit == unit) {
            let st = &s.standing;
            figures.extend([
                figure("stage", "Trạng thái", "Stage", stage_cell(st.stage), None),
                figure(
                    "score",
                    "Điểm",
                    "Score",
                    Cell::Score(st.has_score().then_some(st.score)),
                    Some((st.max_total.0 / 10) as i64),
                ),
                figure(
                    "grade",
                    "Xếp loại",
                    "Grade",
                    grade_cell(&defs, &s.grade),
                    None,
                ),
            ]);
            // "Tạm tính" only while the score is provisional: no empty card once the
            // province has verified every criterion.
            if st.provisional && st.has_score() {
                figures.insert(
                    figures.len() - 1,
                    figure(
                        "provisional",
                        "Tạm tính",
                        "Provisional",
                        provisional_cell(true),
                        None,
                    ),
                );
            }
            if let Some((r, n)) = ranks.get(&unit) {
                figures.push(figure(
                    "rank",
                    "Xếp hạng trong giai đoạn",
                    "Rank in phase",
                    Cell::Int(*r as i64),
                    Some(*n as i64),
                ));
            }
            history.push((
                s.assigned_at,
                "phase_assigned",
                "Được giao giai đoạn",
                "Assigned to the phase",
                p.to_string(),
            ));
            if let Some(t) = s.self_assessed_at {
                history.push((
                    t,
                    "self_assessed",
                    "Tự đánh giá đủ tiêu chí",
                    "Self-assessed every criterion",
                    st.self_total.to_string(),
                ));
            }
            if let Some(t) = s.verified_at {
                history.push((
                    t,
                    "verified",
                    "Tỉnh thẩm định xong",
                    "Verified by the province",
                    format!("{} — {}", st.verified_total, st.stage.label(Lang::Vi)),
                ));
            }
        }
    }
    figures.push(figure(
        "last_sync",
        "Đồng bộ lần cuối",
        "Last sync",
        Cell::Date(u.last_sync_ms),
        None,
    ));
    for r in &data.reports {
        history.push((
            r.first_at,
            "reported",
            "Báo cáo số liệu kỳ",
            "Reported figures for",
            r.period.to_string(),
        ));
    }
    history.sort_by_key(|h| h.0);
    let view = &data.view;
    let seen = |phase: u32, c: &str, kind: &str| {
        data.seen
            .iter()
            .find(|s| s.0 == phase && s.1 == c && s.2 == kind)
            .map(|s| s.4)
    };
    let mut crit_rows = Vec::new();
    for ph in &defs.phases {
        let own: Vec<_> = view
            .assessments
            .iter()
            .filter(|a| a.phase == ph.phase)
            .collect();
        let ver: Vec<_> = view
            .verifications
            .iter()
            .filter(|v| v.phase == ph.phase)
            .collect();
        if Some(ph.phase) != u.phase && own.is_empty() && ver.is_empty() {
            continue;
        }
        for c in &ph.criteria {
            let a = own.iter().find(|a| a.criterion == c.code);
            let v = ver.iter().find(|v| v.criterion == c.code);
            crit_rows.push(vec![
                Cell::Int(ph.phase as i64),
                Cell::Text(c.code.clone()),
                Cell::Text(c.name.clone()),
                Cell::Score(Some(c.max_score)),
                Cell::Score(a.map(|a| a.score)),
                Cell::Text(a.map(|a| a.evidence.clone()).unwrap_or_default()),
                Cell::Score(v.map(|v| v.score)),
                Cell::Text(v.map(|v| v.comment.clone()).unwrap_or_default()),
                Cell::Text(v.map(|v| v.by.clone()).unwrap_or_default()),
                Cell::Date(v.and_then(|_| seen(ph.phase, &c.code, "verified"))),
            ]);
        }
    }
    let mut pledge_rows = Vec::new();
    let mut task_rows = Vec::new();
    for p in &view.pledges {
        let done = p
            .tasks
            .iter()
            .filter(|t| t.status == cchc_common::op::TaskStatus::Done)
            .count() as i64;
        pledge_rows.push(vec![
            Cell::Id(p.year as i64),
            Cell::Text(p.signer.clone()),
            Cell::Text(p.role.clone()),
            Cell::Text(p.signed_on.map(|d| d.to_vn_string()).unwrap_or_default()),
            Cell::Int(p.tasks.len() as i64),
            Cell::Int(done),
            Cell::Pct(rate(done, p.tasks.len() as i64)),
        ]);
        for t in &p.tasks {
            task_rows.push(vec![
                Cell::Id(p.year as i64),
                Cell::Text(p.signer.clone()),
                Cell::Text(t.title.clone()),
                Cell::Tag {
                    key: t.status.as_str().into(),
                    vi: t.status.vi().into(),
                    en: t.status.as_str().replace('_', " "),
                },
            ]);
        }
    }
    let kpis: Vec<KpiValue> = view
        .counts
        .iter()
        .map(|c| KpiValue {
            unit: Some(unit),
            procedure: None,
            period: c.period,
            metric: c.metric,
            value: c.value,
        })
        .collect();
    let months = months_of(&kpis, year);
    Ok(Some(Page {
        name: format!("commune-{unit}"),
        vi: format!("{} ({unit})", u.name),
        en: format!("{} ({unit})", u.name),
        period: Some(Period::Year(year)),
        figures,
        charts: vec![rates_chart(&months)],
        tables: vec![
            Table {
                id: "criteria",
                vi: "Tự đánh giá và thẩm định theo tiêu chí".into(),
                en: "Self-assessment and verification by criterion".into(),
                columns: vec![
                    col("phase", "Giai đoạn", "Phase"),
                    col("code", "Mã", "Code"),
                    col("criterion", "Tiêu chí", "Criterion"),
                    col("max_score", "Điểm tối đa", "Max score"),
                    col("self_score", "Tự chấm", "Self-score"),
                    col("evidence", "Minh chứng", "Evidence"),
                    col("verified_score", "Điểm thẩm định", "Verified score"),
                    col("comment", "Nhận xét của tỉnh", "Province's comment"),
                    col("verified_by", "Người thẩm định", "Verified by"),
                    col("verified_at", "Ngày thẩm định", "Verified on"),
                ],
                rows: crit_rows,
            },
            Table {
                id: "pledges",
                vi: "Cam kết".into(),
                en: "Pledges".into(),
                columns: vec![
                    col("year", "Năm", "Year"),
                    col("signer", "Người ký", "Signer"),
                    col("role", "Chức vụ", "Role"),
                    col("signed_on", "Ngày ký", "Signed on"),
                    col("tasks", "Số nhiệm vụ", "Tasks"),
                    col("done", "Hoàn thành", "Done"),
                    col("done_share", "Tỷ lệ hoàn thành (%)", "Done (%)"),
                ],
                rows: pledge_rows,
            },
            Table {
                id: "tasks",
                vi: "Nhiệm vụ đã đăng ký".into(),
                en: "Registered tasks".into(),
                columns: vec![
                    col("year", "Năm", "Year"),
                    col("signer", "Người ký", "Signer"),
                    col("task", "Nhiệm vụ", "Task"),
                    col("status", "Tiến độ", "Status"),
                ],
                rows: task_rows,
            },
            kpi_table(
                "figures",
                format!("Số liệu thủ tục hành chính năm {year}"),
                format!("Procedure figures, {year}"),
                &months,
            ),
            Table {
                id: "history",
                vi: "Diễn biến".into(),
                en: "History".into(),
                columns: vec![
                    col("at", "Ngày", "Date"),
                    col("event", "Sự kiện", "Event"),
                    col("detail", "Chi tiết", "Detail"),
                ],
                rows: history
                    .into_iter()
                    .map(|(at, key, vi, en, d)| {
                        vec![
                            Cell::Date(Some(at)),
                            Cell::Tag {
                                key: key.into(),
                                vi: vi.into(),
                                en: en.into(),
                            },
                            Cell::Text(d),
                        ]
                    })
                    .collect(),
            },
        ],
    }))
}
