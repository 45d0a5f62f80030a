//! Every `HubError` message, English and Vietnamese side by side, in one place a
//! Vietnamese reviewer can read through (the refusals' are in `denied.rs`, the input
//! rules' in `input.rs`). In: an error. Out: its [`Text`].

use super::input::{quoted, t};
use super::{BadInput, HubError, Text};
use cchc_common::sync::WireError;
use cchc_common::{DomainError, Lang, Localize};

fn domain(e: &DomainError) -> Text {
    t(e.to_string(), e.localize(Lang::Vi))
}

impl HubError {
    /// The message, English and Vietnamese side by side.
    pub fn text(&self) -> Text {
        match self {
            HubError::Wire(WireError::Protocol { got, supported }) => t(
                format!("protocol version {got} is not supported; this hub speaks version {supported}: update the software"),
                format!("phiên bản giao thức {got} không được hỗ trợ; máy chủ tỉnh dùng phiên bản {supported}: hãy cập nhật phần mềm"),
            ),
            HubError::Wire(WireError::TooLarge { size, limit }) => t(
                format!("body is {size} bytes; the limit is {limit} bytes"),
                format!("dữ liệu gửi lên dài {size} byte, vượt giới hạn {limit} byte"),
            ),
            HubError::Wire(WireError::Compression(e)) => t(
                format!("body is not valid gzip: {e}"),
                format!("dữ liệu gửi lên không phải gzip hợp lệ: {e}"),
            ),
            HubError::Wire(WireError::Json(e)) => t(
                format!("body is not a valid sync message: {e}"),
                format!("dữ liệu gửi lên không phải bản tin đồng bộ hợp lệ: {e}"),
            ),
            HubError::Wire(WireError::Binary(e)) => t(
                format!("body is not a valid protocol 2 message: {e}"),
                format!("dữ liệu gửi lên không phải bản tin đồng bộ (phiên bản 2) hợp lệ: {e}"),
            ),
            HubError::ProtocolHeader { header, found } => t(
                format!("header {header} is {}; send the protocol version number", quoted(found)),
                format!("tiêu đề {header} là {}; hãy gửi số phiên bản giao thức", quoted(found)),
            ),
            HubError::BodyStalled { idle_s } => t(
                format!("the request body stopped or came too slowly (at most {idle_s} s without data, at least 1 KiB/s after that, 10 minutes in all); the request was dropped"),
                format!("nội dung yêu cầu bị ngừng hoặc gửi quá chậm (tối đa {idle_s} giây không có dữ liệu, sau đó ít nhất 1 KiB/giây, tổng cộng 10 phút); yêu cầu bị hủy"),
            ),
            HubError::Busy => t(
                "the hub is receiving too much at once; nothing was stored, try again in a minute",
                "máy chủ tỉnh đang nhận quá nhiều dữ liệu cùng lúc; chưa có gì được lưu, hãy thử lại sau một phút",
            ),
            HubError::BodyCut { detail } => t(
                format!("the request body was cut off: {detail}"),
                format!("nội dung yêu cầu bị ngắt giữa chừng: {detail}"),
            ),
            HubError::BadJson { body, detail } => {
                let b = body.text();
                t(
                    format!("the {} is not valid JSON of the expected shape: {detail}", b.en),
                    format!("{} không phải JSON đúng cấu trúc: {detail}", b.vi),
                )
            }
            HubError::BatchTooLarge { count, max } => t(
                format!("the request carries {count} ops; one batch holds at most {max}"),
                format!("một lần gửi có {count} bản ghi; tối đa {max}"),
            ),
            HubError::UnknownUnit { unit, province } => t(
                format!("commune {unit} is not served by this hub (province {province})"),
                format!("đơn vị {unit} không thuộc tỉnh {province} do máy chủ này phục vụ"),
            ),
            HubError::ForeignDevice { device, bound, unit } => t(
                format!("device {device} belongs to commune {bound}; it cannot send data for commune {unit}"),
                format!("máy {device} thuộc đơn vị {bound}; không được gửi dữ liệu của đơn vị {unit}"),
            ),
            HubError::Refused { source, .. } | HubError::Invalid(source) => domain(source),
            HubError::NotAssigned { unit, assigned: Some(p), phase } => t(
                format!("commune {unit} is assigned to phase {p}; it cannot be verified for phase {phase}"),
                format!("đơn vị {unit} được giao giai đoạn {p}; không thể thẩm định giai đoạn {phase}"),
            ),
            HubError::NotAssigned { unit, assigned: None, phase } => t(
                format!("commune {unit} is not in the rollout plan (cchc-hub phase assign); it cannot be verified for phase {phase}"),
                format!("đơn vị {unit} chưa có trong kế hoạch triển khai (cchc-hub phase assign); không thể thẩm định giai đoạn {phase}"),
            ),
            HubError::BadPlan { en, vi } => t(
                format!("rollout plan: {en}"),
                format!("kế hoạch triển khai: {vi}"),
            ),
            HubError::BadForm { problems } => {
                let each = |lang: Lang| {
                    problems
                        .iter()
                        .map(|(field, e)| format!("{field}: {}", e.localize(lang)))
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                t(
                    format!("nothing was recorded: some values are not valid — {}", each(Lang::En)),
                    format!("chưa ghi gì: có giá trị không hợp lệ — {}", each(Lang::Vi)),
                )
            }
            HubError::BadDefinitions { source, detail } => t(
                format!("{source}: {detail}"),
                format!("bộ định nghĩa {source} không dùng được: {detail}"),
            ),
            HubError::DefinitionsNotNewer { version, newest } => t(
                format!("definitions version {version} is not newer than the published version {newest}"),
                format!("bộ định nghĩa phiên bản {version} không mới hơn phiên bản đã ban hành {newest}"),
            ),
            HubError::Upstream { url, detail } => t(
                format!("the national hub {url} could not be reached ({detail}); forwarding goes on from where it stopped at the next try"),
                format!("không kết nối được máy chủ cấp trên {url} ({detail}); lần sau sẽ tiếp tục chuyển từ chỗ đã dừng"),
            ),
            HubError::NoUpstream => t(
                "this hub has no link to a national hub: run `cchc-hub upstream set URL --ca FILE --code CODE` (a national hub has none)",
                "máy chủ này chưa kết nối máy chủ cấp trên: hãy chạy `cchc-hub upstream set URL --ca TỆP --code MÃ` (máy chủ quốc gia không có cấp trên)",
            ),
            HubError::NotInitialised { dir } => {
                let d = dir.display();
                t(
                    format!("no hub in {d}: run `cchc-hub init --province <code> --data-dir {d}` first"),
                    format!("chưa có máy chủ tỉnh trong {d}: hãy chạy `cchc-hub init --province <mã tỉnh> --data-dir {d}` trước"),
                )
            }
            HubError::AlreadyInitialised { dir, province } => {
                let d = dir.display();
                t(
                    format!("{d} already holds the hub of province {province}; refusing to overwrite it"),
                    format!("{d} đã chứa máy chủ của tỉnh {province}; không ghi đè"),
                )
            }
            HubError::BadDatabase { path, detail } => {
                let p = path.display();
                t(
                    format!("database {p} cannot be used: {detail}"),
                    format!("không dùng được cơ sở dữ liệu {p}: {detail}"),
                )
            }
            HubError::Input(BadInput { field, value, rule }) => {
                let r = rule.text();
                t(
                    format!("{field} '{}': {}", quoted(value), r.en),
                    format!("{field} '{}': {}", quoted(value), r.vi),
                )
            }
            HubError::Sql(e) => t(format!("database error: {e}"), format!("lỗi cơ sở dữ liệu: {e}")),
            HubError::Io { path, source } => t(
                format!("{}: {source}", path.display()),
                format!("lỗi đọc/ghi tệp {}: {source}", path.display()),
            ),
            HubError::Denied(d) => d.text(),
            HubError::NotFound(m) => m.text(),
            HubError::Release(r) => r.text(),
            HubError::UserExists { user } => t(
                format!("user '{}' already exists (use `cchc-hub user passwd` to change the password)", quoted(user)),
                format!("người dùng '{}' đã có (đổi mật khẩu bằng `cchc-hub user passwd`)", quoted(user)),
            ),
            HubError::Internal(e) => t(e.clone(), format!("lỗi nội bộ: {e}")),
            HubError::Tls(e) => t(format!("TLS: {e}"), format!("lỗi TLS: {e}")),
        }
    }
}
