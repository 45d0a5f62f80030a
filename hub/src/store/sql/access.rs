//! [`Access`] on SQLite: enrollment codes, device keys, users, sessions and the
//! append-only audit log (triggers refuse UPDATE and DELETE on it). Each change and
//! its audit row are one transaction.

use super::{a2i, i2a, SqlStore};
use crate::error::{Denied, HubError, Missing, Result};
use crate::store::{
    Access, AuditEntry, AuditRow, Contact, DeviceAuth, DeviceInfo, Enrolled, NewEnrollment, Role,
    User,
};
use cchc_common::auth::{EnrollRequest, PublicKey};
use cchc_common::{ActorId, UnitCode};
use cchc_sql::{args, Db, DbExt, Tx};

/// Appends an audit row inside the caller's transaction.
pub(super) fn append(conn: &dyn Db, e: &AuditEntry, now_ms: i64) -> Result<()> {
    conn.exec(
        "INSERT INTO audit (at, actor, action, target, outcome, ip, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        args![now_ms, e.actor, e.action, e.target, e.outcome, e.ip, e.detail],
    )?;
    Ok(())
}

/// A request number must be larger than every one the sender used before (and fit
/// the stored 63 bits): else a replay, refused with the last one seen.
pub(super) fn fresh_nonce(sender: String, nonce: u64, last: i64) -> Result<()> {
    if nonce as i64 <= last || nonce > i64::MAX as u64 {
        return Err(Denied::StaleNonce {
            device: sender,
            nonce,
            last: last as u64,
        }
        .into());
    }
    Ok(())
}

/// Records an accepted sync request of an enrolled device inside the merge
/// transaction: its nonce must be new and it must not be revoked, else the whole
/// batch rolls back.
pub(super) fn record_contact(
    conn: &dyn Db,
    unit: UnitCode,
    contact: &Contact,
    now_ms: i64,
) -> Result<()> {
    let row: Option<(u32, Option<i64>, i64)> = conn
        .query_opt("SELECT unit, revoked_at, last_nonce FROM devices WHERE actor = ?1 AND public_key IS NOT NULL", args![a2i(contact.device)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    let device = contact.device.to_string();
    let Some((bound, revoked, last)) = row else {
        return Err(Denied::UnknownDevice { device }.into());
    };
    if revoked.is_some() {
        return Err(Denied::Revoked { device }.into());
    }
    if bound != unit.0 {
        return Err(Denied::WrongCommune {
            device,
            bound,
            unit: unit.0,
        }
        .into());
    }
    fresh_nonce(device, contact.nonce, last)?;
    conn.exec(
        "UPDATE devices SET last_nonce = ?2, last_seen = ?3, agent_version = ?4,
             first_sync = coalesce(first_sync, ?3), last_sync = ?3, clock_offset_ms = ?5,
             protocol = ?6
         WHERE actor = ?1",
        args![
            a2i(contact.device),
            contact.nonce as i64,
            now_ms,
            contact.agent_version,
            contact.clock_offset_ms,
            contact.protocol
        ],
    )?;
    Ok(())
}

fn role_of(s: &str) -> rusqlite::Result<Role> {
    Role::parse(s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown role '{s}'").into(),
        )
    })
}

impl Access for SqlStore {
    fn create_enrollment(&self, e: &NewEnrollment, audit: &AuditEntry, now_ms: i64) -> Result<()> {
        let conn = self.conn();
        let tx = Tx::write(&*conn)?;
        let known = tx
            .query_opt(
                "SELECT 1 FROM units WHERE code = ?1",
                args![e.unit.0],
                |_| Ok(()),
            )?
            .is_some();
        if !known {
            return Err(HubError::NotFound(Missing::Commune(e.unit.0)));
        }
        tx.exec(
            "INSERT INTO enrollments (code_hash, unit, created_at, created_by, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            args![
                &e.code_hash[..],
                e.unit.0,
                now_ms,
                audit.actor,
                e.expires_ms
            ],
        )?;
        append(&tx, audit, now_ms)?;
        tx.commit()?;
        Ok(())
    }

    fn enroll(
        &self,
        code_hash: &[u8; 32],
        req: &EnrollRequest,
        nonce: u64,
        audit: &AuditEntry,
        now_ms: i64,
    ) -> Result<Enrolled> {
        let conn = self.conn();
        let tx = Tx::write(&*conn)?;
        let code: Option<(i64, u32, i64, Option<i64>)> = tx.query_opt(
            "SELECT id, unit, expires_at, device FROM enrollments WHERE code_hash = ?1",
            args![&code_hash[..]],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        let Some((id, code_unit, expires, used_by)) = code else {
            return Err(Denied::BadCode.into());
        };
        let device: Option<(u32, Option<Vec<u8>>)> = tx.query_opt(
            "SELECT unit, public_key FROM devices WHERE actor = ?1",
            args![a2i(req.device)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let same_key = device
            .as_ref()
            .and_then(|(_, k)| k.as_deref())
            .is_some_and(|k| k == req.public_key.0);
        if let Some(used) = used_by {
            // The same device asking again (its answer was lost) gets the same answer.
            if used == a2i(req.device) && same_key {
                return Ok(Enrolled::Again);
            }
            return Err(Denied::CodeUsed.into());
        }
        if now_ms >= expires {
            return Err(Denied::CodeExpired.into());
        }
        if code_unit != req.unit.0 {
            return Err(Denied::CodeForOtherUnit {
                code_unit,
                unit: req.unit.0,
            }
            .into());
        }
        let province_actor = tx
            .query_opt(
                "SELECT 1 FROM province_actors WHERE actor = ?1",
                args![a2i(req.device)],
                |_| Ok(()),
            )?
            .is_some();
        if province_actor {
            // The id the province verifies this commune's scores under: never a device's.
            return Err(Denied::DeviceExists {
                device: req.device.to_string(),
            }
            .into());
        }
        match device {
            Some((_, Some(_))) => {
                return Err(Denied::DeviceExists {
                    device: req.device.to_string(),
                }
                .into())
            }
            // Seen before enrollment existed (or only through another desk's upload).
            Some((bound, None)) if bound != req.unit.0 => {
                return Err(Denied::WrongCommune {
                    device: req.device.to_string(),
                    bound,
                    unit: req.unit.0,
                }
                .into())
            }
            _ => {}
        }
        let in_other = tx.query_opt(
            "SELECT unit FROM version_vector WHERE actor = ?1",
            args![a2i(req.device)],
            |r| r.get::<u32>(0),
        )?;
        if let Some(bound) = in_other.filter(|&u| u != req.unit.0) {
            return Err(Denied::WrongCommune {
                device: req.device.to_string(),
                bound,
                unit: req.unit.0,
            }
            .into());
        }
        tx.exec("INSERT INTO devices (actor, unit, public_key, enrollment, enrolled_at, last_nonce, last_seen, agent_version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5, ?7)
             ON CONFLICT (actor) DO UPDATE SET public_key = excluded.public_key,
                 enrollment = excluded.enrollment, enrolled_at = excluded.enrolled_at,
                 last_nonce = excluded.last_nonce, last_seen = excluded.last_seen,
                 agent_version = excluded.agent_version", args![
                a2i(req.device),
                req.unit.0,
                &req.public_key.0[..],
                id,
                now_ms,
                nonce.min(i64::MAX as u64) as i64,
                req.agent_version
            ])?;
        tx.exec(
            "UPDATE enrollments SET used_at = ?2, device = ?3 WHERE id = ?1",
            args![id, now_ms, a2i(req.device)],
        )?;
        append(&tx, audit, now_ms)?;
        tx.commit()?;
        Ok(Enrolled::New)
    }

    fn device_auth(&self, device: ActorId) -> Result<Option<DeviceAuth>> {
        let conn = self.read()?;
        let row: Option<(u32, Vec<u8>, Option<i64>)> = conn
            .query_opt("SELECT unit, public_key, revoked_at FROM devices WHERE actor = ?1 AND public_key IS NOT NULL", args![a2i(device)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        let Some((unit, key, revoked_ms)) = row else {
            return Ok(None);
        };
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| super::bad_db(&self.path, format!("device {device}: key length")))?;
        Ok(Some(DeviceAuth {
            device,
            unit: UnitCode(unit),
            public_key: PublicKey(key),
            revoked_ms,
        }))
    }

    fn devices(&self) -> Result<Vec<DeviceInfo>> {
        let conn = self.read()?;
        let rows = conn.query(
            "SELECT d.actor, d.unit, u.name, d.agent_version, d.enrolled_at, d.last_seen,
                    d.revoked_at, d.revoked_by, d.protocol
             FROM devices d JOIN units u ON u.code = d.unit
             WHERE d.public_key IS NOT NULL ORDER BY d.unit, d.actor",
            args![],
            |r| {
                Ok(DeviceInfo {
                    device: i2a(r.get(0)?),
                    unit: UnitCode(r.get(1)?),
                    unit_name: r.get(2)?,
                    agent_version: r.get(3)?,
                    enrolled_ms: r.get(4)?,
                    last_seen_ms: r.get(5)?,
                    revoked_ms: r.get(6)?,
                    revoked_by: r.get(7)?,
                    protocol: r.get(8)?,
                })
            },
        )?;
        Ok(rows.into_iter().collect())
    }

    fn revoke_device(&self, device: ActorId, audit: &AuditEntry, now_ms: i64) -> Result<bool> {
        let conn = self.conn();
        let tx = Tx::write(&*conn)?;
        let row: Option<Option<i64>> = tx.query_opt(
            "SELECT revoked_at FROM devices WHERE actor = ?1 AND public_key IS NOT NULL",
            args![a2i(device)],
            |r| r.get(0),
        )?;
        match row {
            None => Err(HubError::NotFound(Missing::Device(device.to_string()))),
            Some(Some(_)) => Ok(false),
            Some(None) => {
                tx.exec(
                    "UPDATE devices SET revoked_at = ?2, revoked_by = ?3 WHERE actor = ?1",
                    args![a2i(device), now_ms, audit.actor],
                )?;
                append(&tx, audit, now_ms)?;
                tx.commit()?;
                Ok(true)
            }
        }
    }

    fn add_user(&self, user: &User, audit: &AuditEntry, now_ms: i64) -> Result<()> {
        let conn = self.conn();
        let tx = Tx::write(&*conn)?;
        let taken = tx
            .query_opt(
                "SELECT 1 FROM users WHERE name = ?1",
                args![&user.name],
                |_| Ok(()),
            )?
            .is_some();
        if taken {
            return Err(HubError::UserExists {
                user: user.name.clone(),
            });
        }
        tx.exec("INSERT INTO users (name, role, password_hash, created_at, updated_at, display_name) VALUES (?1, ?2, ?3, ?4, ?4, ?5)", args![user.name, user.role.as_str(), user.password_hash, now_ms, user.display_name])?;
        append(&tx, audit, now_ms)?;
        tx.commit()?;
        Ok(())
    }

    fn set_password(&self, name: &str, hash: &str, audit: &AuditEntry, now_ms: i64) -> Result<()> {
        let conn = self.conn();
        let tx = Tx::write(&*conn)?;
        let n = tx.exec(
            "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE name = ?1",
            args![name, hash, now_ms],
        )?;
        if n == 0 {
            return Err(HubError::NotFound(Missing::User(name.to_string())));
        }
        tx.exec("DELETE FROM sessions WHERE \"user\" = ?1", args![name])?;
        append(&tx, audit, now_ms)?;
        tx.commit()?;
        Ok(())
    }

    fn remove_user(&self, name: &str, audit: &AuditEntry, now_ms: i64) -> Result<()> {
        let conn = self.conn();
        let tx = Tx::write(&*conn)?;
        tx.exec("DELETE FROM sessions WHERE \"user\" = ?1", args![name])?;
        let n = tx.exec("DELETE FROM users WHERE name = ?1", args![name])?;
        if n == 0 {
            return Err(HubError::NotFound(Missing::User(name.to_string())));
        }
        append(&tx, audit, now_ms)?;
        tx.commit()?;
        Ok(())
    }

    fn user(&self, name: &str) -> Result<Option<User>> {
        let conn = self.read()?;
        let row = conn.query_opt(
            "SELECT name, role, password_hash, display_name FROM users WHERE name = ?1",
            args![name],
            |r| {
                Ok(User {
                    name: r.get(0)?,
                    role: role_of(&r.get::<String>(1)?)?,
                    password_hash: r.get(2)?,
                    display_name: r.get(3)?,
                })
            },
        )?;
        Ok(row)
    }

    fn users(&self) -> Result<Vec<User>> {
        let conn = self.read()?;
        let rows = conn.query(
            "SELECT name, role, password_hash, display_name FROM users ORDER BY name",
            args![],
            |r| {
                Ok(User {
                    name: r.get(0)?,
                    role: role_of(&r.get::<String>(1)?)?,
                    password_hash: r.get(2)?,
                    display_name: r.get(3)?,
                })
            },
        )?;
        Ok(rows.into_iter().collect())
    }

    fn create_session(
        &self,
        token_hash: &[u8; 32],
        user: &str,
        expires_ms: i64,
        audit: &AuditEntry,
        now_ms: i64,
    ) -> Result<()> {
        let conn = self.conn();
        let tx = Tx::write(&*conn)?;
        // Sessions that ran out are of no use to anyone: drop them as new ones open.
        tx.exec("DELETE FROM sessions WHERE expires_at <= ?1", args![now_ms])?;
        tx.exec("INSERT INTO sessions (token_hash, \"user\", created_at, expires_at) VALUES (?1, ?2, ?3, ?4)", args![&token_hash[..], user, now_ms, expires_ms])?;
        append(&tx, audit, now_ms)?;
        tx.commit()?;
        Ok(())
    }

    fn session(
        &self,
        token_hash: &[u8; 32],
        now_ms: i64,
    ) -> Result<Option<std::result::Result<crate::store::SessionOf, i64>>> {
        let conn = self.read()?;
        let row: Option<(String, String, i64, String)> = conn
            .query_opt("SELECT s.\"user\", u.role, s.expires_at, u.display_name FROM sessions s JOIN users u ON u.name = s.\"user\"
                 WHERE s.token_hash = ?1", args![&token_hash[..]], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?;
        Ok(match row {
            None => None,
            Some((_, _, expires, _)) if now_ms >= expires => Some(Err(expires)),
            Some((user, role, _, shown)) => Some(Ok((user, role_of(&role)?, shown))),
        })
    }

    fn end_session(&self, token_hash: &[u8; 32], audit: &AuditEntry, now_ms: i64) -> Result<()> {
        let conn = self.conn();
        let tx = Tx::write(&*conn)?;
        tx.exec(
            "DELETE FROM sessions WHERE token_hash = ?1",
            args![&token_hash[..]],
        )?;
        append(&tx, audit, now_ms)?;
        tx.commit()?;
        Ok(())
    }

    fn audit(&self, entry: &AuditEntry, now_ms: i64) -> Result<()> {
        let conn = self.conn();
        append(&*conn, entry, now_ms)
    }

    fn audit_log(&self, limit: usize, action: Option<&str>) -> Result<Vec<AuditRow>> {
        let conn = self.read()?;
        let pattern = format!(
            "{}%",
            action
                .unwrap_or("")
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let rows = conn.query(
            "SELECT id, at, actor, action, target, outcome, ip, detail FROM audit
             WHERE action LIKE ?1 ESCAPE '\\' ORDER BY id DESC LIMIT ?2",
            args![pattern, limit.min(i64::MAX as usize) as i64],
            |r| {
                Ok(AuditRow {
                    id: r.get(0)?,
                    at_ms: r.get(1)?,
                    entry: AuditEntry {
                        actor: r.get(2)?,
                        action: r.get(3)?,
                        target: r.get(4)?,
                        outcome: r.get(5)?,
                        ip: r.get(6)?,
                        detail: r.get(7)?,
                    },
                })
            },
        )?;
        let mut out: Vec<AuditRow> = rows.into_iter().collect();
        out.reverse();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Province;
    use cchc_common::UnitCatalog;

    fn store() -> (tempfile::TempDir, SqlStore) {
        let dir = tempfile::tempdir().unwrap();
        let catalog = UnitCatalog::builtin();
        let communes: Vec<_> = catalog.communes_of(1).collect();
        let s = SqlStore::create(
            &dir.path().join("hub.db"),
            &Province {
                code: 1,
                name: "Hà Nội".into(),
            },
            &communes,
            0,
        )
        .unwrap();
        (dir, s)
    }

    fn entry(action: &str) -> AuditEntry {
        AuditEntry {
            actor: "cli:test".into(),
            action: action.into(),
            target: "t".into(),
            outcome: "ok".into(),
            ip: None,
            detail: String::new(),
        }
    }

    #[test]
    fn sessions_expire_at_their_time_and_end_with_a_password_change() {
        let (_d, s) = store();
        let user = User {
            name: "lan".into(),
            role: Role::Viewer,
            password_hash: "x".into(),
            display_name: "Trần Thị Lan".into(),
        };
        s.add_user(&user, &entry("user.add"), 0).unwrap();
        let token = [9u8; 32];
        s.create_session(&token, "lan", 1_000, &entry("login"), 0)
            .unwrap();
        assert_eq!(
            s.session(&token, 999).unwrap(),
            Some(Ok(("lan".into(), Role::Viewer, "Trần Thị Lan".into())))
        );
        assert_eq!(s.session(&token, 1_000).unwrap(), Some(Err(1_000)));
        assert_eq!(s.session(&[1u8; 32], 0).unwrap(), None);
        s.set_password("lan", "y", &entry("user.passwd"), 10)
            .unwrap();
        assert_eq!(s.session(&token, 500).unwrap(), None);
    }

    #[test]
    fn the_audit_log_refuses_update_and_delete() {
        let (_d, s) = store();
        s.audit(&entry("login"), 5).unwrap();
        let conn = s.conn();
        for sql in ["UPDATE audit SET outcome = 'ok'", "DELETE FROM audit"] {
            let e = conn.exec(sql, args![]).unwrap_err().to_string();
            assert!(e.contains("append-only"), "{e}");
        }
        drop(conn);
        assert_eq!(s.audit_log(10, Some("log")).unwrap().len(), 1);
        assert_eq!(s.audit_log(10, Some("user")).unwrap().len(), 0);
    }
}
