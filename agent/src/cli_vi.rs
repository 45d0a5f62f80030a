//! The command line in Vietnamese: `--help` and clap's own errors read in the
//! officer's language by default (English with `--lang en` or `CCHC_LANG=en`). In:
//! the command tree clap derives from `main.rs` (English doc comments). Out: the same
//! tree with Vietnamese descriptions and headings; an error as a Vietnamese sentence
//! naming what was typed.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Command;

/// (subcommand path, argument id or "" for the command itself, Vietnamese).
const HELP: &[(&str, &str, &str)] = &[
    ("", "", "cchc-agent: ghi nhận số liệu cải cách hành chính của Công an cấp xã, không cần mạng; đồng bộ với máy chủ tỉnh khi có mạng."),
    ("", "data_dir", "Thư mục dữ liệu (mặc định: thư mục dùng chung của máy nếu dịch vụ đã cài, nếu không thì thư mục của người dùng; hoặc CCHC_DATA_DIR)."),
    ("", "lang", "Ngôn ngữ thông báo: vi (mặc định) hoặc en. Cũng có thể đặt CCHC_LANG."),
    ("init", "", "Gắn máy này với một xã/phường và tạo định danh của máy."),
    ("init", "unit", "Mã đơn vị hành chính cấp xã, theo danh mục chính thức."),
    ("init", "units_csv", "Dùng tệp CSV danh mục đơn vị này thay cho danh mục 2025 có sẵn."),
    ("init", "hub", "Địa chỉ máy chủ tỉnh, https://máy:cổng (cũng dùng để đổi địa chỉ trên máy đã khởi tạo)."),
    ("init", "ca", "Chứng chỉ CA của máy chủ tỉnh (tệp tls/ca.pem do tỉnh cấp); chỉ tin chứng chỉ này."),
    ("init", "code", "Mã đăng ký dùng một lần do tỉnh cấp (XXXX-XXXX-XXXX): đăng ký máy để gửi số liệu của xã."),
    ("record", "", "Cộng thêm số liệu thủ tục (hoặc, với --correct, trừ bớt để đính chính)."),
    ("record", "period", "Kỳ: tháng 2026-11, quý 2026-Q4 hoặc năm 2026."),
    ("record", "procedure", "Mã thủ tục, xem `cchc-agent catalog`."),
    ("record", "received", "Số hồ sơ tiếp nhận."),
    ("record", "on_time", "Số hồ sơ giải quyết đúng hạn."),
    ("record", "late", "Số hồ sơ giải quyết quá hạn."),
    ("record", "pending", "Số hồ sơ đang giải quyết."),
    ("record", "rejected", "Số hồ sơ từ chối."),
    ("record", "online", "Số hồ sơ tiếp nhận trực tuyến."),
    ("record", "satisfied", "Số ý kiến hài lòng."),
    ("record", "unsatisfied", "Số ý kiến không hài lòng."),
    ("record", "correct", "Trừ các số trên thay vì cộng (đính chính); không xuống dưới 0."),
    ("record", "by", "Người nhập (tên ngắn, ghi vào lịch sử)."),
    ("pledge", "", "Cam kết: ký, đăng ký nhiệm vụ, báo cáo tiến độ."),
    ("pledge add", "", "Ký cam kết của một năm (hoặc sửa chức vụ, ngày ký), kèm nhiệm vụ."),
    ("pledge add", "year", "Năm của cam kết."),
    ("pledge add", "signer", "Họ tên người ký."),
    ("pledge add", "role", "Chức vụ người ký (ví dụ \"Trưởng Công an xã\")."),
    ("pledge add", "date", "Ngày ký, dd/mm/yyyy hoặc YYYY-MM-DD (mặc định: hôm nay)."),
    ("pledge add", "tasks", "Một nhiệm vụ đăng ký; lặp lại cho nhiều nhiệm vụ."),
    ("pledge task", "", "Đăng ký nhiệm vụ, đổi trạng thái nhiệm vụ hoặc rút nhiệm vụ."),
    ("pledge task", "year", "Năm của cam kết."),
    ("pledge task", "signer", "Họ tên người ký."),
    ("pledge task", "add", "Đăng ký nhiệm vụ mới với tên này."),
    ("pledge task", "task", "Nhiệm vụ: số thứ tự trong `pledge show` hoặc mã."),
    ("pledge task", "status", "Trạng thái mới: not_started (chưa làm), in_progress (đang làm) hoặc done (xong)."),
    ("pledge task", "remove", "Rút nhiệm vụ."),
    ("pledge show", "", "Xem các cam kết."),
    ("pledge show", "year", "Chỉ năm này."),
    ("pledge show", "json", "In dạng JSON cho máy đọc."),
    ("assess", "", "Tự đánh giá: chấm điểm một tiêu chí, hoặc `assess show`."),
    ("assess", "phase", "Giai đoạn 1, 2 hoặc 3."),
    ("assess", "criterion", "Mã tiêu chí, xem `cchc-agent catalog`."),
    ("assess", "score", "Điểm, tối đa một chữ số thập phân (7,5 hoặc 7.5)."),
    ("assess", "evidence", "Minh chứng."),
    ("assess", "by", "Người nhập (tên ngắn, ghi vào lịch sử)."),
    ("assess show", "", "Xem điểm từng tiêu chí và tổng điểm so với ngưỡng đạt của giai đoạn."),
    ("assess show", "phase", "Chỉ giai đoạn này."),
    ("assess show", "json", "In dạng JSON cho máy đọc."),
    ("show", "", "Xem số liệu đã hợp nhất."),
    ("show", "period", "Chỉ số liệu của kỳ này."),
    ("show", "json", "In dạng JSON cho máy đọc (ổn định, xem README)."),
    ("catalog", "", "Xem danh mục thủ tục và bộ tiêu chí đang áp dụng."),
    ("catalog", "json", "In dạng JSON cho máy đọc."),
    ("status", "", "Xem máy này: đơn vị, số bản ghi, đồng hồ, các máy khác."),
    ("status", "json", "In dạng JSON cho máy đọc."),
    ("check", "", "Kiểm tra cơ sở dữ liệu: toàn vẹn SQLite và khớp với nhật ký."),
    ("diag", "", "Đo đĩa của máy này: số mục ghi bền vững mỗi giây qua chương trình, so với vòng SQLite trần, trong thư mục tạm (không đụng tới số liệu của đơn vị)."),
    ("diag", "entries", "Số mục đo mỗi bên."),
    ("diag", "json", "In dạng JSON cho máy đọc."),
    ("bundle", "", "Trao đổi số liệu với bàn khác qua tệp (USB)."),
    ("bundle export", "", "Ghi số liệu của máy này ra tệp."),
    ("bundle export", "out", "Tệp ghi ra."),
    ("bundle export", "since", "Chỉ phần bàn kia còn thiếu: tệp gần nhất của bàn đó, hoặc tệp vector phiên bản."),
    ("bundle import", "", "Nạp số liệu từ tệp của bàn khác cùng đơn vị (nhận hết hoặc không nhận gì)."),
    ("bundle import", "file", "Tệp cần nạp."),
    ("sync", "", "Đồng bộ với máy chủ tỉnh một lần (gửi phần tỉnh thiếu, nhận phần máy thiếu)."),
    ("sync", "json", "In dạng JSON cho máy đọc."),
    ("run", "", "Đồng bộ tự động khi có mạng, ngay sau mỗi lần nhập; cài bản cập nhật tỉnh phát hành (có chữ ký, kiểm tra, quay lại được); mở trang cho cán bộ."),
    ("run", "interval", "Số giây giữa hai lần đồng bộ khi không có gì mới."),
    ("run", "settle_ms", "Số mili giây chờ sau một lần nhập trước khi đồng bộ."),
    ("run", "retry_min_ms", "Thời gian chờ thử lại đầu tiên sau khi đồng bộ lỗi, mili giây (tăng gấp đôi tới --retry-max-ms)."),
    ("run", "retry_max_ms", "Thời gian chờ thử lại dài nhất, mili giây."),
    ("run", "ui", "Mở trang cho cán bộ tại địa chỉ này (chỉ trên chính máy này)."),
    ("run", "no_ui", "Không mở trang cho cán bộ."),
    ("ui", "", "Mở trang cho cán bộ (do `run` phục vụ) trong trình duyệt."),
    ("ui", "ui", "Địa chỉ của trang (như đã cho `run --ui`)."),
    ("ui", "print", "Chỉ in địa chỉ, không mở trình duyệt."),
    ("update", "", "Cập nhật phần mềm: `update status`, `update check`."),
    ("update status", "", "Phiên bản đang chạy, bản trước, bản được đề nghị và tình trạng cập nhật."),
    ("update status", "json", "In dạng JSON cho máy đọc."),
    ("update check", "", "Hỏi máy chủ tỉnh ngay (một lần đồng bộ); `run` sẽ cài bản được đề nghị."),
    ("update check", "json", "In dạng JSON cho máy đọc."),
    ("service", "", "Chạy phần mềm như một dịch vụ Windows (tự đồng bộ khi Windows khởi động): cài, gỡ, bật, tắt, xem tình trạng."),
    ("service install", "", "Cài dịch vụ (cần quyền quản trị): chạy `run` trên thư mục dữ liệu dùng chung của máy từ khi Windows khởi động, tự chạy lại nếu bị lỗi."),
    ("service install", "interval", "Số giây giữa hai lần đồng bộ khi không có gì mới."),
    ("service install", "settle_ms", "Số mili giây chờ sau một lần nhập trước khi đồng bộ."),
    ("service install", "retry_min_ms", "Thời gian chờ thử lại đầu tiên sau khi đồng bộ lỗi, mili giây (tăng gấp đôi tới --retry-max-ms)."),
    ("service install", "retry_max_ms", "Thời gian chờ thử lại dài nhất, mili giây."),
    ("service install", "ui", "Mở trang cho cán bộ tại địa chỉ này (chỉ trên chính máy này)."),
    ("service install", "no_ui", "Không mở trang cho cán bộ."),
    ("service uninstall", "", "Tắt và gỡ dịch vụ (cần quyền quản trị); dữ liệu được giữ nguyên."),
    ("service start", "", "Bật dịch vụ ngay."),
    ("service stop", "", "Tắt dịch vụ."),
    ("service status", "", "Dịch vụ đã được cài chưa và có đang chạy không."),
    ("service status", "json", "In dạng JSON cho máy đọc."),
    ("service run", "interval", "Số giây giữa hai lần đồng bộ khi không có gì mới."),
    ("service run", "settle_ms", "Số mili giây chờ sau một lần nhập trước khi đồng bộ."),
    ("service run", "retry_min_ms", "Thời gian chờ thử lại đầu tiên sau khi đồng bộ lỗi, mili giây (tăng gấp đôi tới --retry-max-ms)."),
    ("service run", "retry_max_ms", "Thời gian chờ thử lại dài nhất, mili giây."),
    ("service run", "ui", "Mở trang cho cán bộ tại địa chỉ này (chỉ trên chính máy này)."),
    ("service run", "no_ui", "Không mở trang cho cán bộ."),
    ("service run", "", "Điểm vào của dịch vụ, do trình quản lý dịch vụ của Windows gọi."),
];

fn translate(mut cmd: Command, path: &str) -> Command {
    for (p, id, vi) in HELP.iter().filter(|(p, _, _)| *p == path) {
        let _ = p;
        cmd = if id.is_empty() {
            cmd.about(*vi).long_about(None)
        } else {
            cmd.mut_arg(*id, |a| a.help(*vi))
        };
    }
    // clap adds its own --help (and --version) only when the tree is built, in
    // English: replaced by ours.
    cmd = cmd
        .mut_args(|a| {
            if a.is_positional() {
                a.help_heading("Tham số")
            } else {
                a.help_heading("Tùy chọn")
            }
        })
        .disable_help_flag(true)
        .arg(
            clap::Arg::new("help")
                .short('h')
                .long("help")
                .action(clap::ArgAction::Help)
                .help("Xem hướng dẫn")
                .help_heading("Tùy chọn"),
        )
        .subcommand_help_heading("Lệnh")
        .help_template("{about-with-newline}\nCách dùng: {usage}\n\n{all-args}{after-help}");
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        let sub = if path.is_empty() {
            name.clone()
        } else {
            format!("{path} {name}")
        };
        cmd = cmd.mut_subcommand(name, |s| translate(s, &sub));
    }
    if path.is_empty() {
        cmd = cmd
            .disable_help_subcommand(true)
            .disable_version_flag(true)
            .arg(
                clap::Arg::new("version")
                    .short('V')
                    .long("version")
                    .action(clap::ArgAction::Version)
                    .help("Xem phiên bản")
                    .help_heading("Tùy chọn"),
            );
    }
    cmd
}

/// The command tree with Vietnamese help.
pub fn vietnamese(cmd: Command) -> Command {
    translate(cmd, "")
}

fn quoted(e: &clap::Error, kind: ContextKind) -> Option<String> {
    match e.get(kind)? {
        ContextValue::String(s) => Some(s.clone()),
        ContextValue::Strings(v) => Some(v.join(", ")),
        ContextValue::StyledStr(s) => Some(s.to_string()),
        ContextValue::StyledStrs(v) => Some(
            v.iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ContextValue::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A usage error of clap as a Vietnamese sentence (None: help or version output,
/// which is printed as it is).
pub fn error_vi(e: &clap::Error) -> Option<String> {
    let arg = quoted(e, ContextKind::InvalidArg).unwrap_or_default();
    let value = quoted(e, ContextKind::InvalidValue).unwrap_or_default();
    let msg = match e.kind() {
        // Help (already Vietnamese: the tree was translated) is printed as it is.
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => return None,
        ErrorKind::InvalidSubcommand => {
            let typed = quoted(e, ContextKind::InvalidSubcommand).unwrap_or_default();
            let mut m = format!("không có lệnh '{typed}'");
            if let Some(s) = quoted(e, ContextKind::SuggestedSubcommand) {
                m += &format!("; có phải là '{s}'?");
            }
            m
        }
        ErrorKind::UnknownArgument => {
            let mut m = format!("không có tham số '{arg}' ở đây");
            if let Some(s) = quoted(e, ContextKind::SuggestedArg) {
                m += &format!("; có phải là '{s}'?");
            }
            m
        }
        ErrorKind::MissingRequiredArgument => format!("thiếu tham số bắt buộc: {arg}"),
        ErrorKind::MissingSubcommand => "thiếu lệnh con".to_string(),
        ErrorKind::InvalidValue => {
            let valid = quoted(e, ContextKind::ValidValue)
                .map(|v| format!(" (dùng: {v})"))
                .unwrap_or_default();
            format!("giá trị '{value}' của {arg} không hợp lệ{valid}")
        }
        ErrorKind::ValueValidation => format!("giá trị '{value}' của {arg} không hợp lệ"),
        ErrorKind::ArgumentConflict => {
            let other = quoted(e, ContextKind::PriorArg).unwrap_or_default();
            format!("không dùng {arg} cùng với {other}")
        }
        ErrorKind::NoEquals => format!("{arg} cần dạng {arg}=GIÁ_TRỊ"),
        ErrorKind::TooManyValues | ErrorKind::WrongNumberOfValues | ErrorKind::TooFewValues => {
            format!("số giá trị của {arg} không đúng")
        }
        ErrorKind::InvalidUtf8 => "tham số không phải văn bản UTF-8".to_string(),
        _ => e.kind().to_string(),
    };
    let usage = quoted(e, ContextKind::Usage).unwrap_or_default();
    let usage = usage.replace("Usage:", "Cách dùng:");
    Some(format!(
        "Lỗi: {msg}\n\n{}\n\nXem thêm: cchc-agent --help (tiếng Anh: --lang en --help)",
        usage.trim()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every command and argument (but the hidden self-test) has its Vietnamese text:
    /// a new flag without one fails here.
    #[test]
    fn every_command_and_argument_reads_in_vietnamese() {
        let vi: std::collections::BTreeSet<&str> = HELP.iter().map(|(_, _, v)| *v).collect();
        fn walk(
            c: &mut Command,
            path: &str,
            vi: &std::collections::BTreeSet<&str>,
            seen: &mut usize,
        ) {
            if c.is_hide_set() {
                return;
            }
            let about = c.get_about().map(|a| a.to_string()).unwrap_or_default();
            assert!(vi.contains(about.as_str()), "{path}: about {about:?}");
            for a in c.get_arguments() {
                let id = a.get_id().as_str();
                if id == "help" || id == "version" {
                    assert!(
                        a.get_help()
                            .is_some_and(|h| h.to_string().starts_with("Xem")),
                        "{path} {id}"
                    );
                    continue;
                }
                let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                assert!(vi.contains(help.as_str()), "{path} --{id}: {help:?}");
                *seen += 1;
            }
            let _ = c.render_long_help();
            for s in c.get_subcommands_mut() {
                let name = s.get_name().to_string();
                walk(s, &format!("{path} {name}"), vi, seen);
            }
        }
        let mut cmd = vietnamese(crate::Cli::command());
        cmd.build();
        let mut seen = 0;
        walk(&mut cmd, "cchc-agent", &vi, &mut seen);
        assert!(seen > 50, "{seen}");
    }
}
