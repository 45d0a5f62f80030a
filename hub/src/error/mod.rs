//! Hub errors and the one place they become HTTP statuses, machine codes, exit codes
//! and messages. In: failures from every layer. Out: a status, a stable code and a
//! message that says what was wrong and where.
//!
//! Every message is written once, English and Vietnamese side by side (`text.rs` for
//! [`HubError::text`], `denied.rs`, `input.rs`), so a Vietnamese reviewer reads them
//! all in this folder.
//! Every mapping is an exhaustive `match`: a new variant does not compile until it
//! has its status, code, exit code and both messages.

use cchc_common::state::VersionVector;
use cchc_common::sync::{ErrorBody, WireError};
use cchc_common::{DomainError, Lang, Localize};
use std::fmt;
use std::path::PathBuf;

mod denied;
mod input;
mod release;
mod text;

pub use denied::Denied;
use input::t;
pub use input::{BadInput, Body, Missing, Rule, Text};
pub use release::ReleaseRefusal;

/// Everything a hub command or request can fail with.
#[derive(Debug)]
pub enum HubError {
    /// A body that cannot be decoded, or a protocol this hub does not speak.
    Wire(WireError),
    /// The request's protocol header is missing or not a number.
    ProtocolHeader {
        /// Header name.
        header: &'static str,
        /// What was found.
        found: String,
    },
    /// The client stopped sending its body for longer than the idle limit.
    BodyStalled {
        /// The idle limit, in seconds.
        idle_s: u64,
    },
    /// The body was cut off before its end.
    BodyCut {
        /// What the connection reported.
        detail: String,
    },
    /// Request bodies in flight already hold the hub's memory budget: try later.
    Busy,
    /// A JSON request body that does not have the expected shape.
    BadJson {
        /// Which body.
        body: Body,
        /// What the decoder reported (where and what).
        detail: String,
    },
    /// More ops in one request than a batch may hold.
    BatchTooLarge {
        /// Ops sent.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// A commune this hub does not serve.
    UnknownUnit {
        /// Commune code.
        unit: u32,
        /// This hub's province code.
        province: u32,
    },
    /// A device already bound to another commune.
    ForeignDevice {
        /// Device id.
        device: String,
        /// Commune it belongs to.
        bound: u32,
        /// Commune it tried to write.
        unit: u32,
    },
    /// An op refused by the merge rules; `acked` is what the hub holds for the commune
    /// when the refusal is a gap the agent can repair by re-sending.
    Refused {
        /// Why.
        source: DomainError,
        /// What the hub holds for the commune (gaps only).
        acked: Option<VersionVector>,
    },
    /// A commune verified for a phase it is not assigned to.
    NotAssigned {
        /// Commune.
        unit: u32,
        /// Its assigned phase.
        assigned: Option<u32>,
        /// The phase asked for.
        phase: u32,
    },
    /// A rollout plan (command line or CSV) that cannot be used; nothing was assigned.
    BadPlan {
        /// What and where, in English.
        en: String,
        /// The same in Vietnamese.
        vi: String,
    },
    /// A form with one or more bad values (criterion code, why); nothing was stored.
    BadForm {
        /// Each bad field and why.
        problems: Vec<(String, DomainError)>,
    },
    /// A definitions document refused at publishing.
    BadDefinitions {
        /// Where it came from (a file, the request body).
        source: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A definitions document whose version is not above the newest published.
    DefinitionsNotNewer {
        /// Its version.
        version: u32,
        /// The newest published.
        newest: u32,
    },
    /// The hub's data directory is not set up.
    NotInitialised {
        /// Data directory.
        dir: PathBuf,
    },
    /// `init` on a directory that already holds a hub.
    AlreadyInitialised {
        /// Data directory.
        dir: PathBuf,
        /// Its province.
        province: u32,
    },
    /// A database that is damaged or not a hub's.
    BadDatabase {
        /// File.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A domain rule refused a value (a period, score, commune code…).
    Invalid(DomainError),
    /// A value for a flag, parameter or field that breaks its rule.
    Input(BadInput),
    /// The database failed (SQLite or PostgreSQL).
    Sql(cchc_sql::SqlError),
    /// A file could not be read or written.
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Refused for who is asking.
    Denied(Denied),
    /// Something named that does not exist.
    NotFound(Missing),
    /// A refusal of the update channel (roots, bundles, versions, rollouts).
    Release(Box<ReleaseRefusal>),
    /// A user name that is taken.
    UserExists {
        /// The name.
        user: String,
    },
    /// An internal failure (a task that died, no randomness).
    Internal(String),
    /// TLS set-up failed.
    Tls(String),
    /// The national hub could not be reached, or refused this hub's forwarding.
    Upstream {
        /// Its address.
        url: String,
        /// What happened.
        detail: String,
    },
    /// This hub has no link to a national hub (or is the national hub).
    NoUpstream,
}

impl From<WireError> for HubError {
    fn from(e: WireError) -> Self {
        HubError::Wire(e)
    }
}

impl From<rusqlite::Error> for HubError {
    fn from(e: rusqlite::Error) -> Self {
        HubError::Sql(e.into())
    }
}

impl From<cchc_sql::SqlError> for HubError {
    fn from(e: cchc_sql::SqlError) -> Self {
        HubError::Sql(e)
    }
}

impl From<Denied> for HubError {
    fn from(e: Denied) -> Self {
        HubError::Denied(e)
    }
}

impl From<ReleaseRefusal> for HubError {
    fn from(e: ReleaseRefusal) -> Self {
        HubError::Release(Box::new(e))
    }
}

impl From<BadInput> for HubError {
    fn from(e: BadInput) -> Self {
        HubError::Input(e)
    }
}

/// Stored CRDT state that cannot be read back: the database is damaged.
impl From<cchc_sql::BadState> for HubError {
    fn from(e: cchc_sql::BadState) -> Self {
        HubError::BadDatabase {
            path: PathBuf::from("hub.db"),
            detail: e.to_string(),
        }
    }
}

/// Domain refusals reached through the merge rules are refusals of the request.
impl From<DomainError> for HubError {
    fn from(source: DomainError) -> Self {
        HubError::refused(source)
    }
}

/// Result alias for the hub.
pub type Result<T, E = HubError> = std::result::Result<T, E>;

/// Process exit codes of `cchc-hub`, one per kind of failure (see README).
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// Unexpected failure (I/O, TLS, SQL).
    pub const FAILURE: i32 = 1;
    /// Command-line usage error (clap).
    pub const USAGE: i32 = 2;
    /// Invalid input: nothing was stored.
    pub const INVALID: i32 = 3;
    /// The hub is not set up for this (not initialised, already initialised).
    pub const STATE: i32 = 4;
    /// The database is damaged or foreign.
    pub const DATABASE: i32 = 5;
    /// Refused: not allowed, or already done (a used name, a revoked device).
    pub const DENIED: i32 = 6;
    /// The national hub could not be reached (try again later).
    pub const UNREACHABLE: i32 = 7;
}

/// The machine code of a domain refusal met in the merge rules.
fn refused_code(e: &DomainError) -> &'static str {
    use DomainError::*;
    match e {
        SeqGap { .. } => "seq_gap",
        OpConflict { .. } => "op_conflict",
        WrongUnit { .. } => "wrong_unit",
        UnknownDefinitions { .. } => "unknown_definitions",
        PeriodFormat { .. }
        | PeriodRange { .. }
        | YearRange { .. }
        | FuturePeriod { .. }
        | BadDate { .. }
        | UnknownUnit { .. }
        | UnitCsv { .. }
        | UnknownProcedure { .. }
        | UnknownMetric { .. }
        | UnknownPhase { .. }
        | UnknownCriterion { .. }
        | BadScore { .. }
        | ScoreAboveMax { .. }
        | BadCount { .. }
        | NoCounts
        | CountTooLarge { .. }
        | CorrectionBelowZero { .. }
        | EmptyText { .. }
        | TextTooLong { .. }
        | ControlChars { .. }
        | UnstoredText { .. }
        | UnknownTaskStatus { .. }
        | UnknownPledge { .. }
        | UnknownTask { .. }
        | BadOp { .. }
        | OpVersion { .. } => "refused_op",
    }
}

impl HubError {
    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> HubError {
        HubError::Io {
            path: path.into(),
            source,
        }
    }

    /// A refusal by the merge rules.
    pub fn refused(source: DomainError) -> HubError {
        HubError::Refused {
            source,
            acked: None,
        }
    }

    /// A value for `field` that breaks `rule`.
    pub fn input(field: impl Into<String>, value: impl Into<String>, rule: Rule) -> HubError {
        HubError::Input(BadInput::new(field, value, rule))
    }

    /// The HTTP status for this error when it ends a request.
    pub fn status(&self) -> u16 {
        match self {
            HubError::Wire(WireError::TooLarge { .. }) | HubError::BatchTooLarge { .. } => 413,
            HubError::Wire(
                WireError::Compression(_)
                | WireError::Json(_)
                | WireError::Binary(_)
                | WireError::Protocol { .. },
            )
            | HubError::ProtocolHeader { .. }
            | HubError::BodyCut { .. }
            | HubError::BadJson { .. }
            | HubError::Input(_) => 400,
            HubError::BodyStalled { .. } => 408,
            HubError::Busy => 503,
            HubError::UnknownUnit { .. } | HubError::ForeignDevice { .. } => 403,
            HubError::Refused {
                source: DomainError::SeqGap { .. },
                ..
            }
            | HubError::NotAssigned { .. }
            | HubError::DefinitionsNotNewer { .. }
            | HubError::NoUpstream
            | HubError::UserExists { .. } => 409,
            HubError::Upstream { .. } => 502,
            HubError::Refused { .. }
            | HubError::BadPlan { .. }
            | HubError::BadForm { .. }
            | HubError::BadDefinitions { .. }
            | HubError::Invalid(_) => 422,
            HubError::Denied(d) => d.status(),
            HubError::Release(r) => r.status(),
            HubError::NotFound(_) => 404,
            HubError::NotInitialised { .. }
            | HubError::AlreadyInitialised { .. }
            | HubError::BadDatabase { .. }
            | HubError::Sql(_)
            | HubError::Io { .. }
            | HubError::Internal(_)
            | HubError::Tls(_) => 500,
        }
    }

    /// A stable machine code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            HubError::Wire(WireError::Protocol { .. }) | HubError::ProtocolHeader { .. } => {
                "protocol_version"
            }
            HubError::Wire(WireError::TooLarge { .. }) | HubError::BatchTooLarge { .. } => {
                "too_large"
            }
            HubError::Wire(
                WireError::Compression(_) | WireError::Json(_) | WireError::Binary(_),
            )
            | HubError::BodyCut { .. }
            | HubError::BadJson { .. } => "bad_body",
            HubError::BodyStalled { .. } => "body_timeout",
            HubError::Busy => "busy",
            HubError::Input(_) => "bad_input",
            HubError::UnknownUnit { .. } => "unknown_unit",
            HubError::ForeignDevice { .. } => "foreign_device",
            HubError::Refused { source, .. } => refused_code(source),
            HubError::BadDefinitions { .. } => "bad_definitions",
            HubError::DefinitionsNotNewer { .. } => "definitions_not_newer",
            HubError::NotAssigned { .. } => "not_assigned",
            HubError::BadPlan { .. } => "bad_plan",
            HubError::BadForm { .. } | HubError::Invalid(_) => "invalid",
            HubError::Denied(d) => d.code(),
            HubError::Release(r) => r.code(),
            HubError::NotFound(_) => "not_found",
            HubError::UserExists { .. } => "user_exists",
            HubError::NotInitialised { .. } => "not_initialised",
            HubError::AlreadyInitialised { .. } => "already_initialised",
            HubError::BadDatabase { .. } => "bad_database",
            HubError::Upstream { .. } => "upstream_unreachable",
            HubError::NoUpstream => "no_upstream",
            HubError::Sql(_) | HubError::Io { .. } | HubError::Internal(_) | HubError::Tls(_) => {
                "internal"
            }
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            HubError::Wire(_)
            | HubError::ProtocolHeader { .. }
            | HubError::BodyStalled { .. }
            | HubError::BodyCut { .. }
            | HubError::BadJson { .. }
            | HubError::BatchTooLarge { .. }
            | HubError::ForeignDevice { .. }
            | HubError::Refused { .. }
            | HubError::Invalid(_)
            | HubError::Input(_)
            | HubError::BadDefinitions { .. }
            | HubError::DefinitionsNotNewer { .. }
            | HubError::NotFound(_)
            | HubError::NotAssigned { .. }
            | HubError::BadPlan { .. }
            | HubError::BadForm { .. }
            | HubError::UnknownUnit { .. } => exit::INVALID,
            HubError::Denied(_) | HubError::UserExists { .. } => exit::DENIED,
            HubError::Release(r) => r.exit_code(),
            HubError::NotInitialised { .. }
            | HubError::AlreadyInitialised { .. }
            | HubError::NoUpstream => exit::STATE,
            HubError::Upstream { .. } => exit::UNREACHABLE,
            HubError::BadDatabase { .. } | HubError::Sql(_) => exit::DATABASE,
            HubError::Io { .. } | HubError::Internal(_) | HubError::Tls(_) | HubError::Busy => {
                exit::FAILURE
            }
        }
    }

    /// The body sent with the status. Internal failures are not detailed to peers.
    pub fn body(&self) -> ErrorBody {
        let text = if self.status() >= 500 {
            t(
                "the hub failed while handling the request; it has been logged",
                "máy chủ tỉnh gặp lỗi khi xử lý yêu cầu; lỗi đã được ghi lại",
            )
        } else {
            self.text()
        };
        ErrorBody {
            error: self.code().to_string(),
            message: text.en,
            message_vi: text.vi,
            acked: if let HubError::Refused { acked, .. } = self {
                acked.clone()
            } else {
                None
            },
            last_nonce: if let HubError::Denied(Denied::StaleNonce { last, .. }) = self {
                Some(*last)
            } else {
                None
            },
        }
    }
}

impl fmt::Display for HubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text().en)
    }
}

impl std::error::Error for HubError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HubError::Wire(e) => Some(e),
            HubError::Refused { source, .. } | HubError::Invalid(source) => Some(source),
            HubError::Sql(e) => Some(e),
            HubError::Io { source, .. } => Some(source),
            HubError::Denied(d) => Some(d),
            HubError::ProtocolHeader { .. }
            | HubError::BodyStalled { .. }
            | HubError::Busy
            | HubError::BodyCut { .. }
            | HubError::BadJson { .. }
            | HubError::BatchTooLarge { .. }
            | HubError::UnknownUnit { .. }
            | HubError::ForeignDevice { .. }
            | HubError::NotAssigned { .. }
            | HubError::BadPlan { .. }
            | HubError::BadForm { .. }
            | HubError::BadDefinitions { .. }
            | HubError::DefinitionsNotNewer { .. }
            | HubError::NotInitialised { .. }
            | HubError::AlreadyInitialised { .. }
            | HubError::BadDatabase { .. }
            | HubError::Input(_)
            | HubError::NotFound(_)
            | HubError::Release(_)
            | HubError::UserExists { .. }
            | HubError::Internal(_)
            | HubError::Upstream { .. }
            | HubError::NoUpstream
            | HubError::Tls(_) => None,
        }
    }
}

impl Localize for HubError {
    fn localize(&self, lang: Lang) -> String {
        self.text().pick(lang)
    }
}

#[cfg(test)]
mod tests;
