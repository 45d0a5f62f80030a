//! The national tier's storage. On a national hub: one-time codes scoped to a province
//! and the provincial hubs enrolled with them (peers), each bound to its province. On a
//! provincial hub: its link to the national hub (address, its id there, the request
//! numbers it used) and, per commune, what the national hub holds (a version vector
//! per commune, upstream), so forwarding resumes where it stopped, exactly once.

use super::{AuditEntry, Enrolled};
use crate::error::Result;
use cchc_common::auth::{PeerEnrollRequest, PublicKey};
use cchc_common::state::VersionVector;
use cchc_common::{ActorId, UnitCode};

/// A provincial hub enrolled with this national hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAuth {
    /// Its id.
    pub peer: ActorId,
    /// The province it may forward.
    pub province: u32,
    /// Its public key.
    pub public_key: PublicKey,
    /// When it was revoked, if it was.
    pub revoked_ms: Option<i64>,
}

/// One line of `cchc-hub upstream peers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// Its id.
    pub peer: ActorId,
    /// Its province.
    pub province: u32,
    /// Its build.
    pub version: String,
    /// Enrolled at.
    pub enrolled_ms: i64,
    /// Last accepted request.
    pub last_seen_ms: Option<i64>,
}

/// A provincial hub's link to its national hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamLink {
    /// The national hub's address.
    pub url: String,
    /// This hub's id there.
    pub peer: ActorId,
    /// The national hub's name, as it said at enrollment.
    pub national: String,
    /// Linked at.
    pub linked_ms: i64,
    /// Last forwarding that reached the end.
    pub last_sync_ms: Option<i64>,
    /// What went wrong last, if the last attempt failed.
    pub last_error: Option<String>,
}

/// The national tier's storage (both sides).
pub trait Upstream: Send + Sync {
    /// National: stores a one-time code for a provincial hub of `province`.
    fn create_peer_code(
        &self,
        code_hash: &[u8; 32],
        province: u32,
        expires_ms: i64,
        audit: &AuditEntry,
        now_ms: i64,
    ) -> Result<()>;
    /// National: uses a code; binds the provincial hub's id and key to its province.
    fn enroll_peer(
        &self,
        code_hash: &[u8; 32],
        req: &PeerEnrollRequest,
        nonce: u64,
        audit: &AuditEntry,
        now_ms: i64,
    ) -> Result<Enrolled>;
    /// National: a provincial hub's credential.
    fn peer_auth(&self, peer: ActorId) -> Result<Option<PeerAuth>>;
    /// National: every provincial hub enrolled, by province.
    fn peers(&self) -> Result<Vec<PeerInfo>>;

    /// Provincial: the link to the national hub, if one is set.
    fn upstream(&self) -> Result<Option<UpstreamLink>>;
    /// Provincial: sets the link (replacing any: what the national hub held is then
    /// learned again from its answers).
    fn set_upstream(&self, link: &UpstreamLink, audit: &AuditEntry, now_ms: i64) -> Result<()>;
    /// Provincial: a request number larger than every one used upstream, recorded
    /// before the request is sent.
    fn next_upstream_nonce(&self) -> Result<u64>;
    /// Provincial: the national hub has seen `last` (this hub was restored from a
    /// backup): go on from above it.
    fn raise_upstream_nonce(&self, last: u64) -> Result<()>;
    /// Provincial: what the national hub holds of a commune, as it last said.
    fn upstream_acked(&self, unit: UnitCode) -> Result<VersionVector>;
    /// Provincial: records what the national hub holds of a commune.
    fn set_upstream_acked(&self, unit: UnitCode, acked: &VersionVector) -> Result<()>;
    /// Provincial: how the last forwarding ended.
    fn record_upstream_sync(&self, error: Option<&str>, now_ms: i64) -> Result<()>;
}

/// Merges ops the national hub sent down for a commune (its verifications): the
/// merge rules of any batch, without a device's request number.
pub fn from_upstream() -> super::Contact {
    super::Contact {
        sender: super::Sender::Upstream,
        device: ActorId(0),
        nonce: 0,
        agent_version: String::new(),
        protocol: cchc_common::sync::PROTOCOL_VERSION,
        clock_offset_ms: 0,
    }
}

/// The ops a commune's version vector lacks relative to another: what forwarding
/// still owes (used to skip communes with nothing new).
pub fn owes(held: &VersionVector, acked: &VersionVector) -> bool {
    held.iter().any(|(a, s)| s > acked.get(&a))
}
