//! The updater's state, in `DATA_DIR/update/state.json`, written whole (temporary
//! file, fsync, rename) at every step, so a power cut leaves the last step taken.
//! Both builds of an update read it: fields are only ever added, with defaults.

use crate::error::{AgentError, Result};
use cchc_common::update::{Offer, UpdateEvent, UpdateReport};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Most reports kept while the hub cannot be reached (oldest dropped first).
const MAX_REPORTS: usize = 32;

/// Where an update stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Running a build that is not on trial.
    #[default]
    Idle,
    /// Swapping builds: the executable is `from` or `to`, whichever started.
    Swapping {
        /// The build being replaced.
        from: Version,
        /// The build swapped in.
        to: Version,
        /// Its soak time.
        soak_s: u64,
    },
    /// The new build has started but not yet passed its health check.
    Trial {
        /// The new build.
        version: Version,
        /// The build it replaced (kept as the previous one).
        from: Version,
        /// Starts counted since the swap (a crash loop rolls back).
        boots: u32,
        /// Its soak time.
        soak_s: u64,
        /// The last stop was clean (a signal), so the next start is not a crash.
        #[serde(default)]
        clean_stop: bool,
    },
    /// Healthy, soaking: a success once `soak_s` have passed without a crash loop.
    Soak {
        /// The new build.
        version: Version,
        /// The build it replaced.
        from: Version,
        /// When its health check passed (ms).
        healthy_ms: i64,
        /// Starts counted since then.
        boots: u32,
        /// Its soak time.
        soak_s: u64,
        /// The last stop was clean.
        #[serde(default)]
        clean_stop: bool,
    },
}

impl Phase {
    /// Counts one start of a build on trial or soaking (a start after a clean stop is
    /// no crash) and clears the clean-stop mark; the starts counted, or None when no
    /// build is on trial.
    pub fn count_start(&mut self) -> Option<u32> {
        match self {
            Phase::Trial {
                boots, clean_stop, ..
            }
            | Phase::Soak {
                boots, clean_stop, ..
            } => {
                if !*clean_stop {
                    *boots += 1;
                }
                *clean_stop = false;
                Some(*boots)
            }
            Phase::Idle | Phase::Swapping { .. } => None,
        }
    }

    /// Marks a clean stop of a build on trial or soaking (the next start is no crash).
    pub fn mark_clean_stop(&mut self) -> bool {
        match self {
            Phase::Trial { clean_stop, .. } | Phase::Soak { clean_stop, .. } => {
                *clean_stop = true;
                true
            }
            Phase::Idle | Phase::Swapping { .. } => false,
        }
    }
}

/// Everything the updater remembers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Where an update stands.
    #[serde(default)]
    pub phase: Phase,
    /// The last offer the hub made.
    #[serde(default)]
    pub offered: Option<Offer>,
    /// The highest release version ever accepted here: anything at or below it is a
    /// downgrade or a replay.
    #[serde(default)]
    pub highest_seen: Option<Version>,
    /// Releases that failed here: never tried again.
    #[serde(default)]
    pub refused: Vec<Version>,
    /// The build kept to roll back to.
    #[serde(default)]
    pub previous: Option<Version>,
    /// Reports not yet delivered to the hub.
    #[serde(default)]
    pub reports: Vec<UpdateReport>,
    /// Why the last offer was not taken (expired metadata, no root…).
    #[serde(default)]
    pub warning: Option<String>,
    /// How the offered build came (a delta, or the full file), for its report.
    #[serde(default)]
    pub via: Option<String>,
}

impl State {
    /// The state file of a data directory.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("update").join("state.json")
    }

    /// Reads the state (a missing file is a fresh state; a damaged one is said so).
    pub fn load(dir: &Path) -> Result<State> {
        let path = State::path(dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| AgentError::BadFile {
                path,
                detail: format!("the updater's state is damaged ({e}); delete it to start afresh"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(AgentError::io(path, e)),
        }
    }

    /// Writes the state whole and durably.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = State::path(dir);
        let folder = path.parent().expect("update/ has a parent");
        std::fs::create_dir_all(folder).map_err(|e| AgentError::io(folder, e))?;
        let bytes = serde_json::to_vec_pretty(self).expect("state serializes");
        super::swap::write_durably(&path, &bytes)
    }

    /// Queues a report for the next sync.
    pub fn report(&mut self, version: &Version, event: UpdateEvent, detail: &str, now_ms: i64) {
        if self.reports.len() >= MAX_REPORTS {
            self.reports.remove(0);
        }
        self.reports.push(UpdateReport {
            version: version.clone(),
            event,
            detail: detail.chars().take(300).collect(),
            at_ms: now_ms,
        });
    }

    /// Marks a release as failed here: reported, never tried again.
    pub fn refuse(&mut self, version: &Version, event: UpdateEvent, detail: &str, now_ms: i64) {
        if !self.refused.contains(version) {
            self.refused.push(version.clone());
        }
        self.report(version, event, detail, now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_survives_a_round_trip_and_an_older_file_reads() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), State::default());
        let mut s = State {
            phase: Phase::Trial {
                version: "0.2.0".parse().unwrap(),
                from: "0.1.0".parse().unwrap(),
                boots: 1,
                soak_s: 60,
                clean_stop: false,
            },
            ..State::default()
        };
        s.refuse(&"0.3.0".parse().unwrap(), UpdateEvent::Failed, "x", 5);
        s.save(dir.path()).unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), s);
        // A file written by a build that knew fewer fields still reads.
        std::fs::write(State::path(dir.path()), br#"{"phase":{"phase":"idle"}}"#).unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), State::default());
        std::fs::write(State::path(dir.path()), b"{").unwrap();
        assert!(State::load(dir.path()).is_err());
    }
}
