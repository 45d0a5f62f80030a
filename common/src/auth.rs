//! Device authentication shared by the agent and the hub: one-time enrollment codes
//! and per-request ed25519 signatures. In: random bytes, keys, request parts. Out:
//! codes a person can read over the phone, signatures, and a verdict on them.
//!
//! Every agent request carries three headers: the device id, a nonce (a counter the
//! device increases with every request) and an ed25519 signature over
//! [`signed_message`]: a domain-separation line, the method, the path, the device, the
//! nonce and the exact body bytes sent. So a signature made for one body, path or
//! device is worthless for another, and the hub refuses a nonce it has already seen
//! from that device. Why signatures rather than client certificates:
//! ARCHITECTURE.md, "Device identity".

use crate::op::ActorId;
use crate::units::UnitCode;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Header: the device id (16 hex digits).
pub const DEVICE_HEADER: &str = "x-cchc-device";
/// Header: the request's nonce (decimal), larger than every earlier one of the device.
pub const NONCE_HEADER: &str = "x-cchc-nonce";
/// Header: the ed25519 signature of [`signed_message`] (128 hex digits).
pub const SIGNATURE_HEADER: &str = "x-cchc-signature";
/// Path of the enrollment endpoint.
pub const ENROLL_PATH: &str = "/api/v1/enroll";

/// Symbols of an enrollment code: none of 0/O/Q, 1/I/L, 2/Z, 5/S, 8/B, U/V — the
/// pairs people confuse when reading, writing or saying them.
pub const CODE_SYMBOLS: &[u8; 22] = b"ACDEFGHJKMNPRTWXY34679";
/// Symbols in a code (shown in groups of four): 22^12 ≈ 1.27 × 10^16 codes, 53 bits.
pub const CODE_LEN: usize = 12;

const SYMBOLS: &[u8] = CODE_SYMBOLS;

/// A code, or a signature, that cannot be what it claims to be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A typed enrollment code with a wrong symbol or length.
    #[error("enrollment code '{code}': {detail}")]
    BadCode {
        /// As typed.
        code: String,
        /// What is wrong, naming the position.
        detail: String,
    },
    /// A header or key that is not well-formed.
    #[error("{what}: {detail}")]
    Malformed {
        /// Which value.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The signature does not match the request and key.
    #[error("the request signature does not match its body and the device's key")]
    BadSignature,
}

/// Makes a code from random bytes (rejection sampling keeps every symbol equally
/// likely); `None` when the bytes ran out first (pass at least 32).
pub fn code_from_random(random: &[u8]) -> Option<String> {
    let n = SYMBOLS.len();
    // 242 = 11 × 22: bytes at or above it would favour the first symbols.
    let limit = 256 - 256 % n;
    let mut out = String::with_capacity(CODE_LEN);
    for &b in random {
        if (b as usize) < limit {
            out.push(SYMBOLS[b as usize % n] as char);
            if out.len() == CODE_LEN {
                return Some(out);
            }
        }
    }
    None
}

/// A normalised code shown to a person: `XXXX-XXXX-XXXX`.
pub fn display_code(code: &str) -> String {
    code.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// Normalises a code as a person typed it: case, spaces and dashes do not matter;
/// anything else that is not a code symbol is refused naming its position.
pub fn normalize_code(typed: &str) -> Result<String, AuthError> {
    let mut out = String::with_capacity(CODE_LEN);
    for (i, c) in typed.chars().enumerate() {
        if c == '-' || c == ' ' {
            continue;
        }
        let u = c.to_ascii_uppercase();
        if !u.is_ascii() || !SYMBOLS.contains(&(u as u8)) {
            return Err(AuthError::BadCode {
                code: typed.to_string(),
                detail: format!(
                    "character {} ('{c}') cannot be in a code (codes use {})",
                    i + 1,
                    String::from_utf8_lossy(SYMBOLS)
                ),
            });
        }
        out.push(u);
    }
    if out.len() != CODE_LEN {
        return Err(AuthError::BadCode {
            code: typed.to_string(),
            detail: format!("has {} symbols; a code has {CODE_LEN}", out.len()),
        });
    }
    Ok(out)
}

/// The bytes a device signs for one request.
pub fn signed_message(
    method: &str,
    path: &str,
    device: ActorId,
    nonce: u64,
    body: &[u8],
) -> Vec<u8> {
    let head = format!("cchc-request-v1\n{method}\n{path}\n{device}\n{nonce}\n");
    let mut m = Vec::with_capacity(head.len() + body.len());
    m.extend_from_slice(head.as_bytes());
    m.extend_from_slice(body);
    m
}

/// A device's key pair. The secret part never leaves the device.
pub struct DeviceKey(SigningKey);

impl DeviceKey {
    /// The key of a 32-byte secret seed.
    pub fn from_seed(seed: [u8; 32]) -> DeviceKey {
        DeviceKey(SigningKey::from_bytes(&seed))
    }

    /// The secret seed, to store owner-only on the device.
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public key, as the hub stores it.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs one request: the value of [`SIGNATURE_HEADER`].
    pub fn sign(
        &self,
        method: &str,
        path: &str,
        device: ActorId,
        nonce: u64,
        body: &[u8],
    ) -> String {
        let sig = self
            .0
            .sign(&signed_message(method, path, device, nonce, body));
        hex(&sig.to_bytes())
    }
}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceKey(public {})", self.public())
    }
}

/// A device's public key: 32 bytes, 64 hex digits on the wire.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub [u8; 32]);

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl std::str::FromStr for PublicKey {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Self, AuthError> {
        let bytes = unhex(s, 32, "public key")?;
        let mut k = [0u8; 32];
        k.copy_from_slice(&bytes);
        VerifyingKey::from_bytes(&k).map_err(|_| AuthError::Malformed {
            what: "public key",
            detail: "not a valid ed25519 point".into(),
        })?;
        Ok(PublicKey(k))
    }
}

impl Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl PublicKey {
    /// Checks a request's signature (the value of [`SIGNATURE_HEADER`]).
    pub fn verify(
        &self,
        signature: &str,
        method: &str,
        path: &str,
        device: ActorId,
        nonce: u64,
        body: &[u8],
    ) -> Result<(), AuthError> {
        let bytes = unhex(signature, 64, "signature")?;
        let mut s = [0u8; 64];
        s.copy_from_slice(&bytes);
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| AuthError::BadSignature)?;
        key.verify(
            &signed_message(method, path, device, nonce, body),
            &Signature::from_bytes(&s),
        )
        .map_err(|_| AuthError::BadSignature)
    }
}

/// Agent → hub, once, with the code an admin handed out. Signed like every request,
/// with the key being enrolled (proof that the device holds it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// Protocol version.
    pub protocol: u32,
    /// The one-time code, normalised.
    pub code: String,
    /// The commune the officer initialised the device for.
    pub unit: UnitCode,
    /// The device id.
    pub device: ActorId,
    /// The device's public key.
    pub public_key: PublicKey,
    /// The agent build.
    pub agent_version: String,
}

/// Hub → agent: the device is bound to the commune.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollResponse {
    /// The device id.
    pub device: ActorId,
    /// The commune it may write for.
    pub unit: UnitCode,
    /// Province code of the hub.
    pub province: u32,
    /// When (hub clock, ms since epoch).
    pub enrolled_ms: i64,
    /// The release root the hub trusts, which the agent pins: from then on only a
    /// root signed by it (a rotation) replaces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_root: Option<crate::release::Signed<crate::release::Root>>,
}

/// Where a provincial hub enrolls with the national hub (a province-scoped code).
pub const UPSTREAM_ENROLL_PATH: &str = "/api/v1/upstream/enroll";
/// Where a provincial hub forwards one commune's ops to the national hub, with the
/// same request and response as an agent's sync.
pub const UPSTREAM_SYNC_PATH: &str = "/api/v1/upstream/sync";

/// Provincial hub → national hub, once, with the code the national admin handed out.
/// Signed with the key being enrolled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerEnrollRequest {
    /// Protocol version.
    pub protocol: u32,
    /// The one-time code, normalised.
    pub code: String,
    /// The province the hub serves (the code's must be the same).
    pub province: u32,
    /// The provincial hub's id upstream.
    pub peer: ActorId,
    /// Its public key.
    pub public_key: PublicKey,
    /// The hub build.
    pub version: String,
}

/// National hub → provincial hub: the link is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerEnrollResponse {
    /// The provincial hub's id upstream.
    pub peer: ActorId,
    /// The province it may forward.
    pub province: u32,
    /// The national hub's name.
    pub national: String,
    /// When (national clock, ms since epoch).
    pub enrolled_ms: i64,
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(D[(b >> 4) as usize] as char);
        s.push(D[(b & 15) as usize] as char);
    }
    s
}

/// Exactly `len` bytes from hex.
pub fn unhex(s: &str, len: usize, what: &'static str) -> Result<Vec<u8>, AuthError> {
    let s = s.trim();
    if s.len() != len * 2 {
        return Err(AuthError::Malformed {
            what,
            detail: format!("expected {} hex digits, found {}", len * 2, s.len()),
        });
    }
    (0..len)
        .map(|i| {
            u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| AuthError::Malformed {
                what,
                detail: format!("not hex at digit {}", 2 * i + 1),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_only_unambiguous_symbols_and_normalise() {
        let random: Vec<u8> = (0..64u32).map(|i| (i * 97 % 256) as u8).collect();
        let code = code_from_random(&random).unwrap();
        assert_eq!(code.len(), CODE_LEN);
        for c in "0O1ILQ2Z5S8BUV".chars() {
            assert!(!code.contains(c));
            assert!(!SYMBOLS.contains(&(c as u8)), "{c} is ambiguous");
        }
        let shown = display_code(&code);
        assert_eq!(shown.len(), CODE_LEN + 2);
        assert_eq!(normalize_code(&shown.to_lowercase()).unwrap(), code);
        assert_eq!(
            normalize_code(&format!(" {} ", shown.replace('-', " "))).unwrap(),
            code
        );
        let e = normalize_code("ACDE-FGHO-JKMN").unwrap_err().to_string();
        assert!(e.contains("character 9 ('O')"), "{e}");
        let e = normalize_code("ACDE-FGH").unwrap_err().to_string();
        assert!(e.contains("7 symbols"), "{e}");
        assert_eq!(code_from_random(&[255; 40]), None);
    }

    #[test]
    fn signatures_bind_method_path_device_nonce_and_body() {
        let key = DeviceKey::from_seed([7; 32]);
        let public = key.public();
        let dev = ActorId(42);
        let sig = key.sign("POST", "/api/v1/sync", dev, 5, b"body");
        assert!(public
            .verify(&sig, "POST", "/api/v1/sync", dev, 5, b"body")
            .is_ok());
        for (m, p, d, n, b) in [
            ("POST", "/api/v1/sync", dev, 5, &b"bodz"[..]),
            ("POST", "/api/v1/sync", dev, 6, &b"body"[..]),
            ("POST", "/api/v1/sync", ActorId(43), 5, &b"body"[..]),
            ("POST", "/api/v1/enroll", dev, 5, &b"body"[..]),
            ("GET", "/api/v1/sync", dev, 5, &b"body"[..]),
        ] {
            assert_eq!(
                public.verify(&sig, m, p, d, n, b),
                Err(AuthError::BadSignature)
            );
        }
        let other = DeviceKey::from_seed([8; 32]).public();
        assert_eq!(
            other.verify(&sig, "POST", "/api/v1/sync", dev, 5, b"body"),
            Err(AuthError::BadSignature)
        );
        assert!(matches!(
            public.verify("zz", "POST", "/", dev, 5, b""),
            Err(AuthError::Malformed { .. })
        ));
        let text = public.to_string();
        assert_eq!(text.parse::<PublicKey>().unwrap(), public);
    }
}
