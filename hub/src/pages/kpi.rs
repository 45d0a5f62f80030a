//! Key-figure tables and charts: the twelve months of a year with their counts and
//! rates, and the KPI columns every figures table shares. In: KPI rollups. Out:
//! [`Table`]s and [`Chart`]s. The arithmetic is `cchc_common::kpi`.

use super::{col, Cell, Chart, Column, Series, Table};
use crate::store::KpiValue;
use cchc_common::kpi::{trend, Counts};
use cchc_common::{Date, Metric, Period, UnitCode};
use std::collections::BTreeMap;

/// The current month in Vietnam.
pub fn this_month(now_ms: i64) -> Period {
    Date::from_unix_ms_vn(now_ms).month_period()
}

pub(crate) const KPI_COLUMNS: [Column; 11] = [
    col("period", "Kỳ", "Period"),
    col("received", "Tiếp nhận", "Received"),
    col("on_time", "Đúng hạn", "On time"),
    col("late", "Quá hạn", "Late"),
    col("pending", "Đang giải quyết", "Pending"),
    col("online", "Trực tuyến", "Online"),
    col("satisfied", "Hài lòng", "Satisfied"),
    col("on_time_rate", "Tỷ lệ đúng hạn (%)", "On-time rate (%)"),
    col("online_rate", "Tỷ lệ trực tuyến (%)", "Online rate (%)"),
    col("satisfaction", "Tỷ lệ hài lòng (%)", "Satisfaction (%)"),
    col(
        "on_time_trend",
        "Đúng hạn so với tháng trước (điểm %)",
        "On time vs previous month (pp)",
    ),
];

pub(crate) fn kpi_cells(c: &Counts, prev: Option<&Counts>) -> Vec<Cell> {
    vec![
        Cell::Int(c.get(Metric::Received)),
        Cell::Int(c.get(Metric::OnTime)),
        Cell::Int(c.get(Metric::Late)),
        Cell::Int(c.get(Metric::Pending)),
        Cell::Int(c.get(Metric::Online)),
        Cell::Int(c.get(Metric::Satisfied)),
        Cell::Pct(c.on_time_rate()),
        Cell::Pct(c.online_rate()),
        Cell::Pct(c.satisfaction()),
        Cell::Points(prev.and_then(|p| trend(c.on_time_rate(), p.on_time_rate()))),
    ]
}

/// The twelve months of `year` with their merged counts (months without data are zero).
/// Per-commune counts from KPI rollup rows (rows without a commune are left out).
pub(crate) fn by_unit(rows: Vec<KpiValue>) -> BTreeMap<UnitCode, Counts> {
    let mut m: BTreeMap<UnitCode, Counts> = BTreeMap::new();
    for k in rows {
        if let Some(u) = k.unit {
            m.entry(u).or_default().add(k.metric, k.value);
        }
    }
    m
}

pub(crate) fn months_of(kpis: &[KpiValue], year: i32) -> Vec<(Period, Counts)> {
    let mut by: BTreeMap<Period, Counts> = BTreeMap::new();
    for k in kpis {
        if let Period::Month(..) = k.period {
            by.entry(k.period).or_default().add(k.metric, k.value);
        }
    }
    (1..=12)
        .map(|m| {
            let p = Period::Month(year, m);
            (p, by.get(&p).copied().unwrap_or_default())
        })
        .collect()
}

pub(crate) fn kpi_table(
    id: &'static str,
    vi: String,
    en: String,
    months: &[(Period, Counts)],
) -> Table {
    let rows = months
        .iter()
        .enumerate()
        .map(|(i, (p, c))| {
            let mut row = vec![Cell::Period(*p, None)];
            row.extend(kpi_cells(c, i.checked_sub(1).map(|j| &months[j].1)));
            row
        })
        .collect();
    Table {
        id,
        vi,
        en,
        columns: KPI_COLUMNS.to_vec(),
        rows,
    }
}

pub(crate) fn rates_chart(months: &[(Period, Counts)]) -> Chart {
    Chart {
        vi: "Tỷ lệ theo tháng (%)".into(),
        en: "Rates by month (%)".into(),
        lines: true,
        percent: true,
        categories: months
            .iter()
            .map(|(p, _)| {
                let m = format!("{:02}", month_of(*p));
                (m.clone(), m)
            })
            .collect(),
        series: vec![
            Series {
                vi: "Đúng hạn",
                en: "On time",
                values: months.iter().map(|(_, c)| c.on_time_rate()).collect(),
            },
            Series {
                vi: "Trực tuyến",
                en: "Online",
                values: months.iter().map(|(_, c)| c.online_rate()).collect(),
            },
            Series {
                vi: "Hài lòng",
                en: "Satisfied",
                values: months.iter().map(|(_, c)| c.satisfaction()).collect(),
            },
        ],
    }
}

fn month_of(p: Period) -> u8 {
    match p {
        Period::Month(_, m) => m,
        _ => 0,
    }
}
