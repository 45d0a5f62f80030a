//! A hub's rows from one store into another, whichever the engines: what `migrate`
//! (SQLite to PostgreSQL), `backup` (a PostgreSQL hub into a SQLite file) and `restore`
//! (a backup file into either) are made of. In: two connections, the source inside a
//! snapshot and the target inside the transaction that created it. Out: every row of
//! every table, the same on both sides ([`digests`] says so, table by table).

use super::bad_db;
use crate::error::Result;
use cchc_sql::{table_names, table_rows, Arg, Db, DbExt, Dialect, SqlError, Val};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::path::Path;

/// Tables an engine keeps for itself (PostgreSQL's schema version): never copied or
/// compared.
const ENGINE_ONLY: &[&str] = &["schema_info"];

/// Tables other tables point to, copied first (foreign keys).
const PARENTS: &[&str] = &["units", "enrollments", "users", "rollouts"];

/// Columns whose values a PostgreSQL identity makes (moved past the copied rows).
const IDENTITIES: &[(&str, &str)] = &[("audit", "id"), ("enrollments", "id")];

/// The hub's tables on this connection, parents first.
fn tables(db: &dyn Db) -> Result<Vec<String>> {
    let mut names: Vec<String> = table_names(db)?
        .into_iter()
        .filter(|t| !ENGINE_ONLY.contains(&t.as_str()))
        .collect();
    names.sort_by_key(|t| {
        (
            PARENTS.iter().position(|p| p == t).unwrap_or(PARENTS.len()),
            t.clone(),
        )
    });
    Ok(names)
}

/// A table's column names, in order.
fn columns(db: &dyn Db, table: &str) -> Result<Vec<String>> {
    let sql = match db.dialect() {
        Dialect::Sqlite => "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
        Dialect::Postgres => {
            "SELECT CAST(column_name AS TEXT) FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = ?1 ORDER BY ordinal_position"
        }
    };
    Ok(db.query(sql, cchc_sql::args![table], |r| r.get(0))?)
}

fn arg(v: Val<'_>) -> Arg<'_> {
    match v {
        Val::Null => Arg::Null,
        Val::Int(i) => Arg::Int(i),
        Val::Real(x) => Arg::Real(x),
        Val::Text(t) => Arg::Text(Cow::Borrowed(t)),
        Val::Blob(b) => Arg::Blob(Cow::Borrowed(b)),
    }
}

/// Copies every row of every table of `from` into the empty tables of `to` (the same
/// schema version: the tables and their columns must match, else nothing is copied).
/// Returns the rows copied.
pub(super) fn copy_rows(from: &dyn Db, to: &dyn Db, where_: &Path) -> Result<u64> {
    let names = tables(from)?;
    let there = tables(to)?;
    if names != there {
        return Err(bad_db(
            where_,
            format!("the two stores' tables differ: {names:?} / {there:?}"),
        ));
    }
    let mut copied = 0u64;
    for t in &names {
        let cols = columns(from, t)?;
        if cols != columns(to, t)? {
            return Err(bad_db(where_, format!("table {t}: the columns differ")));
        }
        let quoted: Vec<String> = cols.iter().map(|c| format!("\"{c}\"")).collect();
        let insert = format!(
            "INSERT INTO \"{t}\" ({}) VALUES ({})",
            quoted.join(", "),
            (1..=cols.len())
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let select = format!("SELECT {} FROM \"{t}\"", quoted.join(", "));
        from.each(&select, &[], &mut |r| {
            let args = (0..cols.len())
                .map(|i| r.val(i).map(arg))
                .collect::<std::result::Result<Vec<_>, SqlError>>()?;
            to.exec(&insert, &args)?;
            copied += 1;
            Ok(true)
        })?;
    }
    if to.dialect() == Dialect::Postgres {
        for (t, c) in IDENTITIES {
            to.batch(&format!(
                "SELECT setval(pg_get_serial_sequence('{t}', '{c}'),
                               (SELECT coalesce(max({c}), 0) + 1 FROM {t}), false)"
            ))?;
        }
    }
    Ok(copied)
}

/// One table's rows and the SHA-256 of their canonical text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDigest {
    /// Table.
    pub table: String,
    /// Rows.
    pub rows: u64,
    /// SHA-256 (hex) of its rows written as `cchc_sql::dump` writes them, sorted.
    pub sha256: String,
}

/// Every table's rows and digest: equal digests, equal data, whatever the engine.
pub(super) fn digests(db: &dyn Db) -> Result<Vec<TableDigest>> {
    let mut out = Vec::new();
    for t in tables(db)? {
        let rows = table_rows(db, &t)?;
        let mut h = Sha256::new();
        for r in &rows {
            h.update(r.as_bytes());
            h.update(b"\n");
        }
        out.push(TableDigest {
            rows: rows.len() as u64,
            sha256: format!("{:x}", h.finalize()),
            table: t,
        });
    }
    Ok(out)
}
