//! Hub errors and the one place they become HTTP statuses and exit codes. In: failures
//! from every layer. Out: a status, a stable machine code and a message that says what
//! was wrong and where (in English and Vietnamese, since agents show it to officers).

use cchc_common::state::VersionVector;
use cchc_common::sync::{ErrorBody, WireError};
use cchc_common::{DomainError, Lang, Localize};
use std::path::PathBuf;
use thiserror::Error;

/// A request or command refused for who is asking: authentication, authorisation,
/// replay and rate limits. Each says what is missing and what to do.
#[derive(Debug, Error)]
pub enum Denied {
    /// A device request without its signature headers.
    #[error("the request is not signed: header {missing} is missing (agents sign every request)")]
    NotSigned {
        /// Missing header.
        missing: &'static str,
    },
    /// A signature header, device id or nonce that is not well-formed.
    #[error("bad credentials: {0}")]
    Malformed(String),
    /// A device id the hub never enrolled.
    #[error("device {device} is not enrolled with this hub; enroll it with a code from the province (cchc-agent init --code)")]
    UnknownDevice {
        /// Device id.
        device: String,
    },
    /// The signature does not verify with the device's key.
    #[error("the signature of device {device} does not match this request")]
    BadSignature {
        /// Device id.
        device: String,
    },
    /// A revoked device.
    #[error("device {device} was revoked by the province; contact the province (Phòng Tham mưu Công an tỉnh) to enroll this computer again")]
    Revoked {
        /// Device id.
        device: String,
    },
    /// A device writing for a commune it is not enrolled for.
    #[error("device {device} is enrolled for commune {bound}; this request writes for commune {unit}, so nothing was stored")]
    WrongCommune {
        /// Device id.
        device: String,
        /// Its commune.
        bound: u32,
        /// The commune the request writes for.
        unit: u32,
    },
    /// An enrollment code that does not exist (mistyped or guessed).
    #[error("enrollment code not recognised: check it, or ask the province for a new one")]
    BadCode,
    /// An enrollment code already used by another device.
    #[error("this enrollment code was already used; ask the province for a new one")]
    CodeUsed,
    /// An expired enrollment code.
    #[error("this enrollment code expired; ask the province for a new one")]
    CodeExpired,
    /// An enrollment code made for another commune.
    #[error("this enrollment code is for commune {code_unit}; this computer was set up for commune {unit}")]
    CodeForOtherUnit {
        /// The code's commune.
        code_unit: u32,
        /// The device's commune.
        unit: u32,
    },
    /// A device id enrolled before with another key.
    #[error("device {device} is already enrolled with another key")]
    DeviceExists {
        /// Device id.
        device: String,
    },
    /// A request reusing a nonce: a replay, or a device restored from a backup.
    #[error("device {device} sent nonce {nonce}, but the hub has seen {last}: the request was replayed or is stale")]
    StaleNonce {
        /// Device id.
        device: String,
        /// Nonce sent.
        nonce: u64,
        /// Largest seen.
        last: u64,
    },
    /// No session: sign in first.
    #[error("sign in first (POST /api/v1/login)")]
    NoSession,
    /// The session ran out.
    #[error("the session expired; sign in again")]
    SessionExpired,
    /// Wrong user name or password.
    #[error("wrong user name or password")]
    LoginFailed,
    /// The user's role does not allow this.
    #[error("user {user} has role {role}; this needs role {needs}")]
    Role {
        /// User.
        user: String,
        /// Their role.
        role: &'static str,
        /// Role needed.
        needs: &'static str,
    },
    /// A device sending an op only the province may make (a verification), or one in
    /// the name of the province's own id, that the hub does not already hold.
    #[error("op {op} is a province-side op (verification, thẩm định): only the province records these, so nothing was stored")]
    ProvinceOnly {
        /// The op.
        op: String,
    },
    /// A form posted without this session's form token (an old page, or another site).
    #[error("the form is out of date or did not come from this hub; open it again and resubmit (nothing was stored)")]
    StaleForm,
    /// Too many requests from one address or device.
    #[error("too many {what}; try again in {retry_after_s} s")]
    RateLimited {
        /// What was limited.
        what: &'static str,
        /// Seconds until the next attempt may pass.
        retry_after_s: u64,
    },
}

impl Denied {
    /// HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Denied::Revoked { .. }
            | Denied::WrongCommune { .. }
            | Denied::CodeForOtherUnit { .. }
            | Denied::Role { .. }
            | Denied::ProvinceOnly { .. }
            | Denied::StaleForm => 403,
            Denied::DeviceExists { .. } | Denied::StaleNonce { .. } => 409,
            Denied::RateLimited { .. } => 429,
            _ => 401,
        }
    }

    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Denied::NotSigned { .. } => "not_signed",
            Denied::Malformed(_) | Denied::BadSignature { .. } => "bad_signature",
            Denied::UnknownDevice { .. } => "unknown_device",
            Denied::Revoked { .. } => "device_revoked",
            Denied::WrongCommune { .. } | Denied::CodeForOtherUnit { .. } => "wrong_commune",
            Denied::BadCode => "bad_code",
            Denied::CodeUsed => "code_used",
            Denied::CodeExpired => "code_expired",
            Denied::DeviceExists { .. } => "device_exists",
            Denied::StaleNonce { .. } => "stale_nonce",
            Denied::NoSession => "no_session",
            Denied::SessionExpired => "session_expired",
            Denied::LoginFailed => "login_failed",
            Denied::Role { .. } => "forbidden",
            Denied::RateLimited { .. } => "rate_limited",
            Denied::ProvinceOnly { .. } => "province_only",
            Denied::StaleForm => "stale_form",
        }
    }

    fn vi(&self) -> String {
        match self {
            Denied::NotSigned { missing } => format!("yêu cầu chưa được ký: thiếu tiêu đề {missing}"),
            Denied::Malformed(d) => format!("thông tin xác thực không hợp lệ: {d}"),
            Denied::UnknownDevice { device } => format!("máy {device} chưa được đăng ký với máy chủ tỉnh; hãy đăng ký bằng mã do Công an tỉnh cấp (cchc-agent init --code)"),
            Denied::BadSignature { device } => format!("chữ ký của máy {device} không khớp với yêu cầu"),
            Denied::Revoked { device } => format!("máy {device} đã bị Công an tỉnh thu hồi quyền gửi dữ liệu; hãy liên hệ Phòng Tham mưu Công an tỉnh để đăng ký lại máy này"),
            Denied::WrongCommune { device, bound, unit } => format!("máy {device} được đăng ký cho đơn vị {bound}; yêu cầu này ghi dữ liệu của đơn vị {unit} nên không được lưu"),
            Denied::BadCode => "mã đăng ký không đúng: hãy kiểm tra lại, hoặc xin Công an tỉnh mã mới".into(),
            Denied::CodeUsed => "mã đăng ký này đã được dùng; hãy xin Công an tỉnh mã mới".into(),
            Denied::CodeExpired => "mã đăng ký này đã hết hạn; hãy xin Công an tỉnh mã mới".into(),
            Denied::CodeForOtherUnit { code_unit, unit } => format!("mã đăng ký này dành cho đơn vị {code_unit}; máy này được khởi tạo cho đơn vị {unit}"),
            Denied::DeviceExists { device } => format!("máy {device} đã được đăng ký với khóa khác"),
            Denied::StaleNonce { device, nonce, last } => format!("máy {device} gửi số thứ tự {nonce} nhưng máy chủ đã nhận {last}: yêu cầu bị gửi lại hoặc đã cũ"),
            Denied::NoSession => "hãy đăng nhập trước".into(),
            Denied::SessionExpired => "phiên đăng nhập đã hết hạn; hãy đăng nhập lại".into(),
            Denied::LoginFailed => "sai tên đăng nhập hoặc mật khẩu".into(),
            Denied::Role { user, role, needs } => format!("người dùng {user} có vai trò {role}; việc này cần vai trò {needs}"),
            Denied::RateLimited { retry_after_s, .. } => format!("quá nhiều yêu cầu; hãy thử lại sau {retry_after_s} giây"),
            Denied::ProvinceOnly { op } => format!("bản ghi {op} là kết quả thẩm định: chỉ Công an tỉnh được ghi, nên không có gì được lưu"),
            Denied::StaleForm => "biểu mẫu đã cũ hoặc không phải do máy chủ này tạo; hãy mở lại biểu mẫu và gửi lại (chưa có gì được lưu)".into(),
        }
    }
}

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
    /// A commune verified for a phase it is not assigned to.
    #[error("commune {unit} is {}; it cannot be verified for phase {phase}", match assigned { Some(p) => format!("assigned to phase {p}"), None => "not in the rollout plan (cchc-hub phase assign)".to_string() })]
    NotAssigned {
        /// Commune.
        unit: u32,
        /// Its assigned phase.
        assigned: Option<u32>,
        /// The phase asked for.
        phase: u32,
    },
    /// A rollout plan (command line or CSV) that cannot be used; nothing was assigned.
    #[error("rollout plan: {en}")]
    BadPlan {
        /// What and where, in English.
        en: String,
        /// The same in Vietnamese.
        vi: String,
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
    /// Refused for who is asking.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// Something named that does not exist (a device, a user).
    #[error("{0}")]
    NotFound(String),
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
    /// Refused: not allowed, or already done (a used name, a revoked device).
    pub const DENIED: i32 = 6;
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
            HubError::NotAssigned { .. } => 409,
            HubError::BadPlan { .. } => 422,
            HubError::Refused {
                source: DomainError::SeqGap { .. },
                ..
            } => 409,
            HubError::Refused { .. } | HubError::Invalid(_) | HubError::BadDefinitions(_) => 422,
            HubError::Denied(d) => d.status(),
            HubError::NotFound(_) => 404,
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
            HubError::NotAssigned { .. } => "not_assigned",
            HubError::BadPlan { .. } => "bad_plan",
            HubError::Invalid(_) => "invalid",
            HubError::Denied(d) => d.code(),
            HubError::NotFound(_) => "not_found",
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
            last_nonce: match self {
                HubError::Denied(Denied::StaleNonce { last, .. }) => Some(*last),
                _ => None,
            },
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            HubError::Invalid(_)
            | HubError::BadDefinitions(_)
            | HubError::NotFound(_)
            | HubError::NotAssigned { .. }
            | HubError::BadPlan { .. }
            | HubError::UnknownUnit { .. } => exit::INVALID,
            HubError::Denied(_) => exit::DENIED,
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
            HubError::BadPlan { vi, .. } => format!("kế hoạch triển khai: {vi}"),
            HubError::NotAssigned { unit, assigned, phase } => format!(
                "đơn vị {unit} {}; không thể thẩm định giai đoạn {phase}",
                match assigned {
                    Some(p) => format!("được giao giai đoạn {p}"),
                    None => "chưa có trong kế hoạch triển khai (cchc-hub phase assign)".to_string(),
                }
            ),
            HubError::Denied(d) => d.vi(),
            HubError::Invalid(e) => e.localize(lang),
            other => other.to_string(),
        }
    }
}
