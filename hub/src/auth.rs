//! Who is asking, on the hub. In: passwords, tokens, enrollment codes, signed device
//! requests and client addresses. Out: a user and role, an authenticated device, or a
//! [`Denied`] naming what is missing; and the rate limits that keep guessing slow.
//!
//! - Users sign in with a password (argon2id, PHC string stored) and get a random
//!   256-bit token, kept only as its SHA-256; it expires after [`SESSION_TTL_MS`].
//! - Enrollment codes are stored as their SHA-256 too; they are one-time and expire.
//! - Devices sign every request (see `cchc_common::auth`); the hub checks the
//!   signature with the key bound at enrollment, then the nonce inside the store's
//!   transaction.

use crate::error::{Denied, HubError, Result, Rule};
use crate::store::{Access, DeviceAuth, Role};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use cchc_common::auth::{DEVICE_HEADER, NONCE_HEADER, SIGNATURE_HEADER};
use cchc_common::ActorId;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

/// How long a session lasts from sign-in: one working day.
pub const SESSION_TTL_MS: i64 = 8 * 3600 * 1000;
/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 10;
/// Cookie carrying the session token for browsers.
pub const SESSION_COOKIE: &str = "cchc_session";

/// Random bytes from the operating system.
pub fn random<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b)
        .map_err(|e| HubError::Internal(format!("no randomness from the OS: {e}")))?;
    Ok(b)
}

/// SHA-256.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Checks a new password against the policy.
pub fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(HubError::input(
            "password",
            "…",
            Rule::PasswordLength { min: MIN_PASSWORD },
        ));
    }
    Ok(())
}

/// Hashes a password (argon2id, default parameters: 19 MiB, 2 passes).
pub fn hash_password(password: &str) -> Result<String> {
    check_password(password)?;
    let salt_bytes: [u8; 16] = random()?;
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| HubError::Internal(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HubError::Internal(format!("password hash: {e}")))
}

/// Whether a password matches a stored hash.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash to verify against when the user does not exist, so that a wrong name
/// takes as long as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not-a-real-password").unwrap_or_default())
}

/// A new session token and its stored hash.
pub fn new_token() -> Result<(String, [u8; 32])> {
    let t: [u8; 32] = random()?;
    let token = cchc_common::auth::hex(&t);
    let hash = sha256(token.as_bytes());
    Ok((token, hash))
}

/// A signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// User name.
    pub user: String,
    /// Role.
    pub role: Role,
    /// The token's hash (to sign out).
    pub token_hash: [u8; 32],
    /// The person's name as communes see it (empty: the login name).
    pub display_name: String,
}

impl Session {
    /// The session of a token, or why there is none.
    pub fn of_token(store: &dyn Access, token: &str, now_ms: i64) -> Result<Session> {
        let hash = sha256(token.as_bytes());
        match store.session(&hash, now_ms)? {
            None => Err(Denied::NoSession.into()),
            Some(Err(_)) => Err(Denied::SessionExpired.into()),
            Some(Ok((user, role, display_name))) => Ok(Session {
                user,
                role,
                token_hash: hash,
                display_name,
            }),
        }
    }

    /// The name communes see on what this person does (a verification): the display
    /// name, else the login name.
    pub fn shown_name(&self) -> &str {
        if self.display_name.is_empty() {
            &self.user
        } else {
            &self.display_name
        }
    }

    /// The token a form of this session carries (derived from the session, so a page
    /// from another site cannot know it, and signing out makes old forms stale).
    pub fn form_token(&self) -> String {
        let mut input = b"cchc form token\0".to_vec();
        input.extend_from_slice(&self.token_hash);
        sha256(&input).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Refuses a form whose token is not this session's.
    pub fn check_form_token(&self, given: Option<&str>) -> Result<()> {
        let want = self.form_token();
        let given = given.unwrap_or("").as_bytes();
        // Constant time over the expected length: no early exit on the first difference.
        let same = given.len() == want.len()
            && given
                .iter()
                .zip(want.as_bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same {
            Ok(())
        } else {
            Err(Denied::StaleForm.into())
        }
    }

    /// Refuses unless the user's role is at least `needs`.
    pub fn require(&self, needs: Role) -> Result<()> {
        if self.role >= needs {
            Ok(())
        } else {
            Err(Denied::Role {
                user: self.user.clone(),
                role: self.role.as_str(),
                needs: needs.as_str(),
            }
            .into())
        }
    }

    /// The audit actor.
    pub fn actor(&self) -> String {
        format!("user:{}", self.user)
    }
}

/// The credential headers of a device request.
#[derive(Debug, Clone)]
pub struct Signed {
    /// Device id.
    pub device: ActorId,
    /// Nonce.
    pub nonce: u64,
    /// Signature (hex).
    pub signature: String,
}

impl Signed {
    /// Reads the three headers; names the first one missing or malformed.
    pub fn from_headers(headers: &axum::http::HeaderMap) -> Result<Signed> {
        let get = |h: &'static str| -> Result<&str> {
            headers
                .get(h)
                .ok_or(Denied::NotSigned { missing: h })?
                .to_str()
                .map_err(|_| {
                    Denied::BadHeader {
                        header: h,
                        value: String::from_utf8_lossy(headers[h].as_bytes()).into_owned(),
                        rule: Rule::Utf8,
                    }
                    .into()
                })
        };
        let device = get(DEVICE_HEADER)?;
        let device: ActorId = device.trim().parse().map_err(|_| Denied::BadHeader {
            header: DEVICE_HEADER,
            value: device.to_string(),
            rule: Rule::DeviceId,
        })?;
        let nonce = get(NONCE_HEADER)?;
        let nonce: u64 = nonce.trim().parse().map_err(|_| Denied::BadHeader {
            header: NONCE_HEADER,
            value: nonce.to_string(),
            rule: Rule::WholeNumber,
        })?;
        Ok(Signed {
            device,
            nonce,
            signature: get(SIGNATURE_HEADER)?.trim().to_string(),
        })
    }

    /// Checks the signature with an enrolled device's key and refuses revoked ones.
    /// The nonce is checked later, inside the transaction that stores the request.
    pub fn verify(
        &self,
        auth: Option<DeviceAuth>,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<DeviceAuth> {
        let device = self.device.to_string();
        let auth = auth.ok_or(Denied::UnknownDevice {
            device: device.clone(),
        })?;
        auth.public_key
            .verify(&self.signature, method, path, self.device, self.nonce, body)
            .map_err(|_| Denied::BadSignature {
                device: device.clone(),
            })?;
        if auth.revoked_ms.is_some() {
            return Err(Denied::Revoked { device }.into());
        }
        Ok(auth)
    }
}

/// The hub's rate limits (GCRA, in memory; they reset when the hub restarts).
pub struct Limits {
    /// Every request from one address.
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    /// Sign-in and enrollment attempts from one address: what a guesser needs.
    guesses: DefaultKeyedRateLimiter<IpAddr>,
    /// Sync requests of one device.
    per_device: DefaultKeyedRateLimiter<ActorId>,
}

/// Rates of [`Limits`], settable on `serve` (see README).
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    /// Requests per second from one address, and the burst.
    pub ip_per_s: u32,
    /// Burst per address.
    pub ip_burst: u32,
    /// Sign-in/enrollment attempts per minute from one address.
    pub guesses_per_min: u32,
    /// Burst of attempts.
    pub guesses_burst: u32,
    /// Sync requests per second of one device.
    pub device_per_s: u32,
    /// Burst per device (a backlog of 100,000 ops is 50 requests).
    pub device_burst: u32,
}

impl Default for Rates {
    fn default() -> Rates {
        Rates {
            ip_per_s: 100,
            ip_burst: 1_000,
            guesses_per_min: 10,
            guesses_burst: 10,
            device_per_s: 2,
            device_burst: 120,
        }
    }
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("at least one")
}

fn check<K: std::hash::Hash + Eq + Clone>(
    lim: &DefaultKeyedRateLimiter<K>,
    key: &K,
    what: &'static str,
) -> Result<()> {
    use governor::clock::{Clock, DefaultClock};
    lim.check_key(key).map_err(|not_until| {
        let wait: Duration = not_until.wait_time_from(DefaultClock::default().now());
        HubError::Denied(Denied::RateLimited {
            what,
            retry_after_s: wait.as_secs() + 1,
        })
    })
}

impl Limits {
    /// Limits at these rates.
    pub fn new(r: Rates) -> Limits {
        Limits {
            per_ip: RateLimiter::keyed(
                Quota::per_second(nz(r.ip_per_s)).allow_burst(nz(r.ip_burst)),
            ),
            guesses: RateLimiter::keyed(
                Quota::per_minute(nz(r.guesses_per_min)).allow_burst(nz(r.guesses_burst)),
            ),
            per_device: RateLimiter::keyed(
                Quota::per_second(nz(r.device_per_s)).allow_burst(nz(r.device_burst)),
            ),
        }
    }

    /// One request from `ip`.
    pub fn request(&self, ip: IpAddr) -> Result<()> {
        check(&self.per_ip, &ip, "requests from this address")
    }

    /// One sign-in or enrollment attempt from `ip`.
    pub fn guess(&self, ip: IpAddr) -> Result<()> {
        check(
            &self.guesses,
            &ip,
            "sign-in or enrollment attempts from this address",
        )
    }

    /// One sync request of `device` (after its signature checked out).
    pub fn device(&self, device: ActorId) -> Result<()> {
        check(&self.per_device, &device, "requests from this device")
    }

    /// Forgets keys whose limits are back to full (called periodically).
    pub fn tidy(&self) {
        self.per_ip.retain_recent();
        self.guesses.retain_recent();
        self.per_device.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify_and_short_ones_are_refused() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "correct horse batterz"));
        assert!(!verify_password("garbage", "x"));
        assert!(hash_password("short").is_err());
    }

    #[test]
    fn guesses_are_limited_per_address() {
        let l = Limits::new(Rates::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let passed = (0..100).filter(|_| l.guess(a).is_ok()).count();
        assert_eq!(passed, 10);
        assert!(l.guess(b).is_ok());
        match l.guess(a) {
            Err(HubError::Denied(Denied::RateLimited { retry_after_s, .. })) => {
                assert!((1..=7).contains(&retry_after_s), "{retry_after_s}")
            }
            other => panic!("{other:?}"),
        }
    }
}
