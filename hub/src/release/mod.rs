//! Signed updates on the hub (issue 13). In: an admin's documents, signed offline
//! (`offline`: keys, roots, bundles), and commands. Out: the trusted root chain, the
//! published releases (files under `releases/`, named by SHA-256) and definitions,
//! staged rollouts that halt themselves, and `release status` (`status`).
//!
//! The hub checks every document against the root it trusts, so an admin's mistake is
//! caught here; but it is the agents that decide, each against the root it pinned at
//! enrollment: the hub (and whoever holds it) can relay and withhold, never sign.

pub mod args;
pub mod cli;
pub mod delta;
pub mod offline;
pub mod status;

use crate::admin::Actor;
use crate::error::{HubError, ReleaseRefusal, Result, Rule};
use crate::store::releases::{HaltRule, Scope};
use crate::store::HubStore;
use cchc_common::release::{self as trust, Root, Signed};
use cchc_common::update::{read_bundle, BundleHead, SignedDefinitions};
use cchc_common::UnitCode;
use semver::Version;
use std::path::Path;

/// The halt rule of a rollout started without one: halt at 10 % failures once a
/// stage has 5 reports; a build counts as healthy after an hour's soak.
pub const DEFAULT_RULE: HaltRule = HaltRule {
    halt_at_percent: 10,
    min_reports: 5,
    soak_s: 3600,
};

/// Where releases' files live, relative to the hub's data directory.
pub const RELEASES_DIR: &str = "releases";

/// The root the hub trusts now.
pub fn current_root(store: &dyn HubStore) -> Result<Signed<Root>> {
    store
        .roots()?
        .pop()
        .ok_or_else(|| ReleaseRefusal::NoRoot.into())
}

/// Makes `doc` the hub's root: a first root signed by a threshold of its own keys, or
/// the next version signed by a threshold of the current root and of its own.
pub fn trust_root(
    store: &dyn HubStore,
    doc: &Signed<Root>,
    source: &str,
    by: &Actor,
    now_ms: i64,
) -> Result<()> {
    let untrusted = |e| {
        HubError::from(ReleaseRefusal::Untrusted {
            what: format!("{source} (root version {})", doc.signed.version),
            source: e,
        })
    };
    match store.roots()?.pop() {
        Some(current) => trust::rotate(&current.signed, doc, now_ms),
        None => trust::accept_first_root(doc, now_ms),
    }
    .map_err(untrusted)?;
    let audit = by.entry(
        "release.trust",
        format!("root:{}", doc.signed.version),
        "ok",
        format!(
            "{} key(s), threshold {}, from {source}",
            doc.signed.keys.len(),
            doc.signed.threshold
        ),
    );
    store.trust_root(doc, &audit, now_ms)
}

/// Reads a bundle and checks it against the hub's root: threshold and expiry.
fn check_bundle<'a>(
    store: &dyn HubStore,
    bytes: &'a [u8],
    source: &str,
    now_ms: i64,
) -> Result<(BundleHead, &'a [u8])> {
    let (head, payload) = read_bundle(bytes).map_err(|source_err| ReleaseRefusal::BadBundle {
        path: source.to_string(),
        source: source_err,
    })?;
    let root = current_root(store)?;
    let untrusted = |e| ReleaseRefusal::Untrusted {
        what: format!("{source} ({})", head.describe()),
        source: e,
    };
    head.verify(&root.signed).map_err(untrusted)?;
    head.check_fresh(now_ms).map_err(untrusted)?;
    Ok((head, payload))
}

/// What publishing a bundle did.
pub enum Published {
    /// An agent build.
    Agent {
        /// Version.
        version: Version,
        /// Platform.
        platform: String,
        /// The deltas made to it from earlier builds.
        deltas: Vec<String>,
    },
    /// A definitions document of this version.
    Definitions(u32),
}

/// Publishes a signed bundle: an agent build (its file kept under `releases/`) or a
/// definitions document. Nothing unsigned, expired or below the threshold is taken.
pub fn publish(
    store: &dyn HubStore,
    dir: Option<&Path>,
    bytes: &[u8],
    source: &str,
    by: &Actor,
    now_ms: i64,
) -> Result<Published> {
    let (head, payload) = check_bundle(store, bytes, source, now_ms)?;
    match head {
        BundleHead::Agent { release } => {
            let Some(dir) = dir else {
                return Err(ReleaseRefusal::BadBundle {
                    path: source.to_string(),
                    source: cchc_common::update::BundleError::Head(
                        "an agent build is published on the hub's machine: `cchc-hub release publish BUNDLE`".into(),
                    ),
                }
                .into());
            };
            let r = &release.signed;
            let rel = format!("{RELEASES_DIR}/{}", r.target.sha256);
            let folder = dir.join(RELEASES_DIR);
            crate::private::dir(&folder)?;
            offline::write_whole(&dir.join(&rel), payload, false)?;
            let audit = by.entry(
                "release.publish",
                format!("version:{}", r.version),
                "ok",
                format!(
                    "{} {} bytes sha256 {}",
                    r.platform, r.target.length, r.target.sha256
                ),
            );
            store.publish_release(&release, &rel, &audit, now_ms)?;
            let deltas = delta::make(store, dir, &release, payload)?;
            Ok(Published::Agent {
                version: r.version.clone(),
                platform: r.platform.clone(),
                deltas,
            })
        }
        BundleHead::Definitions { definitions } => {
            let body = String::from_utf8(payload.to_vec())
                .map_err(|_| HubError::input("definitions", source, Rule::Utf8))?;
            let defs = cchc_common::Definitions::from_json(&body).map_err(|e| {
                HubError::BadDefinitions {
                    source: source.to_string(),
                    detail: e.to_string(),
                }
            })?;
            if defs.version != definitions.signed.version {
                return Err(HubError::BadDefinitions {
                    source: source.to_string(),
                    detail: format!(
                        "signed as version {}, the document says {}",
                        definitions.signed.version, defs.version
                    ),
                });
            }
            let signed = SignedDefinitions {
                meta: definitions,
                body,
            };
            store.publish_definitions(&defs, &signed, now_ms)?;
            store.audit(
                &by.entry(
                    "definitions.publish",
                    format!("version:{}", defs.version),
                    "ok",
                    source,
                ),
                now_ms,
            )?;
            Ok(Published::Definitions(defs.version))
        }
    }
}

/// A `--percent` value: 1–100, `%` allowed.
pub fn parse_percent(s: &str, field: &str) -> Result<u32> {
    s.trim()
        .trim_end_matches('%')
        .parse::<u32>()
        .ok()
        .filter(|p| (1..=100).contains(p))
        .ok_or_else(|| HubError::input(field, s, Rule::Percent))
}

/// A version given on the command line.
pub fn parse_version(s: &str) -> Result<Version> {
    s.trim()
        .parse()
        .map_err(|_| HubError::input("--version", s, Rule::Version))
}

/// Adds a stage to a version's rollout.
pub fn rollout(
    store: &dyn HubStore,
    version: &Version,
    scope: Scope,
    rule: Option<HaltRule>,
    by: &Actor,
    now_ms: i64,
) -> Result<u32> {
    if let Scope::Pilot { units } = &scope {
        for u in units {
            if !store.serves(*u)? {
                return Err(HubError::UnknownUnit {
                    unit: u.0,
                    province: store.province()?.code,
                });
            }
        }
    }
    let what = match &scope {
        Scope::Pilot { units } => format!(
            "pilot: {}",
            units
                .iter()
                .map(|u| u.0.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ),
        Scope::Percent { percent } => format!("{percent}%"),
        Scope::All => "all".into(),
    };
    let audit = by.entry(
        "release.rollout",
        format!("version:{version}"),
        "ok",
        match rule {
            Some(r) => format!(
                "{what}; halt at {}% after {} reports; soak {} s",
                r.halt_at_percent, r.min_reports, r.soak_s
            ),
            None => what,
        },
    );
    store.add_stage(version, &scope, rule, &audit, now_ms)
}

/// Halts or resumes a rollout by hand; false when it already was so.
pub fn set_halted(
    store: &dyn HubStore,
    version: &Version,
    halted: bool,
    by: &Actor,
    now_ms: i64,
) -> Result<bool> {
    let action = if halted {
        "release.halt"
    } else {
        "release.resume"
    };
    let reason = format!(
        "{} by {}",
        if halted { "halted" } else { "resumed" },
        by.name
    );
    let audit = by.entry(action, format!("version:{version}"), "ok", reason.clone());
    store.set_halted(version, halted, &reason, &audit, now_ms)
}

/// Pilot communes from the command line.
pub fn parse_units(units: &[String]) -> Result<Vec<UnitCode>> {
    units
        .iter()
        .map(|u| {
            u.trim()
                .parse::<u32>()
                .map(UnitCode)
                .map_err(|_| HubError::input("--unit", u, Rule::WholeNumber))
        })
        .collect()
}
