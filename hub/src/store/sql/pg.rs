//! The hub's store on PostgreSQL: creating a hub in a schema (made if missing) and
//! opening one, refusing anything else. The connection itself is `cchc_sql::pg`.

use super::bad_db;
use super::pg_schema::MIGRATIONS;
use crate::error::{HubError, Result};
use cchc_sql::pg::{PgConn, Target};
use cchc_sql::{args, Db, DbExt, Tx};
use std::path::{Path, PathBuf};

/// What `schema_info.application` holds in a hub's schema.
const APPLICATION: &str = "cchc-hub";

fn connect(t: &Target) -> Result<PgConn> {
    PgConn::connect(t).map_err(|e| bad_db(Path::new(&t.label), format!("cannot connect: {e}")))
}

/// The province of the hub in `t`'s schema, if one is there.
fn existing(c: &PgConn, t: &Target) -> Result<Option<u32>> {
    let has_meta = c.exists(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = ?1 AND table_name = 'meta'",
        args![t.schema],
    )?;
    if !has_meta {
        return Ok(None);
    }
    let province: Option<String> = c.query_opt(
        "SELECT value FROM meta WHERE key = 'province'",
        args![],
        |r| r.get(0),
    )?;
    Ok(Some(province.and_then(|p| p.parse().ok()).unwrap_or(0)))
}

/// Creates a hub in `t`'s schema (made if missing) with the current schema, filled by
/// `fill`, in one transaction: a failure leaves nothing behind.
pub(super) fn create(t: &Target, fill: impl FnOnce(&dyn Db) -> Result<()>) -> Result<()> {
    let c = connect(t)?;
    if let Some(code) = existing(&c, t)? {
        return Err(HubError::AlreadyInitialised {
            dir: PathBuf::from(&t.label),
            province: code,
        });
    }
    make(&c, t, false, fill)
}

/// The schema made (or, with `replace`, dropped and made again) with the current
/// tables and filled, in one transaction.
fn make(
    c: &PgConn,
    t: &Target,
    replace: bool,
    fill: impl FnOnce(&dyn Db) -> Result<()>,
) -> Result<()> {
    let tx = Tx::write(c)?;
    if replace {
        tx.batch(&format!("DROP SCHEMA IF EXISTS {} CASCADE", t.schema))?;
    }
    tx.batch(&format!("CREATE SCHEMA IF NOT EXISTS {}", t.schema))?;
    tx.batch(cchc_sql::OBJECT_TABLES_POSTGRES)?;
    for m in MIGRATIONS {
        tx.batch(m)?;
    }
    tx.exec(
        "INSERT INTO schema_info (application, version) VALUES (?1, ?2)",
        args![APPLICATION, MIGRATIONS.len() as i64],
    )?;
    fill(&tx)?;
    tx.commit()?;
    Ok(())
}

/// Replaces whatever `t`'s schema holds with a new hub filled by `fill`, in one
/// transaction (a failure leaves the old data).
pub(super) fn replace(t: &Target, fill: impl FnOnce(&dyn Db) -> Result<()>) -> Result<()> {
    make(&connect(t)?, t, true, fill)
}

/// Opens the hub in `t`'s schema, refusing anything else and bringing an older schema
/// up to date in one transaction.
pub(super) fn open(t: &Target) -> Result<PgConn> {
    let c = connect(t)?;
    let here = Path::new(&t.label);
    if existing(&c, t)?.is_none() {
        return Err(bad_db(
            here,
            "no cchc hub in this schema (run cchc-hub init)",
        ));
    }
    let info: Option<(String, i64)> = c.query_opt(
        "SELECT application, version FROM schema_info",
        args![],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let Some((_, version)) = info.filter(|(a, _)| a == APPLICATION) else {
        return Err(bad_db(here, "this schema is not a cchc hub's"));
    };
    let version = usize::try_from(version).unwrap_or(0);
    if version > MIGRATIONS.len() || version < 1 {
        return Err(bad_db(
            here,
            format!(
                "schema version {version}; this build uses version {}",
                MIGRATIONS.len()
            ),
        ));
    }
    if version < MIGRATIONS.len() {
        let tx = Tx::write(&c)?;
        for m in &MIGRATIONS[version..] {
            tx.batch(m)?;
        }
        tx.exec(
            "UPDATE schema_info SET version = ?1",
            args![MIGRATIONS.len() as i64],
        )?;
        tx.commit()?;
    }
    Ok(c)
}
