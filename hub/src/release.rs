//! Signed updates (issue 13, in progress): the `cchc-hub release` commands. In: an
//! admin's command on any machine (keygen needs no hub). Out: release keys in
//! owner-only files; the trust rules are `cchc_common::release`.

use crate::error::{HubError, Result};
use cchc_common::Lang;
use std::path::Path;

/// `cchc-hub release keygen`: a new release key in a new file, owner-only, flushed to
/// disk; prints the key id (what a root of trust lists).
pub fn keygen(out: &Path, lang: Lang) -> Result<()> {
    use cchc_common::release::{key_id, ReleaseKey};
    use std::io::Write;
    let seed: [u8; 32] = crate::auth::random()?;
    let key = ReleaseKey::from_seed(seed);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(out).map_err(|e| HubError::io(out, e))?;
    f.write_all(key.file_text().as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| HubError::io(out, e))?;
    let id = key_id(&key.public());
    match lang {
        Lang::Vi => println!(
            "Đã tạo khóa phát hành {id} (khóa công khai {}) trong {}. Hãy cất tệp này ngoại tuyến; máy chủ tỉnh không bao giờ giữ nó.",
            key.public(),
            out.display()
        ),
        Lang::En => println!(
            "Created release key {id} (public key {}) in {}. Keep the file offline; the hub never holds it.",
            key.public(),
            out.display()
        ),
    }
    Ok(())
}
