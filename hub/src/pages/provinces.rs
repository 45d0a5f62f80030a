//! The national hub's view of the provinces: every province side by side for a month
//! (Các tỉnh: communes, the rollout's progress and pass rate, its weakest criterion,
//! who reported, the key figures), and one province drilled down to its communes
//! (each linking to its commune page). In: the per-commune rollups. Out: [`Page`]s.
//!
//! A province's figures are sums over its communes' rows, the same rows the overview's
//! national figures sum: the provinces' columns add up to the overview's.

use super::parts::stage_cell;
use super::{col, figure, Cell, Chart, Page, Series, Table};
use crate::error::{HubError, Missing, Result};
use crate::store::sql::province_of;
use crate::store::{Dashboard, StandingRow, UnitRow};
use cchc_common::kpi::{rate, Counts};
use cchc_common::rollout::Stage;
use cchc_common::{Definitions, Period, UnitCatalog, UnitCode};
use std::collections::{BTreeMap, BTreeSet};

/// The official unit list, read once (province names).
fn catalog() -> &'static UnitCatalog {
    static CATALOG: std::sync::OnceLock<UnitCatalog> = std::sync::OnceLock::new();
    CATALOG.get_or_init(UnitCatalog::builtin)
}

/// One province's sums.
#[derive(Default)]
struct Sums {
    communes: i64,
    planned: i64,
    self_assessed: i64,
    verified: i64,
    passed: i64,
    reported: i64,
    pledged: i64,
    counts: Counts,
    /// (phase, criterion) → (communes scored, sum of score / max, in thousandths).
    criteria: BTreeMap<(u32, String), (i64, i64)>,
}

impl Sums {
    /// The criterion with the lowest average share of its maximum, if any is scored.
    fn weakest(&self) -> Option<(&(u32, String), f64)> {
        self.criteria
            .iter()
            .filter(|(_, (n, _))| *n > 0)
            .map(|(k, (n, sum))| (k, *sum as f64 / *n as f64 / 10.0))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// What every province page reads: units, standings, reports and figures of a month.
struct Data {
    defs: Definitions,
    units: Vec<UnitRow>,
    standings: BTreeMap<UnitCode, StandingRow>,
    reported: BTreeSet<UnitCode>,
    counts: BTreeMap<UnitCode, Counts>,
    pledged: BTreeSet<UnitCode>,
    scores: Vec<(UnitCode, u32, String, i64)>,
}

fn read(store: &dyn Dashboard, period: Period) -> Result<Data> {
    let mut counts: BTreeMap<UnitCode, Counts> = BTreeMap::new();
    for k in store.kpi_units(period)? {
        if let Some(u) = k.unit {
            counts.entry(u).or_default().add(k.metric, k.value);
        }
    }
    Ok(Data {
        defs: store.newest_definitions()?,
        units: store.units()?,
        standings: store
            .standings(None)?
            .into_iter()
            .map(|s| (s.unit, s))
            .collect(),
        reported: store.reports(period)?.into_iter().map(|r| r.unit).collect(),
        counts,
        pledged: store
            .pledge_units(Some(period.year()))?
            .into_iter()
            .filter(|(_, f)| f.pledges > 0)
            .map(|(u, _)| u)
            .collect(),
        scores: store.effective_scores()?,
    })
}

/// Each group's sums in one pass over the rows: `group` says which group a commune
/// counts in (None: none).
fn sums_by(d: &Data, group: impl Fn(UnitCode) -> Option<u32>) -> BTreeMap<u32, Sums> {
    let mut out: BTreeMap<u32, Sums> = BTreeMap::new();
    for u in &d.units {
        let Some(g) = group(u.unit) else { continue };
        let s = out.entry(g).or_default();
        s.communes += 1;
        if let Some(st) = d.standings.get(&u.unit) {
            s.planned += 1;
            let stage = st.standing.stage;
            s.self_assessed += i64::from(stage != Stage::Assigned);
            s.verified += i64::from(stage.is_verified());
            s.passed += i64::from(stage == Stage::Passed);
        }
        s.reported += i64::from(d.reported.contains(&u.unit));
        s.pledged += i64::from(d.pledged.contains(&u.unit));
        if let Some(c) = d.counts.get(&u.unit) {
            for m in cchc_common::Metric::ALL {
                s.counts.add(m, c.get(m));
            }
        }
    }
    for (u, phase, criterion, score) in &d.scores {
        let Some(s) = group(*u).and_then(|g| out.get_mut(&g)) else {
            continue;
        };
        let Ok(c) = d.defs.criterion(*phase, criterion) else {
            continue;
        };
        let max = i64::from(c.max_score.0.max(1));
        let e = s.criteria.entry((*phase, criterion.clone())).or_default();
        e.0 += 1;
        e.1 += score * 1000 / max;
    }
    out
}

fn weakest_cell(defs: &Definitions, s: &Sums) -> Cell {
    match s.weakest() {
        Some(((phase, code), share)) => {
            let name = defs
                .criterion(*phase, code)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            Cell::Text(format!("{code} {name} ({share:.0} %)"))
        }
        None => Cell::Text(String::new()),
    }
}

/// The provinces side by side for a month (the national hub's page).
pub fn provinces(store: &dyn Dashboard, period: Period) -> Result<Page> {
    let d = read(store, period)?;
    let catalog = catalog();
    let name_of = |p: u32| {
        catalog
            .communes_of(p)
            .next()
            .map(|c| c.province_name.clone())
            .unwrap_or_default()
    };
    let all = sums_by(&d, |_| Some(0)).remove(&0).unwrap_or_default();
    let per: Vec<(u32, Sums)> = sums_by(&d, province_of).into_iter().collect();
    let rows = per
        .iter()
        .map(|(p, s)| {
            vec![
                Cell::Link(p.to_string(), format!("/province/{p}?period={period}")),
                Cell::Text(name_of(*p)),
                Cell::Int(s.communes),
                Cell::Int(s.planned),
                Cell::Int(s.self_assessed),
                Cell::Int(s.verified),
                Cell::Int(s.passed),
                Cell::Pct(rate(s.passed, s.planned)),
                weakest_cell(&d.defs, s),
                Cell::Int(s.reported),
                Cell::Pct(rate(s.reported, s.communes)),
                Cell::Int(s.counts.get(cchc_common::Metric::Received)),
                Cell::Pct(s.counts.on_time_rate()),
                Cell::Pct(s.counts.online_rate()),
                Cell::Int(s.pledged),
            ]
        })
        .collect();
    let chart = Chart {
        vi: "Tỷ lệ đơn vị đạt và đã báo cáo theo tỉnh (%)".into(),
        en: "Communes passed and reported, by province (%)".into(),
        lines: false,
        percent: true,
        categories: per
            .iter()
            .map(|(p, _)| (p.to_string(), p.to_string()))
            .collect(),
        series: vec![
            Series {
                vi: "Đạt / được giao",
                en: "Passed / assigned",
                values: per
                    .iter()
                    .map(|(_, s)| rate(s.passed, s.planned).or(Some(0.0)))
                    .collect(),
            },
            Series {
                vi: "Đã báo cáo",
                en: "Reported",
                values: per
                    .iter()
                    .map(|(_, s)| rate(s.reported, s.communes).or(Some(0.0)))
                    .collect(),
            },
        ],
    };
    Ok(Page {
        name: "provinces".into(),
        vi: "Các tỉnh, thành phố: tiến độ triển khai và số liệu".into(),
        en: "Provinces side by side: rollout and figures".into(),
        period: Some(period),
        figures: vec![
            figure(
                "provinces",
                "Số tỉnh, thành phố",
                "Provinces",
                Cell::Int(per.len() as i64),
                None,
            ),
            figure(
                "communes",
                "Số đơn vị cấp xã",
                "Communes",
                Cell::Int(all.communes),
                None,
            ),
            figure(
                "passed",
                "Đã đạt (đã thẩm định)",
                "Passed (verified)",
                Cell::Int(all.passed),
                Some(all.planned),
            ),
            figure(
                "reported",
                "Đã báo cáo số liệu kỳ này",
                "Reported this period",
                Cell::Int(all.reported),
                Some(all.communes),
            ),
        ],
        charts: vec![chart],
        tables: vec![Table {
            id: "provinces",
            vi: "Các tỉnh, thành phố".into(),
            en: "Provinces".into(),
            columns: vec![
                col("province", "Mã tỉnh", "Province"),
                col("name", "Tỉnh, thành phố", "Name"),
                col("communes", "Số xã", "Communes"),
                col("assigned", "Được giao", "Assigned"),
                col("self_assessed", "Đã tự đánh giá", "Self-assessed"),
                col("verified", "Đã thẩm định", "Verified"),
                col("passed", "Đạt", "Passed"),
                col("passed_share", "Tỷ lệ đạt (%)", "Passed (%)"),
                col("weakest", "Tiêu chí yếu nhất", "Weakest criterion"),
                col("reported", "Đã báo cáo", "Reported"),
                col("reported_share", "Tỷ lệ báo cáo (%)", "Reported (%)"),
                col("received", "Hồ sơ tiếp nhận", "Dossiers received"),
                col("on_time_rate", "Đúng hạn (%)", "On time (%)"),
                col("online_rate", "Trực tuyến (%)", "Online (%)"),
                col("pledged", "Đã ký cam kết", "Pledged"),
            ],
            rows,
        }],
    })
}

/// One province drilled down: its sums and each of its communes for a month.
pub fn province(store: &dyn Dashboard, code: u32, period: Period) -> Result<Page> {
    let d = read(store, period)?;
    let ours = |u: UnitCode| province_of(u) == Some(code);
    if !d.units.iter().any(|u| ours(u.unit)) {
        return Err(HubError::NotFound(Missing::Province(code)));
    }
    let name = catalog()
        .communes_of(code)
        .next()
        .map(|c| c.province_name.clone())
        .unwrap_or_default();
    let s = sums_by(&d, |u| ours(u).then_some(code))
        .remove(&code)
        .unwrap_or_default();
    let rows = d
        .units
        .iter()
        .filter(|u| ours(u.unit))
        .map(|u| {
            let st = d.standings.get(&u.unit);
            let c = d.counts.get(&u.unit).copied().unwrap_or_default();
            vec![
                Cell::Link(u.unit.0.to_string(), format!("/commune/{}", u.unit.0)),
                Cell::Text(u.name.clone()),
                u.phase
                    .map_or(Cell::Text(String::new()), |p| Cell::Id(i64::from(p))),
                st.map_or(Cell::Text(String::new()), |s| stage_cell(s.standing.stage)),
                Cell::Score(st.map(|s| s.standing.score)),
                Cell::Tag {
                    key: if d.reported.contains(&u.unit) {
                        "yes"
                    } else {
                        "no"
                    }
                    .into(),
                    vi: if d.reported.contains(&u.unit) {
                        "Đã báo cáo"
                    } else {
                        "Chưa"
                    }
                    .into(),
                    en: if d.reported.contains(&u.unit) {
                        "Reported"
                    } else {
                        "Not yet"
                    }
                    .into(),
                },
                Cell::Int(c.get(cchc_common::Metric::Received)),
                Cell::Pct(c.on_time_rate()),
                Cell::Date(u.last_sync_ms),
            ]
        })
        .collect();
    Ok(Page {
        name: format!("province-{code}"),
        vi: format!("{name}: các đơn vị cấp xã"),
        en: format!("{name}: its communes"),
        period: Some(period),
        figures: vec![
            figure(
                "communes",
                "Số đơn vị cấp xã",
                "Communes",
                Cell::Int(s.communes),
                None,
            ),
            figure(
                "planned",
                "Đã giao giai đoạn",
                "In the rollout plan",
                Cell::Int(s.planned),
                Some(s.communes),
            ),
            figure(
                "passed",
                "Đã đạt (đã thẩm định)",
                "Passed (verified)",
                Cell::Int(s.passed),
                Some(s.planned),
            ),
            figure(
                "reported",
                "Đã báo cáo số liệu kỳ này",
                "Reported this period",
                Cell::Int(s.reported),
                Some(s.communes),
            ),
            figure(
                "received",
                "Hồ sơ tiếp nhận kỳ này",
                "Dossiers received this period",
                Cell::Int(s.counts.get(cchc_common::Metric::Received)),
                None,
            ),
            figure(
                "on_time_rate",
                "Tỷ lệ đúng hạn (%)",
                "On-time rate (%)",
                Cell::Pct(s.counts.on_time_rate()),
                None,
            ),
        ],
        charts: Vec::new(),
        tables: vec![Table {
            id: "communes",
            vi: format!("Các đơn vị cấp xã của {name}"),
            en: format!("Communes of {name}"),
            columns: vec![
                col("unit", "Mã đơn vị", "Code"),
                col("name", "Tên đơn vị", "Name"),
                col("phase", "Giai đoạn", "Phase"),
                col("stage", "Trạng thái", "Stage"),
                col("score", "Điểm", "Score"),
                col("reported", "Báo cáo kỳ này", "Reported this period"),
                col("received", "Hồ sơ tiếp nhận", "Dossiers received"),
                col("on_time_rate", "Đúng hạn (%)", "On time (%)"),
                col("last_sync", "Đồng bộ lần cuối", "Last sync"),
            ],
            rows,
        }],
    })
}
