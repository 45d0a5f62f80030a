//! The `cchc-hub release` commands that work on a hub's data directory: `trust`,
//! `publish`, `rollout`, `halt`, `resume`, `status`. In: the command's arguments.
//! Out: the change made (audited, as `cli:USER`) and a line saying so.

use super::status::{status_doc, status_text};
use super::{parse_percent, parse_units, parse_version, Published};
use crate::admin::{parse_lifetime_within, Actor};
use crate::clock::now_ms;
use crate::error::{HubError, ReleaseRefusal, Result};
use crate::server::open;
use crate::store::releases::{HaltRule, Releases, Scope};
use cchc_common::release::{Root, Signed};
use cchc_common::Lang;
use std::path::Path;

/// Reads a root file.
pub fn read_root(file: &Path) -> Result<Signed<Root>> {
    let bytes = std::fs::read(file).map_err(|e| HubError::io(file, e))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ReleaseRefusal::BadBundle {
            path: file.display().to_string(),
            source: cchc_common::update::BundleError::Head(format!(
                "not a signed root document: {e}"
            )),
        }
        .into()
    })
}

/// Checks a first root before `init` creates anything: signed by a threshold of its
/// own keys, version 1, not expired.
pub fn check_first_root(file: &Path) -> Result<Signed<Root>> {
    let doc = read_root(file)?;
    cchc_common::release::accept_first_root(&doc, now_ms()).map_err(|source| {
        ReleaseRefusal::Untrusted {
            what: format!("{} (root version {})", file.display(), doc.signed.version),
            source,
        }
    })?;
    Ok(doc)
}

/// `cchc-hub release trust ROOT.json`.
pub fn trust(dir: &Path, file: &Path, lang: Lang) -> Result<()> {
    let store = open(dir)?;
    let doc = read_root(file)?;
    super::trust_root(
        &store,
        &doc,
        &file.display().to_string(),
        &Actor::cli(),
        now_ms(),
    )?;
    println!(
        "{} {} ({} {}, {} {})",
        lang.pick(
            "Máy chủ tỉnh tin cậy gốc phát hành phiên bản",
            "The hub trusts release root version"
        ),
        doc.signed.version,
        doc.signed.keys.len(),
        lang.pick("khóa", "key(s)"),
        lang.pick("ngưỡng", "threshold"),
        doc.signed.threshold
    );
    Ok(())
}

/// `cchc-hub release publish BUNDLE` (and `definitions publish BUNDLE`).
pub fn publish(dir: &Path, file: &Path, lang: Lang) -> Result<()> {
    let store = open(dir)?;
    let bytes = std::fs::read(file).map_err(|e| HubError::io(file, e))?;
    match super::publish(
        &store,
        Some(dir),
        &bytes,
        &file.display().to_string(),
        &Actor::cli(),
        now_ms(),
    )? {
        Published::Agent {
            version,
            platform,
            deltas,
        } => {
            println!(
                "{} {version} {platform}; {}: cchc-hub release rollout --version {version} --stage pilot --unit …",
                lang.pick("Đã đăng bản phát hành", "Published release"),
                lang.pick("triển khai", "roll it out")
            );
            for d in deltas {
                println!("  {} {d}", lang.pick("bản vá", "delta"));
            }
        }
        Published::Definitions(v) => println!(
            "{} {v}",
            lang.pick(
                "Đã ban hành bộ định nghĩa phiên bản",
                "Published definitions version"
            )
        ),
    }
    Ok(())
}

/// The arguments of `release rollout`.
pub struct RolloutArgs<'a> {
    /// Version.
    pub version: &'a str,
    /// `pilot` with `units`.
    pub pilot: bool,
    /// Pilot communes.
    pub units: &'a [String],
    /// A share of all devices.
    pub percent: Option<&'a str>,
    /// Every device.
    pub all: bool,
    /// Halt at this share of failures…
    pub halt_at: Option<&'a str>,
    /// …after this many reports per stage.
    pub min_reports: Option<u32>,
    /// Soak time, like `1h`.
    pub soak: Option<&'a str>,
}

/// `cchc-hub release rollout`.
pub fn rollout(dir: &Path, a: &RolloutArgs, lang: Lang) -> Result<()> {
    let store = open(dir)?;
    let version = parse_version(a.version)?;
    let scope = match (a.pilot, a.percent, a.all) {
        (true, None, false) => Scope::Pilot {
            units: parse_units(a.units)?,
        },
        (false, Some(p), false) => Scope::Percent {
            percent: parse_percent(p, "--percent")?,
        },
        (false, None, true) => Scope::All,
        _ => {
            return Err(HubError::input(
                "--stage/--percent/--all",
                "",
                crate::error::Rule::Required,
            ))
        }
    };
    if let Scope::Pilot { units } = &scope {
        if units.is_empty() {
            return Err(HubError::input("--unit", "", crate::error::Rule::Required));
        }
    }
    let rule = if a.halt_at.is_some() || a.min_reports.is_some() || a.soak.is_some() {
        let base = store
            .rollouts()?
            .into_iter()
            .find(|r| r.version == version)
            .map(|r| r.rule)
            .unwrap_or(super::DEFAULT_RULE);
        Some(HaltRule {
            halt_at_percent: match a.halt_at {
                Some(h) => parse_percent(h, "--halt-at")?,
                None => base.halt_at_percent,
            },
            min_reports: a.min_reports.unwrap_or(base.min_reports).max(1),
            soak_s: match a.soak {
                Some(s) => (parse_lifetime_within(s, "--soak", 30)? / 1000) as u64,
                None => base.soak_s,
            },
        })
    } else {
        None
    };
    let stage = super::rollout(
        &store,
        &version,
        scope.clone(),
        rule,
        &Actor::cli(),
        now_ms(),
    )?;
    println!(
        "{} {version}: {} {stage} ({})",
        lang.pick("Triển khai", "Rollout of"),
        lang.pick("giai đoạn", "stage"),
        super::status::scope_text(&scope, lang)
    );
    Ok(())
}

/// `cchc-hub release halt|resume`.
pub fn halt(dir: &Path, version: &str, halted: bool, lang: Lang) -> Result<()> {
    let store = open(dir)?;
    let version = parse_version(version)?;
    let changed = super::set_halted(&store, &version, halted, &Actor::cli(), now_ms())?;
    let msg = match (halted, changed) {
        (true, true) => lang.pick("Đã dừng triển khai", "Halted the rollout of"),
        (true, false) => lang.pick(
            "Triển khai vẫn đang dừng:",
            "The rollout was already halted:",
        ),
        (false, true) => lang.pick("Đã tiếp tục triển khai", "Resumed the rollout of"),
        (false, false) => lang.pick(
            "Triển khai vẫn đang chạy:",
            "The rollout was already running:",
        ),
    };
    println!("{msg} {version}");
    Ok(())
}

/// `cchc-hub release status [--json]`.
pub fn status(dir: &Path, json: bool, lang: Lang) -> Result<()> {
    let doc = status_doc(&open(dir)?)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("serializes")
        );
    } else {
        print!("{}", status_text(&doc, lang));
    }
    Ok(())
}
