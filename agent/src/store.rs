//! The agent's SQLite store. In: ops made locally (through [`Store::transact_local`]) or
//! received from peers ([`Store::import`]). Out: the durable op log, the version
//! vector, and the materialized state that `show` reads.
//!
//! Durability: WAL with `synchronous=FULL`; one user action is one transaction that
//! appends the op, applies it to the materialized state and advances the clock, so a
//! power cut leaves either all of it or none. The file carries our `application_id`
//! and a schema version, so a foreign or newer database is refused before anything is
//! written to it. The materialized state is a cache of the op log: if the CRDT cache
//! format changes, it is rebuilt from the log.

use crate::error::{AgentError, Result};
use cchc_common::crdt::{self, OpCtx};
use cchc_common::hlc::Hlc;
use cchc_common::merge::{self, OpLog, UnknownDefs};
use cchc_common::op::OpBody;
use cchc_common::release::{Root, Signed};
use cchc_common::state::{Replica, VersionVector};
use cchc_common::view::StateView;
use cchc_common::{ActorId, Definitions, DomainError, Op, OpId, Period, UnitCode};
use cchc_sql::{a2i, i2a, SqlObjects};
use rusqlite::{
    params, Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior,
};
use std::path::{Path, PathBuf};

/// `PRAGMA application_id` of a cchc agent database ("CCHC").
pub const APPLICATION_ID: i32 = 0x4343_4843;
/// Format of the materialized CRDT cache; a change triggers a rebuild from the op log.
/// 2: the object tables of `cchc-sql`, keyed by commune as on the hub.
const CACHE_FORMAT: &str = "crdts-7.3.2/2";

/// The oldest schema whose builds can still use a database of this build's schema:
/// written to `meta.compat_schema`. A release may only add to the schema (new tables,
/// new columns with defaults), leaving this as it is, so the build it replaces opens
/// the database after a rollback and loses nothing (docs/updates.md). A change older
/// builds cannot use raises it, and must ship only once no rollback can be needed.
const COMPAT_SCHEMA: i64 = 3;

/// The schema of a database this build may use: its own or an older one (migrated
/// on open), or a newer one whose `compat_schema` says this build can still use it.
fn usable_schema(conn: &Connection, path: &Path) -> Result<i64> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version <= known {
        return Ok(version);
    }
    let compat: Option<i64> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'compat_schema'",
            [],
            |r| r.get::<_, String>(0),
        )
        .optional()
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok());
    match compat {
        Some(c) if c <= known => Ok(version),
        _ => Err(bad_db(
            path,
            format!(
                "it was written by a newer agent (schema {version}; this agent knows up to {known})"
            ),
        )),
    }
}

/// Schema migrations; `user_version` is the number applied. Each is a list of SQL
/// batches run in one transaction.
const MIGRATIONS: &[&[&str]] = &[
    &[r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE ops (
    actor INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    hlc_ms INTEGER NOT NULL,
    hlc_c INTEGER NOT NULL,
    defs INTEGER NOT NULL,
    body TEXT NOT NULL,
    stored_at INTEGER NOT NULL,
    PRIMARY KEY (actor, seq)
) STRICT, WITHOUT ROWID;
CREATE TABLE version_vector (actor INTEGER PRIMARY KEY, max_seq INTEGER NOT NULL) STRICT;
CREATE TABLE count_cells (
    period TEXT NOT NULL,
    procedure TEXT NOT NULL,
    metric TEXT NOT NULL,
    actor INTEGER NOT NULL,
    inc INTEGER NOT NULL CHECK (inc >= 0),
    dec INTEGER NOT NULL CHECK (dec >= 0),
    PRIMARY KEY (period, procedure, metric, actor)
) STRICT, WITHOUT ROWID;
CREATE TABLE pledges (year INTEGER NOT NULL, key TEXT NOT NULL, state TEXT NOT NULL, PRIMARY KEY (year, key)) STRICT;
CREATE TABLE assessments (
    phase INTEGER NOT NULL,
    criterion TEXT NOT NULL,
    score INTEGER NOT NULL CHECK (score >= 0),
    evidence TEXT NOT NULL,
    hlc_ms INTEGER NOT NULL,
    hlc_c INTEGER NOT NULL,
    actor INTEGER NOT NULL,
    PRIMARY KEY (phase, criterion)
) STRICT;
CREATE TABLE definitions (version INTEGER PRIMARY KEY, body TEXT NOT NULL, installed_at INTEGER NOT NULL) STRICT;
CREATE TABLE peers (
    actor INTEGER PRIMARY KEY,
    last_exchange_ms INTEGER NOT NULL,
    offset_ms INTEGER NOT NULL,
    via TEXT NOT NULL
) STRICT;
"#],
    // 2: the province's verified scores (thẩm định), synced down from the hub.
    &[r#"
CREATE TABLE verifications (
    phase INTEGER NOT NULL,
    criterion TEXT NOT NULL,
    score INTEGER NOT NULL CHECK (score >= 0),
    comment TEXT NOT NULL,
    by TEXT NOT NULL,
    hlc_ms INTEGER NOT NULL,
    hlc_c INTEGER NOT NULL,
    actor INTEGER NOT NULL,
    PRIMARY KEY (phase, criterion)
) STRICT;
"#],
    // 3: the object tables become cchc-sql's (shared with the hub, keyed by commune).
    // They are a cache of the op log: dropped here, rebuilt on open (CACHE_FORMAT 2).
    &[
        "DROP TABLE count_cells; DROP TABLE pledges; DROP TABLE assessments; DROP TABLE verifications;",
        cchc_sql::OBJECT_TABLES,
    ],
];

/// Who this install is.
#[derive(Debug, Clone, Copy)]
pub struct Identity {
    /// The commune it records for.
    pub unit: UnitCode,
    /// Its device id.
    pub actor: ActorId,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Ops applied.
    pub applied: usize,
    /// Ops already held.
    pub duplicates: usize,
}

/// A clock observation of another device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerClock {
    /// The peer.
    pub actor: ActorId,
    /// When we last exchanged with it (our physical clock).
    pub last_exchange_ms: i64,
    /// Its physical clock minus ours at that exchange.
    pub offset_ms: i64,
    /// How: `bundle` (includes transit time) or `hub`.
    pub via: String,
}

/// The agent's database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The newest definitions, parsed, as last read: a version is never changed once
    /// stored, so only the newest version number is read again.
    defs: std::cell::RefCell<Option<Definitions>>,
}

fn bad_db(path: &Path, detail: impl Into<String>) -> AgentError {
    AgentError::BadDatabase {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

impl Store {
    /// Creates a new database for `unit` with a new device id. The file appears only
    /// once it is complete (built under a temporary name, then renamed).
    pub fn create(path: &Path, unit: UnitCode, actor: ActorId, now_ms: i64) -> Result<Store> {
        let tmp = path.with_extension("db-init");
        let _ = std::fs::remove_file(&tmp);
        // Owner-only from its first byte (its WAL inherits the mode), and a handle with
        // write access to flush it with: Windows' FlushFileBuffers refuses a
        // read-only one.
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let f = opts.open(&tmp).map_err(|e| AgentError::io(&tmp, e))?;
        {
            let mut conn = Connection::open(&tmp)?;
            conn.execute_batch("PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL;")?;
            conn.pragma_update(None, "application_id", APPLICATION_ID)?;
            let tx = conn.transaction()?;
            for batch in MIGRATIONS.iter().copied().flatten() {
                tx.execute_batch(batch)?;
            }
            tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
            let defs = Definitions::builtin();
            for (k, v) in [
                ("unit", unit.0.to_string()),
                ("actor", actor.0.to_string()),
                ("hlc_ms", "0".into()),
                ("hlc_c", "0".into()),
                ("created_at_ms", now_ms.to_string()),
                ("cache_format", CACHE_FORMAT.into()),
                ("compat_schema", COMPAT_SCHEMA.to_string()),
            ] {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                    params![k, v],
                )?;
            }
            tx.execute(
                "INSERT INTO definitions (version, body, installed_at) VALUES (?1, ?2, ?3)",
                params![
                    defs.version,
                    serde_json::to_string(&defs).expect("definitions serialize"),
                    now_ms
                ],
            )?;
            tx.commit()?;
        }
        f.sync_all().map_err(|e| AgentError::io(&tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| AgentError::io(path, e))?;
        if let Some(dir) = path.parent() {
            // Make the rename itself durable.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Store::open(path)
    }

    /// Opens an existing database, refusing damaged, foreign or newer files before
    /// writing anything to them.
    pub fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| bad_db(path, e.to_string()))?;
        // Wait for another process's transaction rather than failing: set before any read.
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let app: i32 = conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(|e| bad_db(path, format!("not a readable SQLite database ({e})")))?;
        if app != APPLICATION_ID {
            return Err(bad_db(
                path,
                format!("it is not a cchc agent database (application_id {app:#x}, expected {APPLICATION_ID:#x})"),
            ));
        }
        let version = usable_schema(&conn, path)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
        )
        .map_err(|e| bad_db(path, e.to_string()))?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            defs: Default::default(),
        };
        store.migrate(version)?;
        store
            .identity()
            .map_err(|e| bad_db(path, format!("its identity is missing or damaged ({e})")))?;
        if store.meta("cache_format")?.as_deref() != Some(CACHE_FORMAT) {
            store.rebuild()?;
        }
        Ok(store)
    }

    fn migrate(&mut self, from: i64) -> Result<()> {
        // A newer build's database that this build may use (after a rollback): used
        // as it is, never migrated down.
        if from >= MIGRATIONS.len() as i64 {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for batch in MIGRATIONS[from as usize..].iter().copied().flatten() {
            tx.execute_batch(batch)?;
        }
        tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('compat_schema', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [COMPAT_SCHEMA.to_string()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The self-test of a new build, before it replaces the running one: opens the
    /// database read-only, checks it is ours, that this build can use its schema,
    /// and SQLite's quick check. Writes nothing.
    pub fn self_test(path: &Path) -> Result<()> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| bad_db(path, e.to_string()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let app: i32 = conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(|e| bad_db(path, format!("not a readable SQLite database ({e})")))?;
        if app != APPLICATION_ID {
            return Err(bad_db(path, "it is not a cchc agent database"));
        }
        usable_schema(&conn, path)?;
        let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(bad_db(path, format!("quick_check: {check}")));
        }
        Ok(())
    }

    /// The release root pinned at enrollment (or reached by rotation).
    pub fn release_root(&self) -> Result<Option<Signed<Root>>> {
        match self.meta("release_root")? {
            None => Ok(None),
            Some(s) => serde_json::from_str(&s)
                .map(Some)
                .map_err(|e| bad_db(&self.path, format!("meta release_root: {e}"))),
        }
    }

    /// Pins a release root (the caller has checked it).
    pub fn set_release_root(&mut self, root: &Signed<Root>) -> Result<()> {
        self.set_meta(
            "release_root",
            &serde_json::to_string(root).expect("root serializes"),
        )
    }

    /// Runs `f` holding the database's write lock (an IMMEDIATE transaction that
    /// writes nothing): no entry is being saved meanwhile, and none starts.
    /// Fails only when the lock cannot be had (the database stayed busy).
    pub fn with_write_lock<T>(&mut self, f: impl FnOnce() -> T) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f();
        // Nothing was written: ending the transaction cannot lose anything.
        let _ = tx.rollback();
        Ok(out)
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// This install's commune and device id.
    pub fn identity(&self) -> Result<Identity> {
        let get = |k: &str| -> Result<String> {
            self.meta(k)?
                .ok_or_else(|| bad_db(&self.path, format!("meta '{k}' is missing")))
        };
        let unit = get("unit")?
            .parse::<u32>()
            .map_err(|e| bad_db(&self.path, format!("meta unit: {e}")))?;
        let actor = get("actor")?
            .parse::<u64>()
            .map_err(|e| bad_db(&self.path, format!("meta actor: {e}")))?;
        Ok(Identity {
            unit: UnitCode(unit),
            actor: ActorId(actor),
        })
    }

    /// The newest definitions held.
    pub fn definitions(&self) -> Result<Definitions> {
        let newest: u32 = self
            .conn
            .query_row("SELECT max(version) FROM definitions", [], |r| {
                r.get::<_, Option<u32>>(0)
            })?
            .unwrap_or(0);
        if let Some(d) = self.defs.borrow().as_ref().filter(|d| d.version == newest) {
            return Ok(d.clone());
        }
        let body: String = self.conn.query_row(
            "SELECT body FROM definitions WHERE version = ?1",
            [newest],
            |r| r.get(0),
        )?;
        let defs: Definitions = serde_json::from_str(&body)
            .map_err(|e| bad_db(&self.path, format!("stored definitions: {e}")))?;
        *self.defs.borrow_mut() = Some(defs.clone());
        Ok(defs)
    }

    fn definitions_version(tx: &Transaction<'_>, version: u32) -> Result<Option<Definitions>> {
        let body: Option<String> = tx
            .query_row(
                "SELECT body FROM definitions WHERE version = ?1",
                [version],
                |r| r.get(0),
            )
            .optional()?;
        Ok(body.and_then(|b| serde_json::from_str(&b).ok()))
    }

    fn hlc(tx: &Transaction<'_>) -> Result<Hlc> {
        let get = |k: &str| -> Result<u64> {
            let v: String =
                tx.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))?;
            Ok(v.parse().unwrap_or(0))
        };
        Ok(Hlc {
            wall_ms: get("hlc_ms")?,
            counter: get("hlc_c")? as u32,
        })
    }

    fn put_hlc(tx: &Transaction<'_>, h: &Hlc) -> Result<()> {
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'hlc_ms'",
            [h.wall_ms.to_string()],
        )?;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'hlc_c'",
            [h.counter.to_string()],
        )?;
        Ok(())
    }

    /// The clock state (latest stamp issued or seen).
    pub fn clock(&mut self) -> Result<Hlc> {
        let tx = self.conn.transaction()?;
        let h = Store::hlc(&tx)?;
        tx.commit()?;
        Ok(h)
    }

    fn max_seq(tx: &Transaction<'_>, actor: ActorId) -> Result<u64> {
        let s: Option<i64> = tx
            .query_row(
                "SELECT max_seq FROM version_vector WHERE actor = ?1",
                [a2i(actor)],
                |r| r.get(0),
            )
            .optional()?;
        Ok(s.unwrap_or(0) as u64)
    }

    fn append(tx: &Transaction<'_>, op: &Op, now_ms: i64) -> Result<()> {
        tx.execute(
            "INSERT INTO ops (actor, seq, hlc_ms, hlc_c, defs, body, stored_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![a2i(op.actor), op.seq as i64, op.hlc_ms as i64, op.hlc_c, op.defs, op.to_json(), now_ms],
        )?;
        tx.execute(
            "INSERT INTO version_vector (actor, max_seq) VALUES (?1, ?2)
             ON CONFLICT (actor) DO UPDATE SET max_seq = excluded.max_seq",
            params![a2i(op.actor), op.seq as i64],
        )?;
        Ok(())
    }

    /// Makes one local edit in one transaction (see [`Store::transact_local`]).
    #[cfg(test)]
    pub fn commit_local<F>(&mut self, physical_ms: i64, make: F) -> Result<Op>
    where
        F: FnOnce(&mut TxObjects<'_>, &OpCtx, &Definitions) -> Result<Op>,
    {
        let mut ops = self.transact_local(physical_ms, |tx| tx.edit(make).map(|_| ()))?;
        Ok(ops.remove(0))
    }

    /// Runs one user action as one transaction: every edit made through the
    /// [`LocalTx`] is validated, applied and appended to the log; then all are committed
    /// together. If anything fails, nothing is stored. Returns the ops once durable.
    pub fn transact_local<F>(&mut self, physical_ms: i64, action: F) -> Result<Vec<Op>>
    where
        F: FnOnce(&mut LocalTx<'_, '_>) -> Result<()>,
    {
        let id = self.identity()?;
        let defs = self.definitions()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let hlc = Store::hlc(&tx)?;
        let next_seq = Store::max_seq(&tx, id.actor)? + 1;
        let mut local = LocalTx {
            log: TxLog::new(&tx, id.unit, physical_ms),
            hlc,
            id,
            defs,
            next_seq,
            physical_ms,
            ops: Vec::new(),
            by: String::new(),
        };
        action(&mut local)?;
        let LocalTx { hlc, ops, .. } = local;
        if ops.is_empty() {
            return Err(DomainError::NoCounts.into());
        }
        Store::put_hlc(&tx, &hlc)?;
        tx.commit()?;
        Ok(ops)
    }

    /// Caps this connection's page cache (KiB).
    pub fn set_cache_kib(&self, kib: u32) -> Result<()> {
        self.conn.pragma_update(None, "cache_size", -(kib as i64))?;
        Ok(())
    }

    /// Sets a descriptive meta value (unit name and the like).
    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// The nonce for the next hub request: one more than any used before, durable
    /// before the request leaves (so a crash can never reuse one).
    pub fn next_nonce(&mut self) -> Result<u64> {
        // IMMEDIATE: take the write lock first, so a concurrent `sync` and `run` wait
        // for each other instead of failing on a lock upgrade.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let n: u64 = tx
            .query_row(
                "SELECT value FROM meta WHERE key = 'request_nonce'",
                [],
                |r| r.get::<_, String>(0),
            )
            .optional()?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let next = n + 1;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('request_nonce', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [next.to_string()],
        )?;
        tx.commit()?;
        Ok(next)
    }

    /// Moves the nonce on past what the hub has seen (a restored backup, a replay).
    pub fn raise_nonce(&mut self, seen: u64) -> Result<()> {
        // One statement, so a concurrent next_nonce can never be moved back.
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('request_nonce', ?1)
             ON CONFLICT (key) DO UPDATE SET value =
                 CAST(max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER)) AS TEXT)",
            [seen.to_string()],
        )?;
        Ok(())
    }

    /// Reads a meta value.
    pub fn get_meta(&self, key: &str) -> Result<Option<String>> {
        self.meta(key)
    }

    /// Applies ops from a peer in one transaction: all or nothing. Ops are taken in
    /// per-device sequence order; exact duplicates are skipped; a gap, a conflict, an
    /// op for another commune or an op its definitions refuse rejects the whole batch.
    /// A device with a wrong clock is never refused: its stamps only move our clock on.
    pub fn import(
        &mut self,
        ops: Vec<Op>,
        physical_ms: i64,
    ) -> Result<ImportReport, DomainOrStore> {
        let id = self.identity()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut hlc = Store::hlc(&tx)?;
        let mut log = TxLog::new(&tx, id.unit, physical_ms);
        // Ops validated by definitions we do not hold (newer ones another desk already
        // received) are accepted as recorded; ops under definitions we hold must
        // satisfy them.
        let merged = merge::merge(&mut log, id.unit, ops.clone(), UnknownDefs::Accept)?;
        for op in &ops {
            hlc.observe(&op.stamp());
        }
        Store::put_hlc(&tx, &hlc)?;
        tx.commit()?;
        Ok(ImportReport {
            applied: merged.applied.len(),
            duplicates: merged.duplicates,
        })
    }

    /// Records a clock comparison with a peer.
    pub fn record_peer_clock(&mut self, pc: &PeerClock) -> Result<()> {
        self.conn.execute(
            "INSERT INTO peers (actor, last_exchange_ms, offset_ms, via) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (actor) DO UPDATE SET last_exchange_ms = excluded.last_exchange_ms,
                 offset_ms = excluded.offset_ms, via = excluded.via",
            params![a2i(pc.actor), pc.last_exchange_ms, pc.offset_ms, pc.via],
        )?;
        Ok(())
    }

    /// Clock comparisons with peers.
    pub fn peer_clocks(&self) -> Result<Vec<PeerClock>> {
        let mut st = self
            .conn
            .prepare("SELECT actor, last_exchange_ms, offset_ms, via FROM peers ORDER BY actor")?;
        let rows = st.query_map([], |r| {
            Ok(PeerClock {
                actor: i2a(r.get(0)?),
                last_exchange_ms: r.get(1)?,
                offset_ms: r.get(2)?,
                via: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The version vector.
    pub fn version_vector(&self) -> Result<VersionVector> {
        let mut st = self
            .conn
            .prepare("SELECT actor, max_seq FROM version_vector")?;
        let rows = st.query_map([], |r| Ok((i2a(r.get(0)?), r.get::<_, i64>(1)? as u64)))?;
        let rows: Vec<(ActorId, u64)> = rows.collect::<rusqlite::Result<_>>()?;
        Ok(rows.into_iter().collect())
    }

    /// The ops a peer with version vector `peer` lacks, in per-device order.
    pub fn ops_since(&self, peer: &VersionVector) -> Result<Vec<Op>> {
        self.ops_since_limited(peer, usize::MAX)
    }

    /// At most `limit` of the ops a peer with version vector `peer` lacks: for each
    /// device a run of consecutive numbers right after what the peer holds.
    pub fn ops_since_limited(&self, peer: &VersionVector, limit: usize) -> Result<Vec<Op>> {
        let mut out = Vec::new();
        for (actor, max) in self.version_vector()?.iter() {
            let from = peer.get(&actor);
            if from >= max {
                continue;
            }
            let room = limit.saturating_sub(out.len());
            if room == 0 {
                break;
            }
            let mut st = self.conn.prepare_cached(
                "SELECT body FROM ops WHERE actor = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )?;
            let rows = st.query_map(
                params![a2i(actor), from as i64, room.min(i64::MAX as usize) as i64],
                |r| r.get::<_, String>(0),
            )?;
            for body in rows {
                let body = body?;
                out.push(
                    Op::from_json(&body)
                        .map_err(|e| bad_db(&self.path, format!("op log entry: {e}")))?,
                );
            }
        }
        Ok(out)
    }

    /// Every count op of one procedure in one period, from every desk, in time order
    /// (the history of its cells). The op log is searched for the ops' stable JSON
    /// prefix, then each is parsed and checked exactly.
    pub fn count_ops(&self, period: Period, procedure: &str) -> Result<Vec<Op>> {
        let needle = format!(
            r#""t":"count","period":"{period}","procedure":{}"#,
            serde_json::to_string(procedure).expect("a string serializes")
        );
        let mut st = self.conn.prepare_cached(
            "SELECT body FROM ops WHERE instr(body, ?1) > 0 ORDER BY hlc_ms, hlc_c, actor",
        )?;
        let rows = st.query_map([needle], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for body in rows {
            let op = Op::from_json(&body?)
                .map_err(|e| bad_db(&self.path, format!("op log entry: {e}")))?;
            if matches!(&op.body, OpBody::Count { period: p, procedure: c, .. } if *p == period && c == procedure)
            {
                out.push(op);
            }
        }
        Ok(out)
    }

    /// Installs definitions received from the hub that are newer than any held (each
    /// validated first; all or none). Returns the versions installed.
    pub fn install_definitions(&mut self, defs: &[Definitions], now_ms: i64) -> Result<Vec<u32>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut installed = Vec::new();
        for d in defs {
            d.validate().map_err(|e| AgentError::BadFile {
                path: PathBuf::from("hub definitions"),
                detail: format!("version {}: {e}", d.version),
            })?;
            let held: Option<u32> = tx
                .query_row(
                    "SELECT version FROM definitions WHERE version = ?1",
                    [d.version],
                    |r| r.get(0),
                )
                .optional()?;
            if held.is_none() {
                tx.execute(
                    "INSERT INTO definitions (version, body, installed_at) VALUES (?1, ?2, ?3)",
                    params![
                        d.version,
                        serde_json::to_string(d).expect("serializes"),
                        now_ms
                    ],
                )?;
                installed.push(d.version);
            }
        }
        tx.commit()?;
        Ok(installed)
    }

    /// What the hub last acknowledged holding (empty if never synced).
    pub fn hub_acked(&self) -> Result<VersionVector> {
        match self.meta("hub_acked")? {
            None => Ok(VersionVector::new()),
            Some(s) => serde_json::from_str(&s)
                .map_err(|e| bad_db(&self.path, format!("meta hub_acked: {e}"))),
        }
    }

    /// Records a successful exchange with the hub.
    pub fn record_sync(&mut self, acked: &VersionVector, at_ms: i64, offset_ms: i64) -> Result<()> {
        let tx = self.conn.transaction()?;
        for (k, v) in [
            (
                "hub_acked",
                serde_json::to_string(acked).expect("serializes"),
            ),
            ("last_sync_ms", at_ms.to_string()),
            ("hub_clock_offset_ms", offset_ms.to_string()),
        ] {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![k, v],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records what the hub says it holds (after it refused a batch with a gap).
    pub fn set_hub_acked(&mut self, acked: &VersionVector) -> Result<()> {
        self.set_meta(
            "hub_acked",
            &serde_json::to_string(acked).expect("serializes"),
        )
    }

    /// Changes whenever another connection commits to the database (a new entry).
    pub fn data_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .pragma_query_value(None, "data_version", |r| r.get(0))?)
    }

    /// Ops held here that the hub has not acknowledged.
    pub fn ops_pending(&self) -> Result<u64> {
        let acked = self.hub_acked()?;
        Ok(self
            .version_vector()?
            .iter()
            .map(|(a, s)| s.saturating_sub(acked.get(&a)))
            .sum())
    }

    /// Number of ops held, and of those made on this device.
    pub fn op_counts(&self) -> Result<(u64, u64)> {
        let id = self.identity()?;
        let all: i64 = self
            .conn
            .query_row("SELECT count(*) FROM ops", [], |r| r.get(0))?;
        let own: i64 = self.conn.query_row(
            "SELECT count(*) FROM ops WHERE actor = ?1",
            [a2i(id.actor)],
            |r| r.get(0),
        )?;
        Ok((all as u64, own as u64))
    }

    /// The latest op made on this device, if any.
    pub fn last_own_op(&self) -> Result<Option<(u64, i64)>> {
        let id = self.identity()?;
        Ok(self
            .conn
            .query_row(
                "SELECT seq, stored_at FROM ops WHERE actor = ?1 ORDER BY seq DESC LIMIT 1",
                [a2i(id.actor)],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
            )
            .optional()?)
    }

    /// The materialized state, optionally for one period's counts.
    pub fn view(&mut self, period: Option<Period>) -> Result<StateView> {
        let id = self.identity()?;
        let tx = self.conn.transaction()?;
        let objects = TxObjects::new(&*tx, id.unit).load(period)?;
        tx.commit()?;
        Ok(objects.view(id.unit))
    }

    /// Rebuilds the materialized state from the op log (after a cache-format change).
    pub fn rebuild(&mut self) -> Result<()> {
        let unit = self.identity()?.unit;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut objs = TxObjects::new(&*tx, unit);
        objs.clear()?;
        {
            let mut st = tx.prepare("SELECT body FROM ops ORDER BY actor, seq")?;
            let bodies: Vec<String> = st
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for b in bodies {
                let op = Op::from_json(&b)
                    .map_err(|e| bad_db(&self.path, format!("op log entry: {e}")))?;
                crdt::apply_op(&mut objs, &op)?;
            }
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('cache_format', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [CACHE_FORMAT],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Full check: SQLite integrity, then the materialized state against a fresh replay
    /// of the op log in memory. Returns the problems found (empty when healthy).
    pub fn check(&mut self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        let mut st = self.conn.prepare("PRAGMA integrity_check")?;
        let rows: Vec<String> = st
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        drop(st);
        if rows != ["ok"] {
            problems.extend(rows.into_iter().map(|r| format!("integrity_check: {r}")));
            return Ok(problems);
        }
        let id = self.identity()?;
        let mut replica = Replica::new(id.unit);
        for op in self.ops_since(&VersionVector::new())? {
            if let Err(e) = replica.receive_in_order(op) {
                problems.push(format!("op log: {e}"));
                return Ok(problems);
            }
        }
        if replica.version_vector() != &self.version_vector()? {
            problems.push("version vector does not match the op log".into());
        }
        if replica.view() != self.view(None)? {
            problems.push("materialized state differs from a replay of the op log".into());
        }
        Ok(problems)
    }
}

/// An import failure: a refused op, or the store itself.
#[derive(Debug)]
pub enum DomainOrStore {
    /// An op was refused.
    Domain(DomainError),
    /// The store failed.
    Store(AgentError),
}

impl From<DomainError> for DomainOrStore {
    fn from(e: DomainError) -> Self {
        DomainOrStore::Domain(e)
    }
}

impl From<AgentError> for DomainOrStore {
    fn from(e: AgentError) -> Self {
        match e {
            AgentError::Invalid(d) => DomainOrStore::Domain(d),
            other => DomainOrStore::Store(other),
        }
    }
}

impl From<rusqlite::Error> for DomainOrStore {
    fn from(e: rusqlite::Error) -> Self {
        DomainOrStore::Store(e.into())
    }
}

/// One user action in progress: edits made through it share one transaction.
pub struct LocalTx<'a, 'c> {
    log: TxLog<'a, 'c>,
    hlc: Hlc,
    id: Identity,
    defs: Definitions,
    next_seq: u64,
    physical_ms: i64,
    ops: Vec<Op>,
    by: String,
}

impl LocalTx<'_, '_> {
    /// Who is entering: carried by the count and assessment ops of this action (a
    /// name already checked with `text::required`; see the officers' page).
    pub fn entered_by(&mut self, name: &str) {
        self.by = name.to_string();
    }

    /// Makes one edit: `make` builds the op from the state as it is now (including
    /// earlier edits of this action); it is checked, applied and appended to the log.
    pub fn edit<F>(&mut self, make: F) -> Result<&Op>
    where
        F: FnOnce(&mut TxObjects<'_>, &OpCtx, &Definitions) -> Result<Op>,
    {
        let stamp = self.hlc.tick(self.physical_ms.max(0) as u64, self.id.actor);
        let ctx = OpCtx {
            actor: self.id.actor,
            seq: self.next_seq,
            stamp,
            unit: self.id.unit,
            defs: self.defs.version,
            by: self.by.clone(),
        };
        let op = make(self.log.objects(), &ctx, &self.defs)?;
        op.check_shape()?;
        crdt::apply_op(self.log.objects(), &op)?;
        self.log.append(op.clone())?;
        self.next_seq += 1;
        self.ops.push(op);
        Ok(self.ops.last().expect("just pushed"))
    }
}

/// The CRDT objects of this commune (cchc-sql's tables) inside one transaction.
pub type TxObjects<'a> = SqlObjects<'a, AgentError>;

/// The op log and objects inside one transaction.
struct TxLog<'a, 'c> {
    tx: &'a Transaction<'c>,
    objects: TxObjects<'a>,
    /// When ops appended through it are stored (physical ms).
    now_ms: i64,
}

impl<'a, 'c> TxLog<'a, 'c> {
    fn new(tx: &'a Transaction<'c>, unit: UnitCode, now_ms: i64) -> TxLog<'a, 'c> {
        TxLog {
            tx,
            objects: TxObjects::new(&**tx, unit),
            now_ms,
        }
    }
}

impl<'a> OpLog for TxLog<'a, '_> {
    type Error = AgentError;
    type Objects = TxObjects<'a>;

    fn objects(&mut self) -> &mut TxObjects<'a> {
        &mut self.objects
    }

    fn held(&mut self, id: OpId) -> Result<Option<Op>> {
        let body: Option<String> = self
            .tx
            .query_row(
                "SELECT body FROM ops WHERE actor = ?1 AND seq = ?2",
                params![a2i(id.actor), id.seq as i64],
                |r| r.get(0),
            )
            .optional()?;
        Ok(body.map(|b| Op::from_json(&b)).transpose()?)
    }
    fn max_seq(&mut self, actor: ActorId) -> Result<u64> {
        Store::max_seq(self.tx, actor)
    }
    fn definitions(&mut self, version: u32) -> Result<Option<Definitions>> {
        Store::definitions_version(self.tx, version)
    }
    fn newest_definitions(&mut self) -> Result<u32> {
        Ok(self
            .tx
            .query_row("SELECT max(version) FROM definitions", [], |r| {
                r.get::<_, Option<u32>>(0)
            })?
            .unwrap_or(0))
    }
    fn append(&mut self, op: Op) -> Result<()> {
        Store::append(self.tx, &op, self.now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_names(conn: &Connection) -> Vec<String> {
        let mut st = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        let names = st.query_map([], |r| r.get(0)).unwrap();
        names.collect::<rusqlite::Result<_>>().unwrap()
    }

    /// The agent's CRDT object tables are cchc-sql's, on a new database and on one
    /// migrated from schema 2 (whose cache is rebuilt from its op log, losing nothing).
    #[test]
    fn the_object_tables_are_the_shared_ones_and_an_old_cache_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.db");
        let unit = UnitCode(70);
        let mut store = Store::create(&path, unit, ActorId(7), 0).unwrap();
        assert_eq!(
            cchc_sql::table_sql(&store.conn).unwrap(),
            cchc_sql::reference_table_sql().unwrap()
        );
        let op = store
            .commit_local(1_790_000_000_000, |_, ctx, _| {
                Ok(crdt::pledge_sign_op(
                    ctx,
                    2026,
                    "Nguyễn Văn An",
                    "Trưởng Công an xã",
                    "2026-01-15".parse().unwrap(),
                )?)
            })
            .unwrap();
        let before = store.view(None).unwrap();
        assert_eq!(before.pledges.len(), 1);
        drop(store);

        // The same data as schema 2 held it: the old tables, without the commune.
        let old = dir.path().join("old.db");
        {
            let mut conn = Connection::open(&old).unwrap();
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .unwrap();
            let tx = conn.transaction().unwrap();
            for batch in MIGRATIONS[..2].iter().copied().flatten() {
                tx.execute_batch(batch).unwrap();
            }
            tx.pragma_update(None, "user_version", 2).unwrap();
            tx.execute_batch(&format!(
                "INSERT INTO meta VALUES ('unit', '70'), ('actor', '7'), ('hlc_ms', '0'),
                    ('hlc_c', '0'), ('created_at_ms', '0'), ('cache_format', 'crdts-7.3.2/1');
                 INSERT INTO definitions VALUES (1, '{}', 0);",
                serde_json::to_string(&Definitions::builtin())
                    .unwrap()
                    .replace('\'', "''")
            ))
            .unwrap();
            Store::append(&tx, &op, 0).unwrap();
            tx.execute("INSERT INTO pledges VALUES (2026, 'stale', '{}')", [])
                .unwrap();
            tx.commit().unwrap();
        }
        let mut migrated = Store::open(&old).unwrap();
        assert_eq!(
            cchc_sql::table_sql(&migrated.conn).unwrap(),
            cchc_sql::reference_table_sql().unwrap()
        );
        assert_eq!(
            table_names(&migrated.conn),
            table_names(&Store::open(&path).unwrap().conn)
        );
        assert_eq!(migrated.view(None).unwrap(), before);
        assert!(migrated.check().unwrap().is_empty());
    }

    #[test]
    fn no_entry_is_saved_while_the_update_holds_the_write_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.db");
        let mut updater = Store::create(&path, UnitCode(4), ActorId(1), 0).unwrap();
        let mut officer = Store::open(&path).unwrap();
        officer
            .conn
            .busy_timeout(std::time::Duration::from_millis(50))
            .unwrap();
        let during = updater
            .with_write_lock(|| officer.set_meta("entry", "during the swap"))
            .unwrap();
        assert!(during.is_err(), "an entry went in during the swap");
        officer.set_meta("entry", "after the swap").unwrap();
        assert_eq!(
            updater.get_meta("entry").unwrap().as_deref(),
            Some("after the swap")
        );
        // The other way round: the updater waits for an entry being saved.
        let tx = officer
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        updater
            .conn
            .busy_timeout(std::time::Duration::from_millis(50))
            .unwrap();
        assert!(updater.with_write_lock(|| ()).is_err());
        tx.commit().unwrap();
        assert!(updater.with_write_lock(|| ()).is_ok());
    }

    #[test]
    fn a_rolled_back_build_uses_a_newer_database_that_says_it_may() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.db");
        drop(Store::create(&path, UnitCode(4), ActorId(1), 0).unwrap());
        let newer = MIGRATIONS.len() as i64 + 1;
        let set = |user_version: i64, compat: i64| {
            let c = Connection::open(&path).unwrap();
            c.pragma_update(None, "user_version", user_version).unwrap();
            c.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'compat_schema'",
                [compat.to_string()],
            )
            .unwrap();
        };
        // A newer build added to the schema and kept compat_schema: this build opens
        // the database as it is (never migrating it down) and its self-test passes.
        set(newer, COMPAT_SCHEMA);
        Store::self_test(&path).unwrap();
        let mut s = Store::open(&path).unwrap();
        assert!(s.check().unwrap().is_empty());
        drop(s);
        let v: i64 = Connection::open(&path)
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, newer);
        // One that this build cannot use says so, and is left untouched.
        set(newer, newer);
        let e = Store::open(&path).err().expect("refused");
        assert!(e.to_string().contains("written by a newer agent"), "{e}");
        assert!(Store::self_test(&path).is_err());
    }
}
