//! The embedded SQLite store (WAL, `synchronous=FULL`): one file `hub.db` holding the
//! op log of every commune of the province, their merged CRDT objects and the
//! published definitions. Sync batches are merged by one writer thread, several
//! requests' batches per IMMEDIATE transaction, each in its own savepoint
//! (`writer.rs`): a killed hub keeps either all of a batch or none of it, and a batch
//! is acknowledged only once its transaction is on disk. Reads go through a pool of
//! read-only connections (`pool.rs`) and never wait for the writer.

use super::{Contact, Merged, Province, Store, UnitStatus};
use crate::error::{HubError, Result};
use cchc_common::state::VersionVector;
use cchc_common::units::Unit;
use cchc_common::update::SignedDefinitions;
use cchc_common::{ActorId, Definitions, Op, UnitCode};
use cchc_sql::{a2i, args, i2a, Db, DbExt, Tx};
use rusqlite::{params, Connection, OpenFlags, TransactionBehavior};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

mod access;
mod dashboard;
mod oplog;
mod plan;
mod pool;
mod releases;
mod rollup;
mod schema;
mod writer;

use oplog::TxLog;
use schema::{MIGRATIONS, OP_BATCHES_FROM, ROLLUPS_FROM};

/// `PRAGMA application_id` of a cchc hub database ("CCHH").
pub const APPLICATION_ID: i32 = 0x4343_4848;

/// Whether the hub serves the commune (inside any transaction).
fn unit_served(conn: &dyn Db, unit: UnitCode) -> Result<bool> {
    Ok(conn.exists("SELECT 1 FROM units WHERE code = ?1", args![unit.0])?)
}

/// The hub's SQLite database.
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// The group-commit thread merging sync batches on `conn`.
    writer: writer::Writer,
    /// Read-only connections: pages, status, the delta down.
    readers: pool::Readers,
    path: PathBuf,
}

fn bad_db(path: &Path, detail: impl Into<String>) -> HubError {
    HubError::BadDatabase {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}

impl SqliteStore {
    /// Creates the database at `path` (which must not exist) for a province and its
    /// communes, with the built-in definitions published. Written to a temporary file
    /// and renamed, so a crash leaves no half-made hub.
    pub fn create(
        path: &Path,
        province: &Province,
        communes: &[&Unit],
        now_ms: i64,
    ) -> Result<SqliteStore> {
        let tmp = path.with_extension("db.tmp");
        let _ = std::fs::remove_file(&tmp);
        // Owner-only from its first byte (SQLite opens the empty file as a new database).
        crate::private::new_file(&tmp)?;
        {
            let mut conn = Connection::open(&tmp)?;
            conn.pragma_update(None, "application_id", APPLICATION_ID)?;
            let tx = conn.transaction()?;
            for m in MIGRATIONS {
                tx.execute_batch(m)?;
            }
            oplog::convert_legacy(&tx)?;
            tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('province', ?1), ('province_name', ?2), ('created_at', ?3)",
                params![province.code.to_string(), province.name, now_ms.to_string()],
            )?;
            for u in communes {
                tx.execute(
                    "INSERT INTO units (code, name, kind) VALUES (?1, ?2, ?3)",
                    params![u.code.0, u.name, u.kind.vi()],
                )?;
            }
            let defs = Definitions::builtin();
            tx.execute(
                "INSERT INTO definitions (version, body, published_at) VALUES (?1, ?2, ?3)",
                params![
                    defs.version,
                    serde_json::to_string(&defs).expect("serializes"),
                    now_ms
                ],
            )?;
            tx.commit()?;
            conn.pragma_update(None, "journal_mode", "DELETE")?;
        }
        std::fs::rename(&tmp, path).map_err(|e| HubError::io(path, e))?;
        SqliteStore::open(path)
    }

    /// Opens an existing hub database, refusing foreign or newer ones.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if !path.exists() {
            return Err(HubError::NotInitialised {
                dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            });
        }
        crate::private::db_files(path)?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let app: i32 = conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(|e| bad_db(path, e.to_string()))?;
        if app != APPLICATION_ID {
            return Err(bad_db(
                path,
                format!("not a cchc hub database (application_id {app:#x})"),
            ));
        }
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > MIGRATIONS.len() as i64 || version < 1 {
            return Err(bad_db(
                path,
                format!(
                    "schema version {version}; this build uses version {}",
                    MIGRATIONS.len()
                ),
            ));
        }
        configure(&conn)?;
        let mut conn = conn;
        if version < MIGRATIONS.len() as i64 {
            // Older hub: bring it up to date in one transaction (all or nothing).
            let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
            for m in &MIGRATIONS[version as usize..] {
                tx.execute_batch(m)?;
            }
            if version < ROLLUPS_FROM {
                rollup::rebuild(&*tx)?;
            }
            if version < OP_BATCHES_FROM {
                oplog::convert_legacy(&tx)?;
            }
            tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
            tx.commit()?;
        }
        let conn = Arc::new(Mutex::new(conn));
        Ok(SqliteStore {
            writer: writer::Writer::start(conn.clone()),
            readers: pool::Readers::new(path),
            conn,
            path: path.to_path_buf(),
        })
    }

    /// A read-only connection (never waits for the writer).
    fn read(&self) -> Result<pool::Reader<'_>> {
        self.readers.get()
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction half-applied
        // (rusqlite rolls back on drop), so a poisoned lock is safe to reuse.
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

impl Store for SqliteStore {
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
        let held = SqliteStore::unit_vv(&*conn, unit)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Access;

    /// A hub created before enrollment existed (schema 1) opens, is brought to the
    /// current schema in place, and keeps its devices (without keys: they must enroll).
    #[test]
    fn a_schema_1_hub_is_migrated_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute_batch(
                "INSERT INTO meta VALUES ('province', '1'), ('province_name', 'Hà Nội');
                 INSERT INTO units VALUES (70, 'Phường Hoàn Kiếm', 'phường');
                 INSERT INTO devices VALUES (42, 70, '0.1.0', 1000, 2000, 5);",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let conn = store.conn();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let row: (i64, Option<Vec<u8>>, Option<i64>) = conn
            .query_row(
                "SELECT unit, public_key, last_sync FROM devices WHERE actor = 42",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(row, (70, None, Some(2000)));
        drop(conn);
        assert!(store.device_auth(ActorId(42)).unwrap().is_none());
        assert_eq!(store.sync_status().unwrap()[0].last_sync_ms, Some(2000));
    }

    /// A hub whose op log is one row per op (schemas 1 to 5) is moved into compact rows
    /// when opened: every op comes back exactly, in order, for every device, and
    /// serving a delta reads them from the new rows.
    #[test]
    fn an_op_log_of_one_row_per_op_is_moved_into_compact_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.db");
        let op = |actor: u64, seq: u64| -> Op {
            Op::from_json(&format!(
                r#"{{"v":1,"actor":"{actor:016x}","seq":{seq},"hlc_ms":{},"hlc_c":0,"unit":70,"defs":1,"body":{{"t":"count","period":"2026-11","procedure":"CT-01","deltas":[{{"metric":"received","dir":"inc","amount":1,"total":{seq}}}]}}}}"#,
                1_790_000_000_000u64 + seq
            ))
            .unwrap()
        };
        // Two devices; one with more ops than a compact row holds.
        let held: Vec<Op> = (1..=3)
            .map(|s| op(0xa1, s))
            .chain((1..=oplog::CHUNK_OPS as u64 + 5).map(|s| op(0xb2, s)))
            .collect();
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .unwrap();
            for m in &MIGRATIONS[..5] {
                conn.execute_batch(m).unwrap();
            }
            conn.pragma_update(None, "user_version", 5).unwrap();
            conn.execute_batch(
                "INSERT INTO meta VALUES ('province', '1'), ('province_name', 'Hà Nội');
                 INSERT INTO units VALUES (70, 'Phường Hoàn Kiếm', 'phường');",
            )
            .unwrap();
            for o in &held {
                conn.execute(
                    "INSERT INTO ops (actor, seq, unit, defs, body, received_at) VALUES (?1, ?2, 70, 1, ?3, 5)",
                    params![a2i(o.actor), o.seq as i64, o.to_json()],
                )
                .unwrap();
                conn.execute(
                    "INSERT INTO version_vector (actor, unit, max_seq) VALUES (?1, 70, ?2)
                     ON CONFLICT (actor) DO UPDATE SET max_seq = excluded.max_seq",
                    params![a2i(o.actor), o.seq as i64],
                )
                .unwrap();
            }
        }
        let store = SqliteStore::open(&path).unwrap();
        let rows: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM op_batches", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 3, "one row for a1, two for b2");
        let gone: i64 = store
            .conn()
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'ops'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(gone, 0, "the old table is dropped");
        let (ops, more) = store
            .ops_since(UnitCode(70), &VersionVector::new(), 10_000)
            .unwrap();
        assert!(!more);
        let mut sorted = ops.clone();
        sorted.sort_by_key(|o| (o.actor, o.seq));
        assert_eq!(sorted, held);
    }

    /// The hub's CRDT object tables are cchc-sql's: a table changed in one place and
    /// not the other fails here, not in an end-to-end test.
    #[test]
    fn the_object_tables_are_the_shared_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::create(
            &dir.path().join("hub.db"),
            &Province {
                code: 1,
                name: "Hà Nội".into(),
            },
            &[],
            0,
        )
        .unwrap();
        let conn = store.conn();
        assert_eq!(
            cchc_sql::table_sql(&conn).unwrap(),
            cchc_sql::reference_table_sql().unwrap()
        );
    }
}
