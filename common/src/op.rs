//! The op envelope: our own versioned, serde-stable format for every change a device
//! makes. In: values built by [`crate::crdt`] edit functions, or bytes from disk or a
//! peer. Out: [`Op`]s identified by (actor, seq), checked for shape before they are
//! applied. The `crdts` types are never serialized here, so a crate upgrade cannot
//! change what is on disk or on the wire.

use crate::error::DomainError;
use crate::hlc::Stamp;
use crate::period::{Date, Period, MAX_YEAR, MIN_YEAR};
use crate::score::Score;
use crate::text;
use crate::units::UnitCode;
use crate::Metric;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Envelope version written by this build.
pub const ENVELOPE_VERSION: u32 = 1;

/// Largest amount one count op may move one metric (typo and abuse guard).
pub const MAX_COUNT_PER_ENTRY: u64 = 100_000;

/// A device (replica) identity: 64 random bits, shown as 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ActorId(pub u64);

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for ActorId {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 {
            return Err(DomainError::BadOp {
                op: s.to_string(),
                detail: "device id must be 16 hex digits".into(),
            });
        }
        u64::from_str_radix(s, 16)
            .map(ActorId)
            .map_err(|_| DomainError::BadOp {
                op: s.to_string(),
                detail: "device id must be 16 hex digits".into(),
            })
    }
}

impl Serialize for ActorId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ActorId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An op's identity: the device that made it and its 1-based sequence number there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId {
    /// Device.
    pub actor: ActorId,
    /// Sequence number on that device, from 1, without gaps.
    pub seq: u64,
}

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.actor, self.seq)
    }
}

/// Direction of a count change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dir {
    /// An increment (new dossiers recorded).
    Inc,
    /// A correction (decrement).
    Dec,
}

/// One metric's change inside a count op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountDelta {
    /// Which metric.
    pub metric: Metric,
    /// Increment or correction.
    pub dir: Dir,
    /// By how much (above 0).
    pub amount: u64,
    /// This device's running total in that direction for this cell after the change:
    /// the PNCounter dot. Must equal the previous total plus `amount`.
    pub total: u64,
}

/// Progress of a pledged task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// chưa thực hiện.
    #[default]
    NotStarted,
    /// đang thực hiện.
    InProgress,
    /// hoàn thành.
    Done,
}

impl TaskStatus {
    /// Stable machine name.
    pub fn as_str(&self) -> &'static str {
        match self {
            TaskStatus::NotStarted => "not_started",
            TaskStatus::InProgress => "in_progress",
            TaskStatus::Done => "done",
        }
    }

    /// Vietnamese label.
    pub fn vi(&self) -> &'static str {
        match self {
            TaskStatus::NotStarted => "chưa thực hiện",
            TaskStatus::InProgress => "đang thực hiện",
            TaskStatus::Done => "hoàn thành",
        }
    }
}

impl FromStr for TaskStatus {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "not_started" => Ok(TaskStatus::NotStarted),
            "in_progress" => Ok(TaskStatus::InProgress),
            "done" => Ok(TaskStatus::Done),
            _ => Err(DomainError::UnknownTaskStatus {
                input: s.to_string(),
            }),
        }
    }
}

/// What an op changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum OpBody {
    /// Procedure counts for one procedure in one period (PNCounter per metric).
    Count {
        /// Period.
        period: Period,
        /// Procedure code.
        procedure: String,
        /// One change per metric, each metric at most once.
        deltas: Vec<CountDelta>,
        /// Who entered it at the desk: the short name an officer chose at the start of
        /// a session on the officers' page (or `--by`); empty when not said. Not part
        /// of the merged value, only of the history.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        by: String,
    },
    /// Signs (or re-signs) a pledge: signer, role and date as one LWW register.
    PledgeSign {
        /// Pledge year.
        year: i32,
        /// Pledge key within the year (slug of the signer's name).
        pledge: String,
        /// Signer's name as typed.
        signer: String,
        /// Signer's role.
        role: String,
        /// Date signed.
        signed_on: Date,
    },
    /// Registers a task in a pledge (Orswot add).
    TaskAdd {
        /// Pledge year.
        year: i32,
        /// Pledge key.
        pledge: String,
        /// Task id, unique: `<actor>-<seq>` of the op that created it.
        task: String,
        /// Task title.
        title: String,
        /// Orswot dot counter of this device in this pledge's task set.
        dot: u64,
    },
    /// Sets a task's status (LWW register).
    TaskStatus {
        /// Pledge year.
        year: i32,
        /// Pledge key.
        pledge: String,
        /// Task id.
        task: String,
        /// New status.
        status: TaskStatus,
    },
    /// Withdraws a task (Orswot remove of what this device had seen).
    TaskRemove {
        /// Pledge year.
        year: i32,
        /// Pledge key.
        pledge: String,
        /// Task id.
        task: String,
        /// The add-dots the device had seen for the task: (device, counter).
        seen: Vec<(ActorId, u64)>,
    },
    /// A self-assessment score for one criterion (LWW register).
    Assess {
        /// Phase.
        phase: u32,
        /// Criterion code.
        criterion: String,
        /// Score.
        score: Score,
        /// Evidence note (may be empty).
        evidence: String,
        /// Who entered it at the desk (see `Count`); empty when not said.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        by: String,
    },
    /// The province's verified score for one criterion (thẩm định; LWW register). Made
    /// only on the hub, by a province actor of the commune, and synced down to its
    /// agents; the hub refuses one arriving from a device.
    Verify {
        /// Phase.
        phase: u32,
        /// Criterion code.
        criterion: String,
        /// Verified score.
        score: Score,
        /// The analyst's comment (may be empty).
        comment: String,
        /// The analyst who verified (hub user name).
        by: String,
    },
}

impl OpBody {
    /// Whether only the province (the hub) may make ops of this kind.
    pub fn is_province_side(&self) -> bool {
        matches!(self, OpBody::Verify { .. })
    }
}

/// One change made by one device, in our versioned envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// Envelope version.
    pub v: u32,
    /// Device that made the op.
    pub actor: ActorId,
    /// Sequence number on that device.
    pub seq: u64,
    /// Hybrid logical time: wall milliseconds.
    pub hlc_ms: u64,
    /// Hybrid logical time: counter.
    pub hlc_c: u32,
    /// Commune whose data this is.
    pub unit: UnitCode,
    /// Version of the definitions that validated the op.
    pub defs: u32,
    /// The change.
    pub body: OpBody,
}

impl Op {
    /// The op's identity.
    pub fn id(&self) -> OpId {
        OpId {
            actor: self.actor,
            seq: self.seq,
        }
    }

    /// The op's hybrid-logical-clock stamp (device id as tie-break).
    pub fn stamp(&self) -> Stamp {
        Stamp {
            wall_ms: self.hlc_ms,
            counter: self.hlc_c,
            actor: self.actor,
        }
    }

    /// Parses an op from its JSON form and checks its shape.
    pub fn from_json(text: &str) -> Result<Op, DomainError> {
        let op: Op = serde_json::from_str(text).map_err(|e| DomainError::BadOp {
            op: "?".into(),
            detail: format!("not a valid op: {e}"),
        })?;
        op.check_shape()?;
        Ok(op)
    }

    /// The canonical JSON form (what the op log stores and bundles carry).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("ops always serialize")
    }

    /// Checks everything that can be checked without definitions or state: version,
    /// numbering, amounts, text limits. Applied to every op, local or from a peer.
    pub fn check_shape(&self) -> Result<(), DomainError> {
        // The op's name is made only for a refusal (this runs for every op merged).
        let bad = |detail: String| {
            Err(DomainError::BadOp {
                op: self.id().to_string(),
                detail,
            })
        };
        if self.v != ENVELOPE_VERSION {
            return Err(DomainError::OpVersion {
                op: self.id().to_string(),
                version: self.v,
                supported: ENVELOPE_VERSION,
            });
        }
        if self.seq == 0 {
            return bad("sequence numbers start at 1".into());
        }
        if self.defs == 0 {
            return bad("definitions version must be 1 or more".into());
        }
        let year_ok = |y: i32| (MIN_YEAR..=MAX_YEAR).contains(&y);
        let key_ok = |k: &str| {
            !k.is_empty()
                && k.len() <= 200
                && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        let task_ok = |t: &str| {
            !t.is_empty() && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        };
        match &self.body {
            OpBody::Count {
                procedure,
                deltas,
                by,
                ..
            } => {
                text::entered_by(by)?;
                if procedure.is_empty() || procedure.len() > 32 {
                    return bad(format!(
                        "procedure code '{procedure}' must be 1-32 characters"
                    ));
                }
                if deltas.is_empty() {
                    return bad("a count op must change at least one metric".into());
                }
                for (i, d) in deltas.iter().enumerate() {
                    if d.amount == 0 || d.amount > MAX_COUNT_PER_ENTRY {
                        return bad(format!(
                            "{} amount {} must be 1..={}",
                            d.metric, d.amount, MAX_COUNT_PER_ENTRY
                        ));
                    }
                    if d.total < d.amount {
                        return bad(format!(
                            "{} running total {} is below its amount {}",
                            d.metric, d.total, d.amount
                        ));
                    }
                    if deltas[..i].iter().any(|o| o.metric == d.metric) {
                        return bad(format!("metric {} appears twice", d.metric));
                    }
                }
            }
            OpBody::PledgeSign {
                year,
                pledge,
                signer,
                role,
                ..
            } => {
                if !year_ok(*year) || !key_ok(pledge) {
                    return bad(format!("pledge {year}/{pledge} has a bad year or key"));
                }
                text::required("signer", signer, text::NAME_MAX)?;
                text::required("role", role, text::NAME_MAX)?;
                if text::slug(signer) != *pledge {
                    return bad(format!(
                        "pledge key '{pledge}' does not match signer '{signer}'"
                    ));
                }
            }
            OpBody::TaskAdd {
                year,
                pledge,
                task,
                title,
                dot,
            } => {
                if !year_ok(*year) || !key_ok(pledge) || !task_ok(task) || *dot == 0 {
                    return bad(format!(
                        "task {task} of pledge {year}/{pledge} has a bad year, key, id or dot"
                    ));
                }
                text::required("title", title, text::TITLE_MAX)?;
            }
            OpBody::TaskStatus {
                year, pledge, task, ..
            } => {
                if !year_ok(*year) || !key_ok(pledge) || !task_ok(task) {
                    return bad(format!(
                        "task {task} of pledge {year}/{pledge} has a bad year, key or id"
                    ));
                }
            }
            OpBody::TaskRemove {
                year,
                pledge,
                task,
                seen,
            } => {
                if !year_ok(*year) || !key_ok(pledge) || !task_ok(task) || seen.is_empty() {
                    return bad(format!(
                        "removal of task {task} of pledge {year}/{pledge} is malformed"
                    ));
                }
            }
            OpBody::Assess {
                phase,
                criterion,
                evidence,
                by,
                ..
            } => {
                text::entered_by(by)?;
                if *phase == 0 || criterion.is_empty() || criterion.len() > 32 {
                    return bad(format!(
                        "phase {phase} / criterion '{criterion}' is malformed"
                    ));
                }
                text::optional("evidence", evidence, text::EVIDENCE_MAX)?;
            }
            OpBody::Verify {
                phase,
                criterion,
                comment,
                by,
                ..
            } => {
                if *phase == 0 || criterion.is_empty() || criterion.len() > 32 {
                    return bad(format!(
                        "phase {phase} / criterion '{criterion}' is malformed"
                    ));
                }
                text::optional("comment", comment, text::EVIDENCE_MAX)?;
                text::required("by", by, text::NAME_MAX)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Op {
        Op {
            v: 1,
            actor: ActorId(0xabc),
            seq: 1,
            hlc_ms: 5,
            hlc_c: 0,
            unit: UnitCode(70),
            defs: 1,
            body: OpBody::Count {
                period: "2026-11".parse().unwrap(),
                procedure: "CT-01".into(),
                deltas: vec![CountDelta {
                    metric: Metric::Received,
                    dir: Dir::Inc,
                    amount: 3,
                    total: 3,
                }],
                by: String::new(),
            },
        }
    }

    #[test]
    fn json_form_is_stable() {
        let op = sample();
        let j = op.to_json();
        assert_eq!(
            j,
            r#"{"v":1,"actor":"0000000000000abc","seq":1,"hlc_ms":5,"hlc_c":0,"unit":70,"defs":1,"body":{"t":"count","period":"2026-11","procedure":"CT-01","deltas":[{"metric":"received","dir":"inc","amount":3,"total":3}]}}"#
        );
        assert_eq!(Op::from_json(&j).unwrap(), op);
    }

    #[test]
    fn shape_errors_are_named() {
        let mut op = sample();
        op.v = 9;
        assert!(matches!(
            op.check_shape(),
            Err(DomainError::OpVersion { version: 9, .. })
        ));
        let mut op = sample();
        if let OpBody::Count { deltas, .. } = &mut op.body {
            deltas[0].total = 1;
        }
        assert!(op
            .check_shape()
            .unwrap_err()
            .to_string()
            .contains("running total"));
        assert!(Op::from_json(r#"{"v":1}"#).is_err());
    }

    #[test]
    fn entered_by_travels_only_when_said_and_only_as_stored_text() {
        let mut op = sample();
        if let OpBody::Count { by, .. } = &mut op.body {
            *by = "Lan".into();
        }
        let j = op.to_json();
        assert!(j.ends_with(r#""total":3}],"by":"Lan"}}"#), "{j}");
        assert_eq!(Op::from_json(&j).unwrap(), op);
        assert!(op.check_shape().is_ok());
        for bad in [" Lan", "Lan\nAn", "e\u{301}", &"x".repeat(41)] {
            if let OpBody::Count { by, .. } = &mut op.body {
                *by = bad.to_string();
            }
            assert!(op.check_shape().is_err(), "{bad:?}");
        }
    }
}
