//! The forms people fill in: sign-in, and the analysts' verification form (thẩm định);
//! and the notes a commune page shows around them. In: the form's data, what was
//! typed, a message. Out: markup.

use super::score_text;
use crate::pages::VerifyForm;
use cchc_common::Lang;
use maud::{html, Markup, PreEscaped, DOCTYPE};

const LOGIN_STYLE: &str = "body{font-family:system-ui,Arial,sans-serif;background:#f5f6f8;display:flex;justify-content:center;padding-top:10vh}\
form{background:#fff;border:1px solid #dde;border-radius:6px;padding:20px;min-width:300px}\
label{display:block;margin:8px 0}input{width:100%;font:inherit;padding:4px}button{font:inherit;margin-top:8px}\
.error{background:#fbeaea;border:1px solid #d99;padding:8px}";

/// The sign-in page; `next` is the local path to go to afterwards.
pub fn login_page(lang: Lang, next: &str, error: Option<&str>) -> Markup {
    let other = match lang {
        Lang::Vi => Lang::En,
        Lang::En => Lang::Vi,
    };
    let switch = serde_urlencoded::to_string([("lang", other.code()), ("next", next)])
        .map(|q| format!("/login?{q}"))
        .unwrap_or_else(|_| "/login".into());
    let title = lang.pick("Đăng nhập", "Sign in");
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width,initial-scale=1";
                title { (title) }
                style { (PreEscaped(LOGIN_STYLE)) }
            }
            body {
                form method="post" action="/login" {
                    h1 { (title) }
                    p { (lang.pick("Theo dõi triển khai mô hình cải cách hành chính Công an cấp xã", "Rollout of the commune police reform model")) }
                    @if let Some(e) = error { p.error role="alert" { (e) } }
                    label { (lang.pick("Tên đăng nhập", "User name")) " " input name="user" autocomplete="username" required autofocus; }
                    label { (lang.pick("Mật khẩu", "Password")) " " input name="password" type="password" autocomplete="current-password" required; }
                    input type="hidden" name="next" value=(next);
                    input type="hidden" name="lang" value=(lang.code());
                    button type="submit" { (title) }
                    " "
                    a href=(switch) { (other.pick("Tiếng Việt", "English")) }
                }
            }
        }
    }
}

/// What an analyst typed per criterion (score text, comment), to show again after an error.
pub type Entered = std::collections::BTreeMap<String, (String, String)>;

/// The analysts' verification form (thẩm định) of one commune's assigned phase: per
/// criterion the self-score and evidence, and inputs for the verified score and comment,
/// prefilled with the verified score so far or else the self-score. A blank score leaves
/// that criterion unverified.
pub fn verify_form(
    form: &VerifyForm,
    csrf: &str,
    entered: Option<&Entered>,
    error: Option<&str>,
    lang: Lang,
) -> Markup {
    let unit = form.unit;
    html! {
        @if let Some(e) = error { p.error role="alert" { (e) } }
        @if let Some(phase) = form.phase {
            p.note {
                (lang.pick("Giai đoạn", "Phase")) " " (phase) " · "
                (lang.pick("ngưỡng đạt", "pass threshold")) " " (score_text(form.pass_threshold, lang)) ". "
                (lang.pick(
                    "Ô điểm để trống thì tiêu chí đó chưa được thẩm định. Điểm có thể có một chữ số thập phân (ví dụ 8,5).",
                    "A blank score leaves that criterion unverified. Scores may have one decimal (e.g. 8.5).",
                ))
            }
            form.verify method="post" action=(format!("/verify/{unit}")) {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="phase" value=(phase);
                section.table {
                    table.data id="verify" {
                        thead {
                            tr {
                                th { (lang.pick("Mã", "Code")) }
                                th { (lang.pick("Tiêu chí", "Criterion")) }
                                th { (lang.pick("Điểm tối đa", "Max score")) }
                                th { (lang.pick("Tự chấm", "Self-score")) }
                                th { (lang.pick("Minh chứng", "Evidence")) }
                                th { (lang.pick("Điểm thẩm định", "Verified score")) }
                                th { (lang.pick("Nhận xét", "Comment")) }
                            }
                        }
                        tbody {
                            @for r in &form.rows {
                                @let (score, comment) = match entered.and_then(|e| e.get(&r.code)) {
                                    Some((s, c)) => (s.clone(), c.clone()),
                                    None => (
                                        VerifyForm::prefill(r).map(|v| score_text(v, lang)).unwrap_or_default(),
                                        r.comment.clone(),
                                    ),
                                };
                                tr {
                                    td { (r.code) }
                                    td { (r.name) }
                                    td.n { (score_text(r.max, lang)) }
                                    td.n { (r.self_score.map(|v| score_text(v, lang)).unwrap_or_default()) }
                                    td { (r.evidence) }
                                    td {
                                        input name=(format!("s_{}", r.code)) value=(score) inputmode="decimal" size="6"
                                            aria-label=(format!("{} {}", lang.pick("Điểm thẩm định", "Verified score"), r.code));
                                    }
                                    td {
                                        input name=(format!("c_{}", r.code)) value=(comment) size="40" maxlength="500"
                                            aria-label=(format!("{} {}", lang.pick("Nhận xét", "Comment"), r.code));
                                    }
                                }
                            }
                        }
                    }
                }
                button type="submit" id="save" { (lang.pick("Ghi kết quả thẩm định", "Record the verification")) }
                " "
                a href=(format!("/commune/{unit}")) { (lang.pick("Quay lại trang xã", "Back to the commune")) }
            }
        } @else {
            p.note {
                (lang.pick(
                    "Xã này chưa được giao giai đoạn nào trong kế hoạch triển khai, nên chưa có gì để thẩm định.",
                    "This commune is not in the rollout plan yet, so there is nothing to verify.",
                ))
            }
        }
    }
}

/// Above a commune page: the note after a verification was recorded (`saved` scores),
/// and the way to the verification form for those who may verify.
pub fn commune_notes(unit: &str, saved: Option<u32>, may_verify: bool, lang: Lang) -> Markup {
    html! {
        @if let Some(n) = saved {
            p.flash role="status" id="flash" {
                @if n == 0 {
                    (lang.pick("Không có điểm thẩm định nào thay đổi.", "No verified score changed."))
                } @else {
                    @match lang {
                        Lang::Vi => { "Đã ghi " (n) " điểm thẩm định; xã sẽ nhận được ở lần đồng bộ tới." }
                        Lang::En => { "Recorded " (n) " verified score(s); the commune receives them on its next sync." }
                    }
                }
            }
        }
        @if may_verify {
            p { a href=(format!("/verify/{unit}")) id="verify-link" { (lang.pick("Thẩm định xã này", "Verify this commune")) } }
        }
    }
}
