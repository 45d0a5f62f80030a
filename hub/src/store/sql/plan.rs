//! [`Rollout`] on SQLite: the phase plan and the province's verifications. A
//! verification is an op like any other, made under the commune's province actor and
//! merged through the same rules (and rollups) as a device's upload, so it syncs down
//! to the commune's agents with their other desks' ops.

use super::{a2i, access, i2a, rollup, unit_served, SqlStore, TxLog};
use crate::error::{HubError, Result};
use crate::store::{AuditEntry, Rollout, Verification};
use cchc_common::crdt::{self, Objects, OpCtx};
use cchc_common::hlc::Hlc;
use cchc_common::merge::{self, OpLog, UnknownDefs};
use cchc_common::{ActorId, DomainError, Op, UnitCode};
use cchc_sql::{args, Db, DbExt, Tx};
use std::collections::BTreeSet;

/// The commune's province actor and its clock, made on first use: a random id that
/// no device holds (enrollment refuses it afterwards).
fn province_actor(conn: &dyn Db, unit: UnitCode) -> Result<(ActorId, Hlc)> {
    if let Some((actor, wall, counter)) = conn.query_opt(
        "SELECT actor, hlc_ms, hlc_c FROM province_actors WHERE unit = ?1",
        args![unit.0],
        |r| Ok((r.get::<i64>(0)?, r.get::<i64>(1)?, r.get::<u32>(2)?)),
    )? {
        return Ok((
            i2a(actor),
            Hlc {
                wall_ms: wall as u64,
                counter,
            },
        ));
    }
    for _ in 0..8 {
        let mut b = [0u8; 8];
        getrandom::getrandom(&mut b).map_err(|e| HubError::Internal(format!("random: {e}")))?;
        let actor = ActorId(u64::from_le_bytes(b));
        let taken = conn
            .query_opt(
                "SELECT 1 FROM devices WHERE actor = ?1
                 UNION ALL SELECT 1 FROM version_vector WHERE actor = ?1
                 UNION ALL SELECT 1 FROM province_actors WHERE actor = ?1",
                args![a2i(actor)],
                |_| Ok(()),
            )?
            .is_some();
        if !taken && actor.0 != 0 {
            conn.exec(
                "INSERT INTO province_actors (unit, actor, hlc_ms, hlc_c) VALUES (?1, ?2, 0, 0)",
                args![unit.0, a2i(actor)],
            )?;
            return Ok((actor, Hlc::default()));
        }
    }
    Err(HubError::Internal(
        "could not draw a free province actor id".into(),
    ))
}

/// Refuses a commune the hub does not serve, naming the province it does.
fn check_served(conn: &dyn Db, unit: UnitCode) -> Result<()> {
    if unit_served(conn, unit)? {
        return Ok(());
    }
    let province = conn
        .query_one(
            "SELECT value FROM meta WHERE key = 'province'",
            args![],
            |r| r.get::<String>(0),
        )?
        .parse()
        .unwrap_or(0);
    Err(HubError::UnknownUnit {
        unit: unit.0,
        province,
    })
}

impl Rollout for SqlStore {
    fn unit_phase(&self, unit: UnitCode) -> Result<Option<u32>> {
        Ok(self.read()?.query_opt(
            "SELECT phase FROM phase_plan WHERE unit = ?1",
            args![unit.0],
            |r| r.get::<u32>(0),
        )?)
    }

    fn assign_phases(
        &self,
        plan: &[(UnitCode, u32)],
        audit: &AuditEntry,
        now_ms: i64,
    ) -> Result<()> {
        let conn = self.conn();
        let tx = Tx::write(&*conn)?;
        let defs = rollup::newest_definitions(&tx)?;
        for (unit, phase) in plan {
            defs.phase(*phase).map_err(HubError::Invalid)?;
            check_served(&tx, *unit)?;
            let same = tx.query_opt(
                "SELECT phase FROM phase_plan WHERE unit = ?1",
                args![unit.0],
                |r| r.get::<u32>(0),
            )? == Some(*phase);
            if same {
                continue;
            }
            tx.exec("INSERT INTO phase_plan (unit, phase, assigned_at, assigned_by) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (unit) DO UPDATE SET phase = excluded.phase,
                     assigned_at = excluded.assigned_at, assigned_by = excluded.assigned_by", args![unit.0, phase, now_ms, audit.actor])?;
            rollup::refresh_standing(&tx, *unit, &defs)?;
        }
        access::append(&tx, audit, now_ms)?;
        tx.commit()?;
        Ok(())
    }

    fn verify(
        &self,
        unit: UnitCode,
        phase: u32,
        scores: &[Verification],
        by: &str,
        audit: &AuditEntry,
        now_ms: i64,
    ) -> Result<Vec<Op>> {
        let conn = self.conn();
        let tx = Tx::write(&*conn)?;
        check_served(&tx, unit)?;
        let assigned: Option<u32> = tx.query_opt(
            "SELECT phase FROM phase_plan WHERE unit = ?1",
            args![unit.0],
            |r| r.get(0),
        )?;
        if assigned != Some(phase) {
            return Err(HubError::NotAssigned {
                unit: unit.0,
                assigned,
                phase,
            });
        }
        let defs = rollup::newest_definitions(&tx)?;
        let (actor, mut hlc) = province_actor(&tx, unit)?;
        let mut log = TxLog::new(&tx, unit, now_ms);
        let mut seq = log.max_seq(actor)?;
        let mut seen = BTreeSet::new();
        let mut ops = Vec::new();
        for v in scores {
            let criterion = v.criterion.trim().to_ascii_uppercase();
            if !seen.insert(criterion.clone()) {
                return Err(HubError::Invalid(DomainError::BadOp {
                    op: format!("{unit}/{phase}/{criterion}"),
                    detail: format!("criterion {criterion} is given twice"),
                }));
            }
            let comment = v.comment.trim();
            if let Some(held) = log.objects().verification(phase, &criterion)? {
                if held.val.score == v.score && held.val.comment == comment {
                    continue;
                }
            }
            seq += 1;
            let ctx = OpCtx {
                actor,
                seq,
                stamp: hlc.tick(now_ms.max(0) as u64, actor),
                unit,
                defs: defs.version,
                by: String::new(),
            };
            ops.push(
                crdt::verify_op(&ctx, &defs, phase, &criterion, v.score, comment, by)
                    .map_err(HubError::Invalid)?,
            );
        }
        merge::merge(&mut log, unit, ops.clone(), UnknownDefs::Refuse)?;
        log.finish()?;
        tx.exec(
            "UPDATE province_actors SET hlc_ms = ?2, hlc_c = ?3 WHERE unit = ?1",
            args![unit.0, hlc.wall_ms as i64, hlc.counter],
        )?;
        access::append(&tx, audit, now_ms)?;
        tx.commit()?;
        Ok(ops)
    }
}
