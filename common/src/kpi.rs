//! The province's key figures, as pure arithmetic. In: merged counts per metric.
//! Out: the three rates the province reports on and their month-over-month trends.
//! Every reader (the dashboard pages, `report`, `status`, the exports) computes them
//! here, so they agree to the last digit.
//!
//! Rates are percentages 0–100: on time = on-time / (on-time + late) resolved
//! dossiers; online = online / received; satisfaction = satisfied / (satisfied + not
//! satisfied). A rate with a zero denominator is absent (`None`), never 0. A trend is
//! the difference of two rates in percentage points, absent if either is.

use crate::{Metric, Period};

/// A share in percent (0–100); absent when the denominator is not positive.
pub fn rate(num: i64, den: i64) -> Option<f64> {
    (den > 0).then(|| num as f64 * 100.0 / den as f64)
}

/// The change from `before` to `now`, in percentage points.
pub fn trend(now: Option<f64>, before: Option<f64>) -> Option<f64> {
    Some(now? - before?)
}

/// Rounds to one decimal: what every page, export and report shows.
pub fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The month before `p` (None for a quarter or a year).
pub fn previous_month(p: Period) -> Option<Period> {
    match p {
        Period::Month(y, 1) => Some(Period::Month(y - 1, 12)),
        Period::Month(y, m) => Some(Period::Month(y, m - 1)),
        Period::Quarter(..) | Period::Year(..) => None,
    }
}

/// The merged counts of one scope (a commune, a procedure, the province) in one period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts([i64; 8]);

fn slot(m: Metric) -> usize {
    match m {
        Metric::Received => 0,
        Metric::OnTime => 1,
        Metric::Late => 2,
        Metric::Pending => 3,
        Metric::Rejected => 4,
        Metric::Online => 5,
        Metric::Satisfied => 6,
        Metric::Unsatisfied => 7,
    }
}

impl Counts {
    /// Adds `v` to metric `m`.
    pub fn add(&mut self, m: Metric, v: i64) {
        self.0[slot(m)] += v;
    }

    /// One metric.
    pub fn get(&self, m: Metric) -> i64 {
        self.0[slot(m)]
    }

    /// Whether any metric is non-zero.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|v| *v == 0)
    }

    /// On-time share of resolved dossiers (%).
    pub fn on_time_rate(&self) -> Option<f64> {
        rate(
            self.get(Metric::OnTime),
            self.get(Metric::OnTime) + self.get(Metric::Late),
        )
    }

    /// Online share of received dossiers (%).
    pub fn online_rate(&self) -> Option<f64> {
        rate(self.get(Metric::Online), self.get(Metric::Received))
    }

    /// Satisfied share of citizens asked (%).
    pub fn satisfaction(&self) -> Option<f64> {
        rate(
            self.get(Metric::Satisfied),
            self.get(Metric::Satisfied) + self.get(Metric::Unsatisfied),
        )
    }
}

/// The counts of several scopes added up (the province from its communes).
impl<'a> std::iter::Sum<&'a Counts> for Counts {
    fn sum<I: Iterator<Item = &'a Counts>>(iter: I) -> Counts {
        let mut total = Counts::default();
        for c in iter {
            for (t, v) in total.0.iter_mut().zip(c.0) {
                *t += v;
            }
        }
        total
    }
}

impl FromIterator<(Metric, i64)> for Counts {
    fn from_iter<I: IntoIterator<Item = (Metric, i64)>>(iter: I) -> Counts {
        let mut c = Counts::default();
        for (m, v) in iter {
            c.add(m, v);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_percent_and_absent_without_a_denominator() {
        let c: Counts = [
            (Metric::OnTime, 36),
            (Metric::Late, 1),
            (Metric::Received, 40),
            (Metric::Online, 10),
            (Metric::OnTime, 0),
        ]
        .into_iter()
        .collect();
        assert_eq!(round1(c.on_time_rate().unwrap()), 97.3);
        assert_eq!(c.online_rate(), Some(25.0));
        assert_eq!(c.satisfaction(), None);
        assert_eq!(Counts::default().on_time_rate(), None);
        assert!(Counts::default().is_empty() && !c.is_empty());
        let twice: Counts = [c, c].iter().sum();
        assert_eq!(twice.get(Metric::OnTime), 72);
        assert_eq!(twice.get(Metric::Received), 80);
        assert_eq!(trend(Some(97.5), Some(95.0)), Some(2.5));
        assert_eq!(trend(Some(97.5), None), None);
        assert_eq!(rate(1, 0), None);
        assert_eq!(rate(1, -3), None);
    }

    #[test]
    fn the_month_before_crosses_years() {
        assert_eq!(
            previous_month(Period::Month(2026, 1)),
            Some(Period::Month(2025, 12))
        );
        assert_eq!(
            previous_month(Period::Month(2026, 11)),
            Some(Period::Month(2026, 10))
        );
        assert_eq!(previous_month(Period::Year(2026)), None);
    }
}
