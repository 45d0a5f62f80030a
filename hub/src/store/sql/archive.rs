//! Moving a hub's data as a whole: a consistent backup into one SQLite file while the
//! hub serves, a restore from such a file into either engine, and the move of a
//! province's SQLite hub to PostgreSQL. In: a store (or a source) and a file. Out: the
//! data where it was asked to go, checked table by table ([`TableDigest`]), or nothing
//! changed.
//!
//! A backup is a hub database like `hub.db` itself: it opens with any build that opens
//! hub databases, and restores into SQLite or PostgreSQL alike.

use super::conn::Conn;
use super::copy::{copy_rows, digests, TableDigest};
use super::{bad_db, lite, pg, Source, SqlStore};
use crate::error::{HubError, Result};
use cchc_sql::pg::Target;
use cchc_sql::{args, Db, DbExt};
use rusqlite::Connection;
use std::path::{Path, PathBuf};

/// What a backup or a restore holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Province code.
    pub province: u32,
    /// Ops held (the sum of the version vectors).
    pub ops: u64,
    /// Devices enrolled.
    pub devices: u64,
}

fn held(db: &dyn Db, here: &Path) -> Result<Held> {
    let province: String = db
        .query_opt(
            "SELECT value FROM meta WHERE key = 'province'",
            args![],
            |r| r.get(0),
        )?
        .ok_or_else(|| bad_db(here, "meta 'province' is missing"))?;
    Ok(Held {
        province: province
            .parse()
            .map_err(|_| bad_db(here, "meta 'province' is not a number"))?,
        ops: db.query_one(
            "SELECT CAST(coalesce(sum(max_seq), 0) AS BIGINT) FROM version_vector",
            args![],
            |r| r.get(0),
        )?,
        devices: db.query_one(
            "SELECT count(*) FROM devices WHERE public_key IS NOT NULL",
            args![],
            |r| r.get(0),
        )?,
    })
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> HubError + '_ {
    move |e| HubError::io(path, e)
}

/// `path` plus a suffix (`hub.db` → `hub.db-wal`).
fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Folds a SQLite database's WAL into it and removes the WAL and shared-memory files,
/// so the file alone is the whole database (before it is renamed).
fn fold_wal(path: &Path) -> Result<()> {
    {
        let c = Connection::open(path)?;
        c.busy_timeout(std::time::Duration::from_secs(10))?;
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        c.pragma_update(None, "journal_mode", "DELETE")?;
    }
    for s in ["-wal", "-shm"] {
        let p = suffixed(path, s);
        if p.exists() {
            std::fs::remove_file(&p).map_err(io(&p))?;
        }
    }
    Ok(())
}

/// Makes `path` durable and then names it `to`.
fn settle(path: &Path, to: &Path) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io(path))?;
    std::fs::rename(path, to).map_err(io(to))
}

impl SqlStore {
    /// What messages name: the file, or the PostgreSQL URL without its password.
    pub fn label(&self) -> PathBuf {
        self.path.clone()
    }

    /// The engine's own check of the stored data: SQLite's `integrity_check` (refused
    /// with what it found unless "ok"); PostgreSQL checks its pages itself, and
    /// [`SqlStore::digests`] reads every row.
    pub fn integrity(&self) -> Result<()> {
        let r = self.read()?;
        if let Conn::Sqlite(c) = &*r {
            let verdict: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            if verdict != "ok" {
                return Err(bad_db(&self.path, format!("integrity_check: {verdict}")));
            }
        }
        Ok(())
    }

    /// Each table's rows and digest, read in one go.
    pub fn digests(&self) -> Result<Vec<TableDigest>> {
        let r = self.read()?;
        r.batch("BEGIN")?;
        let d = digests(&*r);
        r.batch("COMMIT")?;
        d
    }

    /// A consistent copy of the whole hub into the new SQLite file `out`, while the hub
    /// serves: SQLite's online backup (one step, so one snapshot), or a PostgreSQL
    /// snapshot (REPEATABLE READ) copied table by table.
    pub fn backup(&self, out: &Path) -> Result<Held> {
        if out.exists() {
            return Err(HubError::io(
                out,
                std::io::Error::new(std::io::ErrorKind::AlreadyExists, "will not overwrite"),
            ));
        }
        let tmp = suffixed(out, ".tmp");
        let _ = std::fs::remove_file(&tmp);
        let reader = self.read()?;
        match &*reader {
            Conn::Sqlite(src) => {
                crate::private::new_file(&tmp)?;
                let mut dst = Connection::open(&tmp)?;
                {
                    // Every page in one step: one snapshot of the source, whatever the
                    // writer does meanwhile (a busy destination is retried, boundedly).
                    use rusqlite::backup::{Backup, StepResult};
                    let b = Backup::new(src, &mut dst)?;
                    let mut tries = 0;
                    loop {
                        match b.step(-1)? {
                            StepResult::Done => break,
                            _ if tries < 100 => {
                                tries += 1;
                                std::thread::sleep(std::time::Duration::from_millis(50));
                            }
                            _ => return Err(bad_db(&self.path, "the backup could not read")),
                        }
                    }
                }
                dst.pragma_update(None, "journal_mode", "DELETE")?;
            }
            Conn::Postgres(_) => {
                reader.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
                let made = lite::create(&tmp, |tx| copy_rows(&*reader, tx, &self.path).map(drop));
                reader.batch("COMMIT")?;
                made?;
            }
        }
        drop(reader);
        let c = Connection::open(&tmp)?;
        let summary = held(&c, &tmp)?;
        drop(c);
        settle(&tmp, out)?;
        Ok(summary)
    }
}

/// A readable copy of a backup file (the file itself is never changed: an older
/// backup is brought up to date in the copy), checked to be a hub's.
fn staged(file: &Path, beside: &Path) -> Result<(PathBuf, Connection)> {
    if !file.is_file() {
        return Err(HubError::io(
            file,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such backup file"),
        ));
    }
    let copy = beside.join("restore.tmp.db");
    for p in [
        copy.clone(),
        suffixed(&copy, "-wal"),
        suffixed(&copy, "-shm"),
    ] {
        let _ = std::fs::remove_file(p);
    }
    crate::private::new_file(&copy)?;
    std::fs::copy(file, &copy).map_err(io(&copy))?;
    let c = lite::open(&copy).map_err(|e| match e {
        HubError::BadDatabase { detail, .. } => bad_db(file, detail),
        other => other,
    })?;
    Ok((copy, c))
}

/// Replaces the data of the hub at `source` (not serving) with a backup's, refusing a
/// backup of another province. SQLite: the old file is kept as `hub.db.before-restore`.
/// PostgreSQL: the schema is replaced in one transaction.
pub fn restore(source: &Source, file: &Path, dir: &Path) -> Result<Held> {
    let (copy, backup) = staged(file, dir)?;
    let from = held(&backup, file)?;
    // What the hub holds now, read on a plain connection (no writer thread that could
    // still hold the file when it is replaced).
    let current = source.reader().ok().map(|r| held(&r, &source.label()));
    if let Some(Ok(now)) = current {
        if now.province != from.province {
            let _ = std::fs::remove_file(&copy);
            return Err(bad_db(
                file,
                format!(
                    "a backup of province {} cannot restore the hub of province {}",
                    from.province, now.province
                ),
            ));
        }
    }
    match source {
        Source::Sqlite(path) => {
            backup.pragma_update(None, "journal_mode", "DELETE")?;
            drop(backup);
            if path.exists() {
                fold_wal(path)?;
                std::fs::rename(path, suffixed(path, ".before-restore")).map_err(io(path))?;
            }
            settle(&copy, path)?;
        }
        Source::Postgres(t) => {
            let r = pg::replace(t, |tx| copy_rows(&backup, tx, file).map(drop));
            drop(backup);
            let _ = std::fs::remove_file(&copy);
            r?;
        }
    }
    Ok(from)
}

/// Moves the SQLite hub of `dir` into `target`'s schema (which must hold no hub): its
/// rows copied from one snapshot in one transaction, every table's digest compared,
/// then `store.url` written and `hub.db` kept as `hub.db.migrated`. Returns the digests
/// (equal on both sides).
pub fn migrate(dir: &Path, target: &Target) -> Result<Vec<TableDigest>> {
    let path = dir.join("hub.db");
    let src = lite::open(&path)?;
    src.execute_batch("BEGIN")?;
    pg::create(target, |tx| copy_rows(&src, tx, &path).map(drop))?;
    let before = digests(&src)?;
    src.execute_batch("COMMIT")?;
    drop(src);
    let after = SqlStore::open_at(&Source::Postgres(Box::new(target.clone())))?.digests()?;
    if before != after {
        let differ: Vec<&str> = before
            .iter()
            .zip(&after)
            .filter(|(a, b)| a != b)
            .map(|(a, _)| a.table.as_str())
            .collect();
        return Err(bad_db(
            Path::new(&target.label),
            format!("the copy differs from hub.db in {differ:?}; hub.db is still in use"),
        ));
    }
    let url = dir.join("store.url");
    let tmp = dir.join("store.url.tmp");
    let _ = std::fs::remove_file(&tmp);
    crate::private::write_new(&tmp, format!("{}\n", target.url).as_bytes())?;
    // From here the data directory names PostgreSQL (store.url wins over hub.db), so a
    // crash in between leaves a hub that opens where its data now is.
    std::fs::rename(&tmp, &url).map_err(io(&url))?;
    fold_wal(&path)?;
    std::fs::rename(&path, suffixed(&path, ".migrated")).map_err(io(&path))?;
    Ok(after)
}
