//! Domain errors. In: whatever a validator refused. Out: an error that names the bad
//! value, the field and the rule, in Vietnamese or English ([`Localize`]).
//! `Display` is English, for logs; people see [`Localize::localize`].

use crate::lang::{Lang, Localize};
use thiserror::Error;

/// Everything domain validation or op application can refuse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    /// A period string that is not `YYYY-MM`, `YYYY-Qn` or `YYYY`.
    #[error(
        "period '{input}' is not valid: use YYYY-MM (2026-11), YYYY-Qn (2026-Q4) or YYYY (2026)"
    )]
    PeriodFormat {
        /// What was given.
        input: String,
    },
    /// A month outside 1..=12 or a quarter outside 1..=4.
    #[error("period '{input}': {what} {value} is out of range {min}..={max}")]
    PeriodRange {
        /// What was given.
        input: String,
        /// "month" or "quarter".
        what: &'static str,
        /// The offending number.
        value: u32,
        /// Smallest allowed.
        min: u32,
        /// Largest allowed.
        max: u32,
    },
    /// A year outside the supported range.
    #[error("year {year} is outside the supported range {min}..={max}")]
    YearRange {
        /// The year given.
        year: i32,
        /// Smallest allowed.
        min: i32,
        /// Largest allowed.
        max: i32,
    },
    /// A period that starts after today (by this device's clock).
    #[error("period {period} has not started yet (today is {today}); counts cannot be recorded for the future")]
    FuturePeriod {
        /// The period given.
        period: String,
        /// Today's date on this device.
        today: String,
    },
    /// A date that is not `YYYY-MM-DD` or not a real day.
    #[error("date '{input}' is not a valid date YYYY-MM-DD")]
    BadDate {
        /// What was given.
        input: String,
    },
    /// A commune code not in the unit list.
    #[error("commune code {code} is not in the unit list")]
    UnknownUnit {
        /// What was given.
        code: String,
    },
    /// A unit CSV file that cannot be used.
    #[error("unit list line {line}: {message}")]
    UnitCsv {
        /// 1-based line number in the file.
        line: u64,
        /// What is wrong there.
        message: String,
    },
    /// A procedure code not in the catalog in force.
    #[error("procedure '{code}' is not in the procedure catalog (definitions version {version}); see `cchc-agent catalog`")]
    UnknownProcedure {
        /// What was given.
        code: String,
        /// Definitions version consulted.
        version: u32,
    },
    /// A metric name not in the metric list.
    #[error("metric '{input}' is unknown; metrics are received, on_time, late, pending, rejected, online, satisfied, unsatisfied")]
    UnknownMetric {
        /// What was given.
        input: String,
    },
    /// A phase that the definitions do not have.
    #[error("phase {phase} does not exist; phases are {known}")]
    UnknownPhase {
        /// What was given.
        phase: u32,
        /// The phases in force, e.g. "1, 2, 3".
        known: String,
    },
    /// A criterion code not in the given phase's criteria set.
    #[error(
        "criterion '{code}' is not in the criteria set of phase {phase}; see `cchc-agent catalog`"
    )]
    UnknownCriterion {
        /// Phase consulted.
        phase: u32,
        /// What was given.
        code: String,
    },
    /// A score that is not a number with at most one decimal, or is negative.
    #[error(
        "score '{input}' is not valid: give a number from 0 with at most one decimal (e.g. 7.5)"
    )]
    BadScore {
        /// What was given.
        input: String,
    },
    /// A score above the criterion's maximum.
    #[error("score {score} is above the maximum {max} for criterion {criterion} (phase {phase})")]
    ScoreAboveMax {
        /// The score given (display form).
        score: String,
        /// The maximum (display form).
        max: String,
        /// The criterion.
        criterion: String,
        /// The phase.
        phase: u32,
    },
    /// A count that is not a whole number from 0.
    #[error("{field} '{input}' is not valid: give a whole number from 0")]
    BadCount {
        /// Field (metric) name.
        field: String,
        /// What was given.
        input: String,
    },
    /// A record with no metric given, or all zero.
    #[error("no count given: pass at least one of --received, --on-time, --late, --pending, --rejected, --online, --satisfied, --unsatisfied with a value above 0")]
    NoCounts,
    /// A single entry larger than is plausible for one commune (typo guard).
    #[error(
        "{metric} = {value} is above the limit of {max} per entry; split it or check for a typo"
    )]
    CountTooLarge {
        /// Metric name.
        metric: String,
        /// The value given.
        value: u64,
        /// The limit.
        max: u64,
    },
    /// A correction that would take a count below zero.
    #[error("correction of {metric} by {correction} for {procedure} in {period} would take it below 0 (current value {current})")]
    CorrectionBelowZero {
        /// Metric name.
        metric: String,
        /// Procedure code.
        procedure: String,
        /// Period.
        period: String,
        /// Current merged value.
        current: i64,
        /// The decrement asked for.
        correction: u64,
    },
    /// A required text field that is empty.
    #[error("{field} must not be empty")]
    EmptyText {
        /// Field name.
        field: &'static str,
    },
    /// A text field longer than allowed.
    #[error("{field} is {len} characters long; the limit is {max}")]
    TextTooLong {
        /// Field name.
        field: &'static str,
        /// Its length in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A text field with control characters.
    #[error("{field} contains control characters")]
    ControlChars {
        /// Field name.
        field: &'static str,
    },
    /// Text in an op from elsewhere that is not as a person's text is stored here
    /// (trimmed, NFC, one line where one line is asked).
    #[error("{field} is not stored text: it must be trimmed, in NFC and on one line")]
    UnstoredText {
        /// Field name.
        field: &'static str,
    },
    /// A task status that is not one of the three.
    #[error("task status '{input}' is unknown; use not_started, in_progress or done")]
    UnknownTaskStatus {
        /// What was given.
        input: String,
    },
    /// No pledge by that signer for that year.
    #[error("no pledge by '{signer}' for {year}; create it with `cchc-agent pledge add`")]
    UnknownPledge {
        /// Year.
        year: i32,
        /// Signer as given.
        signer: String,
    },
    /// No such task in the pledge.
    #[error(
        "task '{task}' is not in the pledge of '{signer}' for {year}; see `cchc-agent pledge show`"
    )]
    UnknownTask {
        /// Task as given.
        task: String,
        /// Year.
        year: i32,
        /// Signer.
        signer: String,
    },
    /// An op for a commune other than this replica's.
    #[error("op {op} is for commune {op_unit}, but this data belongs to commune {own_unit}")]
    WrongUnit {
        /// Op id.
        op: String,
        /// The op's unit.
        op_unit: u32,
        /// This replica's unit.
        own_unit: u32,
    },
    /// An op whose sequence number skips ahead of what is held for its device.
    #[error("op {op} leaves a gap: the next op expected from device {actor} is number {expected}")]
    SeqGap {
        /// Op id.
        op: String,
        /// Device.
        actor: String,
        /// Next expected sequence number.
        expected: u64,
    },
    /// The same op id with different content.
    #[error("op {op} conflicts with the op already held under that id (same device and number, different content)")]
    OpConflict {
        /// Op id.
        op: String,
    },
    /// An op whose content is internally inconsistent.
    #[error("op {op} is inconsistent: {detail}")]
    BadOp {
        /// Op id.
        op: String,
        /// What is wrong.
        detail: String,
    },
    /// An op validated by definitions the receiver has never published.
    #[error(
        "op {op} names definitions version {version}, but the newest published here is {newest}"
    )]
    UnknownDefinitions {
        /// Op id.
        op: String,
        /// Version named by the op.
        version: u32,
        /// Newest version held.
        newest: u32,
    },
    /// An op envelope version this build does not understand.
    #[error("op {op} uses envelope version {version}; this build understands version {supported}")]
    OpVersion {
        /// Op id.
        op: String,
        /// Version found.
        version: u32,
        /// Version supported.
        supported: u32,
    },
}

impl Localize for DomainError {
    fn localize(&self, lang: Lang) -> String {
        use DomainError::*;
        if lang == Lang::En {
            return self.to_string();
        }
        match self {
            PeriodFormat { input } => format!(
                "kỳ báo cáo '{input}' không hợp lệ: dùng YYYY-MM (2026-11), YYYY-Qn (2026-Q4) hoặc YYYY (2026)"
            ),
            PeriodRange { input, what, value, min, max } => {
                let w = if *what == "month" { "tháng" } else { "quý" };
                format!("kỳ báo cáo '{input}': {w} {value} nằm ngoài khoảng {min}..{max}")
            }
            YearRange { year, min, max } => {
                format!("năm {year} nằm ngoài khoảng được hỗ trợ {min}..{max}")
            }
            FuturePeriod { period, today } => format!(
                "kỳ {period} chưa bắt đầu (hôm nay là {today}); không thể ghi số liệu cho tương lai"
            ),
            BadDate { input } => format!("ngày '{input}' không hợp lệ, dùng dạng YYYY-MM-DD"),
            UnknownUnit { code } => {
                format!("mã đơn vị cấp xã {code} không có trong danh sách đơn vị hành chính")
            }
            UnitCsv { line, message } => {
                format!("danh sách đơn vị, dòng {line}: {message}")
            }
            UnknownProcedure { code, version } => format!(
                "thủ tục '{code}' không có trong danh mục thủ tục (bộ định nghĩa phiên bản {version}); xem `cchc-agent catalog`"
            ),
            UnknownMetric { input } => format!(
                "chỉ số '{input}' không tồn tại; các chỉ số: received, on_time, late, pending, rejected, online, satisfied, unsatisfied"
            ),
            UnknownPhase { phase, known } => {
                format!("giai đoạn {phase} không tồn tại; các giai đoạn: {known}")
            }
            UnknownCriterion { phase, code } => format!(
                "tiêu chí '{code}' không thuộc bộ tiêu chí giai đoạn {phase}; xem `cchc-agent catalog`"
            ),
            BadScore { input } => format!(
                "điểm '{input}' không hợp lệ: nhập số từ 0, tối đa một chữ số thập phân (ví dụ 7,5)"
            ),
            ScoreAboveMax { score, max, criterion, phase } => format!(
                "điểm {score} vượt điểm tối đa {max} của tiêu chí {criterion} (giai đoạn {phase})"
            ),
            BadCount { field, input } => {
                format!("{field} '{input}' không hợp lệ: nhập số nguyên từ 0")
            }
            NoCounts => "chưa nhập số liệu: cần ít nhất một trong --received, --on-time, --late, --pending, --rejected, --online, --satisfied, --unsatisfied với giá trị lớn hơn 0".to_string(),
            CountTooLarge { metric, value, max } => format!(
                "{metric} = {value} vượt giới hạn {max} cho một lần nhập; hãy chia nhỏ hoặc kiểm tra lỗi đánh máy"
            ),
            CorrectionBelowZero { metric, procedure, period, current, correction } => format!(
                "điều chỉnh giảm {metric} đi {correction} cho thủ tục {procedure} kỳ {period} sẽ làm số liệu âm (giá trị hiện tại {current})"
            ),
            EmptyText { field } => format!("{field} không được để trống"),
            TextTooLong { field, len, max } => {
                format!("{field} dài {len} ký tự; tối đa {max}")
            }
            ControlChars { field } => format!("{field} chứa ký tự điều khiển"),
            UnstoredText { field } => format!(
                "{field} không đúng dạng lưu trữ: phải bỏ khoảng trắng đầu cuối, dạng NFC, trên một dòng"
            ),
            UnknownTaskStatus { input } => format!(
                "trạng thái nhiệm vụ '{input}' không hợp lệ; dùng not_started (chưa thực hiện), in_progress (đang thực hiện) hoặc done (hoàn thành)"
            ),
            UnknownPledge { year, signer } => format!(
                "không có bản cam kết của '{signer}' năm {year}; tạo bằng `cchc-agent pledge add`"
            ),
            UnknownTask { task, year, signer } => format!(
                "nhiệm vụ '{task}' không có trong bản cam kết của '{signer}' năm {year}; xem `cchc-agent pledge show`"
            ),
            WrongUnit { op, op_unit, own_unit } => format!(
                "bản ghi {op} thuộc đơn vị {op_unit}, nhưng dữ liệu này của đơn vị {own_unit}"
            ),
            SeqGap { op, actor, expected } => format!(
                "bản ghi {op} bị thiếu bản ghi trước: bản ghi tiếp theo của máy {actor} phải là số {expected}"
            ),
            OpConflict { op } => format!(
                "bản ghi {op} mâu thuẫn với bản ghi đã có cùng mã (cùng máy, cùng số, khác nội dung)"
            ),
            BadOp { op, detail } => format!("bản ghi {op} không nhất quán: {detail}"),
            UnknownDefinitions { op, version, newest } => format!(
                "bản ghi {op} dùng bộ định nghĩa phiên bản {version}, nhưng phiên bản mới nhất đã ban hành ở đây là {newest}"
            ),
            OpVersion { op, version, supported } => format!(
                "bản ghi {op} dùng định dạng phiên bản {version}; phần mềm này hiểu phiên bản {supported}"
            ),
        }
    }
}
