//! The overview page (Tổng quan): the province's rollout, criteria, key figures and
//! completeness for a month. In: the rollups. Out: a [`Page`].

use super::kpi::{kpi_table, months_of, rates_chart};
use super::parts::criteria_table;
use super::{col, figure, Cell, Chart, Page, Series, Table};
use crate::error::Result;
use crate::store::{Dashboard, PhaseTotal};
use cchc_common::kpi::{rate, trend};
use cchc_common::{Definitions, Period};
use std::collections::BTreeMap;

fn phase_table(defs: &Definitions, totals: &[PhaseTotal]) -> Table {
    let rows = defs
        .phases
        .iter()
        .map(|ph| {
            let t = totals
                .iter()
                .find(|t| t.phase == ph.phase)
                .copied()
                .unwrap_or_default();
            vec![
                Cell::Link(ph.phase.to_string(), format!("/phase/{}", ph.phase)),
                Cell::Text(ph.name.clone()),
                Cell::Score(Some(ph.pass_threshold)),
                Cell::Int(t.assigned as i64),
                Cell::Int(t.reported as i64),
                Cell::Int(t.verified as i64),
                Cell::Int(t.passed as i64),
                Cell::Pct(rate(t.passed as i64, t.assigned as i64)),
            ]
        })
        .collect();
    Table {
        id: "phases",
        vi: "Tiến độ theo giai đoạn".into(),
        en: "Progress by phase".into(),
        columns: vec![
            col("phase", "Giai đoạn", "Phase"),
            col("name", "Tên giai đoạn", "Name"),
            col("pass_threshold", "Ngưỡng đạt", "Pass threshold"),
            col("assigned", "Được giao", "Assigned"),
            col("reported", "Đã tự đánh giá", "Self-assessed"),
            col("verified", "Đã thẩm định", "Verified"),
            col("passed", "Đạt", "Passed"),
            col("passed_share", "Tỷ lệ đạt (%)", "Passed (%)"),
        ],
        rows,
    }
}

/// The overview page (Tổng quan) for a month.
pub fn overview(store: &dyn Dashboard, period: Period) -> Result<Page> {
    let defs = store.newest_definitions()?;
    let units = store.units()?;
    let totals = store.phase_totals()?;
    let criteria = store.criterion_totals()?;
    let year = period.year();
    let months = months_of(&store.kpi_province(year)?, year);
    let pledges = store.pledge_totals(year)?;
    let reported = store.reports(period)?.len() as i64;
    let period_totals: BTreeMap<Period, u64> = store.period_totals(year)?.into_iter().collect();
    let n = units.len() as i64;
    let planned: i64 = totals.iter().map(|t| t.assigned as i64).sum();
    let passed: i64 = totals.iter().map(|t| t.passed as i64).sum();
    let this = months
        .iter()
        .position(|(p, _)| *p == period)
        .map(|i| (months[i].1, i.checked_sub(1).map(|j| months[j].1)));
    let (now, before) = this.unwrap_or_default();
    let figures = vec![
        figure(
            "communes",
            "Số đơn vị cấp xã",
            "Communes",
            Cell::Int(n),
            None,
        ),
        figure(
            "planned",
            "Đã giao giai đoạn",
            "In the rollout plan",
            Cell::Int(planned),
            Some(n),
        ),
        figure(
            "passed",
            "Đã đạt (đã thẩm định)",
            "Passed (verified)",
            Cell::Int(passed),
            Some(planned),
        ),
        figure(
            "reported",
            "Đã báo cáo số liệu kỳ này",
            "Reported this period",
            Cell::Int(reported),
            Some(n),
        ),
        figure(
            "pledged",
            "Đơn vị đã ký cam kết năm nay",
            "Communes with a pledge this year",
            Cell::Int(pledges.units as i64),
            Some(n),
        ),
        figure(
            "tasks_done",
            "Nhiệm vụ đã hoàn thành",
            "Pledged tasks done",
            Cell::Int(pledges.done as i64),
            Some(pledges.tasks as i64),
        ),
        figure(
            "on_time_rate",
            "Tỷ lệ đúng hạn (%)",
            "On-time rate (%)",
            Cell::Pct(now.on_time_rate()),
            None,
        ),
        figure(
            "on_time_trend",
            "so với tháng trước (điểm %)",
            "vs previous month (pp)",
            Cell::Points(before.and_then(|b| trend(now.on_time_rate(), b.on_time_rate()))),
            None,
        ),
        figure(
            "online_rate",
            "Tỷ lệ trực tuyến (%)",
            "Online rate (%)",
            Cell::Pct(now.online_rate()),
            None,
        ),
        figure(
            "satisfaction",
            "Tỷ lệ hài lòng (%)",
            "Satisfaction (%)",
            Cell::Pct(now.satisfaction()),
            None,
        ),
    ];
    let phases = phase_table(&defs, &totals);
    let get = |t: &PhaseTotal, i: usize| [t.assigned, t.reported, t.verified, t.passed][i] as f64;
    let phase_chart = Chart {
        vi: "Số đơn vị theo giai đoạn".into(),
        en: "Communes by phase".into(),
        lines: false,
        percent: false,
        categories: defs
            .phases
            .iter()
            .map(|p| (format!("GĐ {}", p.phase), format!("Phase {}", p.phase)))
            .collect(),
        series: [
            ("Được giao", "Assigned"),
            ("Đã tự đánh giá", "Self-assessed"),
            ("Đã thẩm định", "Verified"),
            ("Đạt", "Passed"),
        ]
        .iter()
        .enumerate()
        .map(|(i, (vi, en))| Series {
            vi,
            en,
            values: defs
                .phases
                .iter()
                .map(|p| {
                    Some(
                        totals
                            .iter()
                            .find(|t| t.phase == p.phase)
                            .map_or(0.0, |t| get(t, i)),
                    )
                })
                .collect(),
        })
        .collect(),
    };
    let completeness_rows: Vec<Vec<Cell>> = (1..=12)
        .map(|m| {
            let p = Period::Month(year, m);
            let k = period_totals.get(&p).copied().unwrap_or(0) as i64;
            vec![
                Cell::Period(p, Some(format!("/completeness?period={p}"))),
                Cell::Int(k),
                Cell::Int(n - k),
                Cell::Pct(rate(k, n)),
            ]
        })
        .collect();
    let completeness_chart = Chart {
        vi: "Tỷ lệ đơn vị đã báo cáo theo tháng (%)".into(),
        en: "Communes that reported, by month (%)".into(),
        lines: false,
        percent: true,
        categories: (1..=12)
            .map(|m| (format!("{m:02}"), format!("{m:02}")))
            .collect(),
        series: vec![Series {
            vi: "Đã báo cáo",
            en: "Reported",
            values: completeness_rows
                .iter()
                .map(|r| match r[3] {
                    Cell::Pct(v) => v.or(Some(0.0)),
                    _ => None,
                })
                .collect(),
        }],
    };
    Ok(Page {
        name: "overview".into(),
        vi: "Tổng quan triển khai mô hình cải cách hành chính Công an cấp xã".into(),
        en: "Rollout of the commune police reform model: overview".into(),
        period: Some(period),
        figures,
        charts: vec![phase_chart, rates_chart(&months), completeness_chart],
        tables: vec![
            phases,
            criteria_table(&defs, &criteria, None),
            kpi_table(
                "figures",
                format!("Số liệu thủ tục hành chính toàn tỉnh năm {year}"),
                format!("Procedure figures of the province, {year}"),
                &months,
            ),
            Table {
                id: "completeness",
                vi: format!("Đơn vị đã báo cáo số liệu theo tháng năm {year}"),
                en: format!("Communes that reported figures, by month of {year}"),
                columns: vec![
                    col("period", "Tháng", "Month"),
                    col("reported", "Đã báo cáo", "Reported"),
                    col("missing", "Chưa báo cáo", "Not reported"),
                    col("share", "Tỷ lệ (%)", "Share (%)"),
                ],
                rows: completeness_rows,
            },
        ],
    })
}
