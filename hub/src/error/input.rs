//! The parts of a message: [`Text`] (English and Vietnamese side by side), the
//! [`Rule`] a [`BadInput`] broke, the JSON [`Body`] a route reads and what was
//! [`Missing`]. In: values people and peers typed. Out: both languages' texts.

use cchc_common::Lang;

/// One message in both languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// English (logs, `--lang en`, API `message`).
    pub en: String,
    /// Vietnamese (people's default, API `message_vi`).
    pub vi: String,
}

impl Text {
    /// The message in `lang`.
    pub fn pick(self, lang: Lang) -> String {
        match lang {
            Lang::En => self.en,
            Lang::Vi => self.vi,
        }
    }
}

pub(super) fn t(en: impl Into<String>, vi: impl Into<String>) -> Text {
    Text {
        en: en.into(),
        vi: vi.into(),
    }
}

/// A value as quoted in a message: control characters escaped, at most 80 characters.
pub(super) fn quoted(v: &str) -> String {
    let mut s: String = v.chars().take(80).flat_map(char::escape_debug).collect();
    if v.chars().count() > 80 {
        s.push('…');
    }
    s
}

/// The rule a [`BadInput`] broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// The value must be given.
    Required,
    /// A lifetime like `7d`, `12h`, `30m`, up to `max_days`.
    Lifetime {
        /// Longest lifetime, in days.
        max_days: i64,
    },
    /// A user name: 1–64 ASCII letters, digits, `.`, `_`, `-`.
    UserName,
    /// A role name.
    Role,
    /// A password of at least `min` characters.
    PasswordLength {
        /// Fewest characters.
        min: usize,
    },
    /// The password and its confirmation differ.
    PasswordsDiffer,
    /// A month `YYYY-MM` (the dashboard works by month).
    Month,
    /// A year within the supported range.
    Year {
        /// Smallest year.
        min: i32,
        /// Largest year.
        max: i32,
    },
    /// A phase number.
    Phase,
    /// A whole number from 0.
    WholeNumber,
    /// A device id: 16 hex digits.
    DeviceId,
    /// An export file name ending in `.csv` or `.xlsx`.
    ExportFormat,
    /// UTF-8 text.
    Utf8,
    /// An ed25519 public key: 64 hex digits.
    PublicKey,
    /// A version number like 0.2.0 (semver).
    Version,
    /// A platform name like linux-x86_64.
    Platform,
    /// A share from 1 to 100 percent.
    Percent,
    /// How many of a root's keys must sign: 1 to their number.
    Threshold {
        /// The root's keys.
        keys: usize,
    },
    /// Not one's own account (an admin removing themselves would lock the hub out).
    NotYourself,
    /// A well-formed query string or form body.
    UrlEncoded {
        /// What the decoder reported.
        detail: String,
    },
    /// A store: `sqlite` or a well-formed PostgreSQL URL.
    PostgresUrl {
        /// What is wrong with the URL.
        detail: String,
    },
    /// A SQLite hub's data directory, written `sqlite:DIR`.
    SqliteDir,
    /// An `https://` address.
    HttpsUrl,
    /// Only a national hub does this.
    NationalOnly,
}

impl Rule {
    /// What the rule asks for, in both languages.
    pub fn text(&self) -> Text {
        match self {
            Rule::Required => t("a value is required", "cần có giá trị"),
            Rule::Lifetime { max_days } => t(
                format!("write a number and d, h, m or s, like 7d, 12h or 30m (at most {max_days}d)"),
                format!("ghi một số và d (ngày), h (giờ), m (phút) hoặc s (giây), ví dụ 7d, 12h, 30m (tối đa {max_days}d)"),
            ),
            Rule::UserName => t(
                "use 1–64 letters without accents, digits, '.', '_' or '-'",
                "dùng 1–64 chữ cái không dấu, chữ số, '.', '_' hoặc '-'",
            ),
            Rule::Role => t(
                "use admin, analyst or viewer",
                "dùng admin (quản trị), analyst (phân tích) hoặc viewer (xem)",
            ),
            Rule::PasswordLength { min } => t(
                format!("a password needs at least {min} characters"),
                format!("mật khẩu cần ít nhất {min} ký tự"),
            ),
            Rule::PasswordsDiffer => t(
                "the two passwords typed differ",
                "hai lần nhập mật khẩu không giống nhau",
            ),
            Rule::Month => t(
                "the dashboard works by month: use YYYY-MM, like 2026-11",
                "trang tổng hợp xem theo tháng: dùng YYYY-MM, ví dụ 2026-11",
            ),
            Rule::Year { min, max } => t(
                format!("use a year from {min} to {max}, like 2026"),
                format!("dùng một năm từ {min} đến {max}, ví dụ 2026"),
            ),
            Rule::Phase => t(
                "use a phase number such as 1, 2 or 3",
                "dùng số giai đoạn, ví dụ 1, 2 hoặc 3",
            ),
            Rule::WholeNumber => t("use a whole number from 0", "dùng số nguyên từ 0"),
            Rule::DeviceId => t(
                "a device id is 16 hex digits (see `cchc-hub device list`)",
                "mã máy gồm 16 chữ số hệ 16 (xem `cchc-hub device list`)",
            ),
            Rule::ExportFormat => t(
                "name the file .csv or .xlsx",
                "tên tệp phải có đuôi .csv hoặc .xlsx",
            ),
            Rule::Utf8 => t("must be UTF-8 text", "phải là văn bản UTF-8"),
            Rule::PublicKey => t(
                "write the public key as 64 hex digits (what `release keygen` printed)",
                "ghi khóa công khai bằng 64 chữ số hex (như `release keygen` đã in)",
            ),
            Rule::Version => t(
                "write a version number like 0.2.0",
                "ghi số phiên bản dạng 0.2.0",
            ),
            Rule::Platform => t(
                "write a platform like linux-x86_64 or windows-x86_64",
                "ghi nền tảng dạng linux-x86_64 hoặc windows-x86_64",
            ),
            Rule::Threshold { keys } => t(
                format!("write a whole number from 1 to the number of keys ({keys})"),
                format!("ghi số nguyên từ 1 đến số khóa ({keys})"),
            ),
            Rule::Percent => t(
                "write a whole number from 1 to 100, with or without %",
                "ghi số nguyên từ 1 đến 100, có hoặc không có %",
            ),
            Rule::NotYourself => t(
                "not your own account: another admin removes it",
                "không xóa chính tài khoản đang dùng: nhờ quản trị khác xóa",
            ),
            Rule::UrlEncoded { detail } => t(
                format!("is not a well-formed query or form: {detail}"),
                format!("không phải chuỗi truy vấn hay biểu mẫu hợp lệ: {detail}"),
            ),
            Rule::NationalOnly => t(
                "only the national hub (cchc-hub init --national) enrolls provincial hubs",
                "chỉ máy chủ quốc gia (cchc-hub init --national) mới cấp mã cho máy chủ tỉnh",
            ),
            Rule::HttpsUrl => t(
                "write the national hub's address as https://HOST:PORT",
                "ghi địa chỉ máy chủ cấp trên dạng https://MÁY:CỔNG",
            ),
            Rule::SqliteDir => t(
                "write the hub's data directory as sqlite:DIR, like sqlite:/var/lib/cchc-hub",
                "ghi thư mục dữ liệu của máy chủ dạng sqlite:THƯ_MỤC, ví dụ sqlite:/var/lib/cchc-hub",
            ),
            Rule::PostgresUrl { detail } => t(
                format!("use sqlite or a URL like postgres://cchc@localhost/cchc?schema=cchc_p01: {detail}"),
                format!("dùng sqlite hoặc địa chỉ dạng postgres://cchc@localhost/cchc?schema=cchc_p01: {detail}"),
            ),
        }
    }
}

/// A value from a person, a file or a peer that breaks a rule. Names the field, the
/// value and the rule; nothing was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput {
    /// Where the value came from: a flag (`--expires`), a query parameter (`period`),
    /// a form or JSON field.
    pub field: String,
    /// The value given (quoted, shortened, in messages).
    pub value: String,
    /// The rule it breaks.
    pub rule: Rule,
}

impl BadInput {
    /// A refusal of `value` given for `field`.
    pub fn new(field: impl Into<String>, value: impl Into<String>, rule: Rule) -> BadInput {
        BadInput {
            field: field.into(),
            value: value.into(),
            rule,
        }
    }
}

/// A request body a route reads as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `POST /api/v1/login`.
    SignIn,
    /// `POST /api/v1/enroll` (an agent).
    Enrollment,
    /// `POST /api/v1/enrollments` (an admin).
    EnrollmentCode,
    /// `POST /api/v1/communes/{unit}/verification`.
    Verification,
    /// `POST /api/v1/phases`.
    PhaseAssignment,
}

impl Body {
    pub(super) fn text(self) -> Text {
        match self {
            Body::SignIn => t("sign-in request", "yêu cầu đăng nhập"),
            Body::Enrollment => t("enrollment request", "yêu cầu đăng ký máy"),
            Body::EnrollmentCode => t("enrollment code request", "yêu cầu tạo mã đăng ký"),
            Body::Verification => t("verification", "kết quả thẩm định"),
            Body::PhaseAssignment => t("phase assignment", "phân giai đoạn"),
        }
    }
}

/// Something named that does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// An unknown path.
    Path(String),
    /// An unknown dashboard page name.
    Page(String),
    /// A page's table that does not exist.
    Table {
        /// Page name.
        page: String,
        /// Table id asked for.
        table: String,
    },
    /// A commune this hub does not serve.
    Commune(u32),
    /// A device id the hub never enrolled.
    Device(String),
    /// A user name with no account.
    User(String),
    /// A province this hub serves no commune of.
    Province(u32),
}

impl Missing {
    pub(super) fn text(&self) -> Text {
        match self {
            Missing::Path(p) => t(
                format!("no such page: {}", quoted(p)),
                format!("không có trang {}", quoted(p)),
            ),
            Missing::Page(p) => t(
                format!("no dashboard page '{}'", quoted(p)),
                format!("không có trang tổng hợp '{}'", quoted(p)),
            ),
            Missing::Table { page, table } => t(
                format!("page {} has no table '{}'", quoted(page), quoted(table)),
                format!("trang {} không có bảng '{}'", quoted(page), quoted(table)),
            ),
            Missing::Commune(u) => t(
                format!("commune {u} is not served by this hub"),
                format!("đơn vị {u} không thuộc máy chủ tỉnh này"),
            ),
            Missing::Device(d) => t(
                format!("device {d} is not enrolled with this hub (see `cchc-hub device list`)"),
                format!("máy {d} chưa được đăng ký với máy chủ này (xem `cchc-hub device list`)"),
            ),
            Missing::Province(p) => t(
                format!("this hub serves no commune of province {p}"),
                format!("máy chủ này không có đơn vị nào của tỉnh {p}"),
            ),
            Missing::User(u) => t(
                format!("no user '{}'", quoted(u)),
                format!("không có người dùng '{}'", quoted(u)),
            ),
        }
    }
}
