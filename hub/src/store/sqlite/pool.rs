//! Read-only connections for pages, status and the delta down. In: the database path.
//! Out: a connection that sees the last committed state (WAL readers never wait for the
//! writer, nor it for them), returned to the pool when dropped.
//!
//! Reads go here so a dashboard page or another device's delta never waits behind a
//! merge holding the write connection.

use crate::error::Result;
use rusqlite::{Connection, OpenFlags};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Idle connections kept for reuse (more are opened when needed, and closed after).
const KEEP_IDLE: usize = 8;

/// A pool of read-only connections to one database.
pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// A pooled read-only connection.
pub(super) struct Reader<'a> {
    pool: &'a Readers,
    conn: Option<Connection>,
}

impl Readers {
    pub(super) fn new(path: &Path) -> Readers {
        Readers {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An idle connection, or a new one.
    pub(super) fn get(&self) -> Result<Reader<'_>> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(std::time::Duration::from_secs(10))?;
                // Pages read little at a time: a small cache each.
                c.pragma_update(None, "cache_size", -2048)?;
                c
            }
        };
        Ok(Reader {
            pool: self,
            conn: Some(conn),
        })
    }
}

impl Deref for Reader<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("held until dropped")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        // A connection left inside a read transaction (a panic mid-read) is not reused.
        if !conn.is_autocommit() {
            return;
        }
        let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < KEEP_IDLE {
            idle.push(conn);
        }
    }
}
