//! Signed updates on the agent (issue 13). In: the hub's offer in a sync response and
//! the root of trust pinned at enrollment. Out: a new build downloaded (resumably),
//! checked (signatures, threshold, expiry, version, platform, length, SHA-256),
//! self-tested on this PC, swapped in under the database's write lock, restarted, and
//! judged: a health check after the swap, then a soak; a build that fails either, or
//! keeps crashing, is replaced by the previous one and the failure reported.
//!
//! Rules kept from other updaters' scars: expired metadata blocks an upgrade, never
//! the agent (it keeps its build and warns); a report that cannot be delivered is kept
//! and retried, never a reason to roll back; a hub that cannot be reached during the
//! health check delays the verdict, it does not fail the build.
//!
//! Database rule (see docs/updates.md): a release may only add to the schema, so the
//! build it replaces can still read and write the database (`COMPAT_SCHEMA`); the op
//! log is the record and every cache is rebuilt from it, so a rollback loses no entry.

pub mod fetch;
pub mod state;
pub mod swap;

use crate::error::{AgentError, Result};
use crate::store::Store;
use crate::sync::Client;
use cchc_common::release::accept;
use cchc_common::update::{this_platform, Offer, UpdateEvent};
use semver::Version;
use state::{Phase, State};
use std::path::Path;

/// This build's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Starts of a new build without passing its health check (or during its soak)
/// before it is rolled back.
const MAX_BOOTS: u32 = 3;

/// Test builds only (debug): `CCHC_TEST_CRASH_AT=<step>` ends the process as a
/// power cut would, at one step of an update (`staged`, `swapping`, `swapped`,
/// `restart`, and `trial`: the new build's start), so the crash tests reach each step for certain. Release
/// builds have no such hook.
pub fn crash_point(step: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("CCHC_TEST_CRASH_AT").is_ok_and(|s| s == step) {
        std::process::abort();
    }
    #[cfg(not(debug_assertions))]
    let _ = step;
}

/// This build's version, parsed.
pub fn version() -> Version {
    VERSION.parse().expect("the crate version is semver")
}

/// How far to take an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// All the way: download, check, self-test, swap (the resident `run`).
    Install,
    /// Download, check and self-test only (`update check`): `run` swaps it in.
    Stage,
}

/// What the caller must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Carry on.
    Carry,
    /// Restart into the installed executable (after a swap or a rollback).
    Restart,
}

/// The health check of a new build, before its first sync: the database opens and
/// agrees with its op log.
fn health(store: &mut Store) -> std::result::Result<(), String> {
    let mut problems = store.check().map_err(|e| e.to_string())?;
    if cfg!(feature = "fail-health") {
        problems.push("fault injected at build time (feature fail-health)".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Puts the previous build back and queues the report. `Restart` when the previous
/// build is in place; without one, the new build keeps running and says so.
fn roll_back(
    dir: &Path,
    st: &mut State,
    version: &Version,
    reason: &str,
    now_ms: i64,
) -> Result<Next> {
    st.phase = Phase::Idle;
    match swap::roll_back() {
        Ok(()) => {
            st.refuse(version, UpdateEvent::RolledBack, reason, now_ms);
            st.previous = None;
            st.save(dir)?;
            Ok(Next::Restart)
        }
        Err(e) => {
            let detail = format!("{reason}; cannot return to the previous build: {e}");
            st.refuse(version, UpdateEvent::Failed, &detail, now_ms);
            st.warning = Some(detail);
            st.save(dir)?;
            Ok(Next::Carry)
        }
    }
}

/// Run at the start of `cchc-agent run`: finishes or undoes an interrupted swap,
/// counts the starts of a build on trial, and runs its health check.
pub fn on_start(dir: &Path, store: &mut Store, now_ms: i64) -> Result<Next> {
    let mut st = State::load(dir)?;
    let me = version();
    if let Phase::Swapping { from, to, soak_s } = st.phase.clone() {
        if me == to {
            st.highest_seen = Some(to.clone());
            st.phase = Phase::Trial {
                version: to,
                from,
                boots: 0,
                soak_s,
                clean_stop: false,
            };
        } else {
            // Cut before the rename: the old build runs; the offer will come again.
            let _ = std::fs::remove_file(swap::staged_exe());
            st.phase = Phase::Idle;
        }
        st.save(dir)?;
    }
    match st.phase.clone() {
        Phase::Idle | Phase::Swapping { .. } => Ok(Next::Carry),
        Phase::Trial { version, .. } | Phase::Soak { version, .. } if version != me => {
            // The previous build was started again (by hand, or a rollback whose
            // state was not yet saved): the new one failed.
            st.phase = Phase::Idle;
            st.refuse(
                &version,
                UpdateEvent::RolledBack,
                &format!("build {me} was started again instead of {version}"),
                now_ms,
            );
            st.save(dir)?;
            Ok(Next::Carry)
        }
        Phase::Trial { version, .. } => {
            let boots = st.phase.count_start().unwrap_or(0);
            if boots > MAX_BOOTS {
                let why = format!("started {boots} times without passing its health check");
                return roll_back(dir, &mut st, &version, &why, now_ms);
            }
            st.save(dir)?;
            crash_point("trial");
            if let Err(why) = health(store) {
                return roll_back(
                    dir,
                    &mut st,
                    &version,
                    &format!("health check: {why}"),
                    now_ms,
                );
            }
            Ok(Next::Carry)
        }
        Phase::Soak { version, .. } => {
            let boots = st.phase.count_start().unwrap_or(0);
            if boots > MAX_BOOTS {
                let why = format!("crashed {boots} times during its soak");
                return roll_back(dir, &mut st, &version, &why, now_ms);
            }
            st.save(dir)?;
            Ok(Next::Carry)
        }
    }
}

/// Run when `cchc-agent run` stops on a signal: the next start is not a crash.
pub fn on_clean_stop(dir: &Path) -> Result<()> {
    let mut st = State::load(dir)?;
    if st.phase.mark_clean_stop() {
        st.save(dir)?;
    }
    Ok(())
}

/// Run after a sync that failed for a reason other than the link: a build on trial
/// that the hub refuses is rolled back.
pub fn after_refused_sync(dir: &Path, why: &str, now_ms: i64) -> Result<Next> {
    let mut st = State::load(dir)?;
    match st.phase.clone() {
        Phase::Trial { version, .. } if version == self::version() => roll_back(
            dir,
            &mut st,
            &version,
            &format!("health check: the sync failed: {why}"),
            now_ms,
        ),
        _ => Ok(Next::Carry),
    }
}

/// Run after each successful sync: a build on trial passed its health check; a
/// soaking one may be judged healthy; an offer may be taken.
pub async fn after_sync(
    dir: &Path,
    store: &mut Store,
    client: &Client,
    offer: Option<Offer>,
    mode: Mode,
    now_ms: i64,
) -> Result<Next> {
    // One updater at a time (the resident `run` and an `update check`).
    let Some(_lock) = lock(dir)? else {
        return Ok(Next::Carry);
    };
    let mut st = State::load(dir)?;
    let me = version();
    match st.phase.clone() {
        Phase::Trial { .. } | Phase::Soak { .. } | Phase::Swapping { .. }
            if mode == Mode::Stage =>
        {
            return Ok(Next::Carry)
        }
        Phase::Trial {
            version,
            from,
            soak_s,
            ..
        } if version == me => {
            st.report(&version, UpdateEvent::Installed, "", now_ms);
            st.phase = Phase::Soak {
                version,
                from,
                healthy_ms: now_ms,
                boots: 0,
                soak_s,
                clean_stop: false,
            };
            st.save(dir)?;
            return Ok(Next::Carry);
        }
        Phase::Soak {
            version,
            healthy_ms,
            soak_s,
            ..
        } => {
            if now_ms.saturating_sub(healthy_ms) >= (soak_s as i64).saturating_mul(1000) {
                st.report(&version, UpdateEvent::Healthy, "", now_ms);
                st.phase = Phase::Idle;
                st.save(dir)?;
            }
            return Ok(Next::Carry);
        }
        Phase::Trial { .. } | Phase::Swapping { .. } | Phase::Idle => {}
    }
    let Some(offer) = offer else {
        if st.offered.take().is_some() || st.warning.take().is_some() {
            st.save(dir)?;
        }
        return Ok(Next::Carry);
    };
    st.offered = Some(offer.clone());
    let next = consider(dir, store, client, &mut st, &offer, mode, now_ms).await;
    st.save(dir)?;
    next
}

/// The updater's lock file, held while an offer is taken; None when another process
/// holds it.
fn lock(dir: &Path) -> Result<Option<std::fs::File>> {
    let path = dir.join("update").join("lock");
    std::fs::create_dir_all(dir.join("update")).map_err(|e| AgentError::io(&path, e))?;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| AgentError::io(&path, e))?;
    match f.try_lock() {
        Ok(()) => Ok(Some(f)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(AgentError::io(&path, e)),
    }
}

/// Checks an offer against the pinned root and what this computer has seen: the
/// release to fetch, or None (the state says why: a warning, or a refusal).
pub fn check_offer(
    st: &mut State,
    root: Option<&cchc_common::release::Root>,
    offer: &Offer,
    running: &Version,
    now_ms: i64,
) -> Option<cchc_common::release::Release> {
    let v = offer.release.signed.version.clone();
    if st.refused.contains(&v) {
        return None;
    }
    let Some(root) = root else {
        st.warning = Some(
            "no release root is pinned (this computer enrolled before the hub trusted one): updates cannot be checked, so none is installed".into(),
        );
        return None;
    };
    let highest = st.highest_seen.clone().unwrap_or_else(|| running.clone());
    match accept(
        &offer.release,
        root,
        &this_platform(),
        running,
        &highest,
        now_ms,
    ) {
        Ok(r) => Some(r),
        Err(e) if e.is_expiry() => {
            // Expiry blocks the upgrade, never the agent.
            st.warning = Some(format!("update {v} not installed: {e}"));
            None
        }
        Err(e) => {
            st.refuse(&v, UpdateEvent::Failed, &e.to_string(), now_ms);
            None
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn consider(
    dir: &Path,
    store: &mut Store,
    client: &Client,
    st: &mut State,
    offer: &Offer,
    mode: Mode,
    now_ms: i64,
) -> Result<Next> {
    let me = version();
    let v = offer.release.signed.version.clone();
    st.warning = None;
    let root = store.release_root()?;
    let Some(release) = check_offer(st, root.as_ref().map(|r| &r.signed), offer, &me, now_ms)
    else {
        return Ok(Next::Carry);
    };
    // A patch from the running build when the hub has one (a slow link's friend),
    // else the whole file.
    let via_delta = match &offer.delta {
        Some(d) => fetch::fetch_delta(client, store, dir, &release, d, &swap::exe()).await,
        None => Ok(None),
    };
    let fetched = match via_delta {
        Ok(Some(f)) => {
            st.via = Some(format!(
                "delta of {} bytes",
                offer.delta.as_ref().map(|d| d.patch.length).unwrap_or(0)
            ));
            Ok(f)
        }
        Ok(None) => {
            st.via = Some(format!("full file of {} bytes", release.target.length));
            fetch::fetch(client, store, dir, &release.target).await
        }
        Err(e) => Err(e),
    };
    let path = match fetched {
        Ok(fetch::Fetched::Done(p)) => p,
        Ok(fetch::Fetched::Partial { detail, .. }) => {
            st.warning = Some(format!("update {v}: {detail}; resuming later"));
            return Ok(Next::Carry);
        }
        Err(e @ (AgentError::Untrusted { .. } | AgentError::BadFile { .. })) => {
            st.refuse(&v, UpdateEvent::Failed, &e.to_string(), now_ms);
            return Ok(Next::Carry);
        }
        Err(AgentError::Hub(e)) if !e.is_transient() => {
            st.warning = Some(format!("update {v}: {e}"));
            return Ok(Next::Carry);
        }
        Err(e) => return Err(e),
    };
    let staged = swap::stage(&path)?;
    crash_point("staged");
    if let Err(why) = swap::self_test(&staged, dir, &v) {
        let _ = std::fs::remove_file(&staged);
        st.refuse(&v, UpdateEvent::Failed, &why, now_ms);
        return Ok(Next::Carry);
    }
    let via = st.via.take().unwrap_or_default();
    st.report(&v, UpdateEvent::Downloaded, &via, now_ms);
    st.warning = None;
    if mode == Mode::Stage {
        let _ = std::fs::remove_file(&staged);
        return Ok(Next::Carry);
    }
    // No entry is being saved while the builds change places: the swap holds the
    // database's write lock (an officer's save waits a moment, then goes through).
    let soak_s = offer.soak_s;
    let kept = st.previous.clone();
    let swapped = store.with_write_lock(|| {
        st.phase = Phase::Swapping {
            from: me.clone(),
            to: v.clone(),
            soak_s,
        };
        st.previous = Some(me.clone());
        st.save(dir)?;
        crash_point("swapping");
        swap::swap_in(&staged)?;
        crash_point("swapped");
        // Only a build that was swapped in raises the bar: one cut before its
        // rename is offered again and taken.
        st.highest_seen = Some(v.clone());
        st.phase = Phase::Trial {
            version: v.clone(),
            from: me.clone(),
            boots: 0,
            soak_s,
            clean_stop: false,
        };
        st.save(dir)
    });
    // Neither a busy database nor a full disk is the build's fault: the running build
    // stays, the officer is told, and the next round tries again.
    let why = match swapped {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("the swap failed ({e})")),
        Err(e) => Some(format!("the database stayed busy ({e})")),
    };
    if let Some(why) = why {
        st.phase = Phase::Idle;
        st.previous = kept;
        let _ = std::fs::remove_file(&staged);
        st.warning = Some(format!(
            "update {v} not installed: {why}; trying again later"
        ));
        return Ok(Next::Carry);
    }
    let _ = std::fs::remove_dir_all(fetch::folder(dir));
    Ok(Next::Restart)
}

/// `cchc-agent update status`: current, previous and offered builds.
#[derive(Debug, serde::Serialize)]
pub struct StatusDoc {
    /// This build.
    pub current: String,
    /// The build kept to roll back to.
    pub previous: Option<String>,
    /// The version the hub offers.
    pub offered: Option<String>,
    /// idle, swapping, trial, soak.
    pub phase: &'static str,
    /// Versions that failed here.
    pub refused: Vec<String>,
    /// Reports waiting for the next sync.
    pub pending_reports: usize,
    /// The pinned release root's version (0: none).
    pub root_version: u64,
    /// Why the offer was not taken.
    pub warning: Option<String>,
    /// This computer's platform.
    pub platform: String,
}

/// The status document.
pub fn status(dir: &Path, store: &Store) -> Result<StatusDoc> {
    let st = State::load(dir)?;
    Ok(StatusDoc {
        current: VERSION.to_string(),
        previous: st
            .previous
            .as_ref()
            .filter(|_| swap::previous_exe().exists())
            .map(|v| v.to_string()),
        offered: st
            .offered
            .as_ref()
            .map(|o| o.release.signed.version.to_string()),
        phase: match st.phase {
            Phase::Idle => "idle",
            Phase::Swapping { .. } => "swapping",
            Phase::Trial { .. } => "trial",
            Phase::Soak { .. } => "soak",
        },
        refused: st.refused.iter().map(|v| v.to_string()).collect(),
        pending_reports: st.reports.len(),
        root_version: store.release_root()?.map(|r| r.signed.version).unwrap_or(0),
        warning: st.warning,
        platform: this_platform(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cchc_common::release::{key_id, target_of, Release, ReleaseKey, Role, Root, Signed};

    const NOW: i64 = 1_795_000_000_000;

    fn offer(k: &ReleaseKey, version: &str, platform: &str) -> Offer {
        let r = Release {
            version: version.parse().unwrap(),
            platform: platform.into(),
            min_from: "0.1.0".parse().unwrap(),
            target: target_of(b"build"),
            expires_ms: NOW + 1000,
        };
        Offer {
            release: Signed {
                signatures: vec![k.sign(Role::Release, &r)],
                signed: r,
            },
            soak_s: 1,
            delta: None,
        }
    }

    #[test]
    fn downgrades_replays_and_foreign_builds_are_refused_before_any_download() {
        let k = ReleaseKey::from_seed([9; 32]);
        let root = Root {
            version: 1,
            expires_ms: NOW + 1000,
            keys: [(key_id(&k.public()), k.public())].into_iter().collect(),
            threshold: 1,
        };
        let running: Version = "0.1.0".parse().unwrap();
        // Rolled back from 0.2.0 once: an old signed 0.1.5 replayed now is refused,
        // and so is 0.2.0 itself.
        let mut st = State {
            highest_seen: Some("0.2.0".parse().unwrap()),
            refused: vec!["0.2.0".parse().unwrap()],
            ..State::default()
        };
        let platform = this_platform();
        assert!(check_offer(
            &mut st,
            Some(&root),
            &offer(&k, "0.1.5", &platform),
            &running,
            NOW
        )
        .is_none());
        assert!(st
            .reports
            .last()
            .unwrap()
            .detail
            .contains("not newer than 0.2.0"));
        assert!(check_offer(
            &mut st,
            Some(&root),
            &offer(&k, "0.2.0", &platform),
            &running,
            NOW
        )
        .is_none());
        assert_eq!(
            st.reports.len(),
            1,
            "a refused version is not tried (or reported) again"
        );
        // A downgrade below the running build.
        let mut fresh = State::default();
        let newer: Version = "0.3.0".parse().unwrap();
        assert!(check_offer(
            &mut fresh,
            Some(&root),
            &offer(&k, "0.2.9", &platform),
            &newer,
            NOW
        )
        .is_none());
        assert!(fresh.reports[0].detail.contains("downgrade"));
        // Another platform.
        assert!(check_offer(
            &mut fresh,
            Some(&root),
            &offer(&k, "0.4.0", "plan9-mips"),
            &newer,
            NOW
        )
        .is_none());
        assert!(fresh.reports[1].detail.contains("plan9-mips"));
        // No pinned root: nothing can be checked, nothing is taken, nothing refused.
        let mut unpinned = State::default();
        assert!(check_offer(
            &mut unpinned,
            None,
            &offer(&k, "0.4.0", &platform),
            &newer,
            NOW
        )
        .is_none());
        assert!(unpinned.refused.is_empty() && unpinned.warning.is_some());
        // And the same offer, pinned, is taken.
        assert!(check_offer(
            &mut unpinned,
            Some(&root),
            &offer(&k, "0.4.0", &platform),
            &newer,
            NOW
        )
        .is_some());
    }
}
