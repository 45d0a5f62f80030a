//! The SQLite side of the store: one file `hub.db` (WAL, `synchronous=FULL`,
//! `application_id` "CCHH", `user_version` = migrations applied), created under a
//! temporary name and renamed, so a crash leaves no half-made hub; opened only if it
//! is a hub's and not newer than this build, older ones migrated in one transaction.

use super::oplog;
use super::rollup;
use super::schema::{MIGRATIONS, OP_BATCHES_FROM, ROLLUPS_FROM};
use super::{bad_db, APPLICATION_ID};
use crate::error::{HubError, Result};
use cchc_sql::Db;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::Path;

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}

/// Creates the database at `path` (which must not exist) with the current schema,
/// filled by `fill` inside the creating transaction. Written to a temporary file and
/// renamed, so a crash leaves no half-made hub.
pub(super) fn create(path: &Path, fill: impl FnOnce(&dyn Db) -> Result<()>) -> Result<()> {
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
        fill(&*tx)?;
        tx.commit()?;
        conn.pragma_update(None, "journal_mode", "DELETE")?;
    }
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| HubError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| HubError::io(path, e))
}

/// Opens an existing hub database, refusing foreign or newer ones, and brings an
/// older one up to date.
pub(super) fn open(path: &Path) -> Result<Connection> {
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
    // Multi-row upserts of 1 to 64 rows are distinct statements: room for all of them.
    conn.set_prepared_statement_cache_capacity(512);
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::super::{oplog, SqlStore};
    use super::*;
    use crate::store::{Access, Province, Store};
    use cchc_common::state::VersionVector;
    use cchc_common::{ActorId, Op, UnitCode};
    use cchc_sql::{a2i, args, DbExt};
    use rusqlite::params;

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
        let store = SqlStore::open(&path).unwrap();
        let guard = store.conn();
        let conn = guard.sqlite().unwrap();
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
        drop(guard);
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
        let store = SqlStore::open(&path).unwrap();
        let rows: i64 = store
            .conn()
            .query_one("SELECT count(*) FROM op_batches", args![], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 3, "one row for a1, two for b2");
        let gone: i64 = store
            .conn()
            .query_one(
                "SELECT count(*) FROM sqlite_master WHERE name = 'ops'",
                args![],
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
        let store = SqlStore::create(
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
            cchc_sql::table_sql(conn.sqlite().unwrap()).unwrap(),
            cchc_sql::reference_table_sql().unwrap()
        );
    }
}
