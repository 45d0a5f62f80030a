//! Definitions: the procedure catalog, the count metrics, the criteria set and pass
//! threshold of each rollout phase, and the grade bands. In: a definitions JSON document
//! (a built-in version 1 ships; the province publishes newer ones). Out: validated
//! [`Definitions`] that every entry is checked against. Every op records the
//! `version` of the definitions that validated it.

use crate::error::DomainError;
use crate::score::Score;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The definitions that ship with this build.
pub const BUILTIN_DEFINITIONS_JSON: &str = include_str!("../data/definitions-v1.json");

/// A counted quantity of a procedure in a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Dossiers received (tiếp nhận).
    Received,
    /// Resolved on time (giải quyết đúng hạn).
    OnTime,
    /// Resolved late (quá hạn).
    Late,
    /// Still pending (đang giải quyết).
    Pending,
    /// Rejected (từ chối).
    Rejected,
    /// Received through online public services (dịch vụ công trực tuyến).
    Online,
    /// Citizens satisfied (hài lòng).
    Satisfied,
    /// Citizens not satisfied (không hài lòng).
    Unsatisfied,
}

impl Metric {
    /// Every metric, in display order.
    pub const ALL: [Metric; 8] = [
        Metric::Received,
        Metric::OnTime,
        Metric::Late,
        Metric::Pending,
        Metric::Rejected,
        Metric::Online,
        Metric::Satisfied,
        Metric::Unsatisfied,
    ];

    /// The metric's number, 0 to 7: its slot in per-metric arrays and what op batches
    /// (stored, and protocol 2 on the wire) carry. Stable: never renumber.
    pub fn code(self) -> u8 {
        match self {
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

    /// The metric of a [`Metric::code`].
    pub fn from_code(code: u8) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.code() == code)
    }

    /// The stable machine name (`on_time`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Metric::Received => "received",
            Metric::OnTime => "on_time",
            Metric::Late => "late",
            Metric::Pending => "pending",
            Metric::Rejected => "rejected",
            Metric::Online => "online",
            Metric::Satisfied => "satisfied",
            Metric::Unsatisfied => "unsatisfied",
        }
    }

    /// Vietnamese label.
    pub fn vi(&self) -> &'static str {
        match self {
            Metric::Received => "Tiếp nhận",
            Metric::OnTime => "Đúng hạn",
            Metric::Late => "Quá hạn",
            Metric::Pending => "Đang giải quyết",
            Metric::Rejected => "Từ chối",
            Metric::Online => "Trực tuyến",
            Metric::Satisfied => "Hài lòng",
            Metric::Unsatisfied => "Không hài lòng",
        }
    }

    /// English label.
    pub fn en(&self) -> &'static str {
        match self {
            Metric::Received => "Received",
            Metric::OnTime => "On time",
            Metric::Late => "Late",
            Metric::Pending => "Pending",
            Metric::Rejected => "Rejected",
            Metric::Online => "Online",
            Metric::Satisfied => "Satisfied",
            Metric::Unsatisfied => "Unsatisfied",
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Metric {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase().replace('-', "_");
        Metric::ALL
            .into_iter()
            .find(|m| m.as_str() == t)
            .ok_or_else(|| DomainError::UnknownMetric {
                input: s.to_string(),
            })
    }
}

/// A procedure in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Procedure {
    /// Stable code, e.g. `CT-01`.
    pub code: String,
    /// Vietnamese name, e.g. "Đăng ký thường trú".
    pub name: String,
}

/// A criterion of a phase's criteria set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Criterion {
    /// Code, unique within its phase, e.g. `TC-03`.
    pub code: String,
    /// Vietnamese name.
    pub name: String,
    /// Highest score allowed.
    pub max_score: Score,
}

/// A rollout phase with its criteria set and pass threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase {
    /// Phase number, 1-based.
    pub phase: u32,
    /// Vietnamese name.
    pub name: String,
    /// Total score needed to pass the phase.
    pub pass_threshold: Score,
    /// The criteria set.
    pub criteria: Vec<Criterion>,
}

impl Phase {
    /// Sum of the criteria's maxima.
    pub fn max_total(&self) -> Score {
        Score(self.criteria.iter().map(|c| c.max_score.0).sum())
    }

    /// Looks a criterion up by code.
    pub fn criterion(&self, code: &str) -> Option<&Criterion> {
        self.criteria.iter().find(|c| c.code == code)
    }
}

/// A grade band of the reform index (Tốt / Khá / Trung bình / Yếu).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GradeBand {
    /// Stable code, e.g. `tot`.
    pub grade: String,
    /// Vietnamese name, e.g. "Tốt".
    pub name: String,
    /// Lowest percentage of the maximum total that earns this grade.
    pub min_percent: u32,
}

/// A complete, validated set of definitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Definitions {
    /// Version number; every op records the version that validated it.
    pub version: u32,
    /// The procedure catalog.
    pub procedures: Vec<Procedure>,
    /// Rollout phases.
    pub phases: Vec<Phase>,
    /// Grade bands, highest first.
    pub grade_bands: Vec<GradeBand>,
}

/// Problems in a definitions document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("definitions: {0}")]
pub struct DefinitionsError(pub String);

impl Definitions {
    /// The definitions that ship with this build (version 1).
    ///
    /// # Panics
    /// Never in a released build: the embedded document is checked by a unit test.
    pub fn builtin() -> Definitions {
        Definitions::from_json(BUILTIN_DEFINITIONS_JSON).expect("built-in definitions are valid")
    }

    /// Parses and validates a definitions document.
    pub fn from_json(text: &str) -> Result<Definitions, DefinitionsError> {
        let d: Definitions =
            serde_json::from_str(text).map_err(|e| DefinitionsError(e.to_string()))?;
        d.validate()?;
        Ok(d)
    }

    /// Checks the internal rules: unique codes, thresholds within the maxima, bands descending.
    pub fn validate(&self) -> Result<(), DefinitionsError> {
        let e = |s: String| Err(DefinitionsError(s));
        if self.version == 0 {
            return e("version must be 1 or more".into());
        }
        if self.procedures.is_empty() {
            return e("the procedure catalog is empty".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &self.procedures {
            if p.code.trim().is_empty() || p.name.trim().is_empty() || p.code.len() > 32 {
                return e(format!(
                    "procedure '{}' needs a code of 1-32 characters and a name",
                    p.code
                ));
            }
            if !seen.insert(&p.code) {
                return e(format!("procedure code {} appears twice", p.code));
            }
        }
        let mut phases = std::collections::BTreeSet::new();
        for ph in &self.phases {
            if ph.phase == 0 || !phases.insert(ph.phase) {
                return e(format!("phase {} is 0 or appears twice", ph.phase));
            }
            if ph.criteria.is_empty() {
                return e(format!("phase {} has no criteria", ph.phase));
            }
            let mut codes = std::collections::BTreeSet::new();
            for c in &ph.criteria {
                if c.code.trim().is_empty() || !codes.insert(&c.code) {
                    return e(format!(
                        "criterion '{}' of phase {} is empty or appears twice",
                        c.code, ph.phase
                    ));
                }
                if c.max_score.0 == 0 {
                    return e(format!(
                        "criterion {} of phase {} has max_score 0",
                        c.code, ph.phase
                    ));
                }
            }
            if ph.pass_threshold > ph.max_total() {
                return e(format!(
                    "phase {} pass_threshold {} is above its maximum total {}",
                    ph.phase,
                    ph.pass_threshold,
                    ph.max_total()
                ));
            }
        }
        if self.phases.is_empty() {
            return e("no phase is defined".into());
        }
        if self.grade_bands.is_empty() || self.grade_bands.last().map(|b| b.min_percent) != Some(0)
        {
            return e("grade bands must end with a band starting at 0%".into());
        }
        if self
            .grade_bands
            .windows(2)
            .any(|w| w[0].min_percent <= w[1].min_percent)
        {
            return e(
                "grade bands must be listed highest first with strictly falling min_percent".into(),
            );
        }
        Ok(())
    }

    /// Looks a procedure up.
    pub fn procedure(&self, code: &str) -> Result<&Procedure, DomainError> {
        self.procedures
            .iter()
            .find(|p| p.code == code)
            .ok_or_else(|| DomainError::UnknownProcedure {
                code: code.to_string(),
                version: self.version,
            })
    }

    /// Looks a phase up.
    pub fn phase(&self, phase: u32) -> Result<&Phase, DomainError> {
        self.phases
            .iter()
            .find(|p| p.phase == phase)
            .ok_or_else(|| DomainError::UnknownPhase {
                phase,
                known: self
                    .phases
                    .iter()
                    .map(|p| p.phase.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Looks a criterion up in a phase.
    pub fn criterion(&self, phase: u32, code: &str) -> Result<&Criterion, DomainError> {
        self.phase(phase)?
            .criterion(code)
            .ok_or_else(|| DomainError::UnknownCriterion {
                phase,
                code: code.to_string(),
            })
    }

    /// Checks a score against its criterion's maximum.
    pub fn check_score(&self, phase: u32, code: &str, score: Score) -> Result<(), DomainError> {
        let c = self.criterion(phase, code)?;
        if score > c.max_score {
            return Err(DomainError::ScoreAboveMax {
                score: score.to_string(),
                max: c.max_score.to_string(),
                criterion: code.to_string(),
                phase,
            });
        }
        Ok(())
    }

    /// The grade band for a total out of a maximum.
    pub fn grade(&self, total: Score, max_total: Score) -> &GradeBand {
        let pct = if max_total.0 == 0 {
            0.0
        } else {
            total.0 as f64 * 100.0 / max_total.0 as f64
        };
        self.grade_bands
            .iter()
            .find(|b| pct >= b.min_percent as f64)
            .unwrap_or_else(|| {
                self.grade_bands
                    .last()
                    .expect("validated: bands are not empty")
            })
    }

    /// The stable `catalog --json` document.
    pub fn catalog_json(&self) -> serde_json::Value {
        serde_json::json!({
            "definitions_version": self.version,
            "procedures": self.procedures.iter().map(|p| serde_json::json!({"code": p.code, "name": p.name})).collect::<Vec<_>>(),
            "metrics": Metric::ALL.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
            "criteria": self.phases.iter().flat_map(|ph| ph.criteria.iter().map(move |c| serde_json::json!({
                "phase": ph.phase, "code": c.code, "name": c.name, "max_score": c.max_score,
            }))).collect::<Vec<_>>(),
            "phases": self.phases.iter().map(|ph| serde_json::json!({
                "phase": ph.phase, "name": ph.name, "pass_threshold": ph.pass_threshold, "max_total": ph.max_total(),
            })).collect::<Vec<_>>(),
            "grade_bands": self.grade_bands,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_definitions_are_valid_and_total_100_per_phase() {
        let d = Definitions::builtin();
        assert_eq!(d.version, 1);
        assert!(d.procedures.len() >= 15);
        assert_eq!(d.phases.len(), 3);
        for ph in &d.phases {
            assert_eq!(ph.max_total(), Score(1000), "phase {}", ph.phase);
        }
        assert_eq!(d.grade(Score(900), Score(1000)).grade, "tot");
        assert_eq!(d.grade(Score(899), Score(1000)).grade, "kha");
        assert_eq!(d.grade(Score(0), Score(1000)).grade, "yeu");
    }

    #[test]
    fn invalid_definitions_are_refused() {
        let mut d = Definitions::builtin();
        d.phases[0].pass_threshold = Score(2000);
        assert!(d.validate().unwrap_err().0.contains("pass_threshold"));
        let mut d = Definitions::builtin();
        d.procedures.push(d.procedures[0].clone());
        assert!(d.validate().unwrap_err().0.contains("twice"));
    }

    #[test]
    fn scores_are_checked() {
        let d = Definitions::builtin();
        assert!(d.check_score(1, "TC-03", Score(200)).is_ok());
        let e = d.check_score(1, "TC-03", Score(201)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "score 20.1 is above the maximum 20 for criterion TC-03 (phase 1)"
        );
        assert!(matches!(
            d.check_score(4, "TC-03", Score(1)),
            Err(DomainError::UnknownPhase { .. })
        ));
        assert!(matches!(
            d.check_score(1, "TC-09", Score(1)),
            Err(DomainError::UnknownCriterion { .. })
        ));
    }

    #[test]
    fn metrics_parse() {
        assert_eq!("on-time".parse::<Metric>().unwrap(), Metric::OnTime);
        assert!("foo".parse::<Metric>().is_err());
    }
}
