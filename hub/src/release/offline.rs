//! The release commands that need no hub and run on the admin's offline machine:
//! `keygen` (a release key in an owner-only file), `root` (a signed root of trust,
//! first or rotated), `sign` (a signed bundle of an agent build or a definitions
//! document) and `cosign` (another key's signature on a bundle or root). In: key files,
//! the file to release. Out: new files, written whole (temporary name, fsync, rename);
//! nothing is overwritten but the file cosigned.

use crate::admin::parse_lifetime_within;
use crate::error::{HubError, ReleaseRefusal, Result, Rule};
use cchc_common::auth::PublicKey;
use cchc_common::release::{key_id, target_of, Release, ReleaseKey, Role, Root, Signed};
use cchc_common::update::{read_bundle, write_bundle, BundleHead, DefinitionsRelease};
use cchc_common::Lang;
use semver::Version;
use std::path::Path;

/// Longest a signed document may live (roots: ten years).
const MAX_EXPIRY_DAYS: i64 = 3650;

/// Reads a release key file.
pub fn load_key(path: &Path) -> Result<ReleaseKey> {
    let text = std::fs::read_to_string(path).map_err(|e| HubError::io(path, e))?;
    ReleaseKey::from_file_text(&text).map_err(|detail| {
        ReleaseRefusal::BadKey {
            path: path.display().to_string(),
            detail,
        }
        .into()
    })
}

/// Writes `bytes` to `path` whole: a temporary file beside it, fsync, rename.
pub fn write_whole(path: &Path, bytes: &[u8], create_new: bool) -> Result<()> {
    use std::io::Write;
    if create_new && path.exists() {
        return Err(HubError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::AlreadyExists, "the file exists"),
        ));
    }
    let tmp = path.with_extension("partial");
    let mut f = std::fs::File::create(&tmp).map_err(|e| HubError::io(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| HubError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| HubError::io(path, e))
}

/// `cchc-hub release keygen`: a new release key in a new file, owner-only, flushed to
/// disk; prints the key id (what a root of trust lists).
pub fn keygen(out: &Path, lang: Lang) -> Result<()> {
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

/// What `release root` makes.
pub struct RootArgs<'a> {
    /// Key files of the root's members (each also signs).
    pub keys: &'a [std::path::PathBuf],
    /// Public keys of members whose key files are elsewhere (hex).
    pub publics: &'a [String],
    /// Key files that sign without being members (the current root's, to rotate).
    pub signers: &'a [std::path::PathBuf],
    /// How many members must sign.
    pub threshold: u32,
    /// Its version (1 for the first root; the current one's plus one to rotate).
    pub version: u64,
    /// Lifetime, like `365d`.
    pub expires: &'a str,
}

/// `cchc-hub release root`: a signed root of trust.
pub fn root(args: &RootArgs, out: &Path, now_ms: i64, lang: Lang) -> Result<()> {
    let expires_ms = now_ms + parse_lifetime_within(args.expires, "--expires", MAX_EXPIRY_DAYS)?;
    let members: Vec<ReleaseKey> = args
        .keys
        .iter()
        .map(|p| load_key(p))
        .collect::<Result<_>>()?;
    let mut keys: std::collections::BTreeMap<String, PublicKey> = members
        .iter()
        .map(|k| (key_id(&k.public()), k.public()))
        .collect();
    for p in args.publics {
        let key: PublicKey = p
            .parse()
            .map_err(|_| HubError::input("--public", p, Rule::PublicKey))?;
        keys.insert(key_id(&key), key);
    }
    if args.threshold == 0 || args.threshold as usize > keys.len() {
        return Err(HubError::input(
            "--threshold",
            args.threshold.to_string(),
            Rule::Threshold { keys: keys.len() },
        ));
    }
    let doc = Root {
        version: args.version,
        expires_ms,
        keys,
        threshold: args.threshold,
    };
    let mut signatures: Vec<_> = members.iter().map(|k| k.sign(Role::Root, &doc)).collect();
    for p in args.signers {
        signatures.push(load_key(p)?.sign(Role::Root, &doc));
    }
    let signed = Signed {
        signed: doc,
        signatures,
    };
    let text = serde_json::to_string_pretty(&signed).expect("serializes") + "\n";
    write_whole(out, text.as_bytes(), true)?;
    println!(
        "{} {} ({} {}, {} {}) → {}",
        lang.pick("Đã ký gốc tin cậy phiên bản", "Signed release root version"),
        signed.signed.version,
        signed.signed.keys.len(),
        lang.pick("khóa", "key(s)"),
        lang.pick("ngưỡng", "threshold"),
        signed.signed.threshold,
        out.display()
    );
    Ok(())
}

/// What `release sign` signs.
pub enum Payload<'a> {
    /// An agent build.
    Agent {
        /// The executable.
        file: &'a Path,
        /// Its version.
        version: &'a str,
        /// Its platform.
        platform: &'a str,
        /// The oldest version it may replace.
        min_from: &'a str,
    },
    /// A definitions document.
    Definitions {
        /// The JSON file.
        file: &'a Path,
    },
}

fn semver(v: &str, field: &str) -> Result<Version> {
    v.trim()
        .parse()
        .map_err(|_| HubError::input(field, v, Rule::Version))
}

/// `cchc-hub release sign`: a signed bundle of a build or a definitions document.
pub fn sign(
    keys: &[std::path::PathBuf],
    payload: Payload,
    expires: &str,
    out: &Path,
    now_ms: i64,
    lang: Lang,
) -> Result<()> {
    let expires_ms = now_ms + parse_lifetime_within(expires, "--expires", MAX_EXPIRY_DAYS)?;
    let keys: Vec<ReleaseKey> = keys.iter().map(|p| load_key(p)).collect::<Result<_>>()?;
    let (head, bytes) = match payload {
        Payload::Agent {
            file,
            version,
            platform,
            min_from,
        } => {
            let bytes = std::fs::read(file).map_err(|e| HubError::io(file, e))?;
            let platform = platform.trim();
            if platform.is_empty()
                || !platform
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(HubError::input("--platform", platform, Rule::Platform));
            }
            let release = Release {
                version: semver(version, "--version")?,
                platform: platform.to_string(),
                min_from: semver(min_from, "--min-from")?,
                target: target_of(&bytes),
                expires_ms,
            };
            let signatures = keys
                .iter()
                .map(|k| k.sign(Role::Release, &release))
                .collect();
            (
                BundleHead::Agent {
                    release: Signed {
                        signed: release,
                        signatures,
                    },
                },
                bytes,
            )
        }
        Payload::Definitions { file } => {
            let text = std::fs::read_to_string(file).map_err(|e| HubError::io(file, e))?;
            let defs = cchc_common::Definitions::from_json(&text).map_err(|e| {
                HubError::BadDefinitions {
                    source: file.display().to_string(),
                    detail: e.to_string(),
                }
            })?;
            let meta = DefinitionsRelease {
                version: defs.version,
                target: target_of(text.as_bytes()),
                expires_ms,
            };
            let signatures = keys
                .iter()
                .map(|k| k.sign(Role::Definitions, &meta))
                .collect();
            (
                BundleHead::Definitions {
                    definitions: Signed {
                        signed: meta,
                        signatures,
                    },
                },
                text.into_bytes(),
            )
        }
    };
    write_whole(out, &write_bundle(&head, &bytes), true)?;
    println!(
        "{} {} ({} {}) → {}",
        lang.pick("Đã ký", "Signed"),
        head.describe(),
        keys.len(),
        lang.pick("chữ ký", "signature(s)"),
        out.display()
    );
    Ok(())
}

/// `cchc-hub release cosign`: adds a key's signature to a bundle or a root file (a
/// threshold above one is met by people signing on their own machines in turn).
pub fn cosign(key: &Path, file: &Path, lang: Lang) -> Result<()> {
    let key = load_key(key)?;
    let bytes = std::fs::read(file).map_err(|e| HubError::io(file, e))?;
    let id = key_id(&key.public());
    let (out, what) = if bytes.starts_with(cchc_common::update::BUNDLE_MAGIC.as_bytes()) {
        let (mut head, payload) =
            read_bundle(&bytes).map_err(|source| ReleaseRefusal::BadBundle {
                path: file.display().to_string(),
                source,
            })?;
        let sig = match &head {
            BundleHead::Agent { release } => key.sign(Role::Release, &release.signed),
            BundleHead::Definitions { definitions } => {
                key.sign(Role::Definitions, &definitions.signed)
            }
        };
        let sigs = head.signatures_mut();
        sigs.retain(|s| s.key_id != id);
        sigs.push(sig);
        (write_bundle(&head, payload), head.describe())
    } else {
        let mut root: Signed<Root> =
            serde_json::from_slice(&bytes).map_err(|e| ReleaseRefusal::BadBundle {
                path: file.display().to_string(),
                source: cchc_common::update::BundleError::Head(e.to_string()),
            })?;
        let sig = key.sign(Role::Root, &root.signed);
        root.signatures.retain(|s| s.key_id != id);
        root.signatures.push(sig);
        let what = format!("root {}", root.signed.version);
        (
            (serde_json::to_string_pretty(&root).expect("serializes") + "\n").into_bytes(),
            what,
        )
    };
    write_whole(file, &out, false)?;
    println!(
        "{} {what} {} {id}",
        lang.pick("Đã thêm chữ ký cho", "Added to"),
        lang.pick("bằng khóa", "the signature of key")
    );
    Ok(())
}
