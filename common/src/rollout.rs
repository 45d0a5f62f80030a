//! The phased model rollout: where a commune stands in its phase. In: the phase it is
//! assigned, its self-scores and the province's verified scores per criterion. Out: a
//! [`Standing`]: its stage (assigned / self-assessed / passed / failed), its score (the
//! verified score where one exists, else the self-score) and whether that score is
//! still provisional. One rule for the hub's dashboard and the agent's `assess show`.
//!
//! Passing needs every criterion of the phase verified and the verified total at or
//! above the phase's pass threshold. A self-score never counts as passed: it is shown
//! as provisional (tạm tính) until the province has verified every criterion.

use crate::definitions::{Definitions, Phase};
use crate::lang::Lang;
use crate::score::Score;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How far a commune has come in its phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Assigned to the phase; not every criterion self-scored yet (đã giao).
    Assigned,
    /// Every criterion self-scored, not every one verified (đã tự đánh giá).
    SelfAssessed,
    /// Every criterion verified, total below the threshold (không đạt).
    Failed,
    /// Every criterion verified, total at or above the threshold (đạt).
    Passed,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 4] = [
        Stage::Assigned,
        Stage::SelfAssessed,
        Stage::Failed,
        Stage::Passed,
    ];

    /// Stable machine name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Assigned => "assigned",
            Stage::SelfAssessed => "self_assessed",
            Stage::Failed => "failed",
            Stage::Passed => "passed",
        }
    }

    /// Label in the given language.
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Stage::Assigned => lang.pick("Đã giao", "Assigned"),
            Stage::SelfAssessed => lang.pick("Đã tự đánh giá", "Self-assessed"),
            Stage::Failed => lang.pick("Không đạt", "Failed"),
            Stage::Passed => lang.pick("Đạt", "Passed"),
        }
    }

    /// Whether the province has verified every criterion.
    pub fn is_verified(self) -> bool {
        matches!(self, Stage::Passed | Stage::Failed)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown stage '{s}'"))
    }
}

/// One criterion's scores for a commune.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CriterionScores {
    /// The commune's self-score, if given.
    pub self_score: Option<Score>,
    /// The province's verified score, if given.
    pub verified: Option<Score>,
}

impl CriterionScores {
    /// The score that counts: the verified one where it exists, else the self-score.
    pub fn effective(&self) -> Option<Score> {
        self.verified.or(self.self_score)
    }
}

/// Where a commune stands in its phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    /// The phase.
    pub phase: u32,
    /// Criteria in the phase's set.
    pub criteria: u32,
    /// Criteria self-scored.
    pub self_scored: u32,
    /// Sum of the self-scores.
    pub self_total: Score,
    /// Criteria verified.
    pub verified: u32,
    /// Sum of the verified scores.
    pub verified_total: Score,
    /// Sum over criteria of the verified score where one exists, else the self-score.
    pub score: Score,
    /// Highest possible total.
    pub max_total: Score,
    /// Total needed to pass.
    pub pass_threshold: Score,
    /// True until every criterion is verified: the score is then tạm tính.
    pub provisional: bool,
    /// Stage reached.
    pub stage: Stage,
}

impl Standing {
    /// Evaluates a commune in `phase`; `scores` gives each criterion's scores by code
    /// (criteria of other phases or unknown codes are never asked for).
    pub fn evaluate(phase: &Phase, mut scores: impl FnMut(&str) -> CriterionScores) -> Standing {
        let mut s = Standing {
            phase: phase.phase,
            criteria: phase.criteria.len() as u32,
            self_scored: 0,
            self_total: Score(0),
            verified: 0,
            verified_total: Score(0),
            score: Score(0),
            max_total: phase.max_total(),
            pass_threshold: phase.pass_threshold,
            provisional: true,
            stage: Stage::Assigned,
        };
        for c in &phase.criteria {
            let cs = scores(&c.code);
            if let Some(v) = cs.self_score {
                s.self_scored += 1;
                s.self_total.0 += v.0;
            }
            if let Some(v) = cs.verified {
                s.verified += 1;
                s.verified_total.0 += v.0;
            }
            if let Some(v) = cs.effective() {
                s.score.0 += v.0;
            }
        }
        s.provisional = s.verified < s.criteria;
        s.stage = if !s.provisional {
            if s.verified_total >= phase.pass_threshold {
                Stage::Passed
            } else {
                Stage::Failed
            }
        } else if s.self_scored == s.criteria {
            Stage::SelfAssessed
        } else {
            Stage::Assigned
        };
        s
    }

    /// Whether any criterion has a score at all (a commune without one is not ranked).
    pub fn has_score(&self) -> bool {
        self.self_scored > 0 || self.verified > 0
    }

    /// The score as a share of the maximum, in tenths of a percent (exact, for sorting).
    pub fn permille(&self) -> u32 {
        if self.max_total.0 == 0 {
            0
        } else {
            ((self.score.0 as u64 * 1000) / self.max_total.0 as u64) as u32
        }
    }

    /// The grade band code (`tot`, `kha`…) of the score under `defs`.
    pub fn grade<'d>(&self, defs: &'d Definitions) -> &'d str {
        &defs.grade(self.score, self.max_total).grade
    }
}

/// Competition ranking ("1, 2, 2, 4") of `keys`, best first: larger keys rank higher.
/// Returns each input's rank in input order.
pub fn competition_ranks(keys: &[u32]) -> Vec<u32> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|a, b| keys[*b].cmp(&keys[*a]));
    let mut ranks = vec![0; keys.len()];
    for (pos, &i) in order.iter().enumerate() {
        ranks[i] = if pos > 0 && keys[order[pos - 1]] == keys[i] {
            ranks[order[pos - 1]]
        } else {
            pos as u32 + 1
        };
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn phase1() -> Phase {
        Definitions::builtin().phase(1).unwrap().clone()
    }

    fn eval(scores: &BTreeMap<&str, CriterionScores>) -> Standing {
        Standing::evaluate(&phase1(), |c| scores.get(c).copied().unwrap_or_default())
    }

    #[test]
    fn a_self_score_is_provisional_and_never_passes() {
        let ph = phase1();
        let all_max: BTreeMap<&str, CriterionScores> = ph
            .criteria
            .iter()
            .map(|c| {
                (
                    c.code.as_str(),
                    CriterionScores {
                        self_score: Some(c.max_score),
                        verified: None,
                    },
                )
            })
            .collect();
        let s = eval(&all_max);
        assert_eq!(s.stage, Stage::SelfAssessed);
        assert!(s.provisional);
        assert_eq!(s.score, Score(1000));
        assert_eq!(s.permille(), 1000);
    }

    #[test]
    fn verification_decides_pass_or_fail_at_the_threshold() {
        let ph = phase1();
        // Self-scores at the maximum; verified scores filled greedily so the verified
        // total lands exactly on the threshold, then one tenth below it.
        for (want_total, want) in [
            (ph.pass_threshold.0, Stage::Passed),
            (ph.pass_threshold.0 - 1, Stage::Failed),
        ] {
            let mut remaining = want_total;
            let mut scores = BTreeMap::new();
            for c in &ph.criteria {
                let v = remaining.min(c.max_score.0);
                remaining -= v;
                scores.insert(
                    c.code.as_str(),
                    CriterionScores {
                        self_score: Some(c.max_score),
                        verified: Some(Score(v)),
                    },
                );
            }
            let s = eval(&scores);
            assert_eq!(s.stage, want, "verified total {}", s.verified_total);
            assert_eq!(s.verified_total, Score(want_total));
            assert_eq!(s.score, s.verified_total, "the verified score counts");
            assert!(!s.provisional);
        }
    }

    #[test]
    fn partial_verification_mixes_scores_and_stays_provisional() {
        let mut scores = BTreeMap::new();
        scores.insert(
            "TC-01",
            CriterionScores {
                self_score: Some(Score(150)),
                verified: Some(Score(100)),
            },
        );
        scores.insert(
            "TC-02",
            CriterionScores {
                self_score: Some(Score(80)),
                verified: None,
            },
        );
        let s = eval(&scores);
        assert_eq!(s.stage, Stage::Assigned);
        assert_eq!(s.score, Score(180));
        assert_eq!((s.self_scored, s.verified), (2, 1));
        assert!(s.provisional && s.has_score());
        assert!(!eval(&BTreeMap::new()).has_score());
    }

    #[test]
    fn ranks_share_places_on_ties() {
        assert_eq!(
            competition_ranks(&[50, 90, 70, 90, 10]),
            vec![4, 1, 3, 1, 5]
        );
        assert_eq!(competition_ranks(&[]), Vec::<u32>::new());
    }
}
