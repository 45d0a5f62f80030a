//! Admin actions, the same from the command line (on the hub machine) and over HTTPS
//! (signed-in admins): enrollment codes, devices, users, the audit log. In: a store,
//! who acts, and the values. Out: the change, its audit entry, and the JSON documents
//! `--json` and `/api/v1` print.

use crate::auth::{self, sha256};
use crate::error::{HubError, Result, Rule};
use crate::store::{
    Access, AuditEntry, AuditRow, DeviceInfo, HubStore, NewEnrollment, Role, User, Verification,
};
use cchc_common::auth::{code_from_random, display_code};
use cchc_common::plan::PlanError;
use cchc_common::{ActorId, Date, UnitCode};

/// Longest an enrollment code may live.
pub const MAX_CODE_DAYS: i64 = 90;

/// Who does something, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `user:NAME`, `device:ID`, `cli:OSUSER` or `anonymous`.
    pub name: String,
    /// Client address (requests only).
    pub ip: Option<String>,
}

impl Actor {
    /// Someone at the hub machine's command line.
    pub fn cli() -> Actor {
        let who = std::env::var("SUDO_USER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "unknown".into());
        Actor {
            name: format!("cli:{who}"),
            ip: None,
        }
    }

    /// An audit entry by this actor.
    pub fn entry(
        &self,
        action: &str,
        target: impl Into<String>,
        outcome: &str,
        detail: impl Into<String>,
    ) -> AuditEntry {
        AuditEntry {
            actor: self.name.clone(),
            action: action.into(),
            target: target.into(),
            outcome: outcome.into(),
            ip: self.ip.clone(),
            detail: detail.into(),
        }
    }
}

/// Parses a lifetime like `7d`, `12h` or `30m`, given as `field` (`--expires` on the
/// command line, `expires` in the API).
pub fn parse_lifetime(s: &str, field: &str) -> Result<i64> {
    parse_lifetime_within(s, field, MAX_CODE_DAYS)
}

/// Parses a lifetime like `parse_lifetime`, or in seconds (`90s`), up to `max_days`.
pub fn parse_lifetime_within(s: &str, field: &str, max_days: i64) -> Result<i64> {
    let t = s.trim();
    let bad = || HubError::input(field, s, Rule::Lifetime { max_days });
    // The unit is the last character, whatever its width (`7é` is refused, not split
    // inside a character).
    let unit_at = t.char_indices().last().map(|(i, _)| i).unwrap_or(0);
    let (num, unit) = t.split_at(unit_at);
    let n: i64 = num.parse().map_err(|_| bad())?;
    let ms = match unit {
        "d" => n.checked_mul(86_400_000),
        "h" => n.checked_mul(3_600_000),
        "m" => n.checked_mul(60_000),
        "s" => n.checked_mul(1_000),
        _ => None,
    }
    .ok_or_else(bad)?;
    if ms <= 0 || ms > max_days * 86_400_000 {
        return Err(bad());
    }
    Ok(ms)
}

/// A new one-time code for a commune: `(code as shown, expiry ms)`. Only its hash is
/// stored, so the code exists nowhere but in this answer.
pub fn create_code(
    store: &dyn Access,
    unit: UnitCode,
    lifetime_ms: i64,
    by: &Actor,
    now_ms: i64,
) -> Result<(String, i64)> {
    let random: [u8; 64] = auth::random()?;
    let code = code_from_random(&random)
        .ok_or_else(|| HubError::Internal("not enough random bytes for a code".into()))?;
    let expires_ms = now_ms + lifetime_ms;
    store.create_enrollment(
        &NewEnrollment {
            code_hash: sha256(code.as_bytes()),
            unit,
            expires_ms,
        },
        &by.entry(
            "enroll.create",
            format!("unit:{unit}"),
            "ok",
            format!("expires {}", Date::rfc3339_vn(expires_ms)),
        ),
        now_ms,
    )?;
    Ok((display_code(&code), expires_ms))
}

/// One enrollment code (`enroll create --json`, `POST /api/v1/enrollments`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CodeDoc {
    /// The code as printed (`XXXX-XXXX-XXXX`).
    pub code: String,
    /// Its commune.
    pub unit: u32,
    /// When it expires (RFC 3339, Vietnam time).
    pub expires: String,
}

/// The `enroll create --json` document.
pub fn code_doc(code: &str, unit: UnitCode, expires_ms: i64) -> CodeDoc {
    CodeDoc {
        code: code.to_string(),
        unit: unit.0,
        expires: Date::rfc3339_vn(expires_ms),
    }
}

/// One device (`device list --json`, `GET /api/v1/devices`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceDoc {
    /// Device id.
    pub id: String,
    /// Its commune.
    pub unit: u32,
    /// The commune's name.
    pub unit_name: String,
    /// Agent version at its last contact.
    pub agent_version: String,
    /// Sync protocol version of its last exchange (1: the previous one, accepted for
    /// one release: such an agent must be updated).
    pub protocol: Option<u32>,
    /// When it enrolled.
    pub enrolled_at: String,
    /// Its last request.
    pub last_seen: Option<String>,
    /// Whether it is revoked.
    pub revoked: bool,
    /// When it was revoked.
    pub revoked_at: Option<String>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
}

/// The `device list --json` document.
pub fn devices_doc(devices: &[DeviceInfo]) -> Vec<DeviceDoc> {
    devices
        .iter()
        .map(|d| DeviceDoc {
            id: d.device.to_string(),
            unit: d.unit.0,
            unit_name: d.unit_name.clone(),
            agent_version: d.agent_version.clone(),
            protocol: d.protocol,
            enrolled_at: Date::rfc3339_vn(d.enrolled_ms),
            last_seen: d.last_seen_ms.map(Date::rfc3339_vn),
            revoked: d.revoked_ms.is_some(),
            revoked_at: d.revoked_ms.map(Date::rfc3339_vn),
            revoked_by: d.revoked_by.clone(),
        })
        .collect()
}

/// Revokes a device; false if it already was.
pub fn revoke(
    store: &dyn Access,
    device: &str,
    by: &Actor,
    now_ms: i64,
) -> Result<(ActorId, bool)> {
    let id: ActorId = device
        .trim()
        .parse()
        .map_err(|_| HubError::input("device", device, Rule::DeviceId))?;
    let done = store.revoke_device(
        id,
        &by.entry("device.revoke", format!("device:{id}"), "ok", ""),
        now_ms,
    )?;
    Ok((id, done))
}

/// Checks a user name: letters, digits, `.`, `_`, `-`, 1 to 64 of them.
pub fn check_user_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(HubError::input("user name", name, Rule::UserName))
    }
}

/// Adds a user.
pub fn add_user(
    store: &dyn Access,
    name: &str,
    display_name: &str,
    role: Role,
    password: &str,
    by: &Actor,
    now_ms: i64,
) -> Result<()> {
    check_user_name(name)?;
    let display_name =
        cchc_common::text::optional("--name", display_name, cchc_common::text::NAME_MAX)
            .map_err(HubError::Invalid)?;
    let user = User {
        name: name.to_string(),
        role,
        password_hash: auth::hash_password(password)?,
        display_name,
    };
    store.add_user(
        &user,
        &by.entry(
            "user.add",
            format!("user:{name}"),
            "ok",
            format!("role {}", role.as_str()),
        ),
        now_ms,
    )
}

/// A rollout plan from the command line or a CSV file (`cchc_common::plan`).
pub fn parse_plan(
    units: &[String],
    phase: Option<&str>,
    csv: Option<(&str, &str)>,
) -> Result<Vec<(UnitCode, u32)>> {
    cchc_common::plan::parse(units, phase, csv).map_err(|e| match e {
        PlanError::Plan { en, vi } => HubError::BadPlan { en, vi },
        PlanError::Invalid(d) => HubError::Invalid(d),
    })
}

/// Assigns communes to phases (all or nothing) with its audit entry.
pub fn assign(
    store: &dyn HubStore,
    plan: &[(UnitCode, u32)],
    by: &Actor,
    now_ms: i64,
) -> Result<()> {
    let mut phases: Vec<u32> = plan.iter().map(|(_, p)| *p).collect();
    phases.sort_unstable();
    phases.dedup();
    let detail = phases
        .iter()
        .map(|p| {
            format!(
                "phase {p}: {}",
                plan.iter()
                    .filter(|(_, q)| q == p)
                    .map(|(u, _)| u.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    store.assign_phases(
        plan,
        &by.entry(
            "phase.assign",
            format!("{} communes", plan.len()),
            "ok",
            detail,
        ),
        now_ms,
    )
}

/// Records an analyst's verified scores for one commune with its audit entry; `by` is
/// the analyst's name as the commune will see it.
pub fn verify(
    store: &dyn HubStore,
    unit: UnitCode,
    phase: u32,
    scores: &[Verification],
    by: &str,
    actor: &Actor,
    now_ms: i64,
) -> Result<Vec<cchc_common::Op>> {
    let detail = scores
        .iter()
        .map(|v| format!("{}={}", v.criterion, v.score))
        .collect::<Vec<_>>()
        .join(" ");
    store.verify(
        unit,
        phase,
        scores,
        by,
        &actor.entry("verify", format!("unit:{unit} phase:{phase}"), "ok", detail),
        now_ms,
    )
}

/// One audit entry (`audit --json`, `GET /api/v1/audit`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditDoc {
    /// Entry number.
    pub id: i64,
    /// When (RFC 3339, Vietnam time).
    pub at: String,
    /// Who (`user:…`, `device:…`, `cli`, `anonymous`).
    pub actor: String,
    /// What (`login`, `enroll.use`, …).
    pub action: String,
    /// On what.
    pub target: String,
    /// `ok` or the refusal's code.
    pub outcome: String,
    /// From where.
    pub ip: Option<String>,
    /// Details.
    pub detail: String,
}

/// The `audit --json` document.
pub fn audit_doc(rows: &[AuditRow]) -> Vec<AuditDoc> {
    rows.iter()
        .map(|r| AuditDoc {
            id: r.id,
            at: Date::rfc3339_vn(r.at_ms),
            actor: r.entry.actor.clone(),
            action: r.entry.action.clone(),
            target: r.entry.target.clone(),
            outcome: r.entry.outcome.clone(),
            ip: r.entry.ip.clone(),
            detail: r.entry.detail.clone(),
        })
        .collect()
}

/// Text from outside (a user name someone typed at the sign-in form, a device's agent
/// version) as a terminal shows it safely: control characters, line breaks and the
/// invisible characters that reorder or hide text are written as `\n`, `\e`,
/// `\u{202e}`…, and a backslash as `\\`, so one record is one line and nobody can
/// paint over what an admin reads. Vietnamese letters stay as they are.
pub fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{1b}' => out.push_str("\\e"),
            c if c.is_control()
                || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
                    | '\u{2066}'..='\u{2069}' | '\u{feff}') =>
            {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// The audit log as text, one line per entry whatever its fields hold.
pub fn audit_text(rows: &[AuditRow]) -> String {
    let mut s = String::new();
    for r in rows {
        let e = &r.entry;
        s.push_str(&format!(
            "{:>6}  {}  {:<22} {:<16} {:<24} {:<16} {}{}\n",
            r.id,
            Date::display_vn(r.at_ms),
            visible(&e.actor),
            visible(&e.action),
            visible(&e.target),
            visible(&e.outcome),
            e.ip.as_deref()
                .map(|i| format!("[{}] ", visible(i)))
                .unwrap_or_default(),
            visible(&e.detail)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::BadInput;

    #[test]
    fn a_lifetime_is_a_number_and_a_unit_and_anything_else_names_the_rule() {
        assert_eq!(parse_lifetime("7d", "--expires").unwrap(), 7 * 86_400_000);
        assert_eq!(
            parse_lifetime(" 12h ", "--expires").unwrap(),
            12 * 3_600_000
        );
        assert_eq!(parse_lifetime("30m", "--expires").unwrap(), 30 * 60_000);
        // Multi-byte characters used to split inside a character and panic.
        for bad in [
            "7é",
            "é",
            "ngày",
            "7",
            "",
            "d",
            "-1d",
            "0h",
            "99999999999999999d",
            "91d",
        ] {
            match parse_lifetime(bad, "--expires") {
                Err(HubError::Input(BadInput { field, value, rule })) => {
                    assert_eq!(field, "--expires");
                    assert_eq!(value, bad);
                    assert!(matches!(rule, Rule::Lifetime { .. }));
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn outside_text_prints_on_one_visible_line() {
        assert_eq!(visible("Nguyễn Thị Thu"), "Nguyễn Thị Thu");
        assert_eq!(
            visible("a\nb\r\u{1b}[2J\u{7}\\n\u{202e}x"),
            "a\\nb\\r\\e[2J\\u{7}\\\\n\\u{202e}x"
        );
        let row = AuditRow {
            id: 1,
            at_ms: 0,
            entry: AuditEntry {
                actor: "anonymous".into(),
                action: "login".into(),
                target: "user:x\n     2  01/01/2026 00:00  user:admin login ok".into(),
                outcome: "login_failed".into(),
                ip: Some("127.0.0.1".into()),
                detail: "\u{1b}[31mfake\u{1b}[0m".into(),
            },
        };
        let text = audit_text(&[row]);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains("user:x\\n     2"), "{text}");
    }
}
