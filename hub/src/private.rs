//! Owner-only files and folders. The hub's folder holds every commune's data, the
//! users' password hashes and the TLS keys: on Unix the folder and its subfolders are
//! 0700 and the database with its WAL 0600 (SQLite gives the WAL and shared-memory
//! files the database's own mode). Existing installs are tightened when opened.

use crate::error::{HubError, Result};
use std::path::{Path, PathBuf};

/// Creates `path` (and parents) and makes it owner-only.
pub fn dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| HubError::io(path, e))?;
    set_mode(path, 0o700)
}

/// Makes the database and its WAL and shared-memory files owner-only, when present.
pub fn db_files(db: &Path) -> Result<()> {
    for p in [
        db.to_path_buf(),
        with_suffix(db, "-wal"),
        with_suffix(db, "-shm"),
    ] {
        if p.exists() {
            set_mode(&p, 0o600)?;
        }
    }
    Ok(())
}

/// Creates an empty file readable by the owner only (a database about to be made).
pub fn new_file(path: &Path) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map(drop).map_err(|e| HubError::io(path, e))
}

/// Makes an existing file owner-only.
pub fn file(path: &Path) -> Result<()> {
    set_mode(path, 0o600)
}

/// Writes a new owner-only file whole and durably (refused if it exists).
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    new_file(path)?;
    let io = |e| HubError::io(path, e);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let now = std::fs::metadata(path).map_err(|e| HubError::io(path, e))?;
    if now.permissions().mode() & 0o777 != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| HubError::io(path, e))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> Result<()> {
    // Windows: the folder's ACL (ProgramData, set by the installer) decides.
    Ok(())
}
