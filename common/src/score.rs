//! Assessment scores. In: text typed by an officer (`7.5` or the Vietnamese `7,5`).
//! Out: [`Score`], a fixed-point number of tenths, so sums and comparisons are exact.

use crate::error::DomainError;
use crate::lang::Lang;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A non-negative score with one decimal, stored as tenths (`7.5` is `Score(75)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Score(pub u32);

/// Largest score any criterion may have (typo guard for definitions).
pub const MAX_SCORE_TENTHS: u32 = 10_000;

impl Score {
    /// Parses `7`, `7.5` or `7,5`. Refuses negatives, more than one decimal, and junk.
    pub fn parse(input: &str) -> Result<Score, DomainError> {
        let bad = || DomainError::BadScore {
            input: input.to_string(),
        };
        let s = input.trim().replace(',', ".");
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s.as_str(), ""),
        };
        if int.is_empty() || int.len() > 5 || !int.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        if frac.len() > 1
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || (s.contains('.') && frac.is_empty())
        {
            return Err(bad());
        }
        let i: u32 = int.parse().map_err(|_| bad())?;
        let f: u32 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| bad())?
        };
        let tenths = i
            .checked_mul(10)
            .and_then(|t| t.checked_add(f))
            .ok_or_else(bad)?;
        if tenths > MAX_SCORE_TENTHS {
            return Err(bad());
        }
        Ok(Score(tenths))
    }

    /// As a float, for JSON and charts.
    pub fn as_f64(&self) -> f64 {
        self.0 as f64 / 10.0
    }

    /// Builds a score from a float with at most one decimal (JSON input).
    pub fn from_f64(v: f64) -> Option<Score> {
        if !v.is_finite() || v < 0.0 {
            return None;
        }
        let t = (v * 10.0).round();
        if (t / 10.0 - v).abs() > 1e-9 || t > MAX_SCORE_TENTHS as f64 {
            return None;
        }
        Some(Score(t as u32))
    }

    /// Display with the decimal separator of the language (`7,5` in Vietnamese).
    pub fn display(&self, lang: Lang) -> String {
        let s = self.to_string();
        match lang {
            Lang::Vi => s.replace('.', ","),
            Lang::En => s,
        }
    }
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(10) {
            write!(f, "{}", self.0 / 10)
        } else {
            write!(f, "{}.{}", self.0 / 10, self.0 % 10)
        }
    }
}

impl Serialize for Score {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for Score {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        Score::from_f64(v).ok_or_else(|| {
            serde::de::Error::custom(format!("score {v} must be >= 0 with at most one decimal"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scores() {
        assert_eq!(Score::parse("7").unwrap(), Score(70));
        assert_eq!(Score::parse("7.5").unwrap(), Score(75));
        assert_eq!(Score::parse("7,5").unwrap(), Score(75));
        assert_eq!(Score::parse(" 0 ").unwrap(), Score(0));
        for bad in ["-1", "7.55", "7.", ".5", "abc", "", "1e3", "99999999"] {
            assert!(Score::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Score(75).display(Lang::Vi), "7,5");
        assert_eq!(Score(70).to_string(), "7");
        assert_eq!(serde_json::to_string(&Score(75)).unwrap(), "7.5");
        assert_eq!(serde_json::from_str::<Score>("7.5").unwrap(), Score(75));
        assert!(serde_json::from_str::<Score>("-2").is_err());
    }
}
