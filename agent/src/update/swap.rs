//! The file side of an update: the install path, the staged build, its self-test, the
//! swap (previous build kept beside it), the rollback and the restart. Every step is
//! one atomic rename, so a power cut leaves one of the two builds in place.
//!
//! Linux: a running executable may be replaced by rename. Windows: it may not be
//! overwritten, but it may be renamed away; `self-replace` does that dance.

use crate::error::{AgentError, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Longest the new build's self-test may take.
const SELF_TEST_TIMEOUT: Duration = Duration::from_secs(60);

static EXE: OnceLock<PathBuf> = OnceLock::new();

/// Remembers the install path; call first thing in `main`, before anything could
/// have renamed the running executable.
pub fn remember_exe() {
    let _ = EXE.get_or_init(|| {
        let p = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("cchc-agent"));
        // Linux names a replaced executable "… (deleted)".
        let s = p.to_string_lossy();
        match s.strip_suffix(" (deleted)") {
            Some(base) => PathBuf::from(base),
            None => p,
        }
    });
}

/// The installed executable.
pub fn exe() -> PathBuf {
    remember_exe();
    EXE.get().expect("set above").clone()
}

fn beside(suffix: &str) -> PathBuf {
    let exe = exe();
    let name = exe
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "cchc-agent".into());
    let (stem, ext) = match name.strip_suffix(".exe") {
        Some(stem) => (stem.to_string(), ".exe"),
        None => (name, ""),
    };
    exe.with_file_name(format!("{stem}.{suffix}{ext}"))
}

/// The build kept to roll back to.
pub fn previous_exe() -> PathBuf {
    beside("previous")
}

/// Where a new build waits for its swap.
pub fn staged_exe() -> PathBuf {
    beside("new")
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// Writes a file whole: a temporary beside it, fsync, rename, fsync of the folder.
pub fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| AgentError::io(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| AgentError::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| AgentError::io(path, e))?;
    sync_dir(path);
    Ok(())
}

/// Copies a file durably to `to` (through a temporary name), executable.
fn copy_durably(from: &Path, to: &Path) -> Result<()> {
    let tmp = to.with_extension("tmp");
    std::fs::copy(from, &tmp).map_err(|e| AgentError::io(&tmp, e))?;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&tmp)
        .map_err(|e| AgentError::io(&tmp, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o755))
            .map_err(|e| AgentError::io(&tmp, e))?;
    }
    f.sync_all().map_err(|e| AgentError::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, to).map_err(|e| AgentError::io(to, e))?;
    sync_dir(to);
    Ok(())
}

/// Puts a verified download beside the executable, ready to swap.
pub fn stage(download: &Path) -> Result<PathBuf> {
    let staged = staged_exe();
    copy_durably(download, &staged)?;
    Ok(staged)
}

/// Runs the staged build's self-test on this PC and this database (read-only): it
/// must start, open and check the database, and say it is `version`. A build that
/// cannot even load here never replaces the working one.
pub fn self_test(staged: &Path, data_dir: &Path, version: &semver::Version) -> Result<(), String> {
    let mut child = Command::new(staged)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--lang", "en", "self-test"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("the new build does not start: {e}"))?;
    let deadline = Instant::now() + SELF_TEST_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the new build's self-test did not finish within {} s",
                    SELF_TEST_TIMEOUT.as_secs()
                ));
            }
            Err(e) => return Err(format!("the new build's self-test: {e}")),
        }
    };
    let out = child
        .wait_with_output()
        .map_err(|e| format!("the new build's self-test: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let want = format!("cchc-agent self-test ok {version} ");
    if !status.success() || !stdout.starts_with(&want) {
        return Err(format!(
            "the new build's self-test failed ({status}): {}{}",
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Keeps the running build as the previous one, then swaps the staged one in.
pub fn swap_in(staged: &Path) -> Result<()> {
    let exe = exe();
    copy_durably(&exe, &previous_exe())?;
    #[cfg(windows)]
    {
        self_replace::self_replace(staged).map_err(|e| AgentError::io(&exe, e))?;
        let _ = std::fs::remove_file(staged);
    }
    #[cfg(not(windows))]
    {
        std::fs::rename(staged, &exe).map_err(|e| AgentError::io(&exe, e))?;
    }
    sync_dir(&exe);
    Ok(())
}

/// Puts the previous build back in place of the running one.
pub fn roll_back() -> Result<()> {
    let exe = exe();
    let previous = previous_exe();
    if !previous.exists() {
        return Err(AgentError::io(
            &previous,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no previous build is kept"),
        ));
    }
    #[cfg(windows)]
    {
        self_replace::self_replace(&previous).map_err(|e| AgentError::io(&exe, e))?;
    }
    #[cfg(not(windows))]
    {
        copy_durably(&previous, &exe)?;
    }
    sync_dir(&exe);
    Ok(())
}

/// Starts the installed executable with this process's arguments in place of this
/// process (Unix: exec, same process id; Windows: a new process, then this one ends).
pub fn restart() -> Result<std::convert::Infallible> {
    let exe = exe();
    let mut cmd = Command::new(&exe);
    cmd.args(std::env::args_os().skip(1));
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let e = cmd.exec();
        Err(AgentError::io(&exe, e))
    }
    #[cfg(not(unix))]
    {
        cmd.spawn().map_err(|e| AgentError::io(&exe, e))?;
        std::process::exit(0)
    }
}
