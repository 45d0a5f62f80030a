//! [`Upstream`] in SQL: the national hub's provincial peers (codes scoped to a province,
//! keys, request numbers) and a provincial hub's link upstream with what the national
//! hub holds of each commune. Each change and its audit row are one transaction.

use super::{a2i, access, i2a, SqlStore};
use crate::error::{Denied, HubError, Result};
use crate::store::upstream::{PeerAuth, PeerInfo, Upstream, UpstreamLink};
use crate::store::{AuditEntry, Contact, Enrolled};
use cchc_common::auth::{PeerEnrollRequest, PublicKey};
use cchc_common::state::VersionVector;
use cchc_common::{ActorId, UnitCatalog, UnitCode};
use cchc_sql::{args, Db, DbExt, Tx};

/// Records an accepted request of a provincial hub inside the merge transaction: it
/// must be enrolled and not revoked, its request number new, and the commune of its
/// province; else the whole batch rolls back.
pub(super) fn record_peer_contact(
    conn: &dyn Db,
    unit: UnitCode,
    contact: &Contact,
    now_ms: i64,
) -> Result<()> {
    let peer = contact.device.to_string();
    let row: Option<(u32, Option<i64>, i64)> = conn.query_opt(
        "SELECT province, revoked_at, last_nonce FROM peers WHERE actor = ?1",
        args![a2i(contact.device)],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let Some((province, revoked, last)) = row else {
        return Err(Denied::UnknownDevice { device: peer }.into());
    };
    if revoked.is_some() {
        return Err(Denied::Revoked { device: peer }.into());
    }
    if province_of(unit) != Some(province) {
        return Err(Denied::OtherProvince {
            peer,
            province,
            unit: unit.0,
        }
        .into());
    }
    access::fresh_nonce(peer, contact.nonce, last)?;
    conn.exec(
        "UPDATE peers SET last_nonce = ?2, last_seen = ?3, version = ?4 WHERE actor = ?1",
        args![
            a2i(contact.device),
            contact.nonce as i64,
            now_ms,
            contact.agent_version
        ],
    )?;
    Ok(())
}

/// The province of a commune of the official list.
pub fn province_of(unit: UnitCode) -> Option<u32> {
    static PROVINCES: std::sync::OnceLock<std::collections::HashMap<u32, u32>> =
        std::sync::OnceLock::new();
    PROVINCES
        .get_or_init(|| {
            UnitCatalog::builtin()
                .communes()
                .map(|c| (c.code.0, c.province_code))
                .collect()
        })
        .get(&unit.0)
        .copied()
}

impl Upstream for SqlStore {
    fn create_peer_code(
        &self,
        code_hash: &[u8; 32],
        province: u32,
        expires_ms: i64,
        audit: &AuditEntry,
        now_ms: i64,
    ) -> Result<()> {
        let conn = self.conn();
        let tx = Tx::write(&*conn)?;
        tx.exec(
            "INSERT INTO peer_codes (code_hash, province, created_at, created_by, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            args![&code_hash[..], province, now_ms, audit.actor, expires_ms],
        )?;
        access::append(&tx, audit, now_ms)?;
        tx.commit()?;
        Ok(())
    }

    fn enroll_peer(
        &self,
        code_hash: &[u8; 32],
        req: &PeerEnrollRequest,
        nonce: u64,
        audit: &AuditEntry,
        now_ms: i64,
    ) -> Result<Enrolled> {
        let conn = self.conn();
        let tx = Tx::write(&*conn)?;
        let code: Option<(u32, i64, Option<i64>)> = tx.query_opt(
            "SELECT province, expires_at, peer FROM peer_codes WHERE code_hash = ?1",
            args![&code_hash[..]],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let Some((province, expires, used_by)) = code else {
            return Err(Denied::BadCode.into());
        };
        let key: Option<Vec<u8>> = tx.query_opt(
            "SELECT public_key FROM peers WHERE actor = ?1",
            args![a2i(req.peer)],
            |r| r.get(0),
        )?;
        if let Some(used) = used_by {
            // The same hub asking again (its answer was lost) gets the same answer.
            if used == a2i(req.peer) && key.as_deref() == Some(&req.public_key.0[..]) {
                return Ok(Enrolled::Again);
            }
            return Err(Denied::CodeUsed.into());
        }
        if now_ms >= expires {
            return Err(Denied::CodeExpired.into());
        }
        if province != req.province {
            return Err(Denied::CodeForOtherUnit {
                code_unit: province,
                unit: req.province,
            }
            .into());
        }
        if key.is_some() {
            return Err(Denied::DeviceExists {
                device: req.peer.to_string(),
            }
            .into());
        }
        tx.exec(
            "INSERT INTO peers (actor, province, public_key, enrolled_at, last_nonce, last_seen, version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?4, ?6)",
            args![
                a2i(req.peer),
                province,
                &req.public_key.0[..],
                now_ms,
                nonce.min(i64::MAX as u64) as i64,
                req.version
            ],
        )?;
        tx.exec(
            "UPDATE peer_codes SET used_at = ?2, peer = ?3 WHERE code_hash = ?1",
            args![&code_hash[..], now_ms, a2i(req.peer)],
        )?;
        access::append(&tx, audit, now_ms)?;
        tx.commit()?;
        Ok(Enrolled::New)
    }

    fn peer_auth(&self, peer: ActorId) -> Result<Option<PeerAuth>> {
        let conn = self.read()?;
        let row: Option<(u32, Vec<u8>, Option<i64>)> = conn.query_opt(
            "SELECT province, public_key, revoked_at FROM peers WHERE actor = ?1",
            args![a2i(peer)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let Some((province, key, revoked_ms)) = row else {
            return Ok(None);
        };
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| super::bad_db(&self.path, format!("peer {peer}: key length")))?;
        Ok(Some(PeerAuth {
            peer,
            province,
            public_key: PublicKey(key),
            revoked_ms,
        }))
    }

    fn peers(&self) -> Result<Vec<PeerInfo>> {
        let conn = self.read()?;
        Ok(conn.query(
            "SELECT actor, province, version, enrolled_at, last_seen FROM peers
             ORDER BY province, actor",
            args![],
            |r| {
                Ok(PeerInfo {
                    peer: i2a(r.get(0)?),
                    province: r.get(1)?,
                    version: r.get(2)?,
                    enrolled_ms: r.get(3)?,
                    last_seen_ms: r.get(4)?,
                })
            },
        )?)
    }

    fn upstream(&self) -> Result<Option<UpstreamLink>> {
        let conn = self.read()?;
        Ok(conn.query_opt(
            "SELECT url, peer, national, linked_at, last_sync, last_error FROM upstream",
            args![],
            |r| {
                Ok(UpstreamLink {
                    url: r.get(0)?,
                    peer: i2a(r.get(1)?),
                    national: r.get(2)?,
                    linked_ms: r.get(3)?,
                    last_sync_ms: r.get(4)?,
                    last_error: r.get(5)?,
                })
            },
        )?)
    }

    fn set_upstream(&self, link: &UpstreamLink, audit: &AuditEntry, now_ms: i64) -> Result<()> {
        let conn = self.conn();
        let tx = Tx::write(&*conn)?;
        // A new link: what another national hub (or another id) held is unknown. Its
        // request numbers go on from the enrollment's (1).
        tx.exec("DELETE FROM upstream_acked", args![])?;
        tx.exec("DELETE FROM upstream", args![])?;
        tx.exec(
            "INSERT INTO upstream (id, url, peer, national, linked_at, last_nonce)
             VALUES (1, ?1, ?2, ?3, ?4, ?5)",
            args![
                link.url,
                a2i(link.peer),
                link.national,
                link.linked_ms,
                1i64
            ],
        )?;
        access::append(&tx, audit, now_ms)?;
        tx.commit()?;
        Ok(())
    }

    fn next_upstream_nonce(&self) -> Result<u64> {
        let conn = self.conn();
        let tx = Tx::write(&*conn)?;
        let n = tx.exec("UPDATE upstream SET last_nonce = last_nonce + 1", args![])?;
        if n == 0 {
            return Err(HubError::Internal("no upstream link is set".into()));
        }
        let nonce: i64 = tx.query_one("SELECT last_nonce FROM upstream", args![], |r| r.get(0))?;
        tx.commit()?;
        Ok(nonce as u64)
    }

    fn raise_upstream_nonce(&self, last: u64) -> Result<()> {
        let conn = self.conn();
        conn.exec(
            "UPDATE upstream SET last_nonce = ?1 WHERE last_nonce < ?1",
            args![last.min(i64::MAX as u64) as i64],
        )?;
        Ok(())
    }

    fn upstream_acked(&self, unit: UnitCode) -> Result<VersionVector> {
        let conn = self.read()?;
        let rows: Vec<(ActorId, u64)> = conn.query(
            "SELECT actor, max_seq FROM upstream_acked WHERE unit = ?1",
            args![unit.0],
            |r| Ok((i2a(r.get(0)?), r.get::<i64>(1)? as u64)),
        )?;
        Ok(rows.into_iter().collect())
    }

    fn set_upstream_acked(&self, unit: UnitCode, acked: &VersionVector) -> Result<()> {
        let conn = self.conn();
        let tx = Tx::write(&*conn)?;
        tx.exec("DELETE FROM upstream_acked WHERE unit = ?1", args![unit.0])?;
        for (actor, seq) in acked.iter() {
            tx.exec(
                "INSERT INTO upstream_acked (unit, actor, max_seq) VALUES (?1, ?2, ?3)",
                args![unit.0, a2i(actor), seq as i64],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn record_upstream_sync(&self, error: Option<&str>, now_ms: i64) -> Result<()> {
        let conn = self.conn();
        match error {
            None => conn.exec(
                "UPDATE upstream SET last_sync = ?1, last_error = NULL",
                args![now_ms],
            )?,
            Some(e) => conn.exec("UPDATE upstream SET last_error = ?1", args![e])?,
        };
        Ok(())
    }
}
