//! The hub's SQL store, on SQLite (the default: one file `hub.db`, WAL,
//! `synchronous=FULL`; `lite.rs`) or on PostgreSQL (a schema of a database; `pg.rs`),
//! with one text of queries for both (`cchc_sql::Db`). It holds the op log of every
//! commune of the province, their merged CRDT objects, the rollups and the published
//! definitions. Sync batches are merged by one writer thread, several requests'
//! batches per write transaction, each in its own savepoint (`writer.rs`): a killed hub
//! keeps either all of a batch or none of it, and a batch is acknowledged only once its
//! transaction is durable. Reads go through a pool of connections (`pool.rs`) and
//! never wait for the writer.

use super::{Contact, Merged, Province, Store, UnitStatus};
use crate::error::{HubError, Result};
use cchc_common::state::VersionVector;
use cchc_common::units::Unit;
use cchc_common::update::SignedDefinitions;
use cchc_common::{ActorId, Definitions, Op, UnitCode};
use cchc_sql::{a2i, args, i2a, Db, DbExt, Tx};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

mod access;
pub mod archive;
mod conn;
pub mod copy;
mod dashboard;
mod lite;
mod oplog;
mod pg;
mod pg_schema;
mod plan;
mod pool;
mod releases;
mod rollup;
mod schema;
mod upstream;
mod writer;

pub use cchc_sql::pg::Target;
pub use conn::Source;
pub use upstream::province_of;

use conn::Conn;
use oplog::TxLog;

/// `PRAGMA application_id` of a cchc hub database ("CCHH").
pub const APPLICATION_ID: i32 = 0x4343_4848;

/// Whether the hub serves the commune (inside any transaction).
fn unit_served(conn: &dyn Db, unit: UnitCode) -> Result<bool> {
    Ok(conn.exists("SELECT 1 FROM units WHERE code = ?1", args![unit.0])?)
}

/// The hub's database.
pub struct SqlStore {
    conn: Arc<Mutex<Conn>>,
    /// The group-commit thread merging sync batches on `conn`.
    writer: writer::Writer,
    /// Connections for reading: pages, status, the delta down.
    readers: pool::Readers,
    /// What messages name: the file, or the PostgreSQL URL without its password.
    path: PathBuf,
}

fn bad_db(path: &Path, detail: impl Into<String>) -> HubError {
    HubError::BadDatabase {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// What a new hub holds before anything is synced: the province, its communes and the
/// built-in definitions (inside the creating transaction, on either engine).
fn seed(tx: &dyn Db, province: &Province, communes: &[&Unit], now_ms: i64) -> Result<()> {
    tx.exec(
        "INSERT INTO meta (key, value) VALUES ('province', ?1), ('province_name', ?2), ('created_at', ?3)",
        args![province.code.to_string(), province.name, now_ms.to_string()],
    )?;
    for u in communes {
        tx.exec(
            "INSERT INTO units (code, name, kind) VALUES (?1, ?2, ?3)",
            args![u.code.0, u.name, u.kind.vi()],
        )?;
    }
    let defs = Definitions::builtin();
    tx.exec(
        "INSERT INTO definitions (version, body, published_at) VALUES (?1, ?2, ?3)",
        args![
            defs.version,
            serde_json::to_string(&defs).expect("serializes"),
            now_ms
        ],
    )?;
    Ok(())
}

impl SqlStore {
    /// Creates a SQLite hub at `path` (which must not exist) for a province and its
    /// communes, with the built-in definitions published.
    pub fn create(
        path: &Path,
        province: &Province,
        communes: &[&Unit],
        now_ms: i64,
    ) -> Result<SqlStore> {
        SqlStore::create_at(
            &Source::Sqlite(path.to_path_buf()),
            province,
            communes,
            now_ms,
        )
    }

    /// Creates a hub where `source` says (nothing of a hub there yet), in one
    /// transaction: a crash leaves no half-made hub.
    pub fn create_at(
        source: &Source,
        province: &Province,
        communes: &[&Unit],
        now_ms: i64,
    ) -> Result<SqlStore> {
        let fill = |tx: &dyn Db| seed(tx, province, communes, now_ms);
        match source {
            Source::Sqlite(path) => lite::create(path, fill)?,
            Source::Postgres(t) => pg::create(t, fill)?,
        }
        SqlStore::open_at(source)
    }

    /// Opens an existing SQLite hub database, refusing foreign or newer ones.
    pub fn open(path: &Path) -> Result<SqlStore> {
        SqlStore::open_at(&Source::Sqlite(path.to_path_buf()))
    }

    /// Opens the hub where `source` says, refusing foreign or newer ones and bringing
    /// older ones up to date.
    pub fn open_at(source: &Source) -> Result<SqlStore> {
        let conn = match source {
            Source::Sqlite(path) => Conn::Sqlite(lite::open(path)?),
            Source::Postgres(t) => Conn::Postgres(Box::new(pg::open(t)?)),
        };
        let conn = Arc::new(Mutex::new(conn));
        Ok(SqlStore {
            writer: writer::Writer::start(conn.clone()),
            readers: pool::Readers::new(source.clone()),
            conn,
            path: source.label(),
        })
    }

    /// A read-only connection (never waits for the writer).
    fn read(&self) -> Result<pool::Reader<'_>> {
        self.readers.get()
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Conn> {
        // A panic while holding the lock cannot leave a transaction half-applied
        // (`Tx` rolls back on drop), so a poisoned lock is safe to reuse.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn unit_vv(conn: &dyn Db, unit: UnitCode) -> Result<VersionVector> {
        let rows: Vec<(ActorId, u64)> = conn.query(
            "SELECT actor, max_seq FROM version_vector WHERE unit = ?1",
            args![unit.0],
            |r| Ok((i2a(r.get(0)?), r.get::<i64>(1)? as u64)),
        )?;
        Ok(rows.into_iter().collect())
    }
}

impl Store for SqlStore {
    fn province(&self) -> Result<Province> {
        let conn = self.read()?;
        let get = |k: &str| -> Result<String> {
            conn.query_opt("SELECT value FROM meta WHERE key = ?1", args![k], |r| {
                r.get(0)
            })?
            .ok_or_else(|| bad_db(&self.path, format!("meta '{k}' is missing")))
        };
        Ok(Province {
            code: get("province")?
                .parse()
                .map_err(|_| bad_db(&self.path, "meta 'province' is not a number"))?,
            name: get("province_name")?,
        })
    }

    fn serves(&self, unit: UnitCode) -> Result<bool> {
        unit_served(&*self.read()?, unit)
    }

    fn merge(
        &self,
        unit: UnitCode,
        contact: &Contact,
        ops: Vec<Op>,
        now_ms: i64,
    ) -> Result<Merged> {
        self.writer.merge(writer::Job {
            unit,
            contact: contact.clone(),
            ops,
            now_ms,
        })
    }

    fn ops_since(
        &self,
        unit: UnitCode,
        have: &VersionVector,
        limit: usize,
    ) -> Result<(Vec<Op>, bool)> {
        let conn = self.read()?;
        let held = SqlStore::unit_vv(&*conn, unit)?;
        let mut out = Vec::new();
        let mut more = false;
        for (actor, max) in held.iter() {
            let from = have.get(&actor);
            if from >= max {
                continue;
            }
            let room = limit - out.len();
            if room == 0 {
                more = true;
                break;
            }
            out.extend(oplog::ops_after(&*conn, actor, from, room)?);
            if from + (room as u64) < max {
                more = true;
            }
        }
        Ok((out, more))
    }

    fn definitions_after(&self, version: u32) -> Result<Vec<SignedDefinitions>> {
        let conn = self.read()?;
        // Unsigned rows (the built-in version 1, or published before signing existed)
        // are never sent: agents take only what the root they pinned signed.
        let rows = conn.query(
            "SELECT body, meta FROM definitions WHERE version > ?1 AND meta IS NOT NULL
             ORDER BY version",
            args![version],
            |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
        )?;
        let mut out = Vec::new();
        for (body, meta) in rows {
            out.push(SignedDefinitions {
                meta: serde_json::from_str(&meta)
                    .map_err(|e| bad_db(&self.path, format!("stored definitions: {e}")))?,
                body,
            });
        }
        Ok(out)
    }

    fn publish_definitions(
        &self,
        defs: &Definitions,
        signed: &SignedDefinitions,
        now_ms: i64,
    ) -> Result<()> {
        defs.validate().map_err(|e| HubError::BadDefinitions {
            source: format!("version {}", defs.version),
            detail: e.to_string(),
        })?;
        let conn = self.conn();
        let tx = Tx::write(&*conn)?;
        let newest: u32 = tx
            .query_one("SELECT max(version) FROM definitions", args![], |r| {
                r.get::<Option<u32>>(0)
            })?
            .unwrap_or(0);
        if defs.version <= newest {
            return Err(HubError::DefinitionsNotNewer {
                version: defs.version,
                newest,
            });
        }
        tx.exec(
            "INSERT INTO definitions (version, body, published_at, meta) VALUES (?1, ?2, ?3, ?4)",
            args![
                defs.version,
                signed.body,
                now_ms,
                serde_json::to_string(&signed.meta).expect("serializes")
            ],
        )?;
        // Criteria sets and thresholds may have changed: every standing follows.
        rollup::refresh_all_standings(&tx)?;
        tx.commit()?;
        Ok(())
    }

    fn held(&self, unit: UnitCode) -> Result<VersionVector> {
        SqlStore::unit_vv(&*self.read()?, unit)
    }

    fn sync_status(&self) -> Result<Vec<UnitStatus>> {
        let conn = self.read()?;
        let mut units: BTreeMap<u32, UnitStatus> = BTreeMap::new();
        {
            let rows = conn.query("SELECT code, name FROM units ORDER BY code", args![], |r| {
                Ok((r.get::<u32>(0)?, r.get::<String>(1)?))
            })?;
            for (code, name) in rows {
                units.insert(
                    code,
                    UnitStatus {
                        unit: UnitCode(code),
                        name,
                        last_sync_ms: None,
                        ops: 0,
                        devices: 0,
                    },
                );
            }
        }
        let rows = conn.query(
            "SELECT unit, count(*), max(last_sync) FROM devices GROUP BY unit",
            args![],
            |r| Ok((r.get::<u32>(0)?, r.get::<u32>(1)?, r.get::<Option<i64>>(2)?)),
        )?;
        for (unit, devices, last) in rows {
            if let Some(u) = units.get_mut(&unit) {
                u.devices = devices;
                u.last_sync_ms = last;
            }
        }
        let rows = conn.query(
            "SELECT unit, CAST(sum(max_seq) AS BIGINT) FROM version_vector GROUP BY unit",
            args![],
            |r| Ok((r.get::<u32>(0)?, r.get::<i64>(1)?)),
        )?;
        for (unit, ops) in rows {
            if let Some(u) = units.get_mut(&unit) {
                u.ops = ops as u64;
            }
        }
        Ok(units.into_values().collect())
    }
}
