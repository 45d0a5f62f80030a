//! The two engines under one store. In: where a hub's data lives ([`Source`]: a SQLite
//! file or a PostgreSQL schema). Out: [`Conn`], a connection to either, on which the
//! store's one text of queries runs (`cchc_sql::Db`).

use crate::error::Result;
use cchc_sql::pg::{PgConn, Target};
use cchc_sql::{Arg, Db, Dialect, Flow, Row, SqlError};
use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;
use std::result::Result as StdResult;

/// Where a hub's data lives.
#[derive(Debug, Clone)]
pub enum Source {
    /// One SQLite file (`DIR/hub.db`).
    Sqlite(PathBuf),
    /// A schema of a PostgreSQL database.
    Postgres(Box<Target>),
}

impl Source {
    /// What messages name: the file, or the URL without its password.
    pub fn label(&self) -> PathBuf {
        match self {
            Source::Sqlite(p) => p.clone(),
            Source::Postgres(t) => PathBuf::from(&t.label),
        }
    }

    /// A connection for reading (SQLite: read-only, never waits for the writer).
    pub(super) fn reader(&self) -> Result<Conn> {
        Ok(match self {
            Source::Sqlite(path) => {
                let c = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(std::time::Duration::from_secs(10))?;
                // Pages read little at a time: a small cache each.
                c.pragma_update(None, "cache_size", -2048)?;
                c.set_prepared_statement_cache_capacity(64);
                Conn::Sqlite(c)
            }
            Source::Postgres(t) => Conn::Postgres(Box::new(PgConn::connect(t)?)),
        })
    }
}

/// A connection to either engine.
pub enum Conn {
    /// SQLite.
    Sqlite(Connection),
    /// PostgreSQL.
    Postgres(Box<PgConn>),
}

impl Conn {
    /// Whether it can go back to a pool: not left inside a transaction, not closed.
    pub(super) fn reusable(&self) -> bool {
        match self {
            Conn::Sqlite(c) => c.is_autocommit(),
            Conn::Postgres(c) => !c.is_closed(),
        }
    }

    /// The SQLite connection (tests read pragmas through it).
    #[cfg(test)]
    pub(super) fn sqlite(&self) -> Option<&Connection> {
        match self {
            Conn::Sqlite(c) => Some(c),
            Conn::Postgres(_) => None,
        }
    }

    fn db(&self) -> &dyn Db {
        match self {
            Conn::Sqlite(c) => c,
            Conn::Postgres(c) => &**c,
        }
    }
}

impl Db for Conn {
    fn dialect(&self) -> Dialect {
        self.db().dialect()
    }
    fn exec(&self, sql: &str, args: &[Arg<'_>]) -> StdResult<usize, SqlError> {
        self.db().exec(sql, args)
    }
    fn each(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        f: &mut dyn FnMut(&dyn Row) -> Flow,
    ) -> StdResult<(), SqlError> {
        self.db().each(sql, args, f)
    }
    fn batch(&self, sql: &str) -> StdResult<(), SqlError> {
        self.db().batch(sql)
    }
    fn begin_write(&self) -> StdResult<(), SqlError> {
        self.db().begin_write()
    }
}
