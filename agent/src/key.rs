//! The device's signing key. In: the data directory. Out: the key pair, created once
//! with owner-only permissions (0600, in a 0700 directory) and never sent anywhere;
//! only its public half goes to the hub, at enrollment.
//!
//! File `device.key`: a header line and the 32-byte secret seed in hex. A key file that
//! others can read is refused, as ssh does, with the command that fixes it.

use crate::error::{AgentError, Result};
use cchc_common::auth::{hex, unhex, DeviceKey};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The key file in the data directory.
pub const KEY_FILE: &str = "device.key";
const HEADER: &str = "cchc device key v1 (ed25519 seed; keep private)";

/// Path of the key file.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(KEY_FILE)
}

/// Whether the device has a key yet.
pub fn exists(dir: &Path) -> bool {
    path(dir).exists()
}

/// Creates the key (refusing to overwrite one): written owner-only, flushed to disk.
pub fn create(dir: &Path) -> Result<DeviceKey> {
    let p = path(dir);
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed)
        .map_err(|e| AgentError::io(&p, std::io::Error::other(e.to_string())))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&p).map_err(|e| AgentError::io(&p, e))?;
    f.write_all(format!("{HEADER}\n{}\n", hex(&seed)).as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| AgentError::io(&p, e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(DeviceKey::from_seed(seed))
}

/// Loads the key, refusing a file others can read or a damaged one.
pub fn load(dir: &Path) -> Result<DeviceKey> {
    let p = path(dir);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p)
            .map_err(|e| AgentError::io(&p, e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(AgentError::BadFile {
                path: p.clone(),
                detail: format!(
                    "the device key can be read by others (mode {:o}); run `chmod 600 {}`",
                    mode & 0o777,
                    p.display()
                ),
            });
        }
    }
    let text = std::fs::read_to_string(&p).map_err(|e| AgentError::io(&p, e))?;
    let bad = |detail: &str| AgentError::BadFile {
        path: p.clone(),
        detail: format!("not a device key: {detail}"),
    };
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err(bad("its first line is not the key header"));
    }
    let seed = unhex(lines.next().unwrap_or(""), 32, "seed").map_err(|e| bad(&e.to_string()))?;
    let mut s = [0u8; 32];
    s.copy_from_slice(&seed);
    Ok(DeviceKey::from_seed(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_owner_only_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let k = create(dir.path()).unwrap();
        assert!(create(dir.path()).is_err(), "never overwritten");
        let again = load(dir.path()).unwrap();
        assert_eq!(k.public(), again.public());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(path(dir.path()), std::fs::Permissions::from_mode(0o644))
                .unwrap();
            let e = load(dir.path()).unwrap_err().to_string();
            assert!(e.contains("chmod 600"), "{e}");
        }
    }
}
