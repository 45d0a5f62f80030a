//! Reporting periods and calendar dates. In: strings typed by officers (`2026-11`,
//! `2026-Q4`, `2026`, `2026-01-15`) and "today" supplied by the caller (common reads no
//! clock). Out: validated [`Period`] and [`Date`] values that order and print stably.

use crate::error::DomainError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Earliest year the system accepts (the reform model postdates this).
pub const MIN_YEAR: i32 = 2000;
/// Latest year the system accepts.
pub const MAX_YEAR: i32 = 2100;

/// Vietnam's offset from UTC in seconds (UTC+7, no daylight saving).
pub const VN_UTC_OFFSET_SECS: i64 = 7 * 3600;

/// A reporting period: a month, a quarter or a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Period {
    /// A calendar year, `2026`.
    Year(i32),
    /// A quarter, `2026-Q4`.
    Quarter(i32, u8),
    /// A month, `2026-11`.
    Month(i32, u8),
}

impl Period {
    /// The period as Vietnamese reads it: `tháng 11/2026`, `quý 4/2026`, `năm 2026`.
    pub fn vi(&self) -> String {
        match *self {
            Period::Year(y) => format!("năm {y}"),
            Period::Quarter(y, q) => format!("quý {q}/{y}"),
            Period::Month(y, m) => format!("tháng {m}/{y}"),
        }
    }

    /// The year the period lies in.
    pub fn year(&self) -> i32 {
        match *self {
            Period::Year(y) | Period::Quarter(y, _) | Period::Month(y, _) => y,
        }
    }

    /// First day of the period.
    pub fn start(&self) -> Date {
        let (y, m) = match *self {
            Period::Year(y) => (y, 1),
            Period::Quarter(y, q) => (y, (q - 1) * 3 + 1),
            Period::Month(y, m) => (y, m),
        };
        Date {
            year: y,
            month: m,
            day: 1,
        }
    }

    /// Whether `other` lies within this period (a month within its quarter and year,
    /// a quarter within its year, every period within itself).
    pub fn contains(&self, other: &Period) -> bool {
        match (*self, *other) {
            (Period::Year(y), o) => o.year() == y,
            (Period::Quarter(y, q), Period::Quarter(oy, oq)) => y == oy && q == oq,
            (Period::Quarter(y, q), Period::Month(oy, om)) => y == oy && (om - 1) / 3 + 1 == q,
            (Period::Month(y, m), Period::Month(oy, om)) => y == oy && m == om,
            _ => false,
        }
    }

    /// Refuses a period that starts after `today`. Used where a person types a period,
    /// never where ops from peers are applied: a device with a fast clock may have
    /// recorded a period that is still in the future for us, and its data is never refused.
    pub fn check_not_future(&self, today: Date) -> Result<(), DomainError> {
        if self.start() > today {
            return Err(DomainError::FuturePeriod {
                period: self.to_string(),
                today: today.to_string(),
            });
        }
        Ok(())
    }
}

fn check_year(year: i32) -> Result<i32, DomainError> {
    if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
        return Err(DomainError::YearRange {
            year,
            min: MIN_YEAR,
            max: MAX_YEAR,
        });
    }
    Ok(year)
}

fn parse_year(s: &str, input: &str) -> Result<i32, DomainError> {
    if s.len() != 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DomainError::PeriodFormat {
            input: input.to_string(),
        });
    }
    check_year(s.parse().map_err(|_| DomainError::PeriodFormat {
        input: input.to_string(),
    })?)
}

fn parse_small(s: &str, input: &str) -> Result<u32, DomainError> {
    if s.is_empty() || s.len() > 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DomainError::PeriodFormat {
            input: input.to_string(),
        });
    }
    s.parse().map_err(|_| DomainError::PeriodFormat {
        input: input.to_string(),
    })
}

impl FromStr for Period {
    type Err = DomainError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim();
        let fmt_err = || DomainError::PeriodFormat {
            input: input.to_string(),
        };
        match s.split_once('-') {
            None => Ok(Period::Year(parse_year(s, input)?)),
            Some((y, rest)) => {
                let year = parse_year(y, input)?;
                if let Some(q) = rest.strip_prefix('Q').or_else(|| rest.strip_prefix('q')) {
                    let q = parse_small(q, input)?;
                    if !(1..=4).contains(&q) {
                        return Err(DomainError::PeriodRange {
                            input: input.to_string(),
                            what: "quarter",
                            value: q,
                            min: 1,
                            max: 4,
                        });
                    }
                    Ok(Period::Quarter(year, q as u8))
                } else {
                    if rest.len() != 2 {
                        return Err(fmt_err());
                    }
                    let m = parse_small(rest, input)?;
                    if !(1..=12).contains(&m) {
                        return Err(DomainError::PeriodRange {
                            input: input.to_string(),
                            what: "month",
                            value: m,
                            min: 1,
                            max: 12,
                        });
                    }
                    Ok(Period::Month(year, m as u8))
                }
            }
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Period::Year(y) => write!(f, "{y:04}"),
            Period::Quarter(y, q) => write!(f, "{y:04}-Q{q}"),
            Period::Month(y, m) => write!(f, "{y:04}-{m:02}"),
        }
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A calendar date (proleptic Gregorian), validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    year: i32,
    month: u8,
    day: u8,
}

impl Date {
    /// Builds a date, refusing days that do not exist (2026-02-30).
    pub fn new(year: i32, month: u8, day: u8) -> Result<Date, DomainError> {
        let bad = || DomainError::BadDate {
            input: format!("{year:04}-{month:02}-{day:02}"),
        };
        let m = time::Month::try_from(month).map_err(|_| bad())?;
        time::Date::from_calendar_date(year, m, day).map_err(|_| bad())?;
        check_year(year)?;
        Ok(Date { year, month, day })
    }

    /// The date in Vietnam (UTC+7) at the given Unix time in milliseconds.
    pub fn from_unix_ms_vn(ms: i64) -> Date {
        let secs = ms.div_euclid(1000) + VN_UTC_OFFSET_SECS;
        let days = secs.div_euclid(86_400);
        // Julian day of 1970-01-01 is 2_440_588.
        let jd = (days + 2_440_588).clamp(i32::MIN as i64, i32::MAX as i64) as i32;
        match time::Date::from_julian_day(jd) {
            Ok(d) => Date {
                year: d.year(),
                month: d.month() as u8,
                day: d.day(),
            },
            Err(_) => Date {
                year: MAX_YEAR,
                month: 12,
                day: 31,
            },
        }
    }

    /// Year.
    pub fn year(&self) -> i32 {
        self.year
    }

    /// Date and time in Vietnam at a Unix time in ms, RFC 3339 (`2026-11-23T17:05:09+07:00`).
    pub fn rfc3339_vn(ms: i64) -> String {
        let d = Date::from_unix_ms_vn(ms);
        let (h, m, s) = Date::vn_clock(ms);
        format!("{d}T{h:02}:{m:02}:{s:02}+07:00")
    }

    /// Date and time in Vietnam for people: `23/11/2026 17:05`.
    pub fn display_vn(ms: i64) -> String {
        let d = Date::from_unix_ms_vn(ms);
        let (h, m, _) = Date::vn_clock(ms);
        format!("{} {h:02}:{m:02}", d.to_vn_string())
    }

    fn vn_clock(ms: i64) -> (i64, i64, i64) {
        let secs = (ms.div_euclid(1000) + VN_UTC_OFFSET_SECS).rem_euclid(86_400);
        (secs / 3600, secs / 60 % 60, secs % 60)
    }

    /// Month 1..=12.
    pub fn month(&self) -> u8 {
        self.month
    }

    /// Day of month.
    pub fn day(&self) -> u8 {
        self.day
    }

    /// The month period this date lies in.
    pub fn month_period(&self) -> Period {
        Period::Month(self.year, self.month)
    }

    /// Vietnamese display form `dd/mm/yyyy`.
    pub fn to_vn_string(&self) -> String {
        format!("{:02}/{:02}/{:04}", self.day, self.month, self.year)
    }
}

impl FromStr for Date {
    type Err = DomainError;

    /// Parses `YYYY-MM-DD` or the Vietnamese `dd/mm/yyyy`.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim();
        let bad = || DomainError::BadDate {
            input: input.to_string(),
        };
        let parts: Vec<&str> = if s.contains('/') {
            s.split('/').collect()
        } else {
            s.split('-').collect()
        };
        if parts.len() != 3
            || !parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad());
        }
        let (y, m, d) = if s.contains('/') {
            (parts[2], parts[1], parts[0])
        } else {
            (parts[0], parts[1], parts[2])
        };
        if y.len() != 4 || m.len() > 2 || d.len() > 2 {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u8 = m.parse().map_err(|_| bad())?;
        let day: u8 = d.parse().map_err(|_| bad())?;
        Date::new(year, month, day).map_err(|e| match e {
            DomainError::YearRange { .. } => e,
            _ => bad(),
        })
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_read_as_vietnamese_writes_them() {
        let p = |t: &str| t.parse::<Period>().unwrap().vi();
        assert_eq!(p("2026-11"), "tháng 11/2026");
        assert_eq!(p("2026-03"), "tháng 3/2026");
        assert_eq!(p("2026-Q4"), "quý 4/2026");
        assert_eq!(p("2026"), "năm 2026");
    }

    #[test]
    fn timestamps_are_vietnam_time() {
        // 2026-11-23T10:05:09Z is 17:05:09 in Vietnam.
        let ms = 1_795_428_309_000;
        assert_eq!(Date::rfc3339_vn(ms), "2026-11-23T17:05:09+07:00");
        assert_eq!(Date::display_vn(ms), "23/11/2026 17:05");
        // 20:00Z is already the next day in Vietnam.
        assert_eq!(
            Date::rfc3339_vn(1_795_464_000_000),
            "2026-11-24T03:00:00+07:00"
        );
    }

    #[test]
    fn containment() {
        let p = |s: &str| s.parse::<Period>().unwrap();
        assert!(p("2026").contains(&p("2026-11")));
        assert!(p("2026").contains(&p("2026-Q1")));
        assert!(p("2026-Q4").contains(&p("2026-10")));
        assert!(p("2026-Q4").contains(&p("2026-12")));
        assert!(!p("2026-Q4").contains(&p("2026-09")));
        assert!(!p("2026-Q4").contains(&p("2026")));
        assert!(!p("2026-11").contains(&p("2026-Q4")));
        assert!(!p("2025").contains(&p("2026-01")));
        assert!(p("2026-11").contains(&p("2026-11")));
    }

    #[test]
    fn parses_and_prints_periods() {
        for s in ["2026-11", "2026-Q4", "2026", "2025-01"] {
            assert_eq!(s.parse::<Period>().unwrap().to_string(), s);
        }
        assert_eq!(
            "2026-q2".parse::<Period>().unwrap(),
            Period::Quarter(2026, 2)
        );
    }

    #[test]
    fn refuses_bad_periods() {
        for s in [
            "2026-13",
            "2026-00",
            "2026-Q5",
            "2026-Q0",
            "26-11",
            "2026-1",
            "2026/11",
            "",
            "abc",
            "1999",
            "2026-11-01",
        ] {
            assert!(s.parse::<Period>().is_err(), "{s} should be refused");
        }
    }

    #[test]
    fn future_check_uses_period_start() {
        let today = Date::new(2026, 11, 23).unwrap();
        assert!(Period::Month(2026, 11).check_not_future(today).is_ok());
        assert!(Period::Quarter(2026, 4).check_not_future(today).is_ok());
        assert!(Period::Year(2026).check_not_future(today).is_ok());
        assert!(Period::Month(2026, 12).check_not_future(today).is_err());
        assert!(Period::Year(2027).check_not_future(today).is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(
            "2026-01-15".parse::<Date>().unwrap().to_string(),
            "2026-01-15"
        );
        assert_eq!(
            "15/01/2026".parse::<Date>().unwrap().to_string(),
            "2026-01-15"
        );
        assert!("2026-02-30".parse::<Date>().is_err());
        assert!("2026-2-3x".parse::<Date>().is_err());
        // 2026-11-23T17:30:00Z is already the 24th in Vietnam.
        assert_eq!(
            Date::from_unix_ms_vn(1_795_455_000_000).to_string(),
            "2026-11-24"
        );
    }
}
