//! Refusals for who is asking: authentication, authorisation, replay and rate
//! limits. In: a failed check. Out: a status, a stable code and both languages' texts.

use super::input::{quoted, t, Rule, Text};
use std::fmt;

/// A request or command refused for who is asking: authentication, authorisation,
/// replay and rate limits. Each says what is missing and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// A device request without its signature headers.
    NotSigned {
        /// Missing header.
        missing: &'static str,
    },
    /// A signature header that is not well-formed.
    BadHeader {
        /// Header name.
        header: &'static str,
        /// What was sent.
        value: String,
        /// What it should be.
        rule: Rule,
    },
    /// A request whose body names another device than the one that signed it.
    SignerMismatch {
        /// Device that signed.
        signed: String,
        /// Device the body names.
        named: String,
    },
    /// A device id the hub never enrolled.
    UnknownDevice {
        /// Device id.
        device: String,
    },
    /// The signature does not verify with the device's key.
    BadSignature {
        /// Device id.
        device: String,
    },
    /// A revoked device.
    Revoked {
        /// Device id.
        device: String,
    },
    /// A device writing for a commune it is not enrolled for.
    WrongCommune {
        /// Device id.
        device: String,
        /// Its commune.
        bound: u32,
        /// The commune the request writes for.
        unit: u32,
    },
    /// An enrollment code that does not exist (mistyped or guessed).
    BadCode,
    /// An enrollment code already used by another device.
    CodeUsed,
    /// An expired enrollment code.
    CodeExpired,
    /// An enrollment code made for another commune.
    CodeForOtherUnit {
        /// The code's commune.
        code_unit: u32,
        /// The device's commune.
        unit: u32,
    },
    /// A device id enrolled before with another key.
    DeviceExists {
        /// Device id.
        device: String,
    },
    /// A request reusing a nonce: a replay, or a device restored from a backup.
    StaleNonce {
        /// Device id.
        device: String,
        /// Nonce sent.
        nonce: u64,
        /// Largest seen.
        last: u64,
    },
    /// No session: sign in first.
    NoSession,
    /// The session ran out.
    SessionExpired,
    /// Wrong user name or password.
    LoginFailed,
    /// The user's role does not allow this.
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
    ProvinceOnly {
        /// The op.
        op: String,
    },
    /// A provincial hub forwarding a commune of another province.
    OtherProvince {
        /// The provincial hub's id.
        peer: String,
        /// Its province.
        province: u32,
        /// The commune it sent.
        unit: u32,
    },
    /// A form posted without this session's form token (an old page, or another site).
    StaleForm,
    /// A change requested with the session cookie alone, without the form token and
    /// this hub's `Origin`: what another site's page would send.
    CrossSite,
    /// Too many requests from one address or device.
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
            Denied::NotSigned { .. }
            | Denied::BadHeader { .. }
            | Denied::SignerMismatch { .. }
            | Denied::UnknownDevice { .. }
            | Denied::BadSignature { .. }
            | Denied::BadCode
            | Denied::CodeUsed
            | Denied::CodeExpired
            | Denied::NoSession
            | Denied::SessionExpired
            | Denied::LoginFailed => 401,
            Denied::Revoked { .. }
            | Denied::WrongCommune { .. }
            | Denied::CodeForOtherUnit { .. }
            | Denied::Role { .. }
            | Denied::ProvinceOnly { .. }
            | Denied::OtherProvince { .. }
            | Denied::StaleForm
            | Denied::CrossSite => 403,
            Denied::DeviceExists { .. } | Denied::StaleNonce { .. } => 409,
            Denied::RateLimited { .. } => 429,
        }
    }

    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Denied::NotSigned { .. } => "not_signed",
            Denied::BadHeader { .. }
            | Denied::SignerMismatch { .. }
            | Denied::BadSignature { .. } => "bad_signature",
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
            Denied::OtherProvince { .. } => "other_province",
            Denied::StaleForm => "stale_form",
            Denied::CrossSite => "cross_site",
        }
    }

    /// The message, English and Vietnamese.
    pub fn text(&self) -> Text {
        match self {
            Denied::NotSigned { missing } => t(
                format!("the request is not signed: header {missing} is missing (agents sign every request)"),
                format!("yêu cầu chưa được ký: thiếu tiêu đề {missing} (phần mềm ở xã ký mọi yêu cầu)"),
            ),
            Denied::BadHeader { header, value, rule } => {
                let r = rule.text();
                t(
                    format!("header {header} '{}' is not well-formed: {}", quoted(value), r.en),
                    format!("tiêu đề {header} '{}' không hợp lệ: {}", quoted(value), r.vi),
                )
            }
            Denied::SignerMismatch { signed, named } => t(
                format!("the body names device {named} but the request is signed by {signed}"),
                format!("nội dung ghi máy {named} nhưng yêu cầu do máy {signed} ký"),
            ),
            Denied::UnknownDevice { device } => t(
                format!("device {device} is not enrolled with this hub; enroll it with a code from the province (cchc-agent init --code)"),
                format!("máy {device} chưa được đăng ký với máy chủ tỉnh; hãy đăng ký bằng mã do Công an tỉnh cấp (cchc-agent init --code)"),
            ),
            Denied::BadSignature { device } => t(
                format!("the signature of device {device} does not match this request"),
                format!("chữ ký của máy {device} không khớp với yêu cầu"),
            ),
            Denied::Revoked { device } => t(
                format!("device {device} was revoked by the province; contact the province (Phòng Tham mưu Công an tỉnh) to enroll this computer again"),
                format!("máy {device} đã bị Công an tỉnh thu hồi quyền gửi dữ liệu; hãy liên hệ Phòng Tham mưu Công an tỉnh để đăng ký lại máy này"),
            ),
            Denied::WrongCommune { device, bound, unit } => t(
                format!("device {device} is enrolled for commune {bound}; this request writes for commune {unit}, so nothing was stored"),
                format!("máy {device} được đăng ký cho đơn vị {bound}; yêu cầu này ghi dữ liệu của đơn vị {unit} nên không được lưu"),
            ),
            Denied::BadCode => t(
                "enrollment code not recognised: check it, or ask the province for a new one",
                "mã đăng ký không đúng: hãy kiểm tra lại, hoặc xin Công an tỉnh mã mới",
            ),
            Denied::CodeUsed => t(
                "this enrollment code was already used; ask the province for a new one",
                "mã đăng ký này đã được dùng; hãy xin Công an tỉnh mã mới",
            ),
            Denied::CodeExpired => t(
                "this enrollment code expired; ask the province for a new one",
                "mã đăng ký này đã hết hạn; hãy xin Công an tỉnh mã mới",
            ),
            Denied::CodeForOtherUnit { code_unit, unit } => t(
                format!("this enrollment code is for commune {code_unit}; this computer was set up for commune {unit}"),
                format!("mã đăng ký này dành cho đơn vị {code_unit}; máy này được khởi tạo cho đơn vị {unit}"),
            ),
            Denied::DeviceExists { device } => t(
                format!("device {device} is already enrolled with another key"),
                format!("máy {device} đã được đăng ký với khóa khác"),
            ),
            Denied::StaleNonce { device, nonce, last } => t(
                format!("device {device} sent nonce {nonce}, but the hub has seen {last}: the request was replayed or is stale"),
                format!("máy {device} gửi số thứ tự {nonce} nhưng máy chủ đã nhận {last}: yêu cầu bị gửi lại hoặc đã cũ"),
            ),
            Denied::NoSession => t(
                "sign in first (POST /api/v1/login)",
                "hãy đăng nhập trước (POST /api/v1/login)",
            ),
            Denied::SessionExpired => t(
                "the session expired; sign in again",
                "phiên đăng nhập đã hết hạn; hãy đăng nhập lại",
            ),
            Denied::LoginFailed => t(
                "wrong user name or password",
                "sai tên đăng nhập hoặc mật khẩu",
            ),
            Denied::Role { user, role, needs } => t(
                format!("user {user} has role {role}; this needs role {needs}"),
                format!("người dùng {user} có vai trò {role}; việc này cần vai trò {needs}"),
            ),
            Denied::ProvinceOnly { op } => t(
                format!("op {op} is a province-side op (verification, thẩm định): only the province records these, so nothing was stored"),
                format!("bản ghi {op} là kết quả thẩm định: chỉ Công an tỉnh được ghi, nên không có gì được lưu"),
            ),
            Denied::OtherProvince { peer, province, unit } => t(
                format!("hub {peer} forwards province {province}; commune {unit} is not of it, so nothing was stored"),
                format!("máy chủ {peer} chuyển dữ liệu của tỉnh {province}; đơn vị {unit} không thuộc tỉnh này nên không có gì được lưu"),
            ),
            Denied::StaleForm => t(
                "the form is out of date or did not come from this hub; open it again and resubmit (nothing was stored)",
                "biểu mẫu đã cũ hoặc không phải do máy chủ này tạo; hãy mở lại biểu mẫu và gửi lại (chưa có gì được lưu)",
            ),
            Denied::CrossSite => t(
                "a change sent with the session cookie alone must carry the page's form token (x-cchc-form-token) and this hub's Origin; scripts and tools send their Bearer token instead (nothing was stored)",
                "yêu cầu thay đổi chỉ kèm cookie phiên phải có mã biểu mẫu của trang (x-cchc-form-token) và Origin của máy chủ này; chương trình và công cụ hãy gửi mã Bearer (chưa có gì được lưu)",
            ),
            Denied::RateLimited { what, retry_after_s } => t(
                format!("too many {what}; try again in {retry_after_s} s"),
                format!("quá nhiều yêu cầu ({what}); hãy thử lại sau {retry_after_s} giây"),
            ),
        }
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text().en)
    }
}

impl std::error::Error for Denied {}
