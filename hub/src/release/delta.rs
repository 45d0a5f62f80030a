//! Binary deltas for slow links: when a build is published, a bsdiff patch to it from
//! each of the newest earlier builds of its platform, gzip-compressed, kept beside
//! the builds. In: the new build and the published ones. Out: patches the hub offers
//! a device whose running build is their base. Patches are not signed: the agent
//! checks the patched result against the signed release and falls back to the full
//! file when anything differs.

use super::offline::write_whole;
use super::RELEASES_DIR;
use crate::error::{HubError, Result};
use crate::store::HubStore;
use cchc_common::release::{check_file, target_of, Release, Signed, Target};
use std::io::Write;
use std::path::Path;

/// Earlier builds a new one gets patches from.
const BASES: usize = 3;

/// The patch file of a delta.
pub fn file_name(to: &Target, from: &Target) -> String {
    format!("{RELEASES_DIR}/{}.from-{}.patch.gz", to.sha256, from.sha256)
}

/// Makes the deltas to a newly published build; returns one line per patch made.
pub fn make(
    store: &dyn HubStore,
    dir: &Path,
    new: &Signed<Release>,
    new_bytes: &[u8],
) -> Result<Vec<String>> {
    let to = &new.signed.target;
    let mut made = Vec::new();
    let bases = store
        .releases()?
        .into_iter()
        .filter(|r| r.platform == new.signed.platform && r.meta.signed.version < new.signed.version)
        .take(BASES);
    for base in bases {
        let from = &base.meta.signed.target;
        let path = dir.join(&base.file);
        let old = std::fs::read(&path).map_err(|e| HubError::io(&path, e))?;
        // A base file that is not what was signed is no base at all.
        if check_file(&old, from).is_err() {
            continue;
        }
        let mut raw = Vec::new();
        bsdiff::diff(&old, new_bytes, &mut raw).map_err(|e| HubError::io(&path, e))?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&raw)
            .map_err(|e| HubError::Internal(format!("compressing a patch: {e}")))?;
        let patch = gz
            .finish()
            .map_err(|e| HubError::Internal(format!("compressing a patch: {e}")))?;
        if patch.len() as u64 >= to.length / 2 {
            continue;
        }
        let rel = file_name(to, from);
        write_whole(&dir.join(&rel), &patch, false)?;
        let t = target_of(&patch);
        store.add_delta(&to.sha256, &from.sha256, &rel, &t)?;
        made.push(format!(
            "{} → {}: {} bytes",
            base.meta.signed.version, new.signed.version, t.length
        ));
    }
    Ok(made)
}
