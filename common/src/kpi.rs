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
    m.code() as usize
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

/// A commune-period whose figures look impossible: a question for the analyst to
/// ask the commune, never a refusal (figures are flows across months, and a desk may
/// still be catching up).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Doubt {
    /// The rule, a stable key.
    pub rule: &'static str,
    /// What looks wrong, with the figures, in Vietnamese.
    pub vi: String,
    /// The same in English.
    pub en: String,
}

/// The plausibility rules (each a key, then its Vietnamese and English statement).
pub const DOUBT_RULES: [(&str, &str, &str); 4] = [
    (
        "resolved_above_inflow",
        "số đã giải quyết (đúng hạn + quá hạn + từ chối) lớn hơn số tiếp nhận cộng số đang giải quyết tháng trước",
        "resolved (on time + late + rejected) exceeds received plus last month's pending",
    ),
    (
        "pending_above_inflow",
        "số đang giải quyết lớn hơn số tiếp nhận cộng số đang giải quyết tháng trước",
        "pending exceeds received plus last month's pending",
    ),
    (
        "online_above_received",
        "số hồ sơ trực tuyến lớn hơn số tiếp nhận",
        "online dossiers exceed dossiers received",
    ),
    (
        "survey_above_received",
        "số ý kiến hài lòng + không hài lòng lớn hơn số tiếp nhận",
        "satisfied + not satisfied exceeds dossiers received",
    ),
];

/// The doubts about one commune's figures for a period. `pending_before` is the
/// commune's pending count of the month before (None for a quarter or a year, where
/// the two carry-over rules do not apply; Some(0) when it reported nothing then).
pub fn doubts(c: &Counts, pending_before: Option<i64>) -> Vec<Doubt> {
    use Metric::*;
    let received = c.get(Received);
    let resolved = c.get(OnTime) + c.get(Late) + c.get(Rejected);
    let survey = c.get(Satisfied) + c.get(Unsatisfied);
    let checks: [(bool, String); 4] = [
        (
            pending_before.is_some_and(|p| resolved > received + p),
            format!("{resolved} > {received} + {}", pending_before.unwrap_or(0)),
        ),
        (
            pending_before.is_some_and(|p| c.get(Pending) > received + p),
            format!(
                "{} > {received} + {}",
                c.get(Pending),
                pending_before.unwrap_or(0)
            ),
        ),
        (
            c.get(Online) > received,
            format!("{} > {received}", c.get(Online)),
        ),
        (survey > received, format!("{survey} > {received}")),
    ];
    DOUBT_RULES
        .iter()
        .zip(checks)
        .filter(|(_, (tripped, _))| *tripped)
        .map(|((rule, vi, en), (_, figures))| Doubt {
            rule,
            vi: format!("{vi} ({figures})"),
            en: format!("{en} ({figures})"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(v: &[(Metric, i64)]) -> Counts {
        let mut c = Counts::default();
        for (m, n) in v {
            c.add(*m, *n);
        }
        c
    }

    #[test]
    fn each_plausibility_rule_trips_on_an_impossible_month_and_not_on_a_possible_one() {
        use Metric::*;
        let rules =
            |c: &Counts, p: Option<i64>| doubts(c, p).iter().map(|d| d.rule).collect::<Vec<_>>();
        // Resolved: 12 resolved of 10 received is possible with 2 pending carried over.
        let c = counts(&[(Received, 10), (OnTime, 8), (Late, 3), (Rejected, 1)]);
        assert_eq!(rules(&c, Some(2)), Vec::<&str>::new());
        assert_eq!(rules(&c, Some(1)), vec!["resolved_above_inflow"]);
        // For a quarter or a year the carry-over rules do not apply.
        assert_eq!(rules(&c, None), Vec::<&str>::new());
        // Pending.
        let c = counts(&[(Received, 5), (Pending, 7)]);
        assert_eq!(rules(&c, Some(2)), Vec::<&str>::new());
        assert_eq!(rules(&c, Some(0)), vec!["pending_above_inflow"]);
        // Online.
        assert_eq!(
            rules(&counts(&[(Received, 5), (Online, 5)]), Some(0)),
            Vec::<&str>::new()
        );
        assert_eq!(
            rules(&counts(&[(Received, 5), (Online, 6)]), Some(0)),
            vec!["online_above_received"]
        );
        // Survey.
        let ok = counts(&[(Received, 5), (Satisfied, 4), (Unsatisfied, 1)]);
        assert_eq!(rules(&ok, Some(0)), Vec::<&str>::new());
        let bad = counts(&[(Received, 5), (Satisfied, 5), (Unsatisfied, 1)]);
        assert_eq!(rules(&bad, Some(0)), vec!["survey_above_received"]);
        let d = &doubts(&bad, Some(0))[0];
        assert!(
            d.vi.contains("(6 > 5)") && d.en.contains("(6 > 5)"),
            "{d:?}"
        );
    }

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
