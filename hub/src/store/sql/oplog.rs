//! The hub's op log, compact, and one batch's merge folded. In: a commune's batch,
//! merged by `cchc_common::merge` through [`TxLog`] inside one transaction. Out: the
//! batch's ops stored in `op_batches` (one row per device and run of up to
//! [`CHUNK_OPS`] consecutive numbers, the ops in `cchc_common::codec`'s binary form),
//! each touched count cell written once, each device's version vector entry once, and
//! the rollups moved once per batch ([`TxLog::finish`]).
//!
//! Every op stays recoverable exactly: a row decodes to the very ops received (the
//! codec round-trips any op), and a device's rows cover 1..=max without gaps.

use super::{bad_db, rollup};
use crate::error::{HubError, Result};
use cchc_common::codec;
use cchc_common::merge::OpLog;
use cchc_common::{ActorId, Definitions, Op, OpId, UnitCode};
use cchc_sql::{a2i, args, Db, DbExt, SqlObjects};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Most ops in one stored row. A device syncing a few entries a day extends its last
/// row until it holds this many; a large upload is cut into rows of this size.
pub(super) const CHUNK_OPS: usize = 1024;

fn bad_log(actor: ActorId, first: i64, e: codec::CodecError) -> HubError {
    bad_db(
        &PathBuf::from("hub.db"),
        format!("op log of device {actor} from {first}: {e}"),
    )
}

/// The last stored row of a device: (first number, last number, its ops).
fn last_row(conn: &dyn Db, actor: ActorId) -> Result<Option<(i64, i64, Vec<u8>)>> {
    Ok(conn.query_opt(
        "SELECT first_seq, last_seq, ops FROM op_batches WHERE actor = ?1
         ORDER BY first_seq DESC LIMIT 1",
        args![a2i(actor)],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?)
}

/// Stores a device's newly applied ops (consecutive, following what it held).
fn store_ops(
    conn: &dyn Db,
    unit: UnitCode,
    actor: ActorId,
    mut ops: Vec<Op>,
    now_ms: i64,
) -> Result<()> {
    if let Some((first, last, blob)) = last_row(conn, actor)? {
        let held = (last - first + 1) as usize;
        if held + ops.len() <= CHUNK_OPS && ops.first().map(|o| o.seq) == Some(last as u64 + 1) {
            let mut row = codec::decode_ops(&blob).map_err(|e| bad_log(actor, first, e))?;
            row.append(&mut ops);
            ops = row;
            conn.exec(
                "DELETE FROM op_batches WHERE actor = ?1 AND first_seq = ?2",
                args![a2i(actor), first],
            )?;
        }
    }
    for piece in ops.chunks(CHUNK_OPS) {
        conn.exec(
            "INSERT INTO op_batches (actor, first_seq, last_seq, unit, received_at, ops)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            args![
                a2i(actor),
                piece[0].seq as i64,
                piece[piece.len() - 1].seq as i64,
                unit.0,
                now_ms,
                codec::encode_ops(piece)
            ],
        )?;
    }
    Ok(())
}

/// Up to `limit` ops of a device numbered above `after`, in order.
pub(super) fn ops_after(
    conn: &dyn Db,
    actor: ActorId,
    after: u64,
    limit: usize,
) -> Result<Vec<Op>> {
    let mut out = Vec::new();
    let mut failed = None;
    conn.each(
        "SELECT first_seq, ops FROM op_batches WHERE actor = ?1 AND last_seq > ?2
         ORDER BY first_seq",
        args![a2i(actor), after as i64],
        &mut |r| {
            let first: i64 = r.get(0)?;
            let cchc_sql::Val::Blob(blob) = r.val(1)? else {
                return Err(cchc_sql::SqlError::Column {
                    index: 1,
                    detail: "an op log row is not bytes".into(),
                });
            };
            match codec::decode_ops(blob) {
                Ok(ops) => {
                    let room = limit - out.len();
                    out.extend(ops.into_iter().filter(|o| o.seq > after).take(room));
                    Ok(out.len() < limit)
                }
                Err(e) => {
                    failed = Some(bad_log(actor, first, e));
                    Ok(false)
                }
            }
        },
    )?;
    match failed {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Moves a hub's op log from one row per op (schema 1 to 5) into `op_batches`, then
/// drops the old table (inside the migration's transaction).
pub(super) fn convert_legacy(conn: &rusqlite::Connection) -> Result<()> {
    let mut pending: Option<(ActorId, UnitCode, i64, Vec<Op>)> = None;
    {
        let mut st =
            conn.prepare("SELECT actor, unit, received_at, body FROM ops ORDER BY actor, seq")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let actor = cchc_sql::i2a(r.get(0)?);
            let body: String = r.get(3)?;
            let op = Op::from_json(&body).map_err(|e| {
                bad_db(
                    &PathBuf::from("hub.db"),
                    format!("op log entry of {actor}: {e}"),
                )
            })?;
            if pending
                .as_ref()
                .is_some_and(|p| p.0 != actor || p.3.len() == CHUNK_OPS)
            {
                let (a, u, at, ops) = pending.take().expect("checked");
                store_ops(conn, u, a, ops, at)?;
            }
            let p = pending.get_or_insert_with(|| (actor, UnitCode(0), 0, Vec::new()));
            p.1 = UnitCode(r.get(1)?);
            p.2 = p.2.max(r.get(2)?);
            p.3.push(op);
        }
    }
    if let Some((a, u, at, ops)) = pending {
        store_ops(conn, u, a, ops, at)?;
    }
    conn.execute_batch("DROP TABLE ops")?;
    Ok(())
}

/// One commune's op log and objects inside one transaction, folding the batch: each
/// device's highest number read once, the ops it appends kept until [`TxLog::finish`]
/// (which the caller must call before committing), count cells written once, and
/// what the ops change in the rollups noted and moved once.
pub(super) struct TxLog<'a> {
    tx: &'a dyn Db,
    objects: SqlObjects<'a, HubError>,
    unit: UnitCode,
    now_ms: i64,
    touched: rollup::Touched,
    max: FxHashMap<ActorId, u64>,
    pending: BTreeMap<ActorId, Vec<Op>>,
    /// The stored row last read for a duplicate: device, its first number, its ops.
    row: Option<(ActorId, u64, Vec<Op>)>,
}

impl<'a> TxLog<'a> {
    pub(super) fn new(tx: &'a dyn Db, unit: UnitCode, now_ms: i64) -> TxLog<'a> {
        TxLog {
            tx,
            objects: SqlObjects::folding(tx, unit),
            unit,
            now_ms,
            touched: rollup::Touched::default(),
            max: FxHashMap::default(),
            pending: BTreeMap::new(),
            row: None,
        }
    }

    /// Writes what the batch applied: count cells, op log rows, version vector,
    /// rollups.
    pub(super) fn finish(mut self) -> Result<()> {
        self.objects.flush()?;
        for (actor, ops) in std::mem::take(&mut self.pending) {
            let max = ops.last().map(|o| o.seq).unwrap_or(0);
            store_ops(self.tx, self.unit, actor, ops, self.now_ms)?;
            self.tx.exec(
                "INSERT INTO version_vector (actor, unit, max_seq) VALUES (?1, ?2, ?3)
                 ON CONFLICT (actor) DO UPDATE SET max_seq = excluded.max_seq",
                args![a2i(actor), self.unit.0, max as i64],
            )?;
        }
        self.touched.flush(self.tx, self.unit, self.now_ms)
    }

    /// Refuses, from a device, a province-side op (a verification) or an op under a
    /// province actor's id that the hub does not already hold as it is.
    pub(super) fn refuse_new_province_ops(&mut self, ops: &[Op]) -> Result<()> {
        let mut province_actors = BTreeMap::new();
        for op in ops {
            let province_actor = match province_actors.get(&op.actor) {
                Some(p) => *p,
                None => {
                    let p = self.tx.exists(
                        "SELECT 1 FROM province_actors WHERE actor = ?1",
                        args![a2i(op.actor)],
                    )?;
                    province_actors.insert(op.actor, p);
                    p
                }
            };
            if (op.body.is_province_side() || province_actor)
                && self.held(op.id())?.as_ref() != Some(op)
            {
                return Err(crate::error::Denied::ProvinceOnly {
                    op: op.id().to_string(),
                }
                .into());
            }
        }
        Ok(())
    }
}

impl<'a> OpLog for TxLog<'a> {
    type Error = HubError;
    type Objects = SqlObjects<'a, HubError>;

    fn objects(&mut self) -> &mut SqlObjects<'a, HubError> {
        &mut self.objects
    }

    fn held(&mut self, id: OpId) -> Result<Option<Op>> {
        if let Some(ops) = self.pending.get(&id.actor) {
            let first = ops[0].seq;
            if id.seq >= first {
                return Ok(ops.get((id.seq - first) as usize).cloned());
            }
        }
        let cached = |row: &Option<(ActorId, u64, Vec<Op>)>| {
            row.as_ref().and_then(|(a, first, ops)| {
                (*a == id.actor && id.seq >= *first)
                    .then(|| ops.get((id.seq - first) as usize).cloned())
                    .flatten()
            })
        };
        if let Some(op) = cached(&self.row) {
            return Ok(Some(op));
        }
        let row: Option<(i64, Vec<u8>)> = self.tx.query_opt(
            "SELECT first_seq, ops FROM op_batches WHERE actor = ?1 AND first_seq <= ?2
             AND last_seq >= ?2",
            args![a2i(id.actor), id.seq as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let Some((first, blob)) = row else {
            return Ok(None);
        };
        let ops = codec::decode_ops(&blob).map_err(|e| bad_log(id.actor, first, e))?;
        self.row = Some((id.actor, first as u64, ops));
        Ok(cached(&self.row))
    }

    /// Also enforces that a device's ops all belong to one commune.
    fn max_seq(&mut self, actor: ActorId) -> Result<u64> {
        if let Some(max) = self.max.get(&actor) {
            return Ok(*max);
        }
        let row: Option<(u32, i64)> = self.tx.query_opt(
            "SELECT unit, max_seq FROM version_vector WHERE actor = ?1",
            args![a2i(actor)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let bound: Option<u32> = match row {
            Some((u, _)) => Some(u),
            None => self.tx.query_opt(
                "SELECT unit FROM devices WHERE actor = ?1",
                args![a2i(actor)],
                |r| r.get(0),
            )?,
        };
        if let Some(bound) = bound {
            if bound != self.unit.0 {
                return Err(HubError::ForeignDevice {
                    device: actor.to_string(),
                    bound,
                    unit: self.unit.0,
                });
            }
        }
        let max = row.map(|(_, s)| s as u64).unwrap_or(0);
        self.max.insert(actor, max);
        Ok(max)
    }

    fn definitions(&mut self, version: u32) -> Result<Option<Definitions>> {
        let body: Option<String> = self.tx.query_opt(
            "SELECT body FROM definitions WHERE version = ?1",
            args![version],
            |r| r.get(0),
        )?;
        body.map(|b| {
            serde_json::from_str(&b).map_err(|e| HubError::BadDatabase {
                path: PathBuf::from("hub.db"),
                detail: format!("stored definitions {version}: {e}"),
            })
        })
        .transpose()
    }

    fn newest_definitions(&mut self) -> Result<u32> {
        Ok(self
            .tx
            .query_one("SELECT max(version) FROM definitions", args![], |r| {
                r.get::<Option<u32>>(0)
            })?
            .unwrap_or(0))
    }

    fn append(&mut self, op: Op) -> Result<()> {
        self.max.insert(op.actor, op.seq);
        self.touched.observe(&op);
        self.pending.entry(op.actor).or_default().push(op);
        Ok(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    //! Folding a batch (one read and one write per touched cell, device and rollup) must
    //! be invisible: the same state, op log and rollups as applying its ops one by one.
    use super::super::{SqlStore, Store};
    use crate::error::HubError;
    use crate::store::{AuditEntry, Contact, Province, Rollout};
    use cchc_common::op::{CountDelta, Dir};
    use cchc_common::{ActorId, Definitions, DomainError, Metric, Op, OpBody, Score, UnitCode};
    use cchc_common::{Period, UnitCatalog};
    use cchc_sql::{args, Db, DbExt};
    use proptest::prelude::*;
    use std::collections::HashMap;

    pub(in crate::store::sql) const DESKS: [ActorId; 3] =
        [ActorId(0xd1), ActorId(0xd2), ActorId(0xd3)];

    /// A hub store with one enrolled device in `unit`, the commune planned in phase 1.
    pub(in crate::store::sql) fn store(dir: &std::path::Path, unit: UnitCode) -> SqlStore {
        let catalog = UnitCatalog::builtin();
        let communes: Vec<_> = catalog.communes_of(1).collect();
        let s = SqlStore::create(
            &dir.join("hub.db"),
            &Province {
                code: 1,
                name: "Hà Nội".into(),
            },
            &communes,
            0,
        )
        .unwrap();
        s.conn()
            .exec(
                "INSERT INTO devices (actor, unit, public_key) VALUES (?1, ?2, ?3)",
                args![DESKS[0].0 as i64, unit.0, [0u8; 32]],
            )
            .unwrap();
        let audit = AuditEntry {
            actor: "cli:test".into(),
            action: "plan.assign".into(),
            target: "t".into(),
            outcome: "ok".into(),
            ip: None,
            detail: String::new(),
        };
        s.assign_phases(&[(unit, 1)], &audit, 0).unwrap();
        s
    }

    /// Every table the merge writes, rows sorted, and the op log decoded.
    pub(in crate::store::sql) fn dump(s: &SqlStore) -> String {
        let conn = s.conn();
        let mut out = String::new();
        for t in [
            "count_cells",
            "pledges",
            "assessments",
            "verifications",
            "version_vector",
            "kpi_unit",
            "kpi_province",
            "kpi_procedure",
            "reports",
            "period_totals",
            "score_seen",
            "standing",
            "effective_scores",
            "phase_totals",
            "criterion_totals",
            "pledge_units",
            "pledge_totals",
        ] {
            let mut rows: Vec<String> = conn
                .query(&format!("SELECT * FROM {t}"), args![], |r| {
                    Ok((0..r.columns())
                        .map(|i| format!("{:?}", r.val(i).unwrap()))
                        .collect::<Vec<_>>()
                        .join("|"))
                })
                .unwrap();
            rows.sort();
            out.push_str(&format!("{t}:\n{}\n", rows.join("\n")));
        }
        for a in DESKS {
            let ops = super::ops_after(&*conn, a, 0, usize::MAX).unwrap();
            out.push_str(&format!("log {a}: {ops:?}\n"));
        }
        out
    }

    /// Each desk's valid history: counts (running totals per cell) and self-scores.
    pub(in crate::store::sql) fn histories(
        unit: UnitCode,
        picks: &[Vec<(u8, u8, u8, u64)>],
    ) -> Vec<Vec<Op>> {
        let defs = Definitions::builtin();
        let procedures: Vec<String> = defs
            .procedures
            .iter()
            .take(3)
            .map(|p| p.code.clone())
            .collect();
        let phase = defs.phase(1).unwrap();
        let periods: [Period; 2] = ["2026-10".parse().unwrap(), "2026-11".parse().unwrap()];
        DESKS
            .iter()
            .zip(picks)
            .map(|(actor, picks)| {
                let mut totals: HashMap<(usize, usize, Metric, Dir), u64> = HashMap::new();
                picks
                    .iter()
                    .enumerate()
                    .map(|(i, &(what, a, b, amount))| {
                        let body = if what % 5 == 4 {
                            let c = &phase.criteria[a as usize % phase.criteria.len()];
                            OpBody::Assess {
                                phase: 1,
                                criterion: c.code.clone(),
                                score: Score(amount as u32 % (c.max_score.0 + 1)),
                                evidence: String::new(),
                                by: String::new(),
                            }
                        } else {
                            let (p, pr) = (a as usize % 2, b as usize % procedures.len());
                            let dir = if what % 5 == 3 { Dir::Dec } else { Dir::Inc };
                            let metric = Metric::ALL[what as usize % 3];
                            let t = totals.entry((p, pr, metric, dir)).or_default();
                            *t += amount;
                            OpBody::Count {
                                period: periods[p],
                                procedure: procedures[pr].clone(),
                                deltas: vec![CountDelta {
                                    metric,
                                    dir,
                                    amount,
                                    total: *t,
                                }],
                                by: String::new(),
                            }
                        };
                        Op {
                            v: 1,
                            actor: *actor,
                            seq: i as u64 + 1,
                            hlc_ms: 1_790_000_000_000 + (i as u64 * 7 + actor.0) * 1_000,
                            hlc_c: 0,
                            unit,
                            defs: 1,
                            body,
                        }
                    })
                    .collect()
            })
            .collect()
    }

    pub(in crate::store::sql) fn contact(nonce: u64) -> Contact {
        Contact {
            sender: crate::store::Sender::Device,
            device: DESKS[0],
            nonce,
            agent_version: "t".into(),
            protocol: 2,
            clock_offset_ms: 0,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Random batches of three desks' ops, each a range of their history from at or
        /// below what the hub holds (duplicates), sometimes with one op left out (a gap).
        #[test]
        fn folding_a_batch_equals_applying_it_op_by_op(
            picks in prop::collection::vec(
                prop::collection::vec((0u8..5, 0u8..8, 0u8..8, 1u64..40), 1..14), 3),
            steps in prop::collection::vec(
                (prop::collection::vec((0usize..14, 0usize..14), 3), prop::option::weighted(0.2, 0usize..3)),
                1..5),
        ) {
            let unit = UnitCatalog::builtin().communes_of(1).next().unwrap().code;
            let history = histories(unit, &picks);
            let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            let (folded, single) = (store(da.path(), unit), store(db.path(), unit));
            let mut held = [0usize; 3];
            let mut nonce = (0u64, 0u64);
            for (step, (ranges, gap)) in steps.iter().enumerate() {
                let now = 1_000 * (step as i64 + 1);
                let mut batch = Vec::new();
                for (d, &(lo, len)) in ranges.iter().enumerate() {
                    let h = &history[d];
                    let lo = lo.min(held[d]).min(h.len());
                    let hi = (lo + len).min(h.len());
                    batch.extend(h[lo..hi].iter().cloned());
                }
                // A gap: one op above what the hub holds, left out while a later one stays.
                let gap_at = gap.and_then(|d| {
                    let i = batch.iter().position(|o| o.actor == DESKS[d] && o.seq as usize == held[d] + 1)?;
                    batch.iter().any(|o| o.actor == DESKS[d] && o.seq as usize == held[d] + 2).then_some(i)
                });
                let before = (dump(&folded), dump(&single));
                if let Some(i) = gap_at {
                    let left_out = batch.remove(i);
                    nonce.0 += 1;
                    let e = folded.merge(unit, &contact(nonce.0), batch.clone(), now).unwrap_err();
                    prop_assert!(matches!(e, HubError::Refused { source: DomainError::SeqGap { .. }, .. }), "{e}");
                    prop_assert_eq!(dump(&folded), before.0.clone(), "a refused batch stored something");
                    // One by one, the op after the gap is refused the same way.
                    let after_gap = batch.iter().find(|o| o.actor == left_out.actor && o.seq == left_out.seq + 1).unwrap().clone();
                    nonce.1 += 1;
                    let e = single.merge(unit, &contact(nonce.1), vec![after_gap], now).unwrap_err();
                    prop_assert!(matches!(e, HubError::Refused { source: DomainError::SeqGap { .. }, .. }), "{e}");
                    prop_assert_eq!(dump(&single), before.1, "a refused op stored something");
                    continue;
                }
                nonce.0 += 1;
                let whole = folded.merge(unit, &contact(nonce.0), batch.clone(), now).unwrap();
                batch.sort_by_key(|o| (o.actor, o.seq));
                let (mut applied, mut duplicates) = (0, 0);
                let mut acked = None;
                for op in batch {
                    nonce.1 += 1;
                    let m = single.merge(unit, &contact(nonce.1), vec![op], now).unwrap();
                    applied += m.applied;
                    duplicates += m.duplicates;
                    acked = Some(m.acked);
                }
                prop_assert_eq!((whole.applied, whole.duplicates), (applied, duplicates));
                if let Some(acked) = acked {
                    prop_assert_eq!(&whole.acked, &acked);
                }
                prop_assert_eq!(dump(&folded), dump(&single));
                for (d, h) in held.iter_mut().enumerate() {
                    *h = whole.acked.get(&DESKS[d]) as usize;
                }
            }
        }
    }
}
