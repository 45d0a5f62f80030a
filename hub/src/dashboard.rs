//! The dashboard's pages as data. In: the rollups read through [`Dashboard`] and the
//! definitions in force. Out: a [`Page`] of figures, charts and [`Table`]s that the
//! HTML pages, the JSON API and the CSV/XLSX exports all render, so they always agree.
//!
//! Rates: on time = on-time / (on-time + late) resolved dossiers; online = online /
//! received; satisfaction = satisfied / (satisfied + not satisfied). A rate with a zero
//! denominator is absent, never 0. Month-over-month trends are percentage points.

use crate::error::{HubError, Missing, Result, Rule};
use crate::store::{Dashboard, KpiValue, PhaseTotal, StandingRow, UnitRow};
use cchc_common::rollout::{competition_ranks, Stage};
use cchc_common::{Date, Definitions, Lang, Metric, Period, Score, UnitCode};
use std::collections::{BTreeMap, BTreeSet};

/// One table cell, typed so each renderer formats it its own way.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// Text linking to another dashboard page.
    Link(String, String),
    /// A coded value: its stable key for machines, a label per language for people.
    Tag {
        /// Stable key (JSON).
        key: String,
        /// Vietnamese label.
        vi: String,
        /// English label.
        en: String,
    },
    /// A whole number.
    Int(i64),
    /// A score (absent: not scored).
    Score(Option<Score>),
    /// A percentage 0–100 (absent: no denominator).
    Pct(Option<f64>),
    /// A change in percentage points (absent: nothing to compare with).
    Points(Option<f64>),
    /// A date (ms since epoch, shown in Vietnam's time zone).
    Date(Option<i64>),
}

impl Cell {
    /// The cell's value for machines: JSON.
    pub fn json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Cell::Text(s) | Cell::Link(s, _) => json!(s),
            Cell::Tag { key, .. } => json!(key),
            Cell::Int(n) => json!(n),
            Cell::Score(s) => s.map_or(json!(null), |s| json!(s.as_f64())),
            Cell::Pct(p) | Cell::Points(p) => p.map_or(json!(null), |v| json!(round1(v))),
            Cell::Date(d) => d.map_or(json!(null), |ms| {
                json!(Date::from_unix_ms_vn(ms).to_string())
            }),
        }
    }
}

/// Rounds to one decimal (what every page shows).
pub fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// A column: a stable key for machines and labels for people.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Key in JSON documents.
    pub key: &'static str,
    /// Vietnamese label.
    pub vi: &'static str,
    /// English label.
    pub en: &'static str,
}

const fn col(key: &'static str, vi: &'static str, en: &'static str) -> Column {
    Column { key, vi, en }
}

/// A table of a page: every table can be exported.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Stable id (in export URLs).
    pub id: &'static str,
    /// Vietnamese title.
    pub vi: String,
    /// English title.
    pub en: String,
    /// Columns.
    pub columns: Vec<Column>,
    /// Rows.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// Rows as JSON objects keyed by column.
    pub fn json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.rows
                .iter()
                .map(|r| {
                    serde_json::Value::Object(
                        self.columns
                            .iter()
                            .zip(r)
                            .map(|(c, v)| (c.key.to_string(), v.json()))
                            .collect(),
                    )
                })
                .collect(),
        )
    }
}

/// A headline figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Stable key.
    pub key: &'static str,
    /// Vietnamese label.
    pub vi: String,
    /// English label.
    pub en: String,
    /// Value.
    pub value: Cell,
    /// Out of (shown as "value / of").
    pub of: Option<i64>,
}

/// One series of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Vietnamese name.
    pub vi: &'static str,
    /// English name.
    pub en: &'static str,
    /// One value per category (absent: no data).
    pub values: Vec<Option<f64>>,
}

/// A chart, drawn as inline SVG.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Vietnamese title.
    pub vi: String,
    /// English title.
    pub en: String,
    /// Bars (grouped) or lines.
    pub lines: bool,
    /// Values are percentages (axis 0–100).
    pub percent: bool,
    /// Category labels (x axis): Vietnamese, English.
    pub categories: Vec<(String, String)>,
    /// Series.
    pub series: Vec<Series>,
}

/// A dashboard page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Stable name (`overview`, `phase-1`, `commune-70`…): the JSON `page` field and
    /// the export URL segment.
    pub name: String,
    /// Vietnamese title.
    pub vi: String,
    /// English title.
    pub en: String,
    /// The period the page is about, if any.
    pub period: Option<Period>,
    /// Headline figures.
    pub figures: Vec<Figure>,
    /// Charts.
    pub charts: Vec<Chart>,
    /// Tables.
    pub tables: Vec<Table>,
}

impl Page {
    /// The JSON API document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "page": self.name,
            "title": self.vi,
            "period": self.period.map(|p| p.to_string()),
            "figures": serde_json::Value::Object(self.figures.iter().map(|f| {
                (f.key.to_string(), match f.of {
                    Some(of) => serde_json::json!({"value": f.value.json(), "of": of}),
                    None => f.value.json(),
                })
            }).collect()),
            "tables": serde_json::Value::Object(self.tables.iter().map(|t| (t.id.to_string(), t.json())).collect()),
        })
    }

    /// A table by id.
    pub fn table(&self, id: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.id == id)
    }
}

fn pct(num: i64, den: i64) -> Option<f64> {
    (den > 0).then(|| num as f64 * 100.0 / den as f64)
}

fn figure(key: &'static str, vi: &str, en: &str, value: Cell, of: Option<i64>) -> Figure {
    Figure {
        key,
        vi: vi.into(),
        en: en.into(),
        value,
        of,
    }
}

/// The merged counts of one scope (province or commune) in one period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts([i64; 8]);

impl Counts {
    fn add(&mut self, m: Metric, v: i64) {
        self.0[Metric::ALL
            .iter()
            .position(|x| *x == m)
            .expect("known metric")] += v;
    }

    /// One metric.
    pub fn get(&self, m: Metric) -> i64 {
        self.0[Metric::ALL
            .iter()
            .position(|x| *x == m)
            .expect("known metric")]
    }

    /// On-time share of resolved dossiers.
    pub fn on_time_rate(&self) -> Option<f64> {
        pct(
            self.get(Metric::OnTime),
            self.get(Metric::OnTime) + self.get(Metric::Late),
        )
    }

    /// Online share of received dossiers.
    pub fn online_rate(&self) -> Option<f64> {
        pct(self.get(Metric::Online), self.get(Metric::Received))
    }

    /// Satisfied share of citizens asked.
    pub fn satisfaction(&self) -> Option<f64> {
        pct(
            self.get(Metric::Satisfied),
            self.get(Metric::Satisfied) + self.get(Metric::Unsatisfied),
        )
    }
}

fn delta(now: Option<f64>, before: Option<f64>) -> Option<f64> {
    Some(now? - before?)
}

/// The month before.
pub fn previous_month(p: Period) -> Option<Period> {
    match p {
        Period::Month(y, 1) => Some(Period::Month(y - 1, 12)),
        Period::Month(y, m) => Some(Period::Month(y, m - 1)),
        _ => None,
    }
}

/// The current month in Vietnam.
pub fn this_month(now_ms: i64) -> Period {
    Date::from_unix_ms_vn(now_ms).month_period()
}

const KPI_COLUMNS: [Column; 11] = [
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

fn kpi_cells(c: &Counts, prev: Option<&Counts>) -> Vec<Cell> {
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
        Cell::Points(prev.and_then(|p| delta(c.on_time_rate(), p.on_time_rate()))),
    ]
}

/// The twelve months of `year` with their merged counts (months without data are zero).
fn months_of(kpis: &[KpiValue], year: i32) -> Vec<(Period, Counts)> {
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

fn kpi_table(id: &'static str, vi: String, en: String, months: &[(Period, Counts)]) -> Table {
    let rows = months
        .iter()
        .enumerate()
        .map(|(i, (p, c))| {
            let mut row = vec![Cell::Text(p.to_string())];
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

fn rates_chart(months: &[(Period, Counts)]) -> Chart {
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

fn grade_name(defs: &Definitions, code: &str) -> String {
    defs.grade_bands
        .iter()
        .find(|b| b.grade == code)
        .map(|b| b.name.clone())
        .unwrap_or_default()
}

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
                Cell::Pct(pct(t.passed as i64, t.assigned as i64)),
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

fn criteria_table(
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
                Cell::Pct(t.and_then(|t| pct(t.at_max as i64, t.communes as i64))),
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
            Cell::Points(before.and_then(|b| delta(now.on_time_rate(), b.on_time_rate()))),
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
                Cell::Link(p.to_string(), format!("/completeness?period={p}")),
                Cell::Int(k),
                Cell::Int(n - k),
                Cell::Pct(pct(k, n)),
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

fn stage_cell(stage: Stage) -> Cell {
    Cell::Tag {
        key: stage.as_str().into(),
        vi: stage.label(Lang::Vi).into(),
        en: stage.label(Lang::En).into(),
    }
}

fn grade_cell(defs: &Definitions, code: &str) -> Cell {
    let name = grade_name(defs, code);
    Cell::Tag {
        key: code.into(),
        vi: name.clone(),
        en: name,
    }
}

fn provisional_cell(provisional: bool) -> Cell {
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
                Cell::Int(s.unit.0 as i64),
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
            Cell::Int(u.unit.0 as i64),
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
        store.pledge_units(year)?.into_iter().collect();
    let pledge_rows = units
        .iter()
        .map(|u| {
            let f = pledges.get(&u.unit).copied().unwrap_or_default();
            vec![
                Cell::Int(u.unit.0 as i64),
                Cell::Link(u.name.clone(), format!("/commune/{}", u.unit)),
                Cell::Int(f.pledges as i64),
                Cell::Int(f.tasks as i64),
                Cell::Int(f.done as i64),
                Cell::Pct(pct(f.done as i64, f.tasks as i64)),
            ]
        })
        .collect();
    Ok(Page {
        name: "completeness".into(),
        vi: format!("Tình hình báo cáo số liệu kỳ {period}"),
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
                Cell::Pct(pct(k, n)),
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
                vi: format!("Đơn vị chưa báo cáo số liệu kỳ {period}"),
                en: format!("Communes that have not reported for {period}"),
                columns: missing_cols,
                rows: missing,
            },
            Table {
                id: "reported",
                vi: format!("Đơn vị đã báo cáo số liệu kỳ {period}"),
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

/// The procedure figures page: per procedure and per commune for a month, with the
/// month-over-month trend.
pub fn figures(store: &dyn Dashboard, period: Period) -> Result<Page> {
    let defs = store.newest_definitions()?;
    let units = store.units()?;
    let prev = previous_month(period);
    let by_unit = |p: Option<Period>| -> Result<BTreeMap<UnitCode, Counts>> {
        let mut m: BTreeMap<UnitCode, Counts> = BTreeMap::new();
        if let Some(p) = p {
            for k in store.kpi_units(p)? {
                if let Some(u) = k.unit {
                    m.entry(u).or_default().add(k.metric, k.value);
                }
            }
        }
        Ok(m)
    };
    let now = by_unit(Some(period))?;
    let before = by_unit(prev)?;
    let total = |by: &BTreeMap<UnitCode, Counts>| {
        let mut sum = Counts::default();
        for c in by.values() {
            for m in Metric::ALL {
                sum.add(m, c.get(m));
            }
        }
        sum
    };
    let province = total(&now);
    let province_before = total(&before);
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
                Cell::Int(u.unit.0 as i64),
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
        vi: format!("Số liệu thủ tục hành chính kỳ {period}"),
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
                Cell::Points(delta(
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
                vi: format!("Theo thủ tục, toàn tỉnh, kỳ {period}"),
                en: format!("By procedure, whole province, {period}"),
                columns: proc_cols,
                rows: proc_rows,
            },
            Table {
                id: "communes",
                vi: format!("Theo đơn vị, kỳ {period}"),
                en: format!("By commune, {period}"),
                columns: unit_cols,
                rows: unit_rows,
            },
        ],
    })
}

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
    let mut history: Vec<(i64, &'static str, &'static str, String)> = Vec::new();
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
                    "provisional",
                    "Tạm tính",
                    "Provisional",
                    provisional_cell(st.provisional && st.has_score()),
                    None,
                ),
                figure(
                    "grade",
                    "Xếp loại",
                    "Grade",
                    grade_cell(&defs, &s.grade),
                    None,
                ),
            ]);
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
                "Được giao giai đoạn",
                "Assigned to the phase",
                p.to_string(),
            ));
            if let Some(t) = s.self_assessed_at {
                history.push((
                    t,
                    "Tự đánh giá đủ tiêu chí",
                    "Self-assessed every criterion",
                    st.self_total.to_string(),
                ));
            }
            if let Some(t) = s.verified_at {
                history.push((
                    t,
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
            Cell::Int(p.year as i64),
            Cell::Text(p.signer.clone()),
            Cell::Text(p.role.clone()),
            Cell::Text(p.signed_on.map(|d| d.to_vn_string()).unwrap_or_default()),
            Cell::Int(p.tasks.len() as i64),
            Cell::Int(done),
            Cell::Pct(pct(done, p.tasks.len() as i64)),
        ]);
        for t in &p.tasks {
            task_rows.push(vec![
                Cell::Int(p.year as i64),
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
                    .map(|(at, vi, en, d)| {
                        vec![
                            Cell::Date(Some(at)),
                            Cell::Tag {
                                key: en.to_lowercase().replace(' ', "_"),
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

/// Which page, with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageRef {
    /// Overview for a month.
    Overview(Period),
    /// One phase.
    Phase(u32),
    /// One commune for a year.
    Commune(UnitCode, i32),
    /// Completeness for a month.
    Completeness(Period),
    /// Procedure figures for a month.
    Figures(Period),
}

/// Reads `?period=` (a month; default: the current month in Vietnam).
pub fn month_param(period: Option<&str>, now_ms: i64) -> Result<Period> {
    match period.map(str::trim).filter(|p| !p.is_empty()) {
        None => Ok(this_month(now_ms)),
        Some(p) => match p.parse::<Period>().map_err(HubError::Invalid)? {
            m @ Period::Month(..) => Ok(m),
            _ => Err(HubError::input("period", p, Rule::Month)),
        },
    }
}

impl PageRef {
    /// Resolves a page name (`overview`, `phase-2`, `commune-70`, `completeness`,
    /// `figures`) and its query parameters.
    pub fn parse(
        name: &str,
        period: Option<&str>,
        year: Option<&str>,
        now_ms: i64,
    ) -> Result<PageRef> {
        let month = || month_param(period, now_ms);
        if let Some(n) = name.strip_prefix("phase-") {
            let p = n
                .parse::<u32>()
                .map_err(|_| HubError::input("phase", n, Rule::Phase))?;
            return Ok(PageRef::Phase(p));
        }
        if let Some(c) = name.strip_prefix("commune-") {
            let unit = UnitCode::parse(c).map_err(HubError::Invalid)?;
            let year = match year.map(str::trim).filter(|y| !y.is_empty()) {
                None => month()?.year(),
                Some(y) => y
                    .parse::<i32>()
                    .ok()
                    .filter(|y| {
                        (cchc_common::period::MIN_YEAR..=cchc_common::period::MAX_YEAR).contains(y)
                    })
                    .ok_or_else(|| {
                        HubError::input(
                            "year",
                            y,
                            Rule::Year {
                                min: cchc_common::period::MIN_YEAR,
                                max: cchc_common::period::MAX_YEAR,
                            },
                        )
                    })?,
            };
            return Ok(PageRef::Commune(unit, year));
        }
        match name {
            "overview" => Ok(PageRef::Overview(month()?)),
            "completeness" => Ok(PageRef::Completeness(month()?)),
            "figures" => Ok(PageRef::Figures(month()?)),
            other => Err(HubError::NotFound(Missing::Page(other.to_string()))),
        }
    }

    /// Builds the page.
    pub fn build(self, store: &dyn Dashboard) -> Result<Page> {
        match self {
            PageRef::Overview(p) => overview(store, p),
            PageRef::Phase(n) => phase(store, n),
            PageRef::Commune(u, y) => {
                commune(store, u, y)?.ok_or(HubError::NotFound(Missing::Commune(u.0)))
            }
            PageRef::Completeness(p) => completeness(store, p),
            PageRef::Figures(p) => figures(store, p),
        }
    }
}
