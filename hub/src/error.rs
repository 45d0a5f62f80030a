//! Hub errors and the one place they become HTTP statuses and exit codes. In: failures
//! from every layer. Out: a status, a stable machine code and a message that says what
//! was wrong and where (in English and Vietnamese, since agents show it to officers).

use cchc_common::state::VersionVector;
use cchc_common::sync::{ErrorBody, WireError};
use cchc_common::{DomainError, Lang, Localize};
use std::path::PathBuf;
use thiserror::Error;

/// Everything a hub command or request can fail with.
#[derive(Debug, Error)]
pub enum HubError {
    /// A body that cannot be decoded, or a protocol this hub does not speak.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The request's protocol header is missing or not a number.
    #[error("header {header} is {found}; send the protocol version number")]
    ProtocolHeader {
        /// Header name.
        header: &'static str,
        /// What was found.
        found: String,
    },
    /// The request body could not be read to its end.
    #[error("the request body could not be read: {0}")]
    BodyRead(String),
    /// More ops in one request than a batch may hold.
    #[error("the request carries {count} ops; one batch holds at most {max}")]
    BatchTooLarge {
        /// Ops sent.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// A commune this hub does not serve.
    #[error("commune {unit} is not served by this hub (province {province})")]
    UnknownUnit {
        /// Commune code.
        unit: u32,
        /// This hub's province code.
        province: u32,
    },
    /// A device already bound to another commune.
    #[error("device {device} belongs to commune {bound}; it cannot send data for commune {unit}")]
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
    #[error("{source}")]
    Refused {
        /// Why.
        source: DomainError,
        /// What the hub holds for the commune (gaps only).
        acked: Option<VersionVector>,
    },
    /// A definitions document refused at publishing.
    #[error("{0}")]
    BadDefinitions(String),
    /// The hub's data directory is not set up.
    #[error("no hub in {dir}: run `cchc-hub init --province <code> --data-dir {dir}` first")]
    NotInitialised {
        /// Data directory.
        dir: PathBuf,
    },
    /// `init` on a directory that already holds a hub.
    #[error("{dir} already holds the hub of province {province}; refusing to overwrite it")]
    AlreadyInitialised {
        /// Data directory.
        dir: PathBuf,
        /// Its province.
        province: u32,
    },
    /// A database that is damaged or not a hub's.
    #[error("database {path} cannot be used: {detail}")]
    BadDatabase {
        /// File.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Bad input on the command line.
    #[error("{0}")]
    Invalid(DomainError),
    /// SQLite failed.
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// An internal failure (a task that died).
    #[error("{0}")]
    Internal(String),
    /// TLS set-up failed.
    #[error("TLS: {0}")]
    Tls(String),
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

    /// The HTTP status for this error when it ends a request.
    pub fn status(&self) -> u16 {
        match self {
            HubError::Wire(WireError::TooLarge { .. }) | HubError::BatchTooLarge { .. } => 413,
            HubError::Wire(_) | HubError::ProtocolHeader { .. } | HubError::BodyRead(_) => 400,
            HubError::UnknownUnit { .. } | HubError::ForeignDevice { .. } => 403,
            HubError::Refused {
                source: DomainError::SeqGap { .. },
                ..
            } => 409,
            HubError::Refused { .. } | HubError::Invalid(_) | HubError::BadDefinitions(_) => 422,
            _ => 500,
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
            HubError::Wire(_) | HubError::BodyRead(_) => "bad_body",
            HubError::UnknownUnit { .. } => "unknown_unit",
            HubError::ForeignDevice { .. } => "foreign_device",
            HubError::Refused { source, .. } => match source {
                DomainError::SeqGap { .. } => "seq_gap",
                DomainError::OpConflict { .. } => "op_conflict",
                DomainError::WrongUnit { .. } => "wrong_unit",
                DomainError::UnknownDefinitions { .. } => "unknown_definitions",
                _ => "refused_op",
            },
            HubError::BadDefinitions(_) => "bad_definitions",
            HubError::Invalid(_) => "invalid",
            _ => "internal",
        }
    }

    /// The body sent with the status. Internal failures are not detailed to peers.
    pub fn body(&self) -> ErrorBody {
        let internal = self.status() >= 500;
        ErrorBody {
            error: self.code().to_string(),
            message: if internal {
                "the hub failed while handling the request; it has been logged".into()
            } else {
                self.to_string()
            },
            message_vi: if internal {
                "máy chủ tỉnh gặp lỗi khi xử lý yêu cầu; lỗi đã được ghi lại".into()
            } else {
                self.localize(Lang::Vi)
            },
            acked: match self {
                HubError::Refused { acked, .. } => acked.clone(),
                _ => None,
            },
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            HubError::Invalid(_) | HubError::BadDefinitions(_) => exit::INVALID,
            HubError::NotInitialised { .. } | HubError::AlreadyInitialised { .. } => exit::STATE,
            HubError::BadDatabase { .. } | HubError::Sql(_) => exit::DATABASE,
            _ => exit::FAILURE,
        }
    }
}

impl Localize for HubError {
    fn localize(&self, lang: Lang) -> String {
        if lang == Lang::En {
            return self.to_string();
        }
        match self {
            HubError::Wire(WireError::Protocol { got, supported }) => format!(
                "phiên bản giao thức {got} không được hỗ trợ; máy chủ tỉnh dùng phiên bản {supported}: hãy cập nhật phần mềm"
            ),
            HubError::Wire(WireError::TooLarge { size, limit }) => {
                format!("dữ liệu gửi lên dài {size} byte, vượt giới hạn {limit} byte")
            }
            HubError::Wire(e) => format!("dữ liệu gửi lên không hợp lệ: {e}"),
            HubError::ProtocolHeader { header, found } => {
                format!("thiếu hoặc sai tiêu đề {header} ({found})")
            }
            HubError::BatchTooLarge { count, max } => {
                format!("một lần gửi có {count} bản ghi; tối đa {max}")
            }
            HubError::UnknownUnit { unit, province } => format!(
                "đơn vị {unit} không thuộc tỉnh {province} do máy chủ này phục vụ"
            ),
            HubError::ForeignDevice { device, bound, unit } => format!(
                "máy {device} thuộc đơn vị {bound}; không được gửi dữ liệu của đơn vị {unit}"
            ),
            HubError::Refused { source, .. } => source.localize(lang),
            HubError::Invalid(e) => e.localize(lang),
            other => other.to_string(),
        }
    }
}
