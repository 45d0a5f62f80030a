//! The dashboard's pages as data. In: the rollups read through [`Dashboard`] and the
//! definitions in force. Out: a [`Page`] of figures, charts and [`Table`]s that the
//! HTML pages, the JSON API and the CSV/XLSX exports all render, so they always agree.
//!
//! One file per page ([`overview`], [`phase`], [`completeness`], [`figures`],
//! [`commune`], [`releases`]) and the analysts' [`verify`] form; [`kpi`] builds the key-figure
//! tables and charts (their arithmetic is `cchc_common::kpi`); [`parts`] holds the
//! cells and tables more than one page shows. The model is here.
//!
//! Rates are percentages 0–100 from `cchc_common::kpi`; a rate with a zero
//! denominator is absent, never 0. Month-over-month trends are percentage points.

pub mod commune;
pub mod completeness;
pub mod figures;
pub mod kpi;
pub mod overview;
pub mod parts;
pub mod phase;
pub mod provinces;
pub mod quality;
pub mod releases;
pub mod verify;

use crate::error::{HubError, Missing, Result, Rule};
use crate::store::HubStore;
use cchc_common::kpi::round1;
use cchc_common::{Date, Period, Score, UnitCode};
use serde::ser::{Serialize, SerializeMap, Serializer};
pub use verify::{verify_form, VerifyForm};

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
    /// A whole number (a quantity: grouped for people, `18.754`).
    Int(i64),
    /// An identifier that is a number — a commune code, a year: never grouped
    /// (`18754`, `2026`), sorted as a number.
    Id(i64),
    /// A score (absent: not scored).
    Score(Option<Score>),
    /// A percentage 0–100 (absent: no denominator).
    Pct(Option<f64>),
    /// A change in percentage points (absent: nothing to compare with).
    Points(Option<f64>),
    /// A date (ms since epoch, shown in Vietnam's time zone).
    Date(Option<i64>),
    /// A period, read `tháng 11/2026` in Vietnamese and `2026-11` in English (and in
    /// JSON), linking to a page when given.
    Period(Period, Option<String>),
}

/// The cell's value for machines: a string, a number or null (never a label).
impl Serialize for Cell {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Cell::Text(t) | Cell::Link(t, _) => s.serialize_str(t),
            Cell::Tag { key, .. } => s.serialize_str(key),
            Cell::Int(n) | Cell::Id(n) => s.serialize_i64(*n),
            Cell::Score(Some(v)) => s.serialize_f64(v.as_f64()),
            Cell::Pct(Some(v)) | Cell::Points(Some(v)) => s.serialize_f64(round1(*v)),
            Cell::Date(Some(ms)) => s.collect_str(&Date::from_unix_ms_vn(*ms)),
            Cell::Period(p, _) => s.collect_str(p),
            Cell::Score(None) | Cell::Pct(None) | Cell::Points(None) | Cell::Date(None) => {
                s.serialize_none()
            }
        }
    }
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

pub(crate) const fn col(key: &'static str, vi: &'static str, en: &'static str) -> Column {
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

/// One row as an object keyed by its columns' stable keys.
struct Row<'a>(&'a [Column], &'a [Cell]);

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.1.len()))?;
        for (c, v) in self.0.iter().zip(self.1) {
            m.serialize_entry(c.key, v)?;
        }
        m.end()
    }
}

/// A table for machines: its rows as objects keyed by column.
impl Serialize for Table {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.rows.iter().map(|r| Row(&self.columns, r)))
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

/// A headline figure for machines: its value, or `{"value", "of"}`.
struct FigureValue<'a>(&'a Figure);

impl Serialize for FigureValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0.of {
            Some(of) => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("value", &self.0.value)?;
                m.serialize_entry("of", &of)?;
                m.end()
            }
            None => self.0.value.serialize(s),
        }
    }
}

/// The JSON API document of a page: `page`, `title`, `period`, `figures` by key and
/// `tables` by id.
impl Serialize for Page {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        struct Figures<'a>(&'a [Figure]);
        impl Serialize for Figures<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.collect_map(self.0.iter().map(|f| (f.key, FigureValue(f))))
            }
        }
        struct Tables<'a>(&'a [Table]);
        impl Serialize for Tables<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.collect_map(self.0.iter().map(|t| (t.id, t)))
            }
        }
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("page", &self.name)?;
        m.serialize_entry("title", &self.vi)?;
        m.serialize_entry("period", &self.period.map(|p| p.to_string()))?;
        m.serialize_entry("figures", &Figures(&self.figures))?;
        m.serialize_entry("tables", &Tables(&self.tables))?;
        m.end()
    }
}

impl Page {
    /// A table by id.
    pub fn table(&self, id: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.id == id)
    }
}

pub(crate) fn figure(
    key: &'static str,
    vi: &str,
    en: &str,
    value: Cell,
    of: Option<i64>,
) -> Figure {
    Figure {
        key,
        vi: vi.into(),
        en: en.into(),
        value,
        of,
    }
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
    /// Agent updates: releases and rollouts.
    Releases,
    /// Data quality (plausibility warnings) for a month.
    Quality(Period),
    /// The provinces side by side for a month (a hub of several provinces).
    Provinces(Period),
    /// One province's communes for a month.
    Province(u32, Period),
}

/// Reads `?period=` (a month; default: the current month in Vietnam).
pub fn month_param(period: Option<&str>, now_ms: i64) -> Result<Period> {
    match period.map(str::trim).filter(|p| !p.is_empty()) {
        None => Ok(kpi::this_month(now_ms)),
        Some(p) => match p.parse::<Period>().map_err(HubError::Invalid)? {
            m @ Period::Month(..) => Ok(m),
            _ => Err(HubError::input("period", p, Rule::Month)),
        },
    }
}

impl PageRef {
    /// Resolves a page name (`overview`, `phase-2`, `commune-70`, `completeness`,
    /// `figures`, `releases`) and its query parameters.
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
        if let Some(p) = name.strip_prefix("province-") {
            let code = p
                .parse::<u32>()
                .map_err(|_| HubError::input("province", p, Rule::WholeNumber))?;
            return Ok(PageRef::Province(code, month()?));
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
            "releases" => Ok(PageRef::Releases),
            "quality" => Ok(PageRef::Quality(month()?)),
            "provinces" => Ok(PageRef::Provinces(month()?)),
            other => Err(HubError::NotFound(Missing::Page(other.to_string()))),
        }
    }

    /// Builds the page.
    pub fn build(self, store: &dyn HubStore) -> Result<Page> {
        match self {
            PageRef::Overview(p) => overview::overview(store, p),
            PageRef::Phase(n) => phase::phase(store, n),
            PageRef::Commune(u, y) => {
                commune::commune(store, u, y)?.ok_or(HubError::NotFound(Missing::Commune(u.0)))
            }
            PageRef::Completeness(p) => completeness::completeness(store, p),
            PageRef::Figures(p) => figures::figures(store, p),
            PageRef::Releases => releases::releases(store),
            PageRef::Quality(p) => quality::quality(store, p),
            PageRef::Provinces(p) => provinces::provinces(store, p),
            PageRef::Province(code, p) => provinces::province(store, code, p),
        }
    }
}
