//! The completeness page: who reported counts for a month, and who has not. In: the
//! report rollups. Out: a [`Page`].

use super::{col, figure, Cell, Chart, Page, Series, Table};
use crate::error::Result;
use crate::store::{Dashboard, UnitRow};
use cchc_common::kpi::rate;
use cchc_common::{Period, UnitCode};
use std::collections::BTreeMap;

/// The completeness page: who reported counts for a period, and who has not.
pub fn completeness(store: &dyn Dashboard, period: Period) -> Result<Page> {
    let units = store.units()?;
    let reports: BTreeMap<UnitCode, crate::store::ReportRow> = store
        .reports(period)?
        .into_iter()
        .map(|r| (r.unit, r))
        .collect();
    let n = units.len() as i64;
    let k = reports.len() as i64;
    let year = period.year();
    let totals: BTreeMap<Period, u64> = store.period_totals(year)?.into_iter().collect();
    let unit_cells = |u: &UnitRow| {
        vec![
            Cell::Id(u.unit.0 as i64),
            Cell::Link(u.name.clone(), format!("/commune/{}", u.unit)),
            Cell::Text(u.kind.clone()),
            u.phase
                .map_or(Cell::Text(String::new()), |p| Cell::Int(p as i64)),
        ]
    };
    let missing = units
        .iter()
        .filter(|u| !reports.contains_key(&u.unit))
        .map(|u| {
            let mut row = unit_cells(u);
            row.push(Cell::Date(u.last_sync_ms));
            row
        })
        .collect();
    let reported = units
        .iter()
        .filter_map(|u| {
            let r = reports.get(&u.unit)?;
            let mut row = unit_cells(u);
            row.extend([
                Cell::Date(Some(r.first_at)),
                Cell::Date(Some(r.last_at)),
                Cell::Int(r.ops as i64),
            ]);
            Some(row)
        })
        .collect();
    let unit_cols = || {
        vec![
            col("unit", "Mã đơn vị", "Code"),
            col("name", "Đơn vị", "Commune"),
            col("kind", "Loại", "Kind"),
            col("phase", "Giai đoạn", "Phase"),
        ]
    };
    let mut missing_cols = unit_cols();
    missing_cols.push(col("last_sync", "Đồng bộ lần cuối", "Last sync"));
    let mut reported_cols = unit_cols();
    reported_cols.extend([
        col("first_at", "Nhận lần đầu", "First received"),
        col("last_at", "Nhận lần cuối", "Last received"),
        col("entries", "Số lần ghi", "Entries"),
    ]);
    let pledges: BTreeMap<UnitCode, crate::store::PledgeFigures> =
        store.pledge_units(Some(year))?.into_iter().collect();
    let pledge_rows = units
        .iter()
        .map(|u| {
            let f = pledges.get(&u.unit).copied().unwrap_or_default();
            vec![
                Cell::Id(u.unit.0 as i64),
                Cell::Link(u.name.clone(), format!("/commune/{}", u.unit)),
                Cell::Int(f.pledges as i64),
                Cell::Int(f.tasks as i64),
                Cell::Int(f.done as i64),
                Cell::Pct(rate(f.done as i64, f.tasks as i64)),
            ]
        })
        .collect();
    Ok(Page {
        name: "completeness".into(),
        vi: format!("Tình hình báo cáo số liệu {}", period.vi()),
        en: format!("Who reported figures for {period}"),
        period: Some(period),
        figures: vec![
            figure("reported", "Đã báo cáo", "Reported", Cell::Int(k), Some(n)),
            figure(
                "missing",
                "Chưa báo cáo",
                "Not reported",
                Cell::Int(n - k),
                Some(n),
            ),
            figure(
                "share",
                "Tỷ lệ đã báo cáo (%)",
                "Reported (%)",
                Cell::Pct(rate(k, n)),
                None,
            ),
        ],
        charts: vec![Chart {
            vi: format!("Số đơn vị đã báo cáo theo tháng năm {year}"),
            en: format!("Communes that reported, by month of {year}"),
            lines: false,
            percent: false,
            categories: (1..=12)
                .map(|m| (format!("{m:02}"), format!("{m:02}")))
                .collect(),
            series: vec![Series {
                vi: "Đã báo cáo",
                en: "Reported",
                values: (1..=12)
                    .map(|m| Some(totals.get(&Period::Month(year, m)).copied().unwrap_or(0) as f64))
                    .collect(),
            }],
        }],
        tables: vec![
            Table {
                id: "missing",
                vi: format!("Đơn vị chưa báo cáo số liệu {}", period.vi()),
                en: format!("Communes that have not reported for {period}"),
                columns: missing_cols,
                rows: missing,
            },
            Table {
                id: "reported",
                vi: format!("Đơn vị đã báo cáo số liệu {}", period.vi()),
                en: format!("Communes that reported for {period}"),
                columns: reported_cols,
                rows: reported,
            },
            Table {
                id: "pledges",
                vi: format!("Cam kết năm {year} theo đơn vị"),
                en: format!("Pledges of {year} by commune"),
                columns: vec![
                    col("unit", "Mã đơn vị", "Code"),
                    col("name", "Đơn vị", "Commune"),
                    col("pledges", "Số cam kết đã ký", "Pledges signed"),
                    col("tasks", "Nhiệm vụ đăng ký", "Tasks registered"),
                    col("done", "Đã hoàn thành", "Done"),
                    col("done_share", "Tỷ lệ hoàn thành (%)", "Done (%)"),
                ],
                rows: pledge_rows,
            },
        ],
    })
}
