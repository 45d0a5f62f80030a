//! Admin actions, the same from the command line (on the hub machine) and over HTTPS
//! (signed-in admins): enrollment codes, devices, users, the audit log. In: a store,
//! who acts, and the values. Out: the change, its audit entry, and the JSON documents
//! `--json` and `/api/v1` print.

use crate::auth::{self, sha256};
use crate::error::{Denied, HubError, Result};
use crate::store::{Access, AuditEntry, AuditRow, DeviceInfo, HubStore, NewEnrollment, Role, User};
use cchc_common::auth::{code_from_random, display_code};
use cchc_common::{ActorId, Date, UnitCode};
use serde_json::{json, Value};

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

/// Parses a lifetime like `7d`, `12h` or `30m`.
pub fn parse_lifetime(s: &str) -> Result<i64> {
    let t = s.trim();
    let bad = || {
        HubError::Denied(Denied::Malformed(format!(
            "--expires '{s}': write a number and d, h or m, like 7d, 12h or 30m (at most {MAX_CODE_DAYS}d)"
        )))
    };
    let (num, unit) = t.split_at(t.len().saturating_sub(1));
    let n: i64 = num.parse().map_err(|_| bad())?;
    let ms = match unit {
        "d" => n.checked_mul(86_400_000),
        "h" => n.checked_mul(3_600_000),
        "m" => n.checked_mul(60_000),
        _ => None,
    }
    .ok_or_else(bad)?;
    if ms <= 0 || ms > MAX_CODE_DAYS * 86_400_000 {
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

/// The `enroll create --json` document.
pub fn code_doc(code: &str, unit: UnitCode, expires_ms: i64) -> Value {
    json!({"code": code, "unit": unit.0, "expires": Date::rfc3339_vn(expires_ms)})
}

/// The `device list --json` document.
pub fn devices_doc(devices: &[DeviceInfo]) -> Value {
    Value::Array(
        devices
            .iter()
            .map(|d| {
                json!({
                    "id": d.device.to_string(),
                    "unit": d.unit.0,
                    "unit_name": d.unit_name,
                    "agent_version": d.agent_version,
                    "enrolled_at": Date::rfc3339_vn(d.enrolled_ms),
                    "last_seen": d.last_seen_ms.map(Date::rfc3339_vn),
                    "revoked": d.revoked_ms.is_some(),
                    "revoked_at": d.revoked_ms.map(Date::rfc3339_vn),
                    "revoked_by": d.revoked_by,
                })
            })
            .collect(),
    )
}

/// Revokes a device; false if it already was.
pub fn revoke(
    store: &dyn Access,
    device: &str,
    by: &Actor,
    now_ms: i64,
) -> Result<(ActorId, bool)> {
    let id: ActorId = device.trim().parse().map_err(|_| {
        HubError::NotFound(format!(
            "'{device}' is not a device id (16 hex digits, see `cchc-hub device list`)"
        ))
    })?;
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
        Err(HubError::Denied(Denied::Malformed(format!(
            "user name '{name}': use 1–64 letters, digits, '.', '_' or '-'"
        ))))
    }
}

/// Adds a user.
pub fn add_user(
    store: &dyn Access,
    name: &str,
    role: Role,
    password: &str,
    by: &Actor,
    now_ms: i64,
) -> Result<()> {
    check_user_name(name)?;
    let user = User {
        name: name.to_string(),
        role,
        password_hash: auth::hash_password(password)?,
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

/// Publishes a definitions document (`source` names where it came from, for errors
/// and the audit log); returns its version.
pub fn publish(
    store: &dyn HubStore,
    text: &str,
    source: &str,
    by: &Actor,
    now_ms: i64,
) -> Result<u32> {
    let defs = cchc_common::Definitions::from_json(text)
        .map_err(|e| HubError::BadDefinitions(format!("{source}: {e}")))?;
    store.publish_definitions(&defs, now_ms)?;
    store.audit(
        &by.entry(
            "definitions.publish",
            format!("version:{}", defs.version),
            "ok",
            source,
        ),
        now_ms,
    )?;
    Ok(defs.version)
}

/// The `audit --json` document.
pub fn audit_doc(rows: &[AuditRow]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "at": Date::rfc3339_vn(r.at_ms),
                    "actor": r.entry.actor,
                    "action": r.entry.action,
                    "target": r.entry.target,
                    "outcome": r.entry.outcome,
                    "ip": r.entry.ip,
                    "detail": r.entry.detail,
                })
            })
            .collect(),
    )
}

/// The audit log as text, one line per entry.
pub fn audit_text(rows: &[AuditRow]) -> String {
    let mut s = String::new();
    for r in rows {
        let e = &r.entry;
        s.push_str(&format!(
            "{:>6}  {}  {:<22} {:<16} {:<24} {:<16} {}{}\n",
            r.id,
            Date::display_vn(r.at_ms),
            e.actor,
            e.action,
            e.target,
            e.outcome,
            e.ip.as_deref()
                .map(|i| format!("[{i}] "))
                .unwrap_or_default(),
            e.detail
        ));
    }
    s
}
