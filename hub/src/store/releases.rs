//! The update channel's storage: the trusted release roots, published releases, their
//! staged rollouts and what each device reported. In: verified documents from
//! `crate::release`, devices' reports from `crate::sync`. Out: the offer a device gets
//! and the figures of `release status` and the dashboard's release page.
//!
//! The store holds nothing an agent must trust: an agent checks every document
//! against the root it pinned, so a row edited by an attacker can at worst make the
//! agent refuse an update.

use crate::error::Result;
use crate::store::AuditEntry;
use cchc_common::release::{Release, Root, Signed, Target};
use cchc_common::update::UpdateReport;
use cchc_common::{ActorId, UnitCode};
use semver::Version;
use serde::{Deserialize, Serialize};

/// A published release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRelease {
    /// Its signed metadata.
    pub meta: Signed<Release>,
    /// The platform it is offered to (as published: the signed one; agents check).
    pub platform: String,
    /// Its file, relative to the hub's data directory.
    pub file: String,
    /// When it was published (ms since the epoch).
    pub published_ms: i64,
}

/// Who a stage of a rollout adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum Scope {
    /// Every device of these communes.
    Pilot {
        /// The communes.
        units: Vec<UnitCode>,
    },
    /// Devices whose bucket (a hash of device id and version) is below this share.
    Percent {
        /// Percent, 1..=100.
        percent: u32,
    },
    /// Every device.
    All,
}

/// The halt rule of a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaltRule {
    /// Halt when failures reach this percent of a stage's reports…
    pub halt_at_percent: u32,
    /// …once a stage has at least this many reports.
    pub min_reports: u32,
    /// Seconds a new build must run healthy before it counts as a success.
    pub soak_s: u64,
}

/// Whether a rollout still offers its release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutState {
    /// Offered to its cohort.
    Running,
    /// Offered to no one (by hand or by its halt rule).
    Halted,
}

/// One stage of a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// 1, 2, …
    pub number: u32,
    /// Who it adds.
    #[serde(flatten)]
    pub scope: Scope,
    /// When it started (ms since the epoch).
    pub started_ms: i64,
}

/// A rollout of one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutRow {
    /// The version rolled out (every platform published for it).
    pub version: Version,
    /// Running or halted.
    pub state: RolloutState,
    /// Why it halted, and who halted it.
    pub reason: Option<String>,
    /// The halt rule.
    pub rule: HaltRule,
    /// Its stages, in order.
    pub stages: Vec<Stage>,
    /// Started (ms).
    pub started_ms: i64,
}

/// What one device did with one release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceUpdate {
    /// The device.
    pub device: ActorId,
    /// Its commune.
    pub unit: UnitCode,
    /// The stage that first offered it the release.
    pub stage: u32,
    /// When each milestone was reported (ms since the epoch, device clock aside from
    /// `offered`, which is the hub's).
    pub offered_ms: i64,
    /// Downloaded and verified.
    pub downloaded_ms: Option<i64>,
    /// Swapped in, health check passed.
    pub installed_ms: Option<i64>,
    /// Healthy after the soak time.
    pub healthy_ms: Option<i64>,
    /// Failed (before or after the swap).
    pub failed_ms: Option<i64>,
    /// Back on the previous build.
    pub rolled_back_ms: Option<i64>,
    /// The last failure's detail.
    pub detail: String,
}

/// The update channel's storage.
pub trait Releases: Send + Sync {
    /// The trusted roots, oldest first (empty: none set yet).
    fn roots(&self) -> Result<Vec<Signed<Root>>>;
    /// Adds a root (already checked to be the first one, or a valid rotation).
    fn trust_root(&self, root: &Signed<Root>, audit: &AuditEntry, now_ms: i64) -> Result<()>;
    /// Records a published release (its file already in place); refuses a version at
    /// or below one already published for the platform.
    fn publish_release(
        &self,
        release: &Signed<Release>,
        file: &str,
        audit: &AuditEntry,
        now_ms: i64,
    ) -> Result<()>;
    /// Every published release, newest first.
    fn releases(&self) -> Result<Vec<StoredRelease>>;
    /// Adds a stage to the version's rollout (creating it with `rule`, or changing
    /// its rule when given); refuses a halted rollout. Returns the stage number.
    fn add_stage(
        &self,
        version: &Version,
        scope: &Scope,
        rule: Option<HaltRule>,
        audit: &AuditEntry,
        now_ms: i64,
    ) -> Result<u32>;
    /// Halts or resumes a rollout; returns false when it already was so (a no-op).
    fn set_halted(
        &self,
        version: &Version,
        halted: bool,
        reason: &str,
        audit: &AuditEntry,
        now_ms: i64,
    ) -> Result<bool>;
    /// Every rollout, newest first.
    fn rollouts(&self) -> Result<Vec<RolloutRow>>;
    /// The devices offered one version, by device.
    fn device_updates(&self, version: &Version) -> Result<Vec<DeviceUpdate>>;
    /// The release (with its soak time) to offer this device, recording the offer
    /// the first time; None when no running rollout includes it.
    fn offer(
        &self,
        device: ActorId,
        unit: UnitCode,
        platform: &str,
        running: &str,
        now_ms: i64,
    ) -> Result<Option<(StoredRelease, u64)>>;
    /// Records a device's reports, then applies the halt rule of each rollout they
    /// concern (a halt is audited); returns the halts made.
    fn report(&self, device: ActorId, reports: &[UpdateReport], now_ms: i64)
        -> Result<Vec<String>>;
    /// True when the device was offered a release with this SHA-256 (it may download it).
    fn may_download(&self, device: ActorId, sha256: &str) -> Result<Option<StoredRelease>>;
    /// Records a binary delta between two published builds (its file in place).
    fn add_delta(
        &self,
        to_sha256: &str,
        from_sha256: &str,
        file: &str,
        patch: &Target,
    ) -> Result<()>;
    /// The delta from one build to another: its file and its length and hash.
    fn delta(&self, to_sha256: &str, from_sha256: &str) -> Result<Option<(String, Target)>>;
}

/// A device's place in a version's percentage order: 0..10,000, from a hash of the
/// version and the device id, so widening a rollout only ever adds devices and each
/// release starts with different ones.
pub fn bucket(device: ActorId, version: &Version) -> u32 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"cchc-rollout\0");
    h.update(version.to_string().as_bytes());
    h.update([0]);
    h.update(device.0.to_be_bytes());
    let d = h.finalize();
    let n = u64::from_be_bytes(d[..8].try_into().expect("8 bytes"));
    (n % 10_000) as u32
}

/// The first stage whose scope takes in this device, if any.
pub fn stage_of(
    stages: &[Stage],
    device: ActorId,
    unit: UnitCode,
    version: &Version,
) -> Option<u32> {
    stages.iter().find_map(|s| {
        let takes = match &s.scope {
            Scope::Pilot { units } => units.contains(&unit),
            Scope::Percent { percent } => bucket(device, version) < percent * 100,
            Scope::All => true,
        };
        takes.then_some(s.number)
    })
}

/// A stage's reports: devices that reached a verdict, and how many of them failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verdicts {
    /// Devices healthy, failed or rolled back.
    pub reports: u32,
    /// Devices failed or rolled back.
    pub failed: u32,
}

/// Why a stage halts its rollout under `rule`, or None.
pub fn halt_reason(stage: &Stage, v: Verdicts, rule: &HaltRule) -> Option<String> {
    let due = v.reports >= rule.min_reports.max(1)
        && u64::from(v.failed) * 100 >= u64::from(rule.halt_at_percent) * u64::from(v.reports);
    due.then(|| {
        format!(
            "stage {} failed on {} of {} devices reporting (halt at {}% after {} reports)",
            stage.number, v.failed, v.reports, rule.halt_at_percent, rule.min_reports
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_a_percentage_only_adds_devices_and_about_the_share() {
        let v: Version = "0.2.0".parse().unwrap();
        let stage = |n, percent| Stage {
            number: n,
            scope: Scope::Percent { percent },
            started_ms: 0,
        };
        let devices: Vec<ActorId> = (1..=4000u64).map(|i| ActorId(i * 7919)).collect();
        let ten: Vec<_> = devices
            .iter()
            .filter(|d| stage_of(&[stage(1, 10)], **d, UnitCode(1), &v).is_some())
            .collect();
        let fifty: Vec<_> = devices
            .iter()
            .filter(|d| stage_of(&[stage(1, 10), stage(2, 50)], **d, UnitCode(1), &v).is_some())
            .collect();
        assert!(ten.iter().all(|d| fifty.contains(d)));
        assert!((300..500).contains(&ten.len()), "{}", ten.len());
        assert!((1800..2200).contains(&fifty.len()), "{}", fifty.len());
        let pilot = Stage {
            number: 1,
            scope: Scope::Pilot {
                units: vec![UnitCode(4)],
            },
            started_ms: 0,
        };
        assert_eq!(
            stage_of(std::slice::from_ref(&pilot), ActorId(9), UnitCode(4), &v),
            Some(1)
        );
        assert_eq!(stage_of(&[pilot], ActorId(9), UnitCode(5), &v), None);
    }

    #[test]
    fn a_stage_halts_at_its_share_of_failures_once_it_has_enough_reports() {
        let rule = HaltRule {
            halt_at_percent: 10,
            min_reports: 5,
            soak_s: 60,
        };
        let s = Stage {
            number: 1,
            scope: Scope::All,
            started_ms: 0,
        };
        let v = |reports, failed| Verdicts { reports, failed };
        assert_eq!(halt_reason(&s, v(4, 4), &rule), None, "too few reports");
        assert!(halt_reason(&s, v(5, 1), &rule).is_some());
        assert_eq!(halt_reason(&s, v(11, 1), &rule), None, "9% < 10%");
        assert!(halt_reason(&s, v(10, 1), &rule).is_some());
    }
}
