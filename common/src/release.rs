//! Signed release metadata: the rules an agent applies before it trusts an update, as
//! pure functions (issue 13's verification core; the hub's `release` commands and the
//! agent's updater are built on it). In: metadata documents, the root of trust the
//! agent pinned, the agent's own version and platform, the time. Out: the release to
//! install, or a [`ReleaseError`] naming the rule it breaks.
//!
//! The ideas are TUF's, kept small:
//! - A [`Root`] lists release keys (ed25519) and how many must sign (`threshold`). It
//!   lives offline with the province; the hub server only relays what it signed, so
//!   holding the server (or the network) is not enough to sign anything.
//! - A new root is accepted only as the next version, signed by a threshold of the
//!   current root's keys *and* of its own (rotation cannot be forced by one stolen
//!   key, nor leave the agent with a root nobody holds).
//! - Every signed document carries an expiry: expired metadata is refused (freeze
//!   attack), but expiry only blocks an upgrade, never the agent that runs.
//! - Versions only go up: a release at or below the highest one seen is refused
//!   (downgrade, or the replay of an old signed release).
//! - A release names its platform, file length and SHA-256; the file must match both.
//!
//! Signatures cover `cchc-release-v1`, the document's role and its canonical JSON, so
//! a signature on a root is worthless on a release and the other way round.

use crate::auth::{hex, unhex, PublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use semver::Version;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// What a signed document is: part of every signed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The root of trust.
    Root,
    /// A release of the agent.
    Release,
    /// A definitions document.
    Definitions,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Root => "root",
            Role::Release => "release",
            Role::Definitions => "definitions",
        }
    }
}

/// A key's id: the first 8 bytes of the SHA-256 of its public key, in hex.
pub fn key_id(key: &PublicKey) -> String {
    hex(&Sha256::digest(key.0)[..8])
}

/// The root of trust: which keys sign releases and how many must.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Root {
    /// Version; a new root is exactly the next one.
    pub version: u64,
    /// Expiry (ms since the epoch).
    pub expires_ms: i64,
    /// The release keys by id.
    pub keys: BTreeMap<String, PublicKey>,
    /// How many distinct keys must sign.
    pub threshold: u32,
}

/// One file of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Length in bytes.
    pub length: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// A release of the agent for one platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// Its version (semver).
    pub version: Version,
    /// `linux-x86_64`, `windows-x86_64`…
    pub platform: String,
    /// The oldest version it may replace.
    pub min_from: Version,
    /// The file.
    pub target: Target,
    /// Expiry (ms since the epoch).
    pub expires_ms: i64,
}

/// A signature by one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySignature {
    /// The key's id.
    pub key_id: String,
    /// The signature, hex.
    pub sig: String,
}

/// A document with its signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed<T> {
    /// The document.
    pub signed: T,
    /// Its signatures.
    pub signatures: Vec<KeySignature>,
}

/// Why a document or a file is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    /// Fewer distinct trusted keys signed than the threshold.
    #[error("{role} is signed by {valid} trusted key(s); {threshold} are needed")]
    BelowThreshold {
        /// Role of the document.
        role: &'static str,
        /// Valid signatures by distinct trusted keys.
        valid: u32,
        /// Needed.
        threshold: u32,
    },
    /// The document expired.
    #[error("{role} expired at {expires_ms} (now {now_ms}); ask the province for fresh metadata")]
    Expired {
        /// Role.
        role: &'static str,
        /// Its expiry.
        expires_ms: i64,
        /// Now.
        now_ms: i64,
    },
    /// A new root that is not the next version.
    #[error("root version {got} does not follow the trusted root version {current}")]
    RootVersion {
        /// Offered.
        got: u64,
        /// Held.
        current: u64,
    },
    /// A root nobody could satisfy.
    #[error("root version {version} needs {threshold} of its {keys} key(s)")]
    BadRoot {
        /// Its version.
        version: u64,
        /// Its threshold.
        threshold: u32,
        /// Its keys.
        keys: usize,
    },
    /// A release at or below the highest version seen.
    #[error("release {got} is not newer than {seen}: a downgrade or a replayed old release")]
    NotNewer {
        /// Offered.
        got: Version,
        /// Highest seen or installed.
        seen: Version,
    },
    /// A release for another platform.
    #[error("release is for {got}; this computer is {want}")]
    Platform {
        /// Offered.
        got: String,
        /// This one.
        want: String,
    },
    /// A release that cannot replace the running version.
    #[error("release {version} upgrades from {min_from} or later; this agent is {running}")]
    TooOld {
        /// Offered.
        version: Version,
        /// Its minimum.
        min_from: Version,
        /// Running.
        running: Version,
    },
    /// A signed document whose content is not what its metadata says.
    #[error("{what}: {detail}")]
    Document {
        /// Which document.
        what: String,
        /// What is wrong.
        detail: String,
    },
    /// A file whose length or hash is not the release's.
    #[error("the downloaded file is {length} bytes with SHA-256 {sha256}; the release says {want_length} bytes, {want_sha256}")]
    File {
        /// Got.
        length: u64,
        /// Got.
        sha256: String,
        /// Signed.
        want_length: u64,
        /// Signed.
        want_sha256: String,
    },
}

impl crate::Localize for ReleaseError {
    fn localize(&self, lang: crate::Lang) -> String {
        match lang {
            crate::Lang::En => self.to_string(),
            crate::Lang::Vi => self.vi(),
        }
    }
}

impl ReleaseError {
    /// The message in Vietnamese.
    pub fn vi(&self) -> String {
        match self {
            ReleaseError::BelowThreshold { role, valid, threshold } => format!(
                "{} chỉ có {valid} chữ ký hợp lệ của khóa được tin cậy; cần {threshold}",
                role_vi(role)
            ),
            ReleaseError::Expired { role, expires_ms, now_ms } => format!(
                "{} đã hết hạn lúc {expires_ms} (nay {now_ms}); hãy đề nghị tỉnh ký lại",
                role_vi(role)
            ),
            ReleaseError::RootVersion { got, current } => format!(
                "gốc tin cậy phiên bản {got} không kế tiếp phiên bản đang tin cậy {current}"
            ),
            ReleaseError::BadRoot { version, threshold, keys } => format!(
                "gốc tin cậy phiên bản {version} cần {threshold} trong {keys} khóa của nó"
            ),
            ReleaseError::NotNewer { got, seen } => format!(
                "bản phát hành {got} không mới hơn {seen}: hạ cấp hoặc phát lại bản cũ"
            ),
            ReleaseError::Platform { got, want } => {
                format!("bản phát hành dành cho {got}; máy này là {want}")
            }
            ReleaseError::TooOld { version, min_from, running } => format!(
                "bản phát hành {version} chỉ nâng cấp từ {min_from} trở lên; phần mềm đang chạy là {running}"
            ),
            ReleaseError::Document { what, detail } => format!("{what}: {detail}"),
            ReleaseError::File { length, sha256, want_length, want_sha256 } => format!(
                "tệp tải về dài {length} byte, SHA-256 {sha256}; bản phát hành ghi {want_length} byte, {want_sha256}"
            ),
        }
    }

    /// True when the refusal is the metadata's age: the agent keeps its build and
    /// warns, and the province re-signs (never a reason to stop working).
    pub fn is_expiry(&self) -> bool {
        matches!(self, ReleaseError::Expired { .. })
    }
}

fn role_vi(role: &str) -> &'static str {
    match role {
        "root" => "gốc tin cậy",
        "release" => "bản phát hành",
        _ => "bộ định nghĩa",
    }
}

/// The bytes a signature covers.
fn message<T: Serialize>(role: Role, doc: &T) -> Vec<u8> {
    let mut m = b"cchc-release-v1\0".to_vec();
    m.extend_from_slice(role.as_str().as_bytes());
    m.push(0);
    m.extend_from_slice(&serde_json::to_vec(doc).expect("metadata serializes"));
    m
}

/// The first line of a release key file.
pub const KEY_FILE_HEADER: &str = "cchc release key v1 (ed25519 seed; keep offline and private)";

/// A release signing key (kept offline; the agent never holds one).
pub struct ReleaseKey(SigningKey);

impl ReleaseKey {
    /// The text of its key file: the header, then the 32-byte seed in hex.
    pub fn file_text(&self) -> String {
        format!("{KEY_FILE_HEADER}\n{}\n", hex(self.0.as_bytes()))
    }

    /// The key in a key file's text; the error says what is wrong.
    pub fn from_file_text(text: &str) -> Result<ReleaseKey, String> {
        let mut lines = text.lines();
        if lines.next() != Some(KEY_FILE_HEADER) {
            return Err("its first line is not the release key header".into());
        }
        let seed =
            unhex(lines.next().unwrap_or("").trim(), 32, "seed").map_err(|e| e.to_string())?;
        let mut s = [0u8; 32];
        s.copy_from_slice(&seed);
        Ok(ReleaseKey::from_seed(s))
    }

    /// The key of a 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> ReleaseKey {
        ReleaseKey(SigningKey::from_bytes(&seed))
    }

    /// Its public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs a document as `role`.
    pub fn sign<T: Serialize>(&self, role: Role, doc: &T) -> KeySignature {
        KeySignature {
            key_id: key_id(&self.public()),
            sig: hex(&self.0.sign(&message(role, doc)).to_bytes()),
        }
    }
}

/// Counts the distinct keys of `root` whose signature on `doc` verifies; refuses fewer
/// than `root.threshold`. Signatures by unknown keys, bad signatures and repeats of a
/// key count for nothing.
pub fn verify<T: Serialize>(doc: &Signed<T>, role: Role, root: &Root) -> Result<(), ReleaseError> {
    let m = message(role, &doc.signed);
    let mut good = BTreeSet::new();
    for s in &doc.signatures {
        let Some(key) = root.keys.get(&s.key_id) else {
            continue;
        };
        let Ok(bytes) = unhex(&s.sig, 64, "signature") else {
            continue;
        };
        let mut sig = [0u8; 64];
        sig.copy_from_slice(&bytes);
        let ok = VerifyingKey::from_bytes(&key.0)
            .is_ok_and(|k| k.verify(&m, &Signature::from_bytes(&sig)).is_ok());
        if ok {
            good.insert(s.key_id.clone());
        }
    }
    let valid = good.len() as u32;
    if valid < root.threshold.max(1) {
        return Err(ReleaseError::BelowThreshold {
            role: role.as_str(),
            valid,
            threshold: root.threshold.max(1),
        });
    }
    Ok(())
}

pub(crate) fn fresh(role: Role, expires_ms: i64, now_ms: i64) -> Result<(), ReleaseError> {
    if now_ms >= expires_ms {
        return Err(ReleaseError::Expired {
            role: role.as_str(),
            expires_ms,
            now_ms,
        });
    }
    Ok(())
}

/// Accepts `new` in place of `current`: the next version, a satisfiable threshold,
/// signed by a threshold of the current root's keys and of its own, not expired.
pub fn rotate(current: &Root, new: &Signed<Root>, now_ms: i64) -> Result<Root, ReleaseError> {
    let r = &new.signed;
    if r.version != current.version + 1 {
        return Err(ReleaseError::RootVersion {
            got: r.version,
            current: current.version,
        });
    }
    if r.threshold == 0 || r.threshold as usize > r.keys.len() {
        return Err(ReleaseError::BadRoot {
            version: r.version,
            threshold: r.threshold,
            keys: r.keys.len(),
        });
    }
    verify(new, Role::Root, current)?;
    verify(new, Role::Root, r)?;
    fresh(Role::Root, r.expires_ms, now_ms)?;
    Ok(r.clone())
}

/// Accepts a first root, brought by hand (or pinned at enrollment): it vouches for
/// itself, so it must be version 1, signed by a threshold of its own keys, a threshold
/// its keys can meet, not expired — the rules of a rotation from a version 0 with the
/// same keys.
pub fn accept_first_root(doc: &Signed<Root>, now_ms: i64) -> Result<Root, ReleaseError> {
    let zero = Root {
        version: 0,
        ..doc.signed.clone()
    };
    rotate(&zero, doc, now_ms)
}

/// Accepts a release for this agent: trusted by `root`, not expired, for `platform`,
/// newer than both the running version and the highest ever seen, and able to replace
/// the running version.
pub fn accept(
    release: &Signed<Release>,
    root: &Root,
    platform: &str,
    running: &Version,
    highest_seen: &Version,
    now_ms: i64,
) -> Result<Release, ReleaseError> {
    verify(release, Role::Release, root)?;
    let r = &release.signed;
    fresh(Role::Release, r.expires_ms, now_ms)?;
    if r.platform != platform {
        return Err(ReleaseError::Platform {
            got: r.platform.clone(),
            want: platform.to_string(),
        });
    }
    let seen = running.max(highest_seen);
    if r.version <= *seen {
        return Err(ReleaseError::NotNewer {
            got: r.version.clone(),
            seen: seen.clone(),
        });
    }
    if *running < r.min_from {
        return Err(ReleaseError::TooOld {
            version: r.version.clone(),
            min_from: r.min_from.clone(),
            running: running.clone(),
        });
    }
    Ok(r.clone())
}

/// The length and SHA-256 of a file's bytes.
pub fn target_of(bytes: &[u8]) -> Target {
    Target {
        length: bytes.len() as u64,
        sha256: hex(&Sha256::digest(bytes)),
    }
}

/// Checks downloaded bytes against the release's target.
pub fn check_file(bytes: &[u8], want: &Target) -> Result<(), ReleaseError> {
    let got = target_of(bytes);
    if got != *want {
        return Err(ReleaseError::File {
            length: got.length,
            sha256: got.sha256,
            want_length: want.length,
            want_sha256: want.sha256.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_000_000_000;
    const DAY: i64 = 86_400_000;

    fn key(n: u8) -> ReleaseKey {
        ReleaseKey::from_seed([n; 32])
    }

    fn root(version: u64, keys: &[&ReleaseKey], threshold: u32) -> Root {
        Root {
            version,
            expires_ms: NOW + 365 * DAY,
            keys: keys
                .iter()
                .map(|k| (key_id(&k.public()), k.public()))
                .collect(),
            threshold,
        }
    }

    fn signed<T: Serialize + Clone>(doc: &T, role: Role, by: &[&ReleaseKey]) -> Signed<T> {
        Signed {
            signed: doc.clone(),
            signatures: by.iter().map(|k| k.sign(role, doc)).collect(),
        }
    }

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    fn release(version: &str, file: &[u8]) -> Release {
        Release {
            version: v(version),
            platform: "linux-x86_64".into(),
            min_from: v("0.1.0"),
            target: target_of(file),
            expires_ms: NOW + 30 * DAY,
        }
    }

    #[test]
    fn a_release_needs_a_threshold_of_distinct_trusted_keys() {
        let (a, b, c, stranger) = (key(1), key(2), key(3), key(9));
        let trust = root(1, &[&a, &b, &c], 2);
        let r = release("0.2.0", b"new agent");
        let ok = |by: &[&ReleaseKey]| {
            accept(
                &signed(&r, Role::Release, by),
                &trust,
                "linux-x86_64",
                &v("0.1.0"),
                &v("0.1.0"),
                NOW,
            )
        };
        assert_eq!(ok(&[&a, &c]).unwrap(), r);
        for by in [&[&a][..], &[&a, &a], &[&a, &stranger], &[]] {
            assert!(
                matches!(
                    ok(by),
                    Err(ReleaseError::BelowThreshold { threshold: 2, .. })
                ),
                "{by:?}",
                by = by.len()
            );
        }
        // A signature on the root role is worthless on a release, and a tampered
        // document no longer matches its signatures.
        let mut wrong_role = signed(&r, Role::Release, &[&a]);
        wrong_role.signatures.push(b.sign(Role::Root, &r));
        assert!(verify(&wrong_role, Role::Release, &trust).is_err());
        let mut tampered = signed(&r, Role::Release, &[&a, &b]);
        tampered.signed.target.length += 1;
        assert!(verify(&tampered, Role::Release, &trust).is_err());
    }

    #[test]
    fn expired_downgraded_foreign_and_unreachable_releases_are_refused() {
        let a = key(1);
        let trust = root(1, &[&a], 1);
        let check = |r: &Release, running: &str, seen: &str, now: i64| {
            accept(
                &signed(r, Role::Release, &[&a]),
                &trust,
                "linux-x86_64",
                &v(running),
                &v(seen),
                now,
            )
        };
        let r = release("0.3.0", b"x");
        assert!(check(&r, "0.2.0", "0.2.0", NOW).is_ok());
        assert!(matches!(
            check(&r, "0.2.0", "0.2.0", r.expires_ms),
            Err(ReleaseError::Expired { .. })
        ));
        assert!(matches!(
            check(&r, "0.3.0", "0.3.0", NOW),
            Err(ReleaseError::NotNewer { .. })
        ));
        // A replay of an old release after a newer one was seen (then rolled back).
        assert!(matches!(
            check(&r, "0.2.0", "0.4.0", NOW),
            Err(ReleaseError::NotNewer { .. })
        ));
        let mut windows = r.clone();
        windows.platform = "windows-x86_64".into();
        assert!(matches!(
            check(&windows, "0.2.0", "0.2.0", NOW),
            Err(ReleaseError::Platform { .. })
        ));
        let mut leap = r.clone();
        leap.min_from = v("0.2.5");
        assert!(matches!(
            check(&leap, "0.2.0", "0.2.0", NOW),
            Err(ReleaseError::TooOld { .. })
        ));
    }

    #[test]
    fn a_key_file_round_trips_and_a_foreign_one_is_refused() {
        let k = key(7);
        let back = ReleaseKey::from_file_text(&k.file_text()).unwrap();
        assert_eq!(back.public(), k.public());
        assert!(ReleaseKey::from_file_text("cchc device key v1\nabcd\n").is_err());
        assert!(ReleaseKey::from_file_text(&format!("{KEY_FILE_HEADER}\nzz\n")).is_err());
    }

    #[test]
    fn the_file_must_match_its_length_and_hash() {
        let t = target_of(b"agent build");
        assert!(check_file(b"agent build", &t).is_ok());
        assert!(check_file(b"agent buile", &t).is_err());
        assert!(check_file(b"agent buil", &t).is_err());
    }

    #[test]
    fn a_root_rotates_only_with_both_thresholds_and_the_next_version() {
        let (a, b, c, d) = (key(1), key(2), key(3), key(4));
        let current = root(1, &[&a, &b], 2);
        let next = root(2, &[&c, &d], 2);
        let by_all = signed(&next, Role::Root, &[&a, &b, &c, &d]);
        assert_eq!(rotate(&current, &by_all, NOW).unwrap(), next);
        // The new keys alone (what a thief of the hub could muster): refused.
        assert!(rotate(&current, &signed(&next, Role::Root, &[&c, &d]), NOW).is_err());
        // The old keys alone: a root nobody holds is not accepted either.
        assert!(rotate(&current, &signed(&next, Role::Root, &[&a, &b]), NOW).is_err());
        // Skipping a version, an expired root, an unsatisfiable threshold.
        let skip = root(3, &[&c, &d], 2);
        assert!(matches!(
            rotate(&current, &signed(&skip, Role::Root, &[&a, &b, &c, &d]), NOW),
            Err(ReleaseError::RootVersion { .. })
        ));
        assert!(matches!(
            rotate(&current, &by_all, next.expires_ms),
            Err(ReleaseError::Expired { .. })
        ));
        let greedy = root(2, &[&c], 2);
        assert!(matches!(
            rotate(&current, &signed(&greedy, Role::Root, &[&a, &b, &c]), NOW),
            Err(ReleaseError::BadRoot { .. })
        ));
        // After rotation the old keys sign nothing.
        let r = release("0.2.0", b"x");
        assert!(verify(&signed(&r, Role::Release, &[&a, &b]), Role::Release, &next).is_err());
        assert!(verify(&signed(&r, Role::Release, &[&c, &d]), Role::Release, &next).is_ok());
    }
}
