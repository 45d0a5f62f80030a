//! Downloading a release: from where the last attempt stopped (`Range: bytes=N-`),
//! flushed to disk as it comes, so a 2G link that drops every minute still finishes.
//! In: the signed target (length, SHA-256). Out: the verified file, or why not.

use crate::error::{AgentError, HubError, Result};
use crate::sync::Client;
use cchc_common::release::{check_file, Target};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What a download attempt ended with.
pub enum Fetched {
    /// The whole file, verified against the signed length and hash.
    Done(PathBuf),
    /// Cut short: the part is kept and the next attempt resumes it.
    Partial {
        /// Why it stopped, and how far it got.
        detail: String,
    },
}

/// The folder downloads go to.
pub fn folder(dir: &Path) -> PathBuf {
    dir.join("update").join("download")
}

/// Downloads (or resumes) the release file with this target.
pub async fn fetch(
    client: &Client,
    store: &mut crate::store::Store,
    dir: &Path,
    target: &Target,
) -> Result<Fetched> {
    fetch_file(client, store, dir, &target.sha256, &target.sha256, target).await
}

/// Downloads (or resumes) `/api/v1/releases/{remote}` into `name` in the folder.
async fn fetch_file(
    client: &Client,
    store: &mut crate::store::Store,
    dir: &Path,
    remote: &str,
    name: &str,
    target: &Target,
) -> Result<Fetched> {
    let folder = folder(dir);
    std::fs::create_dir_all(&folder).map_err(|e| AgentError::io(&folder, e))?;
    let done = folder.join(name);
    if done.exists() {
        return verified(&done, target).map(Fetched::Done);
    }
    let part = folder.join(format!("{name}.part"));
    let mut have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    if have > target.length {
        // More than the release holds: start again.
        std::fs::remove_file(&part).map_err(|e| AgentError::io(&part, e))?;
        have = 0;
    }
    if have < target.length {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&part)
            .map_err(|e| AgentError::io(&part, e))?;
        let mut resp = match client.download(store, remote, have).await {
            Ok(r) => r,
            Err(AgentError::Hub(HubError::Unreachable { detail, .. })) => {
                return Ok(Fetched::Partial { detail })
            }
            Err(e) => return Err(e),
        };
        let mut since_sync = 0usize;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if have + chunk.len() as u64 > target.length {
                        drop(f);
                        std::fs::remove_file(&part).map_err(|e| AgentError::io(&part, e))?;
                        return Err(AgentError::BadFile {
                            path: part,
                            detail: format!(
                                "the hub sent more than the release's {} bytes",
                                target.length
                            ),
                        });
                    }
                    f.write_all(&chunk).map_err(|e| AgentError::io(&part, e))?;
                    have += chunk.len() as u64;
                    since_sync += chunk.len();
                    if since_sync >= 1 << 20 {
                        f.sync_data().map_err(|e| AgentError::io(&part, e))?;
                        since_sync = 0;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    f.sync_data().map_err(|e| AgentError::io(&part, e))?;
                    return Ok(Fetched::Partial {
                        detail: format!("download cut at {have} of {} bytes: {e}", target.length),
                    });
                }
            }
        }
        f.sync_all().map_err(|e| AgentError::io(&part, e))?;
        if have < target.length {
            return Ok(Fetched::Partial {
                detail: format!("download ended at {have} of {} bytes", target.length),
            });
        }
    }
    std::fs::rename(&part, &done).map_err(|e| AgentError::io(&done, e))?;
    verified(&done, target).map(Fetched::Done)
}

/// Checks a complete file against the signed target; a mismatch is deleted.
fn verified(path: &Path, target: &Target) -> Result<PathBuf> {
    let bytes = std::fs::read(path).map_err(|e| AgentError::io(path, e))?;
    if let Err(e) = check_file(&bytes, target) {
        let _ = std::fs::remove_file(path);
        return Err(AgentError::Untrusted {
            what: path.display().to_string(),
            source: Box::new(e),
        });
    }
    Ok(path.to_path_buf())
}

/// Gets the release through a patch from the running build, when the hub offers one
/// for it: the patch is downloaded (resumably), applied, and the result checked
/// against the signed release. None when no patch applies: then the full file is
/// fetched. A patch that does not yield the signed build is deleted.
pub async fn fetch_delta(
    client: &Client,
    store: &mut crate::store::Store,
    dir: &Path,
    release: &cchc_common::release::Release,
    delta: &cchc_common::update::Delta,
    running_exe: &Path,
) -> Result<Option<Fetched>> {
    use std::io::Read;
    let target = &release.target;
    let Ok(old) = std::fs::read(running_exe) else {
        return Ok(None);
    };
    if cchc_common::release::target_of(&old).sha256 != delta.from_sha256 {
        return Ok(None);
    }
    let name = format!("{}.from-{}.patch.gz", target.sha256, delta.from_sha256);
    let remote = format!("{}/delta/{}", target.sha256, delta.from_sha256);
    let patch_path = match fetch_file(client, store, dir, &remote, &name, &delta.patch).await {
        Ok(Fetched::Done(p)) => p,
        Ok(partial @ Fetched::Partial { .. }) => return Ok(Some(partial)),
        Err(AgentError::Hub(e)) if e.is_transient() => return Err(AgentError::Hub(e)),
        Err(_) => return Ok(None),
    };
    let patch = std::fs::read(&patch_path).map_err(|e| AgentError::io(&patch_path, e))?;
    let _ = std::fs::remove_file(&patch_path);
    // Every byte of the result comes from the patch stream: bounding what is read
    // bounds the result.
    let limit = target.length.saturating_mul(2).saturating_add(1 << 20);
    let mut raw = flate2::read::GzDecoder::new(patch.as_slice()).take(limit);
    let mut new = Vec::with_capacity(target.length as usize);
    if bsdiff::patch(&old, &mut raw, &mut new).is_err() || check_file(&new, target).is_err() {
        return Ok(None);
    }
    let done = folder(dir).join(&target.sha256);
    super::swap::write_durably(&done, &new)?;
    Ok(Some(Fetched::Done(done)))
}
