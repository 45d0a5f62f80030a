//! Connections for pages, status and the delta down. In: where the hub's data lives.
//! Out: a connection that sees the last committed state (SQLite: read-only WAL
//! readers, which never wait for the writer, nor it for them; PostgreSQL: MVCC reads),
//! returned to the pool when dropped.
//!
//! Reads go here so a dashboard page or another device's delta never waits behind a
//! merge holding the write connection. On PostgreSQL the pool is bounded: a busy hub
//! must not take every connection of a database it may share with other provinces;
//! a read then waits for a connection (at most [`WAIT`]).

use super::conn::{Conn, Source};
use crate::error::{HubError, Result};
use std::ops::Deref;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Idle connections kept for reuse (more are opened when needed, and closed after).
const KEEP_IDLE: usize = 8;
/// Most PostgreSQL connections open for reading at once.
const MAX_POSTGRES: usize = 24;
/// Longest wait for a PostgreSQL connection before the request is answered "busy".
const WAIT: Duration = Duration::from_secs(30);

/// A pool of reading connections to one database.
pub(super) struct Readers {
    source: Source,
    state: Mutex<State>,
    freed: Condvar,
    max: usize,
}

struct State {
    idle: Vec<Conn>,
    /// Connections open (idle or lent).
    open: usize,
}

/// A pooled connection.
pub(super) struct Reader<'a> {
    pool: &'a Readers,
    conn: Option<Conn>,
}

impl Readers {
    pub(super) fn new(source: Source) -> Readers {
        let max = match source {
            Source::Sqlite(_) => usize::MAX,
            Source::Postgres(_) => MAX_POSTGRES,
        };
        Readers {
            source,
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
            max,
        }
    }

    /// An idle connection, or a new one (on PostgreSQL, once one is free if the pool
    /// is full).
    pub(super) fn get(&self) -> Result<Reader<'_>> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(Reader {
                    pool: self,
                    conn: Some(conn),
                });
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match self.source.reader() {
                    Ok(conn) => Ok(Reader {
                        pool: self,
                        conn: Some(conn),
                    }),
                    Err(e) => {
                        self.forget();
                        Err(e)
                    }
                };
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(HubError::Busy);
            }
            state = self
                .freed
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// A connection closed: room for another.
    fn forget(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.open = state.open.saturating_sub(1);
        drop(state);
        self.freed.notify_one();
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
        // server is not reused; one beyond the idle ones kept is closed.
        let mut state = self.pool.state.lock().unwrap_or_else(|p| p.into_inner());
        if conn.reusable() && state.idle.len() < KEEP_IDLE {
            state.idle.push(conn);
            drop(state);
            self.pool.freed.notify_one();
            return;
        }
        drop(state);
        drop(conn);
        self.pool.forget();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full pool lends no more connections: a read waits until one comes back, and
    /// the count of open connections never goes over the bound.
    #[test]
    fn a_full_pool_makes_a_read_wait_for_a_returned_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (a INTEGER)")
            .unwrap();
        let mut pool = Readers::new(Source::Sqlite(path));
        pool.max = 2;
        let a = pool.get().unwrap();
        let b = pool.get().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                let c = pool.get().unwrap();
                tx.send(()).unwrap();
                drop(c);
            });
            // The third read is still waiting: nothing was returned yet.
            assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
            assert_eq!(pool.state.lock().unwrap().open, 2);
            drop(a);
            rx.recv_timeout(Duration::from_secs(10))
                .expect("the returned connection is lent again");
        });
        drop(b);
        let state = pool.state.lock().unwrap();
        assert!(state.open <= 2 && state.idle.len() == state.open);
    }
}
