//! `release status`: the trusted root, the published releases, and for each rollout
//! and stage how many devices were offered the build, downloaded it, installed it,
//! stayed healthy through the soak, failed or rolled back, and which devices. In: the
//! store. Out: the stable JSON document and its text (the dashboard's release page
//! renders the same document).

use crate::error::Result;
use crate::store::releases::{DeviceUpdate, RolloutState, Scope, Stage};
use crate::store::HubStore;
use cchc_common::release::key_id;
use cchc_common::{Date, Lang};
use serde::Serialize;

/// The whole document.
#[derive(Debug, Serialize)]
pub struct StatusDoc {
    /// The root the hub trusts (and hands to enrolling agents).
    pub root: Option<RootDoc>,
    /// Published releases, newest first.
    pub releases: Vec<ReleaseDoc>,
    /// Rollouts, newest first.
    pub rollouts: Vec<RolloutDoc>,
}

/// The trusted root.
#[derive(Debug, Serialize)]
pub struct RootDoc {
    /// Version.
    pub version: u64,
    /// Signatures needed.
    pub threshold: u32,
    /// Key ids.
    pub keys: Vec<String>,
    /// Expiry (ms).
    pub expires_ms: i64,
}

/// A published release.
#[derive(Debug, Serialize)]
pub struct ReleaseDoc {
    /// Version.
    pub version: String,
    /// Platform.
    pub platform: String,
    /// Bytes.
    pub length: u64,
    /// SHA-256.
    pub sha256: String,
    /// Published (ms).
    pub published_ms: i64,
    /// Its metadata expires (ms).
    pub expires_ms: i64,
}

/// Devices per milestone.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Figures {
    /// Offered the build.
    pub offered: u32,
    /// Downloaded and verified it.
    pub downloaded: u32,
    /// Swapped it in, health check passed.
    pub installed: u32,
    /// Healthy after the soak.
    pub healthy: u32,
    /// Failed (before or after the swap).
    pub failed: u32,
    /// Back on the previous build.
    pub rolled_back: u32,
}

impl Figures {
    fn add(&mut self, d: &DeviceUpdate) {
        self.offered += 1;
        self.downloaded += u32::from(d.downloaded_ms.is_some());
        self.installed += u32::from(d.installed_ms.is_some());
        self.healthy += u32::from(d.healthy_ms.is_some());
        self.failed += u32::from(d.failed_ms.is_some());
        self.rolled_back += u32::from(d.rolled_back_ms.is_some());
    }
}

/// One device's place in a rollout.
#[derive(Debug, Serialize)]
pub struct DeviceDoc {
    /// Device id.
    pub device: String,
    /// Commune.
    pub unit: u32,
    /// Its furthest milestone: offered, downloaded, installed, healthy, failed,
    /// rolled_back.
    pub state: &'static str,
    /// The failure's detail.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

fn state_of(d: &DeviceUpdate) -> &'static str {
    if d.rolled_back_ms.is_some() {
        "rolled_back"
    } else if d.failed_ms.is_some() {
        "failed"
    } else if d.healthy_ms.is_some() {
        "healthy"
    } else if d.installed_ms.is_some() {
        "installed"
    } else if d.downloaded_ms.is_some() {
        "downloaded"
    } else {
        "offered"
    }
}

/// One stage.
#[derive(Debug, Serialize)]
pub struct StageDoc {
    /// Its number and scope.
    #[serde(flatten)]
    pub stage: Stage,
    /// Its devices' figures.
    #[serde(flatten)]
    pub figures: Figures,
    /// Its devices.
    pub devices: Vec<DeviceDoc>,
}

/// One rollout.
#[derive(Debug, Serialize)]
pub struct RolloutDoc {
    /// Version.
    pub version: String,
    /// `running` or `halted`.
    pub state: RolloutState,
    /// Why it halted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Halt rule: failures, in percent of a stage's reports…
    pub halt_at_percent: u32,
    /// …once it has this many.
    pub min_reports: u32,
    /// Soak time (s).
    pub soak_s: u64,
    /// Figures over every stage.
    pub totals: Figures,
    /// Its stages.
    pub stages: Vec<StageDoc>,
}

/// Builds the document.
pub fn status_doc(store: &dyn HubStore) -> Result<StatusDoc> {
    let root = store.roots()?.pop().map(|r| RootDoc {
        version: r.signed.version,
        threshold: r.signed.threshold,
        keys: r.signed.keys.values().map(key_id).collect(),
        expires_ms: r.signed.expires_ms,
    });
    let releases = store
        .releases()?
        .into_iter()
        .map(|r| ReleaseDoc {
            version: r.meta.signed.version.to_string(),
            platform: r.meta.signed.platform.clone(),
            length: r.meta.signed.target.length,
            sha256: r.meta.signed.target.sha256.clone(),
            published_ms: r.published_ms,
            expires_ms: r.meta.signed.expires_ms,
        })
        .collect();
    let mut rollouts = Vec::new();
    for r in store.rollouts()? {
        let devices = store.device_updates(&r.version)?;
        let mut totals = Figures::default();
        let stages = r
            .stages
            .iter()
            .map(|s| {
                let mut figures = Figures::default();
                let mut list = Vec::new();
                for d in devices.iter().filter(|d| d.stage == s.number) {
                    figures.add(d);
                    totals.add(d);
                    list.push(DeviceDoc {
                        device: d.device.to_string(),
                        unit: d.unit.0,
                        state: state_of(d),
                        detail: d.detail.clone(),
                    });
                }
                StageDoc {
                    stage: s.clone(),
                    figures,
                    devices: list,
                }
            })
            .collect();
        rollouts.push(RolloutDoc {
            version: r.version.to_string(),
            state: r.state,
            reason: r.reason,
            halt_at_percent: r.rule.halt_at_percent,
            min_reports: r.rule.min_reports,
            soak_s: r.rule.soak_s,
            totals,
            stages,
        });
    }
    Ok(StatusDoc {
        root,
        releases,
        rollouts,
    })
}

/// How a stage's scope reads.
pub fn scope_text(scope: &Scope, lang: Lang) -> String {
    match scope {
        Scope::Pilot { units } => format!(
            "{} {}",
            lang.pick("thí điểm", "pilot"),
            units
                .iter()
                .map(|u| u.0.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Scope::Percent { percent } => format!("{percent}%"),
        Scope::All => lang.pick("tất cả", "all").to_string(),
    }
}

/// The document as text.
pub fn status_text(doc: &StatusDoc, lang: Lang) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    match &doc.root {
        Some(r) => {
            let _ = writeln!(
                s,
                "{} {}: {} {} ({}), {} {}",
                lang.pick("Gốc tin cậy phiên bản", "Release root version"),
                r.version,
                r.threshold,
                lang.pick("chữ ký trong", "signature(s) of"),
                r.keys.join(", "),
                lang.pick("hết hạn", "expires"),
                Date::display_vn(r.expires_ms)
            );
        }
        None => {
            let _ = writeln!(
                s,
                "{}",
                lang.pick(
                    "Chưa tin cậy gốc phát hành nào (cchc-hub release trust).",
                    "No release root trusted yet (cchc-hub release trust)."
                )
            );
        }
    }
    for r in &doc.releases {
        let _ = writeln!(
            s,
            "{} {} {}: {} bytes, sha256 {}",
            lang.pick("Bản phát hành", "Release"),
            r.version,
            r.platform,
            r.length,
            r.sha256
        );
    }
    for r in &doc.rollouts {
        let state = match r.state {
            RolloutState::Running => lang.pick("đang triển khai", "running"),
            RolloutState::Halted => lang.pick("ĐÃ DỪNG", "HALTED"),
        };
        let _ = writeln!(
            s,
            "\n{} {}: {state}{}",
            lang.pick("Triển khai", "Rollout"),
            r.version,
            r.reason
                .as_deref()
                .map(|x| format!(" — {x}"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            s,
            "  {:<24} {:>7} {:>10} {:>9} {:>7} {:>6} {:>11}",
            lang.pick("giai đoạn", "stage"),
            "offered",
            "downloaded",
            "installed",
            "healthy",
            "failed",
            "rolled_back"
        );
        for st in &r.stages {
            let f = st.figures;
            let _ = writeln!(
                s,
                "  {:<24} {:>7} {:>10} {:>9} {:>7} {:>6} {:>11}",
                format!("{}. {}", st.stage.number, scope_text(&st.stage.scope, lang)),
                f.offered,
                f.downloaded,
                f.installed,
                f.healthy,
                f.failed,
                f.rolled_back
            );
            for d in &st.devices {
                let _ = writeln!(
                    s,
                    "      {} ({}) {}{}",
                    d.device,
                    d.unit,
                    d.state,
                    if d.detail.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", crate::admin::visible(&d.detail))
                    }
                );
            }
        }
    }
    s
}
