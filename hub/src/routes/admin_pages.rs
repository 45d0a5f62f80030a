//! The admins' pages in the browser (`/admin`): enrollment codes (made for several
//! communes at once and shown as a sheet to print, one line per commune), devices
//! (listed, revoked), hub users (added with a full name, removed) and the phase plan
//! (`unit;phase` lines as Excel saves them). Admins only; every change goes through
//! the same `admin` functions as the command line and is audited as `user:NAME` from
//! the browser's address. In: forms with the session's form token. Out: pages in the
//! dashboard's frame; a refusal is a page saying what and why.

use super::body::{self, SMALL_BODY};
use super::extract::{Caller, Reading};
use super::pages::{phase_numbers, Frame};
use super::{redirect, AppState};
use crate::admin;
use crate::clock::now_ms;
use crate::error::{HubError, Missing};
use crate::store::Role;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use cchc_common::{Date, Lang, UnitCode};
use maud::{html, Markup};
use std::collections::BTreeMap;

fn frame(caller: Caller, reading: Reading, uri: &Uri) -> Frame {
    Frame {
        caller,
        reading,
        path: uri.path().to_string(),
    }
}

/// What the admin page lists.
struct Lists {
    devices: Vec<admin::DeviceDoc>,
    users: Vec<crate::store::User>,
    phases: crate::html::Nav,
}

fn body(l: &Lists, csrf: &str, done: Option<(&str, &str)>, lang: Lang) -> Markup {
    let t = |vi: &'static str, en: &'static str| lang.pick(vi, en);
    html! {
        @if let Some((kind, d)) = done { p.flash role="status" #done data-done=(kind) { (d) } }
        section #codes {
            h2 { (t("Mã đăng ký cho máy của xã", "Enrollment codes for commune PCs")) }
            form method="post" action="/admin/codes" {
                input type="hidden" name="csrf" value=(csrf);
                p {
                    label for="units" { (t("Mã đơn vị (cách nhau bởi dấu cách, dấu phẩy hoặc xuống dòng)", "Commune codes (separated by spaces, commas or lines)")) }
                    br;
                    textarea #units name="units" rows="3" cols="60" required {}
                }
                p {
                    label for="expires" { (t("Hiệu lực", "Valid for")) }
                    " " input #expires name="expires" value="7d" size="5";
                    " " span.note { (t("ví dụ 7d, 12h; tối đa 90d", "e.g. 7d, 12h; at most 90d")) }
                }
                button type="submit" #make-codes { (t("Tạo mã và in danh sách", "Make codes and print the sheet")) }
            }
        }
        section #devices {
            h2 { (t("Máy đã đăng ký", "Enrolled devices")) }
            table.data #t-devices {
                thead { tr {
                    th { (t("Mã máy", "Device")) } th { (t("Đơn vị", "Commune")) }
                    th { (t("Đăng ký", "Enrolled")) } th { (t("Liên lạc cuối", "Last seen")) }
                    th { (t("Phiên bản", "Version")) } th { (t("Trạng thái", "State")) }
                } }
                tbody {
                    @for d in &l.devices {
                        tr data-device=(d.id) {
                            td.nw { (d.id) }
                            td { (d.unit) " " (d.unit_name) }
                            td { (short(&d.enrolled_at)) }
                            td { (d.last_seen.as_deref().map(short).unwrap_or_else(|| "—".into())) }
                            td {
                                (d.agent_version)
                                @if d.protocol == Some(cchc_common::sync::PROTOCOL_V1) {
                                    " " span.warn title=(t("Giao thức đồng bộ cũ: cần cập nhật phần mềm", "Old sync protocol: update this agent")) { (t("(giao thức 1)", "(protocol 1)")) }
                                }
                            }
                            td {
                                @if d.revoked {
                                    span.revoked { (t("Đã thu hồi", "Revoked")) " " (d.revoked_at.as_deref().map(short).unwrap_or_default()) }
                                } @else {
                                    form.inline method="post" action=(format!("/admin/devices/{}/revoke", d.id)) {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button type="submit" aria-label=(format!("{} {}", t("Thu hồi máy", "Revoke device"), d.id)) { (t("Thu hồi", "Revoke")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section #users {
            h2 { (t("Người dùng của máy chủ tỉnh", "Hub users")) }
            table.data #t-users {
                thead { tr { th { (t("Tên đăng nhập", "Login")) } th { (t("Họ tên", "Full name")) } th { (t("Vai trò", "Role")) } th {} } }
                tbody {
                    @for u in &l.users {
                        tr data-user=(u.name) {
                            td { (u.name) } td { (u.display_name) } td { (u.role.as_str()) }
                            td {
                                form.inline method="post" action=(format!("/admin/users/{}/remove", u.name)) {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button type="submit" aria-label=(format!("{} {}", t("Xóa người dùng", "Remove user"), u.name)) { (t("Xóa", "Remove")) }
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action="/admin/users" {
                input type="hidden" name="csrf" value=(csrf);
                fieldset {
                    legend { (t("Thêm người dùng", "Add a user")) }
                    label for="u-name" { (t("Tên đăng nhập", "Login")) } " " input #u-name name="name" required size="16";
                    " " label for="u-full" { (t("Họ tên", "Full name")) } " " input #u-full name="display_name" size="24";
                    " " label for="u-role" { (t("Vai trò", "Role")) } " "
                    select #u-role name="role" {
                        option value="viewer" { (t("xem", "viewer")) }
                        option value="analyst" { (t("thẩm định", "analyst")) }
                        option value="admin" { (t("quản trị", "admin")) }
                    }
                    " " label for="u-pw" { (t("Mật khẩu (ít nhất 10 ký tự)", "Password (10 characters at least)")) } " "
                    input #u-pw name="password" type="password" required minlength="10" autocomplete="new-password";
                    " " button type="submit" #add-user { (t("Thêm", "Add")) }
                }
            }
        }
        section #plan {
            h2 { (t("Kế hoạch triển khai theo giai đoạn", "The phase plan")) }
            form method="post" action="/admin/plan" {
                input type="hidden" name="csrf" value=(csrf);
                p {
                    label for="plan-csv" { (t("Mỗi dòng: mã đơn vị; giai đoạn (dán từ Excel được; dấu ; , hoặc tab)", "One line each: commune code; phase (paste from Excel; ; , or tab)")) }
                    br;
                    textarea #plan-csv name="plan" rows="5" cols="40" required {}
                }
                p.note { (t("Các giai đoạn: ", "Phases: ")) @for p in &l.phases.phases { (p) " " } }
                button type="submit" #assign { (t("Giao giai đoạn", "Assign")) }
            }
        }
    }
}

/// An RFC 3339 time as dd/mm/yyyy hh:mm.
fn short(rfc: &str) -> String {
    // 2026-11-24T18:37:05+07:00
    let (d, rest) = rfc.split_once('T').unwrap_or((rfc, ""));
    let mut p = d.split('-');
    match (p.next(), p.next(), p.next()) {
        (Some(y), Some(m), Some(day)) => format!("{day}/{m}/{y} {}", rest.get(..5).unwrap_or("")),
        _ => rfc.to_string(),
    }
}

async fn lists(state: &AppState) -> Result<Lists, HubError> {
    state
        .run(|store| {
            Ok(Lists {
                devices: admin::devices_doc(&store.devices()?),
                users: store.users()?,
                phases: phase_numbers(store)?,
            })
        })
        .await
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct AdminQuery {
    done: Option<String>,
}

/// `GET /admin` (admins).
pub async fn page(
    State(state): State<AppState>,
    caller: Caller,
    reading: Reading,
    uri: Uri,
    axum::extract::Query(q): axum::extract::Query<AdminQuery>,
) -> Response {
    let f = frame(caller, reading, &uri);
    let lang = f.lang();
    let result = async {
        f.caller.require(Role::Admin)?;
        lists(&state).await
    }
    .await;
    match result {
        Ok(l) => {
            let done = q.done.as_deref().map(|d| match d {
                "revoked" => ("revoked", lang.pick("Đã thu hồi máy.", "Device revoked.")),
                "user" => ("user", lang.pick("Đã thêm người dùng.", "User added.")),
                "removed" => ("removed", lang.pick("Đã xóa người dùng.", "User removed.")),
                "plan" => ("plan", lang.pick("Đã giao giai đoạn.", "Phases assigned.")),
                _ => ("saved", lang.pick("Đã lưu.", "Saved.")),
            });
            let token = f.caller.session.form_token();
            let b = body(&l, &token, done, lang);
            f.page(
                StatusCode::OK,
                lang.pick("Quản trị", "Administration"),
                b,
                &l.phases,
            )
        }
        Err(e) => f.error(&state, "admin", e).await,
    }
}

/// Reads an admin form: the caller must be an admin and the form carry the
/// session's token.
async fn form(state: &AppState, f: &Frame, b: Body) -> Result<BTreeMap<String, String>, HubError> {
    f.caller.require(Role::Admin)?;
    let bytes = body::read(b, SMALL_BODY, &state.bodies, f.caller.ip).await?;
    let fields: BTreeMap<String, String> = body::form(&bytes)?;
    f.caller
        .session
        .check_form_token(fields.get("csrf").map(String::as_str))?;
    Ok(fields)
}

/// `POST /admin/codes`: one code per commune (all checked first), shown as a sheet to
/// print and hand out.
pub async fn codes(
    State(state): State<AppState>,
    caller: Caller,
    reading: Reading,
    uri: Uri,
    headers: axum::http::HeaderMap,
    b: Body,
) -> Response {
    let f = frame(caller, reading, &uri);
    let lang = f.lang();
    let actor = f.caller.actor();
    let result = async {
        let fields = form(&state, &f, b).await?;
        let units: Vec<String> = fields
            .get("units")
            .map(String::as_str)
            .unwrap_or("")
            .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
            .filter(|u| !u.is_empty())
            .map(str::to_string)
            .collect();
        if units.is_empty() {
            return Err(HubError::input("units", "", crate::error::Rule::Required));
        }
        let lifetime = admin::parse_lifetime(
            fields.get("expires").map(String::as_str).unwrap_or("7d"),
            "expires",
        )?;
        state
            .run(move |store| {
                let mut codes = Vec::new();
                let mut checked = Vec::new();
                for u in &units {
                    let code = UnitCode::parse(u).map_err(HubError::Invalid)?;
                    if !store.serves(code)? {
                        return Err(HubError::NotFound(Missing::Commune(code.0)));
                    }
                    checked.push(code);
                }
                let names: BTreeMap<_, _> = store
                    .sync_status()?
                    .into_iter()
                    .map(|s| (s.unit, s.name))
                    .collect();
                for unit in checked {
                    let (code, expires) =
                        admin::create_code(store, unit, lifetime, &actor, now_ms())?;
                    codes.push((
                        unit,
                        names.get(&unit).cloned().unwrap_or_default(),
                        code,
                        expires,
                    ));
                }
                Ok((codes, phase_numbers(store)?))
            })
            .await
    }
    .await;
    match result {
        Ok((codes, phases)) => {
            // The address the admin reached the hub at is the one agents will use.
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("<máy chủ>");
            let hub = format!("https://{host}");
            let b = html! {
                p.noprint { (lang.pick("In trang này (Ctrl+P) và trao mỗi xã dòng của mình. Mỗi mã dùng được một lần, cho đúng xã đó.", "Print this page (Ctrl+P) and hand each commune its line. Each code works once, for that commune only.")) " " a href="/admin" { (lang.pick("Về trang quản trị", "Back to administration")) } }
                table.data.sheet #t-codes {
                    thead { tr {
                        th { (lang.pick("Mã đơn vị", "Code")) } th { (lang.pick("Đơn vị", "Commune")) }
                        th { (lang.pick("Mã đăng ký", "Enrollment code")) } th { (lang.pick("Hết hạn", "Expires")) }
                        th { (lang.pick("Lệnh trên máy của xã", "Command on the commune's PC")) }
                    } }
                    tbody {
                        @for (unit, name, code, expires) in &codes {
                            tr data-unit=(unit) {
                                td.nw { (unit) } td { (name) } td.nw.code { b { (code) } }
                                td.nw { (Date::display_vn(*expires)) }
                                td { code { "cchc-agent init --unit " (unit) " --hub " (hub) " --ca ca.pem --code " (code) } }
                            }
                        }
                    }
                }
            };
            f.page(
                StatusCode::OK,
                lang.pick("Danh sách mã đăng ký", "Enrollment codes"),
                b,
                &phases,
            )
        }
        Err(e) => f.error(&state, "enroll.create", e).await,
    }
}

/// `POST /admin/devices/{id}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    reading: Reading,
    uri: Uri,
    Path(id): Path<String>,
    b: Body,
) -> Response {
    let f = frame(caller, reading, &uri);
    let actor = f.caller.actor();
    let result = async {
        form(&state, &f, b).await?;
        state
            .run(move |store| admin::revoke(store, &id, &actor, now_ms()).map(|_| ()))
            .await
    }
    .await;
    match result {
        Ok(()) => redirect("/admin?done=revoked"),
        Err(e) => f.error(&state, "device.revoke", e).await,
    }
}

/// `POST /admin/users`: adds a user with a role, a full name and a password.
pub async fn add_user(
    State(state): State<AppState>,
    caller: Caller,
    reading: Reading,
    uri: Uri,
    b: Body,
) -> Response {
    let f = frame(caller, reading, &uri);
    let actor = f.caller.actor();
    let result = async {
        let fields = form(&state, &f, b).await?;
        let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
        let role = Role::parse(&get("role"))
            .ok_or_else(|| HubError::input("role", get("role"), crate::error::Rule::Role))?;
        let (name, shown, pw) = (get("name"), get("display_name"), get("password"));
        state
            .run(move |store| {
                admin::add_user(store, name.trim(), &shown, role, &pw, &actor, now_ms())
            })
            .await
    }
    .await;
    match result {
        Ok(()) => redirect("/admin?done=user"),
        Err(e) => f.error(&state, "user.add", e).await,
    }
}

/// `POST /admin/users/{name}/remove`: removes a user and ends their sessions.
pub async fn remove_user(
    State(state): State<AppState>,
    caller: Caller,
    reading: Reading,
    uri: Uri,
    Path(name): Path<String>,
    b: Body,
) -> Response {
    let f = frame(caller, reading, &uri);
    let actor = f.caller.actor();
    let me = f.caller.session.user.clone();
    let result = async {
        form(&state, &f, b).await?;
        if name == me {
            return Err(HubError::input(
                "user",
                &name,
                crate::error::Rule::NotYourself,
            ));
        }
        state
            .run(move |store| {
                if store.user(&name)?.is_none() {
                    return Err(HubError::NotFound(Missing::User(name.clone())));
                }
                store.remove_user(
                    &name,
                    &actor.entry("user.remove", format!("user:{name}"), "ok", ""),
                    now_ms(),
                )
            })
            .await
    }
    .await;
    match result {
        Ok(()) => redirect("/admin?done=removed"),
        Err(e) => f.error(&state, "user.remove", e).await,
    }
}

/// `POST /admin/plan`: assigns the phases of the pasted lines (all or nothing).
pub async fn plan(
    State(state): State<AppState>,
    caller: Caller,
    reading: Reading,
    uri: Uri,
    b: Body,
) -> Response {
    let f = frame(caller, reading, &uri);
    let actor = f.caller.actor();
    let result = async {
        let fields = form(&state, &f, b).await?;
        let text = fields.get("plan").cloned().unwrap_or_default();
        let plan = admin::parse_plan(&[], None, Some((&text, "plan")))?;
        state
            .run(move |store| admin::assign(store, &plan, &actor, now_ms()))
            .await
    }
    .await;
    match result {
        Ok(()) => redirect("/admin?done=plan"),
        Err(e) => f.error(&state, "phase.assign", e).await,
    }
}
