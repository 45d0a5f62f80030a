//! The small SQL interface that store code is written against, so that one text of
//! queries runs on SQLite (here, for `rusqlite::Connection`) and on PostgreSQL (the
//! hub's backend, which implements [`Db`] for its own connections).
//!
//! Queries are written once, in the SQL both engines read: `?1`-style parameters (a
//! PostgreSQL backend rewrites them to `$1`), `ON CONFLICT … DO UPDATE`, integer columns
//! as 64-bit, aggregates cast back to integers where PostgreSQL would widen them
//! (`CAST(sum(x) AS BIGINT)`). Parameters are [`Arg`]s (made by [`args!`](crate::args)
//! from anything [`ToArg`]); a row's columns are read as [`Val`]s and converted by
//! [`FromVal`]. Schema text (types, triggers, `PRAGMA`s) stays each backend's own.

use std::borrow::Cow;

/// Which engine a connection talks to (for the few statements that differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite, through rusqlite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// An error of the SQL layer.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// SQLite failed.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// Another engine failed (PostgreSQL: its message, with its SQLSTATE code).
    #[error("{0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
    /// A column's value is not what the code reads it as.
    #[error("column {index}: {detail}")]
    Column {
        /// Column index in the row.
        index: usize,
        /// What was found.
        detail: String,
    },
    /// A query that must return a row returned none.
    #[error("the query returned no row")]
    NoRow,
}

/// One statement parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg<'a> {
    /// NULL.
    Null,
    /// An integer (stored as 64 bits by every backend).
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// Text.
    Text(Cow<'a, str>),
    /// Bytes.
    Blob(Cow<'a, [u8]>),
}

/// A value that can be a statement parameter.
pub trait ToArg {
    /// The parameter, borrowing from `self` where it can.
    fn to_arg(&self) -> Arg<'_>;
}

macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn to_arg(&self) -> Arg<'_> {
                Arg::Int(i64::from(*self))
            }
        }
    )*};
}
int_arg!(i64, i32, i16, i8, u32, u16, u8, bool);

impl ToArg for f64 {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Real(*self)
    }
}
impl ToArg for str {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Text(Cow::Borrowed(self))
    }
}
impl ToArg for String {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Text(Cow::Borrowed(self))
    }
}
impl ToArg for [u8] {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Blob(Cow::Borrowed(self))
    }
}
impl ToArg for Vec<u8> {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Blob(Cow::Borrowed(self))
    }
}
impl<const N: usize> ToArg for [u8; N] {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Blob(Cow::Borrowed(self))
    }
}
impl<T: ToArg> ToArg for Option<T> {
    fn to_arg(&self) -> Arg<'_> {
        match self {
            Some(v) => v.to_arg(),
            None => Arg::Null,
        }
    }
}
impl<T: ToArg + ?Sized> ToArg for &T {
    fn to_arg(&self) -> Arg<'_> {
        (**self).to_arg()
    }
}
impl ToArg for Arg<'_> {
    fn to_arg(&self) -> Arg<'_> {
        match self {
            Arg::Null => Arg::Null,
            Arg::Int(i) => Arg::Int(*i),
            Arg::Real(x) => Arg::Real(*x),
            Arg::Text(t) => Arg::Text(Cow::Borrowed(t)),
            Arg::Blob(b) => Arg::Blob(Cow::Borrowed(b)),
        }
    }
}

/// Statement parameters: `args![a, b]` is `&[Arg]`, each value borrowed where it can be
/// (`args![x.to_string()]` lives until the end of the statement that uses it).
#[macro_export]
macro_rules! args {
    () => {
        &[] as &[$crate::Arg<'_>]
    };
    ($($e:expr),+ $(,)?) => {
        &[$($crate::ToArg::to_arg(&$e)),+] as &[$crate::Arg<'_>]
    };
}

/// One column's value in a result row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val<'a> {
    /// NULL.
    Null,
    /// An integer (booleans too).
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// Text.
    Text(&'a str),
    /// Bytes.
    Blob(&'a [u8]),
}

impl Val<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Val::Null => "NULL",
            Val::Int(_) => "an integer",
            Val::Real(_) => "a real number",
            Val::Text(_) => "text",
            Val::Blob(_) => "bytes",
        }
    }
}

/// A value read from a column.
pub trait FromVal: Sized {
    /// The value, or what was found instead.
    fn from_val(v: Val<'_>) -> Result<Self, String>;
}

fn expected<T>(what: &str, v: Val<'_>) -> Result<T, String> {
    Err(format!("expected {what}, found {}", v.kind()))
}

macro_rules! int_val {
    ($($t:ty),*) => {$(
        impl FromVal for $t {
            fn from_val(v: Val<'_>) -> Result<Self, String> {
                match v {
                    Val::Int(i) => <$t>::try_from(i)
                        .map_err(|_| format!("{i} is out of range for {}", stringify!($t))),
                    other => expected("an integer", other),
                }
            }
        }
    )*};
}
int_val!(i64, i32, i16, u64, u32, u16, u8, usize);

impl FromVal for bool {
    fn from_val(v: Val<'_>) -> Result<Self, String> {
        match v {
            Val::Int(i) => Ok(i != 0),
            other => expected("a boolean", other),
        }
    }
}
impl FromVal for f64 {
    fn from_val(v: Val<'_>) -> Result<Self, String> {
        match v {
            Val::Real(x) => Ok(x),
            Val::Int(i) => Ok(i as f64),
            other => expected("a number", other),
        }
    }
}
impl FromVal for String {
    fn from_val(v: Val<'_>) -> Result<Self, String> {
        match v {
            Val::Text(t) => Ok(t.to_string()),
            other => expected("text", other),
        }
    }
}
impl FromVal for Vec<u8> {
    fn from_val(v: Val<'_>) -> Result<Self, String> {
        match v {
            Val::Blob(b) => Ok(b.to_vec()),
            other => expected("bytes", other),
        }
    }
}
impl<T: FromVal> FromVal for Option<T> {
    fn from_val(v: Val<'_>) -> Result<Self, String> {
        match v {
            Val::Null => Ok(None),
            v => T::from_val(v).map(Some),
        }
    }
}

/// A result row.
pub trait Row {
    /// Column `i`'s value.
    fn val(&self, i: usize) -> Result<Val<'_>, SqlError>;
    /// How many columns it has.
    fn columns(&self) -> usize;
}

impl dyn Row + '_ {
    /// Column `i` as a `T`.
    pub fn get<T: FromVal>(&self, i: usize) -> Result<T, SqlError> {
        T::from_val(self.val(i)?).map_err(|detail| SqlError::Column { index: i, detail })
    }
}

/// What a row callback returns to [`Db::each`]: go on to the next row or stop.
pub type Flow = Result<bool, SqlError>;

/// A connection (or an open transaction on one).
pub trait Db {
    /// The engine.
    fn dialect(&self) -> Dialect;
    /// Runs one statement; the rows it changed.
    fn exec(&self, sql: &str, args: &[Arg<'_>]) -> Result<usize, SqlError>;
    /// Runs one query, calling `f` for each row until it returns `Ok(false)`.
    fn each(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        f: &mut dyn FnMut(&dyn Row) -> Flow,
    ) -> Result<(), SqlError>;
    /// Runs statements without parameters (schema, transaction control).
    fn batch(&self, sql: &str) -> Result<(), SqlError>;
    /// Begins a transaction that will write, waiting for any other writer of the same
    /// data first (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: a transaction-scoped lock).
    fn begin_write(&self) -> Result<(), SqlError>;
}

/// Queries returning typed values, for every [`Db`].
pub trait DbExt: Db {
    /// Every row, each through `f`.
    fn query<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        mut f: impl FnMut(&dyn Row) -> Result<T, SqlError>,
    ) -> Result<Vec<T>, SqlError> {
        let mut out = Vec::new();
        self.each(sql, args, &mut |row| {
            out.push(f(row)?);
            Ok(true)
        })?;
        Ok(out)
    }

    /// The first row through `f`, if there is one.
    fn query_opt<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        f: impl FnOnce(&dyn Row) -> Result<T, SqlError>,
    ) -> Result<Option<T>, SqlError> {
        let mut f = Some(f);
        let mut out = None;
        self.each(sql, args, &mut |row| {
            out = Some((f.take().expect("called once"))(row)?);
            Ok(false)
        })?;
        Ok(out)
    }

    /// The first row through `f`; [`SqlError::NoRow`] if there is none.
    fn query_one<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        f: impl FnOnce(&dyn Row) -> Result<T, SqlError>,
    ) -> Result<T, SqlError> {
        self.query_opt(sql, args, f)?.ok_or(SqlError::NoRow)
    }

    /// Whether the query returns any row.
    fn exists(&self, sql: &str, args: &[Arg<'_>]) -> Result<bool, SqlError> {
        Ok(self.query_opt(sql, args, |_| Ok(()))?.is_some())
    }
}

impl<T: Db + ?Sized> DbExt for T {}

/// A write transaction, rolled back when dropped without [`Tx::commit`].
pub struct Tx<'a> {
    db: &'a dyn Db,
    open: bool,
}

impl<'a> Tx<'a> {
    /// Begins a write transaction ([`Db::begin_write`]).
    pub fn write(db: &'a dyn Db) -> Result<Tx<'a>, SqlError> {
        db.begin_write()?;
        Ok(Tx { db, open: true })
    }

    /// Commits (on failure the drop rolls back).
    pub fn commit(mut self) -> Result<(), SqlError> {
        self.db.batch("COMMIT")?;
        self.open = false;
        Ok(())
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.db.batch("ROLLBACK");
        }
    }
}

/// A savepoint inside a transaction, rolled back when dropped without
/// [`Savepoint::release`].
pub struct Savepoint<'a> {
    db: &'a dyn Db,
    open: bool,
}

impl<'a> Savepoint<'a> {
    /// Opens the savepoint.
    pub fn new(db: &'a dyn Db) -> Result<Savepoint<'a>, SqlError> {
        db.batch("SAVEPOINT sp")?;
        Ok(Savepoint { db, open: true })
    }

    /// Keeps what was done since it opened.
    pub fn release(mut self) -> Result<(), SqlError> {
        self.db.batch("RELEASE SAVEPOINT sp")?;
        self.open = false;
        Ok(())
    }
}

impl Drop for Savepoint<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self
                .db
                .batch("ROLLBACK TO SAVEPOINT sp; RELEASE SAVEPOINT sp");
        }
    }
}

macro_rules! delegate_db {
    ($t:ty) => {
        impl Db for $t {
            fn dialect(&self) -> Dialect {
                self.db.dialect()
            }
            fn exec(&self, sql: &str, args: &[Arg<'_>]) -> Result<usize, SqlError> {
                self.db.exec(sql, args)
            }
            fn each(
                &self,
                sql: &str,
                args: &[Arg<'_>],
                f: &mut dyn FnMut(&dyn Row) -> Flow,
            ) -> Result<(), SqlError> {
                self.db.each(sql, args, f)
            }
            fn batch(&self, sql: &str) -> Result<(), SqlError> {
                self.db.batch(sql)
            }
            fn begin_write(&self) -> Result<(), SqlError> {
                self.db.begin_write()
            }
        }
    };
}
delegate_db!(Tx<'_>);
delegate_db!(Savepoint<'_>);

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Arg::Null => ValueRef::Null,
            Arg::Int(i) => ValueRef::Integer(*i),
            Arg::Real(x) => ValueRef::Real(*x),
            Arg::Text(t) => ValueRef::Text(t.as_bytes()),
            Arg::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

struct LiteRow<'a, 'b>(&'a rusqlite::Row<'b>);

impl Row for LiteRow<'_, '_> {
    fn val(&self, i: usize) -> Result<Val<'_>, SqlError> {
        use rusqlite::types::ValueRef;
        Ok(match self.0.get_ref(i)? {
            ValueRef::Null => Val::Null,
            ValueRef::Integer(n) => Val::Int(n),
            ValueRef::Real(x) => Val::Real(x),
            ValueRef::Text(t) => {
                Val::Text(std::str::from_utf8(t).map_err(|e| SqlError::Column {
                    index: i,
                    detail: format!("text that is not UTF-8: {e}"),
                })?)
            }
            ValueRef::Blob(b) => Val::Blob(b),
        })
    }

    fn columns(&self) -> usize {
        self.0.as_ref().column_count()
    }
}

impl Db for rusqlite::Connection {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn exec(&self, sql: &str, args: &[Arg<'_>]) -> Result<usize, SqlError> {
        Ok(self
            .prepare_cached(sql)?
            .execute(rusqlite::params_from_iter(args))?)
    }

    fn each(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        f: &mut dyn FnMut(&dyn Row) -> Flow,
    ) -> Result<(), SqlError> {
        let mut st = self.prepare_cached(sql)?;
        let mut rows = st.query(rusqlite::params_from_iter(args))?;
        while let Some(r) = rows.next()? {
            if !f(&LiteRow(r))? {
                break;
            }
        }
        Ok(())
    }

    fn batch(&self, sql: &str) -> Result<(), SqlError> {
        Ok(self.execute_batch(sql)?)
    }

    fn begin_write(&self) -> Result<(), SqlError> {
        Ok(self.execute_batch("BEGIN IMMEDIATE")?)
    }
}

/// Most rows in one multi-row statement of [`insert_rows`].
const ROWS_PER_STATEMENT: usize = 64;

/// Inserts `args.len() / width` rows with multi-row statements (up to 64 rows each):
/// `head` is `INSERT INTO t (a, b, …)`, `tail` what follows the values (`ON CONFLICT
/// … DO UPDATE …`, or empty). One round trip per 64 rows instead of one per row,
/// which is what a database on the other side of a socket needs. The rows must not
/// repeat a conflict key (PostgreSQL will not update one row twice in a statement).
pub fn insert_rows(
    db: &dyn Db,
    head: &str,
    tail: &str,
    width: usize,
    args: &[Arg<'_>],
) -> Result<usize, SqlError> {
    assert!(width > 0 && args.len().is_multiple_of(width), "whole rows");
    let mut changed = 0;
    for chunk in args.chunks(width * ROWS_PER_STATEMENT) {
        let rows = chunk.len() / width;
        let mut sql = String::with_capacity(head.len() + tail.len() + rows * width * 5);
        sql.push_str(head);
        sql.push_str(" VALUES ");
        for r in 0..rows {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for c in 0..width {
                if c > 0 {
                    sql.push_str(", ");
                }
                sql.push('?');
                sql.push_str(&(r * width + c + 1).to_string());
            }
            sql.push(')');
        }
        sql.push(' ');
        sql.push_str(tail);
        changed += db.exec(&sql, chunk)?;
    }
    Ok(changed)
}

/// The tables of the connection's database (SQLite) or schema (PostgreSQL), by name.
pub fn table_names(db: &dyn Db) -> Result<Vec<String>, SqlError> {
    let sql = match db.dialect() {
        Dialect::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        Dialect::Postgres => {
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        }
    };
    let mut names: Vec<String> = db.query(sql, &[], |r| r.get(0))?;
    names.sort();
    Ok(names)
}

/// One value as [`dump`] writes it.
fn dump_val(v: Val<'_>) -> String {
    match v {
        Val::Null => "NULL".into(),
        Val::Int(n) => n.to_string(),
        Val::Real(x) => x.to_string(),
        Val::Text(t) => format!("'{t}'"),
        Val::Blob(b) => format!(
            "x'{}'",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
    }
}

/// One table's rows as text, sorted, values written alike on both engines.
pub fn table_rows(db: &dyn Db, table: &str) -> Result<Vec<String>, SqlError> {
    let mut rows: Vec<String> = db.query(&format!("SELECT * FROM \"{table}\""), &[], |r| {
        let cells = (0..r.columns())
            .map(|i| r.val(i).map(dump_val))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(cells.join(" | "))
    })?;
    rows.sort();
    Ok(rows)
}

/// Every row of every table but `skip`, as text: tables by name, rows sorted
/// ([`table_rows`]). Two databases with equal dumps hold the same data.
pub fn dump(db: &dyn Db, skip: &[&str]) -> Result<String, SqlError> {
    let mut out = String::new();
    for t in table_names(db)? {
        if skip.contains(&t.as_str()) {
            continue;
        }
        out += &format!("== {t}\n");
        for r in table_rows(db, &t)? {
            out += &r;
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_go_in_and_come_out_as_written() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.batch("CREATE TABLE t (a INTEGER, b TEXT, c BLOB, d INTEGER)")
            .unwrap();
        let name = String::from("Phường Ba Đình");
        assert_eq!(
            c.exec(
                "INSERT INTO t VALUES (?1, ?2, ?3, ?4)",
                args![u32::MAX, name, [1u8, 2, 3], None::<i64>],
            )
            .unwrap(),
            1
        );
        let row: (u32, String, Vec<u8>, Option<i64>) = c
            .query_one("SELECT a, b, c, d FROM t", args![], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .unwrap();
        assert_eq!(row, (u32::MAX, name, vec![1, 2, 3], None));
        // A value read as what it is not names the column and what it found.
        let e = c
            .query_one("SELECT b FROM t", args![], |r| r.get::<i64>(0))
            .unwrap_err();
        assert_eq!(e.to_string(), "column 0: expected an integer, found text");
        let e = c
            .query_one("SELECT a FROM t", args![], |r| r.get::<u16>(0))
            .unwrap_err();
        assert!(e.to_string().contains("out of range for u16"), "{e}");
    }

    #[test]
    fn many_rows_go_in_by_the_statement_and_upsert_as_one_by_one_would() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
            .unwrap();
        let rows = |n: i64, v: i64| -> Vec<Arg<'static>> {
            (0..n).flat_map(|k| [Arg::Int(k), Arg::Int(v)]).collect()
        };
        let tail = "ON CONFLICT (k) DO UPDATE SET v = t.v + excluded.v";
        assert_eq!(
            insert_rows(&c, "INSERT INTO t (k, v)", tail, 2, &rows(150, 1)).unwrap(),
            150
        );
        insert_rows(&c, "INSERT INTO t (k, v)", tail, 2, &rows(70, 10)).unwrap();
        let sum: i64 = c
            .query_one("SELECT sum(v) FROM t", args![], |r| r.get(0))
            .unwrap();
        assert_eq!(sum, 150 + 70 * 10);
        assert_eq!(
            insert_rows(&c, "INSERT INTO t (k, v)", "", 2, &[]).unwrap(),
            0
        );
    }

    #[test]
    fn a_dropped_transaction_or_savepoint_leaves_nothing() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.batch("CREATE TABLE t (a INTEGER)").unwrap();
        {
            let tx = Tx::write(&c).unwrap();
            tx.exec("INSERT INTO t VALUES (1)", args![]).unwrap();
        }
        let tx = Tx::write(&c).unwrap();
        tx.exec("INSERT INTO t VALUES (2)", args![]).unwrap();
        {
            let sp = Savepoint::new(&tx).unwrap();
            sp.exec("INSERT INTO t VALUES (3)", args![]).unwrap();
        }
        let sp = Savepoint::new(&tx).unwrap();
        sp.exec("INSERT INTO t VALUES (4)", args![]).unwrap();
        sp.release().unwrap();
        tx.commit().unwrap();
        let all: Vec<i64> = c
            .query("SELECT a FROM t ORDER BY a", args![], |r| r.get(0))
            .unwrap();
        assert_eq!(all, vec![2, 4]);
        // A callback's error comes back as it was, and stops the rows.
        let mut seen = 0;
        let e = c
            .query("SELECT a FROM t ORDER BY a", args![], |_| {
                seen += 1;
                Err::<(), _>(SqlError::NoRow)
            })
            .unwrap_err();
        assert!(matches!(e, SqlError::NoRow));
        assert_eq!(seen, 1);
    }
}
