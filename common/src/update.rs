//! The update channel's documents: signed definitions, the release bundle file an
//! admin signs offline and the hub loads, and what the sync exchange carries about
//! updates (the hub's offer, the agent's reports). In: bytes and documents. Out: the
//! same, checked. The trust rules themselves are [`crate::release`].
//!
//! A bundle file is three parts: the line `cchc-release-bundle v1`, one line of JSON
//! (the signed metadata: [`BundleHead`]), then the payload itself (the agent build,
//! or the definitions JSON), exactly as long as the metadata says.

use crate::definitions::Definitions;
use crate::release::{
    check_file, fresh, verify, KeySignature, Release, ReleaseError, Role, Root, Signed, Target,
};
use semver::Version;
use serde::{Deserialize, Serialize};

/// The first line of a bundle file.
pub const BUNDLE_MAGIC: &str = "cchc-release-bundle v1";
/// Longest metadata line accepted in a bundle.
pub const MAX_HEAD_BYTES: usize = 64 << 10;

/// The platform this build runs on: `linux-x86_64`, `windows-x86_64`…
pub fn this_platform() -> String {
    format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH)
}

/// Signed metadata of a definitions document: its version and the exact bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefinitionsRelease {
    /// The document's version (the `version` inside it).
    pub version: u32,
    /// Length and SHA-256 of the JSON text.
    pub target: Target,
    /// Expiry (ms since the epoch).
    pub expires_ms: i64,
}

/// A definitions document as the hub sends it: the signed metadata and the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedDefinitions {
    /// Signed metadata.
    pub meta: Signed<DefinitionsRelease>,
    /// The JSON text, byte for byte what was signed.
    pub body: String,
}

/// Accepts a definitions document newer than `current`: signed by a threshold of
/// `root`, not expired, the text the metadata names, a valid document of that version.
pub fn accept_definitions(
    doc: &SignedDefinitions,
    root: &Root,
    current: u32,
    now_ms: i64,
) -> Result<Definitions, ReleaseError> {
    verify(&doc.meta, Role::Definitions, root)?;
    let m = &doc.meta.signed;
    fresh(Role::Definitions, m.expires_ms, now_ms)?;
    check_file(doc.body.as_bytes(), &m.target)?;
    let defs = Definitions::from_json(&doc.body).map_err(|e| ReleaseError::Document {
        what: format!("definitions version {}", m.version),
        detail: e.to_string(),
    })?;
    if defs.version != m.version {
        return Err(ReleaseError::Document {
            what: format!("definitions version {}", m.version),
            detail: format!("the document inside says version {}", defs.version),
        });
    }
    if defs.version <= current {
        return Err(ReleaseError::Document {
            what: format!("definitions version {}", m.version),
            detail: format!("not newer than version {current} in force"),
        });
    }
    Ok(defs)
}

/// The signed metadata at the head of a bundle file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BundleHead {
    /// A build of the agent.
    Agent {
        /// Its signed release.
        release: Signed<Release>,
    },
    /// A definitions document.
    Definitions {
        /// Its signed metadata.
        definitions: Signed<DefinitionsRelease>,
    },
}

impl BundleHead {
    /// The payload's length and hash as signed.
    pub fn target(&self) -> &Target {
        match self {
            BundleHead::Agent { release } => &release.signed.target,
            BundleHead::Definitions { definitions } => &definitions.signed.target,
        }
    }

    /// The signatures.
    pub fn signatures_mut(&mut self) -> &mut Vec<KeySignature> {
        match self {
            BundleHead::Agent { release } => &mut release.signatures,
            BundleHead::Definitions { definitions } => &mut definitions.signatures,
        }
    }

    /// Checks the signatures against `root` (its threshold).
    pub fn verify(&self, root: &Root) -> Result<(), ReleaseError> {
        match self {
            BundleHead::Agent { release } => verify(release, Role::Release, root),
            BundleHead::Definitions { definitions } => verify(definitions, Role::Definitions, root),
        }
    }

    /// Refuses metadata past its expiry, by the same rule agents apply.
    pub fn check_fresh(&self, now_ms: i64) -> Result<(), ReleaseError> {
        match self {
            BundleHead::Agent { release } => {
                fresh(Role::Release, release.signed.expires_ms, now_ms)
            }
            BundleHead::Definitions { definitions } => {
                fresh(Role::Definitions, definitions.signed.expires_ms, now_ms)
            }
        }
    }

    /// What it is, for messages: `agent 0.2.0 linux-x86_64`, `definitions 3`.
    pub fn describe(&self) -> String {
        match self {
            BundleHead::Agent { release } => format!(
                "agent {} {}",
                release.signed.version, release.signed.platform
            ),
            BundleHead::Definitions { definitions } => {
                format!("definitions {}", definitions.signed.version)
            }
        }
    }
}

/// A bundle file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Not a bundle file at all.
    #[error("its first line is not '{BUNDLE_MAGIC}': not a release bundle")]
    Magic,
    /// The metadata line is missing, too long or not valid.
    #[error("its metadata line (line 2) is not valid: {0}")]
    Head(String),
    /// The payload does not match the signed metadata.
    #[error("its payload does not match its metadata: {0}")]
    Payload(Box<ReleaseError>),
}

/// The bytes of a bundle file.
pub fn write_bundle(head: &BundleHead, payload: &[u8]) -> Vec<u8> {
    let json = serde_json::to_string(head).expect("bundle metadata serializes");
    let mut out = Vec::with_capacity(BUNDLE_MAGIC.len() + json.len() + payload.len() + 2);
    out.extend_from_slice(BUNDLE_MAGIC.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(json.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload);
    out
}

/// Reads a bundle file: its metadata and its payload, which must be exactly the
/// length and SHA-256 the metadata names. Signatures are checked by the caller, who
/// holds the root.
pub fn read_bundle(bytes: &[u8]) -> Result<(BundleHead, &[u8]), BundleError> {
    let rest = bytes
        .strip_prefix(BUNDLE_MAGIC.as_bytes())
        .and_then(|r| r.strip_prefix(b"\n"))
        .ok_or(BundleError::Magic)?;
    let end = rest
        .iter()
        .take(MAX_HEAD_BYTES + 1)
        .position(|&b| b == b'\n')
        .ok_or_else(|| {
            BundleError::Head(format!(
                "no end of line within {MAX_HEAD_BYTES} bytes (cut short, or not a bundle)"
            ))
        })?;
    let head: BundleHead =
        serde_json::from_slice(&rest[..end]).map_err(|e| BundleError::Head(e.to_string()))?;
    let payload = &rest[end + 1..];
    check_file(payload, head.target()).map_err(|e| BundleError::Payload(Box::new(e)))?;
    Ok((head, payload))
}

/// The hub's offer of a release to one device, in a sync response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// The signed release (the agent checks it against its own pinned root).
    pub release: Signed<Release>,
    /// Seconds the new build must run healthy before it counts as a success.
    pub soak_s: u64,
    /// A binary patch from the device's build, when the hub has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<Delta>,
}

/// A binary patch (bsdiff format) from one build to the offered one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// The SHA-256 of the build it patches.
    pub from_sha256: String,
    /// Length and SHA-256 of the patch (unsigned: the patched result is checked
    /// against the signed release).
    pub patch: Target,
}

/// What happened to an offered release on a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateEvent {
    /// Downloaded and verified; the new build passed its self-test.
    Downloaded,
    /// Swapped in and started; its health check passed.
    Installed,
    /// Still healthy after the soak time: a success.
    Healthy,
    /// Refused or failed before the swap (the running build untouched).
    Failed,
    /// Failed after the swap: the previous build is back.
    RolledBack,
}

impl UpdateEvent {
    /// Its name on the wire and in `release status`.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateEvent::Downloaded => "downloaded",
            UpdateEvent::Installed => "installed",
            UpdateEvent::Healthy => "healthy",
            UpdateEvent::Failed => "failed",
            UpdateEvent::RolledBack => "rolled_back",
        }
    }
}

/// A device's report about a release, carried by its next sync request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateReport {
    /// The release.
    pub version: Version,
    /// What happened.
    pub event: UpdateEvent,
    /// Why, for failures (at most a few hundred characters).
    #[serde(default)]
    pub detail: String,
    /// When, on the device's clock (ms since the epoch).
    pub at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::{key_id, target_of, ReleaseKey};

    const NOW: i64 = 1_795_000_000_000;

    fn root_of(k: &ReleaseKey) -> Root {
        Root {
            version: 1,
            expires_ms: NOW + 1_000_000,
            keys: [(key_id(&k.public()), k.public())].into_iter().collect(),
            threshold: 1,
        }
    }

    fn defs_doc(version: u32) -> String {
        let v1 = include_str!("../data/definitions-v1.json");
        let mut d: serde_json::Value = serde_json::from_str(v1).unwrap();
        d["version"] = version.into();
        serde_json::to_string(&d).unwrap()
    }

    fn signed_defs(k: &ReleaseKey, body: &str, version: u32) -> SignedDefinitions {
        let meta = DefinitionsRelease {
            version,
            target: target_of(body.as_bytes()),
            expires_ms: NOW + 1000,
        };
        SignedDefinitions {
            meta: Signed {
                signatures: vec![k.sign(Role::Definitions, &meta)],
                signed: meta,
            },
            body: body.to_string(),
        }
    }

    #[test]
    fn definitions_are_taken_only_signed_fresh_whole_and_newer() {
        let k = ReleaseKey::from_seed([3; 32]);
        let root = root_of(&k);
        let body = defs_doc(2);
        let ok = signed_defs(&k, &body, 2);
        assert_eq!(accept_definitions(&ok, &root, 1, NOW).unwrap().version, 2);
        // Not newer than what is in force.
        assert!(accept_definitions(&ok, &root, 2, NOW).is_err());
        // Expired.
        assert!(accept_definitions(&ok, &root, 1, NOW + 1000)
            .unwrap_err()
            .is_expiry());
        // Another text under the same metadata.
        let mut swapped = ok.clone();
        swapped.body = defs_doc(3);
        assert!(matches!(
            accept_definitions(&swapped, &root, 1, NOW),
            Err(ReleaseError::File { .. })
        ));
        // Metadata that says 3 around a document that says 2.
        let lying = signed_defs(&k, &body, 3);
        assert!(matches!(
            accept_definitions(&lying, &root, 1, NOW),
            Err(ReleaseError::Document { .. })
        ));
        // A key the root does not list; a release signature reused on definitions.
        let other = ReleaseKey::from_seed([4; 32]);
        assert!(accept_definitions(&signed_defs(&other, &body, 2), &root, 1, NOW).is_err());
        let mut cross = ok.clone();
        cross.meta.signatures = vec![k.sign(Role::Release, &ok.meta.signed)];
        assert!(accept_definitions(&cross, &root, 1, NOW).is_err());
    }

    #[test]
    fn a_bundle_round_trips_and_a_cut_or_altered_one_is_refused() {
        let k = ReleaseKey::from_seed([5; 32]);
        let payload = b"\x7fELF a build".to_vec();
        let release = Release {
            version: "0.2.0".parse().unwrap(),
            platform: "linux-x86_64".into(),
            min_from: "0.1.0".parse().unwrap(),
            target: target_of(&payload),
            expires_ms: NOW + 1000,
        };
        let head = BundleHead::Agent {
            release: Signed {
                signatures: vec![k.sign(Role::Release, &release)],
                signed: release,
            },
        };
        let bytes = write_bundle(&head, &payload);
        let (back, body) = read_bundle(&bytes).unwrap();
        assert_eq!(back, head);
        assert_eq!(body, payload.as_slice());
        back.verify(&root_of(&k)).unwrap();
        assert!(matches!(
            read_bundle(&bytes[..bytes.len() - 1]),
            Err(BundleError::Payload(_))
        ));
        let mut altered = bytes.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(matches!(
            read_bundle(&altered),
            Err(BundleError::Payload(_))
        ));
        assert_eq!(read_bundle(b"MZ\x90\0"), Err(BundleError::Magic));
        assert!(matches!(
            read_bundle(format!("{BUNDLE_MAGIC}\n{{").as_bytes()),
            Err(BundleError::Head(_))
        ));
    }
}
