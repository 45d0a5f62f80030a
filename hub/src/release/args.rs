//! `cchc-hub release …`: the update channel's commands as the command line takes them,
//! and the call each one makes (`offline.rs` for what needs no hub, `cli.rs` for the
//! rest).

use crate::{clock, error};
use cchc_common::Lang;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub(crate) enum ReleaseCmd {
    /// Make an ed25519 release key in a new owner-only file, meant to live offline
    /// (a USB key in the province's safe); prints its key id. Needs no hub.
    Keygen {
        /// The key file to create (refuses to overwrite one).
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a root of trust (offline): its member keys and how many must sign. To
    /// rotate, give the next version and sign with the current root's keys too.
    Root {
        /// A member's key file (signs too); repeatable.
        #[arg(long = "key")]
        keys: Vec<PathBuf>,
        /// A member's public key (64 hex digits) whose key file is elsewhere.
        #[arg(long = "public")]
        publics: Vec<String>,
        /// A key file that signs without being a member (the current root's, to rotate).
        #[arg(long = "sign")]
        signers: Vec<PathBuf>,
        /// How many members must sign a release.
        #[arg(long, default_value_t = 1)]
        threshold: u32,
        /// Version: 1 for the first root, the current one's plus one to rotate.
        #[arg(long, default_value_t = 1)]
        version: u64,
        /// How long it is valid (e.g. 730d).
        #[arg(long, default_value = "730d")]
        expires: String,
        /// The root file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign an agent build or a definitions document into a bundle (offline).
    Sign {
        /// Release key file; repeat to sign with several.
        #[arg(long = "key", required = true)]
        keys: Vec<PathBuf>,
        /// The agent executable.
        #[arg(
            long,
            conflicts_with = "definitions",
            required_unless_present = "definitions"
        )]
        file: Option<PathBuf>,
        /// Its version (semver), e.g. 0.2.0.
        #[arg(long, requires = "file")]
        version: Option<String>,
        /// Its platform: linux-x86_64, windows-x86_64…
        #[arg(long, requires = "file")]
        platform: Option<String>,
        /// The oldest agent version it may replace.
        #[arg(long, default_value = "0.1.0")]
        min_from: String,
        /// A definitions JSON document instead of a build.
        #[arg(long)]
        definitions: Option<PathBuf>,
        /// How long the signature is valid (agents refuse it after: re-sign then).
        #[arg(long, default_value = "90d")]
        expires: String,
        /// The bundle file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Add another key's signature to a bundle or a root file (offline).
    Cosign {
        /// Release key file.
        #[arg(long)]
        key: PathBuf,
        /// The bundle or root file, changed in place.
        file: PathBuf,
    },
    /// Trust a root (the first, or a rotation signed by the current root).
    Trust {
        /// The root file.
        file: PathBuf,
    },
    /// Load a signed bundle into the hub (an agent build, or definitions).
    Publish {
        /// The bundle file.
        file: PathBuf,
    },
    /// Offer a published version to more devices: a pilot, a share, or all.
    Rollout {
        /// The version.
        #[arg(long)]
        version: String,
        /// `pilot`: every device of the --unit communes.
        #[arg(long, value_parser = ["pilot"])]
        stage: Option<String>,
        /// Pilot commune (repeatable).
        #[arg(long = "unit")]
        units: Vec<String>,
        /// A share of all devices (1–100), chosen by a hash of the device id.
        #[arg(long)]
        percent: Option<String>,
        /// Every device.
        #[arg(long)]
        all: bool,
        /// Halt when failures reach this share of a stage's reports (default 10%).
        #[arg(long)]
        halt_at: Option<String>,
        /// … once a stage has this many reports (default 5).
        #[arg(long)]
        min_reports: Option<u32>,
        /// How long a new build must run healthy to count as a success (default 1h).
        #[arg(long)]
        soak: Option<String>,
    },
    /// Stop offering a version (a halted rollout stays halted).
    Halt {
        /// The version.
        #[arg(long)]
        version: String,
    },
    /// Offer a halted version again.
    Resume {
        /// The version.
        #[arg(long)]
        version: String,
    },
    /// Root, releases and rollouts: per stage, devices offered, downloaded, installed,
    /// healthy, failed, rolled back.
    Status {
        /// Print the stable JSON document.
        #[arg(long)]
        json: bool,
    },
}

/// Runs one `release` command.
pub(crate) fn run(dir: &std::path::Path, cmd: ReleaseCmd, lang: Lang) -> error::Result<()> {
    use super::{cli, offline};
    let now = clock::now_ms();
    match cmd {
        ReleaseCmd::Keygen { out } => offline::keygen(&out, lang),
        ReleaseCmd::Root {
            keys,
            publics,
            signers,
            threshold,
            version,
            expires,
            out,
        } => {
            let args = offline::RootArgs {
                keys: &keys,
                publics: &publics,
                signers: &signers,
                threshold,
                version,
                expires: &expires,
            };
            offline::root(&args, &out, now, lang)
        }
        ReleaseCmd::Sign {
            keys,
            file,
            version,
            platform,
            min_from,
            definitions,
            expires,
            out,
        } => {
            let payload = match (&file, &definitions) {
                (Some(file), _) => offline::Payload::Agent {
                    file,
                    version: version.as_deref().unwrap_or(""),
                    platform: platform.as_deref().unwrap_or(""),
                    min_from: &min_from,
                },
                (None, Some(file)) => offline::Payload::Definitions { file },
                (None, None) => unreachable!("clap requires --file or --definitions"),
            };
            offline::sign(&keys, payload, &expires, &out, now, lang)
        }
        ReleaseCmd::Cosign { key, file } => offline::cosign(&key, &file, lang),
        ReleaseCmd::Trust { file } => cli::trust(dir, &file, lang),
        ReleaseCmd::Publish { file } => cli::publish(dir, &file, lang),
        ReleaseCmd::Rollout {
            version,
            stage,
            units,
            percent,
            all,
            halt_at,
            min_reports,
            soak,
        } => cli::rollout(
            dir,
            &cli::RolloutArgs {
                version: &version,
                pilot: stage.is_some(),
                units: &units,
                percent: percent.as_deref(),
                all,
                halt_at: halt_at.as_deref(),
                min_reports,
                soak: soak.as_deref(),
            },
            lang,
        ),
        ReleaseCmd::Halt { version } => cli::halt(dir, &version, true, lang),
        ReleaseCmd::Resume { version } => cli::halt(dir, &version, false, lang),
        ReleaseCmd::Status { json } => cli::status(dir, json, lang),
    }
}
