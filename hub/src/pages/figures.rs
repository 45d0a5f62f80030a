//! The procedure figures page: per procedure and per commune for a month, with the
//! month-over-month trend. In: KPI rollups. Out: a [`Page`].

use super::kpi::{by_unit, kpi_cells, KPI_COLUMNS};
use super::{col, figure, Cell, Page, Table};
use crate::error::Result;
use crate::store::Dashboard;
use cchc_common::kpi::{previous_month, trend, Counts};
use cchc_common::{Metric, Period};
use std::collections::BTreeMap;

/// The procedure figures page: per procedure and per commune for a month, with the
/// month-over-month trend.
pub fn figures(store: &dyn Dashboard, period: Period) -> Result<Page> {
    let defs = store.newest_definitions()?;
    let units = store.units()?;
    let prev = previous_month(period);
    let now = by_unit(store.kpi_units(period)?);
    let before = match prev {
        Some(p) => by_unit(store.kpi_units(p)?),
        None => BTreeMap::new(),
    };
    let province: Counts = now.values().sum();
    let province_before: Counts = before.values().sum();
    let by_procedure = |p: Option<Period>| -> Result<BTreeMap<String, Counts>> {
        let mut m: BTreeMap<String, Counts> = BTreeMap::new();
        if let Some(p) = p {
            for k in store.kpi_procedures(p)? {
                if let Some(code) = k.procedure {
                    m.entry(code).or_default().add(k.metric, k.value);
                }
            }
        }
        Ok(m)
    };
    let procs = by_procedure(Some(period))?;
    let proc_prev = by_procedure(prev)?;
    let proc_rows = procs
        .iter()
        .map(|(code, c)| {
            let mut row = vec![
                Cell::Text(code.clone()),
                Cell::Text(
                    defs.procedure(code)
                        .map(|p| p.name.clone())
                        .unwrap_or_default(),
                ),
            ];
            row.extend(kpi_cells(c, proc_prev.get(code)));
            row
        })
        .collect();
    let unit_rows = units
        .iter()
        .filter_map(|u| {
            let c = now.get(&u.unit)?;
            let mut row = vec![
                Cell::Id(u.unit.0 as i64),
                Cell::Link(u.name.clone(), format!("/commune/{}", u.unit)),
            ];
            row.extend(kpi_cells(c, before.get(&u.unit)));
            Some(row)
        })
        .collect();
    let mut proc_cols = vec![
        col("code", "Mã", "Code"),
        col("procedure", "Thủ tục", "Procedure"),
    ];
    proc_cols.extend(KPI_COLUMNS[1..].iter().cloned());
    let mut unit_cols = vec![
        col("unit", "Mã đơn vị", "Code"),
        col("name", "Đơn vị", "Commune"),
    ];
    unit_cols.extend(KPI_COLUMNS[1..].iter().cloned());
    Ok(Page {
        name: "figures".into(),
        vi: format!("Số liệu thủ tục hành chính {}", period.vi()),
        en: format!("Procedure figures for {period}"),
        period: Some(period),
        figures: vec![
            figure(
                "received",
                "Hồ sơ tiếp nhận",
                "Dossiers received",
                Cell::Int(province.get(Metric::Received)),
                None,
            ),
            figure(
                "on_time_rate",
                "Tỷ lệ đúng hạn (%)",
                "On-time rate (%)",
                Cell::Pct(province.on_time_rate()),
                None,
            ),
            figure(
                "on_time_trend",
                "so với tháng trước (điểm %)",
                "vs previous month (pp)",
                Cell::Points(trend(
                    province.on_time_rate(),
                    province_before.on_time_rate(),
                )),
                None,
            ),
            figure(
                "online_rate",
                "Tỷ lệ trực tuyến (%)",
                "Online rate (%)",
                Cell::Pct(province.online_rate()),
                None,
            ),
            figure(
                "satisfaction",
                "Tỷ lệ hài lòng (%)",
                "Satisfaction (%)",
                Cell::Pct(province.satisfaction()),
                None,
            ),
        ],
        charts: vec![],
        tables: vec![
            Table {
                id: "procedures",
                vi: format!("Theo thủ tục, toàn tỉnh, {}", period.vi()),
                en: format!("By procedure, whole province, {period}"),
                columns: proc_cols,
                rows: proc_rows,
            },
            Table {
                id: "communes",
                vi: format!("Theo đơn vị, {}", period.vi()),
                en: format!("By commune, {period}"),
                columns: unit_cols,
                rows: unit_rows,
            },
        ],
    })
}
