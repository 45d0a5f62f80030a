//! cchc-sql: the one SQL implementation of the CRDT objects, used by the agent's store
//! (one commune) and the hub's store (every commune of a province). In: a connection or
//! an open transaction and a commune. Out: [`SqlObjects`], which implements
//! [`Objects`] (what `cchc_common::crdt::apply_op` reads and writes) and loads a
//! commune's objects whole ([`SqlObjects::load`]).
//!
//! The tables ([`OBJECT_TABLES`]) hold one row per count cell and device (its running
//! totals, the PNCounter's dots), per pledge (the whole pledge CRDT as JSON), per
//! self-assessed criterion and per verified criterion (LWW registers with their HLC
//! stamp), each keyed by commune first. They are the materialized state, a cache of
//! the op log: the op log itself stays each store's own (the hub's carries the commune
//! and the arrival time; the agent's the stamp and the local time).
//!
//! A change to these tables is made here once; both stores' tests compare their
//! schema with [`OBJECT_TABLES`], and the convergence property test runs against this
//! implementation as well as the in-memory replica.
#![deny(missing_docs)]

mod db;
#[cfg(feature = "postgres")]
pub mod pg;

pub use db::{
    dump, insert_rows, table_names, table_rows, Arg, Db, DbExt, Dialect, Flow, FromVal, Row,
    Savepoint, SqlError, ToArg, Tx, Val,
};

use cchc_common::crdt::{
    AssessReg, AssessValue, CountCell, CountKey, Objects, PledgeCrdt, VerifyReg, VerifyValue,
};
use cchc_common::hlc::Stamp;
use cchc_common::op::{CountDelta, Dir};
use cchc_common::state::MemObjects;
use cchc_common::{ActorId, DomainError, Metric, Period, Score, UnitCode};
use rusqlite::Connection;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::marker::PhantomData;

/// The CRDT object tables, keyed by commune first.
pub const OBJECT_TABLES: &str = r#"
CREATE TABLE count_cells (
    unit INTEGER NOT NULL,
    period TEXT NOT NULL,
    procedure TEXT NOT NULL,
    metric TEXT NOT NULL,
    actor INTEGER NOT NULL,
    inc INTEGER NOT NULL CHECK (inc >= 0),
    dec INTEGER NOT NULL CHECK (dec >= 0),
    PRIMARY KEY (unit, period, procedure, metric, actor)
) STRICT, WITHOUT ROWID;
CREATE TABLE pledges (
    unit INTEGER NOT NULL, year INTEGER NOT NULL, key TEXT NOT NULL, state TEXT NOT NULL,
    PRIMARY KEY (unit, year, key)
) STRICT;
CREATE TABLE assessments (
    unit INTEGER NOT NULL,
    phase INTEGER NOT NULL,
    criterion TEXT NOT NULL,
    score INTEGER NOT NULL CHECK (score >= 0),
    evidence TEXT NOT NULL,
    hlc_ms INTEGER NOT NULL,
    hlc_c INTEGER NOT NULL,
    actor INTEGER NOT NULL,
    PRIMARY KEY (unit, phase, criterion)
) STRICT;
CREATE TABLE verifications (
    unit INTEGER NOT NULL,
    phase INTEGER NOT NULL,
    criterion TEXT NOT NULL,
    score INTEGER NOT NULL CHECK (score >= 0),
    comment TEXT NOT NULL,
    by TEXT NOT NULL,
    hlc_ms INTEGER NOT NULL,
    hlc_c INTEGER NOT NULL,
    actor INTEGER NOT NULL,
    PRIMARY KEY (unit, phase, criterion)
) STRICT;
"#;

/// [`OBJECT_TABLES`] for PostgreSQL: the same tables, columns, keys and checks, with
/// 64-bit integers, and text compared byte by byte as SQLite compares it.
pub const OBJECT_TABLES_POSTGRES: &str = r#"
CREATE TABLE count_cells (
    unit BIGINT NOT NULL,
    period TEXT COLLATE "C" NOT NULL,
    procedure TEXT COLLATE "C" NOT NULL,
    metric TEXT COLLATE "C" NOT NULL,
    actor BIGINT NOT NULL,
    inc BIGINT NOT NULL CHECK (inc >= 0),
    dec BIGINT NOT NULL CHECK (dec >= 0),
    PRIMARY KEY (unit, period, procedure, metric, actor)
);
CREATE TABLE pledges (
    unit BIGINT NOT NULL, year BIGINT NOT NULL, key TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (unit, year, key)
);
CREATE TABLE assessments (
    unit BIGINT NOT NULL,
    phase BIGINT NOT NULL,
    criterion TEXT COLLATE "C" NOT NULL,
    score BIGINT NOT NULL CHECK (score >= 0),
    evidence TEXT COLLATE "C" NOT NULL,
    hlc_ms BIGINT NOT NULL,
    hlc_c BIGINT NOT NULL,
    actor BIGINT NOT NULL,
    PRIMARY KEY (unit, phase, criterion)
);
CREATE TABLE verifications (
    unit BIGINT NOT NULL,
    phase BIGINT NOT NULL,
    criterion TEXT COLLATE "C" NOT NULL,
    score BIGINT NOT NULL CHECK (score >= 0),
    comment TEXT COLLATE "C" NOT NULL,
    by TEXT COLLATE "C" NOT NULL,
    hlc_ms BIGINT NOT NULL,
    hlc_c BIGINT NOT NULL,
    actor BIGINT NOT NULL,
    PRIMARY KEY (unit, phase, criterion)
);
"#;

/// Sets one desk's running totals in a count cell.
const UPSERT_DESK: &str =
    "INSERT INTO count_cells (unit, period, procedure, metric, actor, inc, dec)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
     ON CONFLICT (unit, period, procedure, metric, actor)
     DO UPDATE SET inc = excluded.inc, dec = excluded.dec";

/// The names of the object tables, in [`OBJECT_TABLES`] order.
pub const TABLES: [&str; 4] = ["count_cells", "pledges", "assessments", "verifications"];

/// Stored state that cannot be read back (a damaged or hand-edited database).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored {what} cannot be read: {detail}")]
pub struct BadState {
    /// Which value.
    pub what: &'static str,
    /// Why.
    pub detail: String,
}

/// An error type for callers with none of their own (tests, tools): what
/// [`SqlObjects`] can fail with. The stores use their own error types instead.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A refusal of the CRDT rules.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The database failed.
    #[error(transparent)]
    Sql(#[from] SqlError),
    /// Stored state that cannot be read back.
    #[error(transparent)]
    State(#[from] BadState),
}

/// A device id as SQLite stores it (the same 64 bits, signed).
pub fn a2i(a: ActorId) -> i64 {
    a.0 as i64
}

/// A device id from its stored form.
pub fn i2a(i: i64) -> ActorId {
    ActorId(i as u64)
}

/// An HLC stamp from the columns `hlc_ms, hlc_c, actor` starting at column `at`.
pub fn stamp_at(r: &dyn Row, at: usize) -> Result<Stamp, SqlError> {
    Ok(Stamp {
        wall_ms: r.get::<i64>(at)? as u64,
        counter: r.get(at + 1)?,
        actor: i2a(r.get(at + 2)?),
    })
}

/// An assessment register from the columns `score, evidence, hlc_ms, hlc_c, actor`
/// starting at column `at`.
pub fn assess_reg_at(r: &dyn Row, at: usize) -> Result<AssessReg, SqlError> {
    Ok(AssessReg {
        val: AssessValue {
            score: Score(r.get(at)?),
            evidence: r.get(at + 1)?,
        },
        marker: stamp_at(r, at + 2)?,
    })
}

/// A verification register from the columns `score, comment, by, hlc_ms, hlc_c, actor`
/// starting at column `at`.
pub fn verify_reg_at(r: &dyn Row, at: usize) -> Result<VerifyReg, SqlError> {
    Ok(VerifyReg {
        val: VerifyValue {
            score: Score(r.get(at)?),
            comment: r.get(at + 1)?,
            by: r.get(at + 2)?,
        },
        marker: stamp_at(r, at + 3)?,
    })
}

/// A stored pledge state (the pledge CRDT as JSON).
pub fn parse_pledge(s: &str) -> Result<PledgeCrdt, BadState> {
    serde_json::from_str(s).map_err(|e| BadState {
        what: "pledge state",
        detail: e.to_string(),
    })
}

/// One commune's CRDT objects on a connection (or inside an open transaction, which
/// the caller commits). `E` is the caller's error type.
pub struct SqlObjects<'a, E> {
    conn: &'a dyn Db,
    unit: UnitCode,
    /// When folding: each count cell touched, as stored and as it is now; written at
    /// [`SqlObjects::flush`], only the desks that changed.
    fold: Option<FxHashMap<CountKey, (Desks, CountCell)>>,
    /// When folding: the periods whose cells are all in `fold` already (one read per
    /// period, not one per cell: a year's batch touches a dozen periods and a hundred
    /// and more cells).
    loaded: Vec<Period>,
    _error: PhantomData<fn() -> E>,
}

type Desks = BTreeMap<ActorId, (u64, u64)>;

impl<'a, E> SqlObjects<'a, E>
where
    E: From<DomainError> + From<SqlError> + From<BadState>,
{
    /// The objects of commune `unit`.
    pub fn new(conn: &'a dyn Db, unit: UnitCode) -> SqlObjects<'a, E> {
        SqlObjects {
            conn,
            unit,
            fold: None,
            loaded: Vec::new(),
            _error: PhantomData,
        }
    }

    /// The objects of commune `unit`, folding a batch: a count cell is read once and
    /// written once however many ops of the batch move it (thousands of count ops of
    /// one commune touch a few dozen cells). Nothing reaches the database before
    /// [`SqlObjects::flush`], which the caller must call before committing.
    pub fn folding(conn: &'a dyn Db, unit: UnitCode) -> SqlObjects<'a, E> {
        SqlObjects {
            fold: Some(FxHashMap::default()),
            ..SqlObjects::new(conn, unit)
        }
    }

    /// Writes the count cells a folding batch changed (each changed desk once).
    pub fn flush(&mut self) -> Result<(), E> {
        let Some(fold) = self.fold.as_mut().map(std::mem::take) else {
            return Ok(());
        };
        self.loaded.clear();
        let mut rows: Vec<Arg<'_>> = Vec::new();
        for (key, (stored, now)) in &fold {
            for (actor, totals) in now.desks() {
                if stored.get(actor) != Some(totals) {
                    rows.extend([
                        Arg::Int(i64::from(self.unit.0)),
                        Arg::Text(key.period.to_string().into()),
                        Arg::Text(key.procedure.as_str().into()),
                        Arg::Text(key.metric.as_str().into()),
                        Arg::Int(a2i(*actor)),
                        Arg::Int(totals.0 as i64),
                        Arg::Int(totals.1 as i64),
                    ]);
                }
            }
        }
        insert_rows(
            self.conn,
            "INSERT INTO count_cells (unit, period, procedure, metric, actor, inc, dec)",
            "ON CONFLICT (unit, period, procedure, metric, actor)
             DO UPDATE SET inc = excluded.inc, dec = excluded.dec",
            7,
            &rows,
        )?;
        Ok(())
    }

    /// Sets one desk's (increments, corrections) running totals in a count cell.
    fn upsert_desk(&self, key: &CountKey, actor: ActorId, (inc, dec): (u64, u64)) -> Result<(), E> {
        self.conn.exec(
            UPSERT_DESK,
            args![
                self.unit.0,
                key.period.to_string(),
                key.procedure,
                key.metric.as_str(),
                a2i(actor),
                inc as i64,
                dec as i64
            ],
        )?;
        Ok(())
    }

    /// A folded cell: the first time the batch touches a period, every cell of the
    /// commune in it is read (one query); a cell the table lacks starts empty.
    fn folded(&mut self, key: &CountKey) -> Result<&mut CountCell, E> {
        if !self.loaded.contains(&key.period) {
            let rows = self.conn.query(
                "SELECT procedure, metric, actor, inc, dec FROM count_cells
                 WHERE unit = ?1 AND period = ?2",
                args![self.unit.0, key.period.to_string()],
                |r| {
                    Ok((
                        r.get::<String>(0)?,
                        r.get::<String>(1)?,
                        i2a(r.get(2)?),
                        (r.get::<i64>(3)? as u64, r.get::<i64>(4)? as u64),
                    ))
                },
            )?;
            let mut cells: BTreeMap<CountKey, Desks> = BTreeMap::new();
            for (procedure, metric, actor, totals) in rows {
                let metric = metric.parse::<Metric>().map_err(|e| BadState {
                    what: "count metric",
                    detail: e.to_string(),
                })?;
                cells
                    .entry(CountKey {
                        period: key.period,
                        procedure,
                        metric,
                    })
                    .or_default()
                    .insert(actor, totals);
            }
            if let Some(fold) = self.fold.as_mut() {
                for (k, stored) in cells {
                    fold.entry(k)
                        .or_insert_with(|| (stored.clone(), CountCell::from_desks(stored)));
                }
            }
            self.loaded.push(key.period);
        }
        if let Some(fold) = self.fold.as_mut() {
            fold.entry(key.clone())
                .or_insert_with(|| (Desks::new(), CountCell::from_desks(Desks::new())));
        }
        Ok(&mut self
            .fold
            .as_mut()
            .and_then(|f| f.get_mut(key))
            .expect("folding, and just read")
            .1)
    }

    /// One desk's (increments, corrections) running totals in a cell.
    fn desk_totals(&self, key: &CountKey, actor: ActorId) -> Result<(u64, u64), E> {
        Ok(self
            .conn
            .query_opt(
                "SELECT inc, dec FROM count_cells
                 WHERE unit = ?1 AND period = ?2 AND procedure = ?3 AND metric = ?4 AND actor = ?5",
                args![
                    self.unit.0,
                    key.period.to_string(),
                    key.procedure,
                    key.metric.as_str(),
                    a2i(actor)
                ],
                |r| Ok((r.get::<i64>(0)? as u64, r.get::<i64>(1)? as u64)),
            )?
            .unwrap_or((0, 0)))
    }

    fn read_count_cell(&self, key: &CountKey) -> Result<Desks, E> {
        let rows = self.conn.query(
            "SELECT actor, inc, dec FROM count_cells
             WHERE unit = ?1 AND period = ?2 AND procedure = ?3 AND metric = ?4",
            args![
                self.unit.0,
                key.period.to_string(),
                key.procedure,
                key.metric.as_str()
            ],
            |r| {
                Ok((
                    i2a(r.get(0)?),
                    (r.get::<i64>(1)? as u64, r.get::<i64>(2)? as u64),
                ))
            },
        )?;
        Ok(rows.into_iter().collect())
    }

    /// The commune.
    pub fn unit(&self) -> UnitCode {
        self.unit
    }

    /// Every object of the commune, count cells only of `period` if given.
    pub fn load(&self, period: Option<Period>) -> Result<MemObjects, E> {
        debug_assert!(
            self.fold.as_ref().is_none_or(|f| f.is_empty()),
            "a folding batch is loaded before its flush"
        );
        let mut out = MemObjects::default();
        let mut desks: BTreeMap<CountKey, BTreeMap<ActorId, (u64, u64)>> = BTreeMap::new();
        {
            let rows = self.conn.query(
                "SELECT period, procedure, metric, actor, inc, dec FROM count_cells
                 WHERE unit = ?1 AND (period = ?2 OR ?2 IS NULL)",
                args![self.unit.0, period.map(|p| p.to_string())],
                |r| {
                    Ok((
                        r.get::<String>(0)?,
                        r.get::<String>(1)?,
                        r.get::<String>(2)?,
                        r.get::<i64>(3)?,
                        r.get::<i64>(4)?,
                        r.get::<i64>(5)?,
                    ))
                },
            )?;
            for (period, procedure, metric, actor, inc, dec) in rows {
                let bad = |what: &'static str, e: DomainError| BadState {
                    what,
                    detail: e.to_string(),
                };
                let key = CountKey {
                    period: period.parse().map_err(|e| bad("count period", e))?,
                    procedure,
                    metric: metric
                        .parse::<Metric>()
                        .map_err(|e| bad("count metric", e))?,
                };
                desks
                    .entry(key)
                    .or_default()
                    .insert(i2a(actor), (inc as u64, dec as u64));
            }
        }
        out.counts = desks
            .into_iter()
            .map(|(k, d)| (k, CountCell::from_desks(d)))
            .collect();
        {
            let rows: Vec<String> = self.conn.query(
                "SELECT state FROM pledges WHERE unit = ?1",
                args![self.unit.0],
                |r| r.get(0),
            )?;
            for s in rows {
                let p = parse_pledge(&s)?;
                out.pledges.insert((p.year, p.key.clone()), p);
            }
        }
        {
            out.assessments = self
                .conn
                .query(
                    "SELECT phase, criterion, score, evidence, hlc_ms, hlc_c, actor FROM assessments
                     WHERE unit = ?1",
                    args![self.unit.0],
                    |r| Ok(((r.get(0)?, r.get(1)?), assess_reg_at(r, 2)?)),
                )?
                .into_iter()
                .collect();
        }
        {
            out.verifications = self
                .conn
                .query(
                    "SELECT phase, criterion, score, comment, by, hlc_ms, hlc_c, actor
                     FROM verifications WHERE unit = ?1",
                    args![self.unit.0],
                    |r| Ok(((r.get(0)?, r.get(1)?), verify_reg_at(r, 2)?)),
                )?
                .into_iter()
                .collect();
        }
        Ok(out)
    }

    /// Deletes every object of the commune (before a rebuild from the op log).
    pub fn clear(&self) -> Result<(), E> {
        for t in TABLES {
            self.conn.exec(
                &format!("DELETE FROM {t} WHERE unit = ?1"),
                args![self.unit.0],
            )?;
        }
        Ok(())
    }
}

impl<E> Objects for SqlObjects<'_, E>
where
    E: From<DomainError> + From<SqlError> + From<BadState>,
{
    type Error = E;

    fn count_cell(&mut self, key: &CountKey) -> Result<CountCell, E> {
        if self.fold.is_some() {
            return Ok(self.folded(key)?.clone());
        }
        Ok(CountCell::from_desks(self.read_count_cell(key)?))
    }

    fn count_total(&mut self, key: &CountKey, actor: ActorId, dir: Dir) -> Result<u64, E> {
        if self.fold.is_some() {
            return Ok(self.folded(key)?.total_of(actor, dir));
        }
        let (inc, dec) = self.desk_totals(key, actor)?;
        Ok(match dir {
            Dir::Inc => inc,
            Dir::Dec => dec,
        })
    }

    fn apply_to_count_cell(
        &mut self,
        key: &CountKey,
        actor: ActorId,
        d: &CountDelta,
    ) -> Result<(), E> {
        let refused = |detail| DomainError::BadOp {
            op: actor.to_string(),
            detail,
        };
        if self.fold.is_some() {
            // In place: no copy of the cell per change.
            return Ok(self.folded(key)?.apply(actor, d).map_err(refused)?);
        }
        // Write-through: only this desk's row changes, in the direction of the change.
        let (inc, dec) = self.desk_totals(key, actor)?;
        let mut desk = CountCell::from_desks([(actor, (inc, dec))].into_iter().collect());
        desk.apply(actor, d).map_err(refused)?;
        self.upsert_desk(key, actor, desk.desks()[&actor])
    }

    fn put_count_cell(&mut self, key: &CountKey, cell: &CountCell) -> Result<(), E> {
        if self.fold.is_some() {
            self.folded(key)?.clone_from(cell);
            return Ok(());
        }
        for (actor, totals) in cell.desks() {
            self.upsert_desk(key, *actor, *totals)?;
        }
        Ok(())
    }

    fn pledge(&mut self, year: i32, key: &str) -> Result<Option<PledgeCrdt>, E> {
        let state: Option<String> = self.conn.query_opt(
            "SELECT state FROM pledges WHERE unit = ?1 AND year = ?2 AND key = ?3",
            args![self.unit.0, year, key],
            |r| r.get(0),
        )?;
        Ok(state.as_deref().map(parse_pledge).transpose()?)
    }

    fn put_pledge(&mut self, p: &PledgeCrdt) -> Result<(), E> {
        let state = serde_json::to_string(p).map_err(|e| BadState {
            what: "pledge state",
            detail: e.to_string(),
        })?;
        self.conn.exec(
            "INSERT INTO pledges (unit, year, key, state) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (unit, year, key) DO UPDATE SET state = excluded.state",
            args![self.unit.0, p.year, p.key, state],
        )?;
        Ok(())
    }

    fn assessment(&mut self, phase: u32, criterion: &str) -> Result<Option<AssessReg>, E> {
        Ok(self.conn.query_opt(
            "SELECT score, evidence, hlc_ms, hlc_c, actor FROM assessments
             WHERE unit = ?1 AND phase = ?2 AND criterion = ?3",
            args![self.unit.0, phase, criterion],
            |r| assess_reg_at(r, 0),
        )?)
    }

    fn put_assessment(&mut self, phase: u32, criterion: &str, reg: &AssessReg) -> Result<(), E> {
        self.conn.exec(
                "INSERT INTO assessments (unit, phase, criterion, score, evidence, hlc_ms, hlc_c, actor)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (unit, phase, criterion) DO UPDATE SET score = excluded.score,
                     evidence = excluded.evidence, hlc_ms = excluded.hlc_ms,
                     hlc_c = excluded.hlc_c, actor = excluded.actor",
            args![
                self.unit.0,
                phase,
                criterion,
                reg.val.score.0,
                reg.val.evidence,
                reg.marker.wall_ms as i64,
                reg.marker.counter,
                a2i(reg.marker.actor)
            ],
        )?;
        Ok(())
    }

    fn verification(&mut self, phase: u32, criterion: &str) -> Result<Option<VerifyReg>, E> {
        Ok(self.conn.query_opt(
            "SELECT score, comment, by, hlc_ms, hlc_c, actor FROM verifications
             WHERE unit = ?1 AND phase = ?2 AND criterion = ?3",
            args![self.unit.0, phase, criterion],
            |r| verify_reg_at(r, 0),
        )?)
    }

    fn put_verification(&mut self, phase: u32, criterion: &str, reg: &VerifyReg) -> Result<(), E> {
        self.conn.exec(
                "INSERT INTO verifications (unit, phase, criterion, score, comment, by, hlc_ms, hlc_c, actor)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (unit, phase, criterion) DO UPDATE SET score = excluded.score,
                     comment = excluded.comment, by = excluded.by, hlc_ms = excluded.hlc_ms,
                     hlc_c = excluded.hlc_c, actor = excluded.actor",
            args![
                self.unit.0,
                phase,
                criterion,
                reg.val.score.0,
                reg.val.comment,
                reg.val.by,
                reg.marker.wall_ms as i64,
                reg.marker.counter,
                a2i(reg.marker.actor)
            ],
        )?;
        Ok(())
    }
}

/// The `CREATE TABLE` text SQLite holds for each object table of `conn`, whitespace
/// folded: what a store's schema test compares with a database made from
/// [`OBJECT_TABLES`].
pub fn table_sql(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    TABLES
        .iter()
        .map(|t| {
            let sql: String = conn.query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [t],
                |r| r.get(0),
            )?;
            Ok((
                t.to_string(),
                sql.split_whitespace().collect::<Vec<_>>().join(" "),
            ))
        })
        .collect()
}

/// The object tables of a database made from [`OBJECT_TABLES`] alone.
pub fn reference_table_sql() -> rusqlite::Result<Vec<(String, String)>> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch(OBJECT_TABLES)?;
    table_sql(&conn)
}
