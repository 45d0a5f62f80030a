//! Agent errors and the one place they become exit codes. In: failures from every
//! layer. Out: a message in the officer's language that says what and where, and an
//! exit code scripts can rely on (documented in README.md).

use cchc_common::{DomainError, Lang, Localize};
use std::path::PathBuf;
use thiserror::Error;

/// Everything an agent command can fail with.
#[derive(Debug, Error)]
pub enum AgentError {
    /// Bad input from the person at the keyboard.
    #[error(transparent)]
    Invalid(#[from] DomainError),
    /// The data directory has no agent yet.
    #[error(
        "this agent is not initialised in {dir}: run `cchc-agent init --unit <commune code>` first"
    )]
    NotInitialised {
        /// Data directory.
        dir: PathBuf,
    },
    /// `init` for a different commune than the one the data belongs to, once the
    /// install has entries of its own or is enrolled.
    #[error("this agent already belongs to commune {existing} and {why}; refusing to re-initialise it for commune {requested} (its data would be mixed). If {existing} is wrong: keep its data with `cchc-agent bundle export --out FILE`, ask the province to revoke device {device} (`cchc-hub device revoke {device}`), and initialise another data directory: `cchc-agent --data-dir NEW_DIR init --unit {requested} …`")]
    OtherUnit {
        /// Commune the data belongs to.
        existing: u32,
        /// Commune asked for.
        requested: u32,
        /// This device.
        device: String,
        /// What binds it: its own entries, its enrollment (English).
        why: String,
        /// The same in Vietnamese.
        why_vi: String,
    },
    /// A database file that is damaged or not ours.
    #[error("database {path} cannot be used: {detail}")]
    BadDatabase {
        /// File.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// SQLite failed while working.
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
    /// Ops in a file from a peer that are refused.
    #[error("{path}: {source}")]
    RefusedOps {
        /// File.
        path: PathBuf,
        /// The first op refused, and why.
        source: DomainError,
    },
    /// Syncing with the hub failed.
    #[error(transparent)]
    Hub(#[from] HubError),
    /// A hub setting given at `init` is unusable.
    #[error("{0}")]
    HubSetting(String),
    /// The officers' UI address is unusable (not loopback, not an address).
    #[error("{0}")]
    UiSetting(String),
    /// An enrollment code as typed that cannot be a code.
    #[error("{0}")]
    BadCode(String),
    /// A signed document or download that is not trusted (signatures, threshold,
    /// expiry, version, platform, length or hash).
    #[error("{what}: {source}")]
    Untrusted {
        /// Which document or file.
        what: String,
        /// The rule it breaks.
        source: Box<cchc_common::release::ReleaseError>,
    },
    /// A bundle or other file from a peer that is refused.
    #[error("{path}: {detail}")]
    BadFile {
        /// File.
        path: PathBuf,
        /// What is wrong, and where.
        detail: String,
    },
    /// The Windows service could not be managed.
    #[error(transparent)]
    Service(#[from] crate::service::ServiceError),
}

/// Problems reaching or talking to the hub.
#[derive(Debug, Error)]
pub enum HubError {
    /// No hub configured.
    #[error("this agent has no hub: run `cchc-agent init --unit <code> --hub https://… --ca <hub CA file> --code <enrollment code>`")]
    NotConfigured,
    /// The device has no key: it was never enrolled.
    #[error("this computer is not enrolled with the hub: run `cchc-agent init --unit <code> --hub https://… --ca <hub CA file> --code <enrollment code from the province>`")]
    NotEnrolled,
    /// The hub could not be reached, or the exchange was cut: retry later.
    #[error("cannot reach the hub at {url}: {detail}")]
    Unreachable {
        /// Hub URL.
        url: String,
        /// What happened.
        detail: String,
    },
    /// The hub refused the request.
    #[error("the hub refused the request ({status} {code}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The hub's machine code.
        code: String,
        /// The hub's message (English).
        message: String,
        /// The hub's message (Vietnamese).
        message_vi: String,
    },
}

impl HubError {
    /// Whether retrying later may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(self, HubError::Unreachable { .. })
    }
}

/// Exit codes, one per kind of failure.
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// Unexpected failure.
    pub const FAILURE: i32 = 1;
    /// Command-line usage error (clap).
    pub const USAGE: i32 = 2;
    /// Invalid input: nothing was stored.
    pub const INVALID: i32 = 3;
    /// The agent is not set up for this (not initialised, other commune).
    pub const STATE: i32 = 4;
    /// The database is damaged, foreign or unreadable.
    pub const DATABASE: i32 = 5;
    /// A file (bundle, unit list) was refused.
    pub const REFUSED_FILE: i32 = 6;
    /// The hub could not be reached (or the exchange was cut): try again later.
    pub const OFFLINE: i32 = 7;
    /// The hub refused the sync.
    pub const HUB_REFUSED: i32 = 8;
}

impl AgentError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            AgentError::Invalid(_) => exit::INVALID,
            AgentError::NotInitialised { .. } | AgentError::OtherUnit { .. } => exit::STATE,
            AgentError::BadDatabase { .. } | AgentError::Sql(_) => exit::DATABASE,
            AgentError::Io { .. } => exit::FAILURE,
            AgentError::BadFile { .. }
            | AgentError::RefusedOps { .. }
            | AgentError::Untrusted { .. } => exit::REFUSED_FILE,
            AgentError::Hub(HubError::NotConfigured | HubError::NotEnrolled) => exit::STATE,
            AgentError::Hub(HubError::Unreachable { .. }) => exit::OFFLINE,
            AgentError::Hub(HubError::Refused { .. }) => exit::HUB_REFUSED,
            AgentError::HubSetting(_) | AgentError::BadCode(_) | AgentError::UiSetting(_) => {
                exit::INVALID
            }
            AgentError::Service(e) => e.exit_code(),
        }
    }

    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> AgentError {
        AgentError::Io {
            path: path.into(),
            source,
        }
    }
}

impl Localize for AgentError {
    fn localize(&self, lang: Lang) -> String {
        if lang == Lang::En {
            return self.to_string();
        }
        match self {
            AgentError::Invalid(e) => e.localize(lang),
            AgentError::NotInitialised { dir } => format!(
                "máy này chưa được khởi tạo tại {}: hãy chạy `cchc-agent init --unit <mã xã>` trước",
                dir.display()
            ),
            AgentError::OtherUnit {
                existing,
                requested,
                device,
                why_vi,
                ..
            } => format!(
                "máy này đã thuộc đơn vị {existing} và {why_vi}; không khởi tạo lại cho đơn vị {requested} (dữ liệu sẽ bị trộn lẫn). Nếu {existing} là nhầm: giữ dữ liệu bằng `cchc-agent bundle export --out TỆP`, đề nghị tỉnh thu hồi máy {device} (`cchc-hub device revoke {device}`), rồi khởi tạo một thư mục dữ liệu khác: `cchc-agent --data-dir THƯ_MỤC_MỚI init --unit {requested} …`"
            ),
            AgentError::BadDatabase { path, detail } => {
                format!("không dùng được cơ sở dữ liệu {}: {detail}", path.display())
            }
            AgentError::Sql(e) => format!("lỗi cơ sở dữ liệu: {e}"),
            AgentError::Io { path, source } => format!("{}: {source}", path.display()),
            AgentError::RefusedOps { path, source } => {
                format!("tệp {} bị từ chối: {}", path.display(), source.localize(lang))
            }
            AgentError::BadFile { path, detail } => format!("tệp {} bị từ chối: {detail}", path.display()),
            AgentError::Service(e) => e.localize(lang),
            AgentError::Untrusted { what, source } => {
                format!("{what} không được tin cậy: {}", source.vi())
            }
            AgentError::Hub(HubError::NotConfigured) => "máy này chưa được gắn với máy chủ tỉnh: chạy `cchc-agent init --unit <mã xã> --hub https://… --ca <tệp CA của máy chủ tỉnh>`".to_string(),
            AgentError::Hub(HubError::Unreachable { url, detail }) => format!(
                "chưa kết nối được máy chủ tỉnh {url} ({detail}); số liệu vẫn được lưu trên máy, sẽ đồng bộ khi có mạng"
            ),
            AgentError::Hub(HubError::Refused { status, code, message_vi, message }) => format!(
                "máy chủ tỉnh từ chối yêu cầu ({status} {code}): {}",
                if message_vi.is_empty() { message } else { message_vi }
            ),
            AgentError::Hub(HubError::NotEnrolled) => "máy này chưa được đăng ký với máy chủ tỉnh: chạy `cchc-agent init --unit <mã xã> --hub https://… --ca <tệp CA> --code <mã đăng ký do Công an tỉnh cấp>`".to_string(),
            AgentError::HubSetting(d) => d.clone(),
            AgentError::UiSetting(d) => d.replace(
                "write an address and a port, like",
                "ghi địa chỉ và cổng, ví dụ",
            ).replace(
                "the officers' page is served on this PC only (a loopback address such as",
                "trang của cán bộ chỉ phục vụ trên chính máy này (địa chỉ loopback như",
            ),
            AgentError::BadCode(_) => format!(
                "mã đăng ký không hợp lệ: mã gồm {} ký tự trong {} (chia nhóm 4, có thể viết thường, có dấu gạch ngang hoặc khoảng trắng)",
                cchc_common::auth::CODE_LEN,
                String::from_utf8_lossy(cchc_common::auth::CODE_SYMBOLS)
            ),
        }
    }
}

/// Result alias for the agent.
pub type Result<T, E = AgentError> = std::result::Result<T, E>;

/// Stored CRDT state that cannot be read back is a database error.
impl From<cchc_sql::BadState> for AgentError {
    fn from(e: cchc_sql::BadState) -> Self {
        AgentError::Sql(rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            Box::new(e),
        ))
    }
}

/// The SQL layer's errors: SQLite's own as they are; a stored value that cannot be
/// read as what it should be is a database error too (the agent has no other engine).
impl From<cchc_sql::SqlError> for AgentError {
    fn from(e: cchc_sql::SqlError) -> Self {
        match e {
            cchc_sql::SqlError::Sqlite(e) => AgentError::Sql(e),
            other => AgentError::Sql(rusqlite::Error::FromSqlConversionFailure(
                0,
                rusqlite::types::Type::Null,
                Box::new(other),
            )),
        }
    }
}
