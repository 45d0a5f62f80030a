//! Connections for pages, status and the delta down. In: where the hub's data lives.
//! Out: a connection that sees the last committed state (SQLite: read-only WAL
//! readers, which never wait for the writer, nor it for them; PostgreSQL: MVCC reads),
//! returned to the pool when dropped.
//!
//! Reads go here so a dashboard page or another device's delta never waits behind a
//! merge holding the write connection.

use super::conn::{Conn, Source};
use crate::error::Result;
use std::ops::Deref;
use std::sync::Mutex;

/// Idle connections kept for reuse (more are opened when needed, and closed after).
const KEEP_IDLE: usize = 8;

/// A pool of reading connections to one database.
pub(super) struct Readers {
    source: Source,
    idle: Mutex<Vec<Conn>>,
}

/// A pooled connection.
pub(super) struct Reader<'a> {
    pool: &'a Readers,
    conn: Option<Conn>,
}

impl Readers {
    pub(super) fn new(source: Source) -> Readers {
        Readers {
            source,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An idle connection, or a new one.
    pub(super) fn get(&self) -> Result<Reader<'_>> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => self.source.reader()?,
        };
        Ok(Reader {
            pool: self,
            conn: Some(conn),
        })
    }
}

impl Deref for Reader<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn.as_ref().expect("held until dropped")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        // A connection left inside a transaction (a panic mid-read) or closed by the
        // server is not reused.
        if !conn.reusable() {
            return;
        }
        let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < KEEP_IDLE {
            idle.push(conn);
        }
    }
}
