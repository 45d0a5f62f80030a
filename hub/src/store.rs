//! The hub's storage interface. In: merged batches from [`crate::sync`], queries from
//! the views. Out: durable ops, per-commune CRDT state and what the views read.
//!
//! The merge rules live in `cchc_common::merge`; a store only provides one commune's
//! op log and objects inside one transaction of its own. [`sql::SqlStore`] is the one
//! store, on SQLite or PostgreSQL; merge, sync and routes do not know which.

pub mod releases;
pub mod sql;
pub mod upstream;

use crate::error::Result;
use cchc_common::auth::{EnrollRequest, PublicKey};
use cchc_common::state::VersionVector;
use cchc_common::update::SignedDefinitions;
use cchc_common::{ActorId, Definitions, Metric, Op, Period, Score, UnitCode};

/// The province a hub serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Province {
    /// Province code.
    pub code: u32,
    /// Province name.
    pub name: String,
}

/// Who sent a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// An enrolled agent (its nonce checked and recorded in `devices`; it may relay a
    /// province-side op only if the hub already holds it).
    Device,
    /// A provincial hub enrolled with this national hub (its nonce checked and
    /// recorded in `peers`; its province's verifications are its to forward).
    Peer,
    /// This hub's own national hub, answering its forwarding (no nonce: the answer
    /// to a request this hub signed).
    Upstream,
}

/// Who is syncing: an authenticated device, recorded with every successful exchange.
#[derive(Debug, Clone)]
pub struct Contact {
    /// Which kind of sender.
    pub sender: Sender,
    /// Device id (its signature has been checked).
    pub device: ActorId,
    /// The request's nonce: must be larger than every earlier one of the device.
    pub nonce: u64,
    /// Agent build.
    pub agent_version: String,
    /// The sync protocol version it spoke.
    pub protocol: u32,
    /// The device's clock minus the hub's, as seen in this request.
    pub clock_offset_ms: i64,
}

/// What merging one batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// Ops newly applied.
    pub applied: u64,
    /// Ops already held.
    pub duplicates: u64,
    /// What the hub now holds for the commune.
    pub acked: VersionVector,
}

/// One commune's sync state: devices, ops held, last sync (its figures come from the
/// rollups, through [`Dashboard`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitStatus {
    /// Commune code.
    pub unit: UnitCode,
    /// Commune name.
    pub name: String,
    /// Last successful sync of any of its devices (ms since epoch).
    pub last_sync_ms: Option<i64>,
    /// Ops held.
    pub ops: u64,
    /// Devices seen.
    pub devices: u32,
}

/// A hub user's role. Each role can do what the roles below it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Reads everything (the audit log too) and verifies scores.
    Analyst,
    /// Also enrolls and revokes devices, publishes definitions.
    Admin,
}

impl Role {
    /// The role's name, as stored and typed.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }

    /// Parses a role name.
    pub fn parse(s: &str) -> Option<Role> {
        match s.trim() {
            "viewer" => Some(Role::Viewer),
            "analyst" => Some(Role::Analyst),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// An enrolled device, as the hub knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuth {
    /// Device id.
    pub device: ActorId,
    /// The commune it may write for.
    pub unit: UnitCode,
    /// Its public key.
    pub public_key: PublicKey,
    /// When it was revoked, if it was.
    pub revoked_ms: Option<i64>,
}

/// One line of `cchc-hub device list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Device id.
    pub device: ActorId,
    /// Commune.
    pub unit: UnitCode,
    /// Commune name.
    pub unit_name: String,
    /// Agent build last reported.
    pub agent_version: String,
    /// Sync protocol version of its last exchange (None: it never synced, or before
    /// the hub recorded it).
    pub protocol: Option<u32>,
    /// Enrolled at.
    pub enrolled_ms: i64,
    /// Last accepted request (enrollment included).
    pub last_seen_ms: Option<i64>,
    /// Revoked at.
    pub revoked_ms: Option<i64>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
}

/// A new one-time enrollment code, as stored: only its hash is kept.
#[derive(Debug, Clone)]
pub struct NewEnrollment {
    /// SHA-256 of the normalised code.
    pub code_hash: [u8; 32],
    /// The commune the code enrolls a device for.
    pub unit: UnitCode,
    /// Expiry (ms since epoch).
    pub expires_ms: i64,
}

/// What an enrollment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enrolled {
    /// The device is now bound to the commune.
    New,
    /// The same device and key already used this code (its answer was lost): same result.
    Again,
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// The person's name as communes see it on a verification ("Nguyễn Thị Thu");
    /// empty: the login name is shown.
    pub display_name: String,
}

/// Whose a session is: login name, role, the name communes see.
pub type SessionOf = (String, Role, String);

/// One audit entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Who: `user:NAME`, `device:ID`, `cli:OSUSER` or `anonymous`.
    pub actor: String,
    /// What: `enroll.create`, `device.revoke`, `login`, `sync`, …
    pub action: String,
    /// On what (commune, device, user…).
    pub target: String,
    /// `ok`, or the refusal's machine code.
    pub outcome: String,
    /// Client address, for requests.
    pub ip: Option<String>,
    /// Anything else worth keeping.
    pub detail: String,
}

/// One stored audit row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Sequence number.
    pub id: i64,
    /// When (ms since epoch).
    pub at_ms: i64,
    /// The entry.
    pub entry: AuditEntry,
}

/// Accounts, credentials and the audit log: who may do what on the hub. Every
/// changing method appends its audit entry in the same transaction as the change.
pub trait Access: Send + Sync {
    /// Stores a new enrollment code.
    fn create_enrollment(&self, e: &NewEnrollment, audit: &AuditEntry, now_ms: i64) -> Result<()>;
    /// Uses an enrollment code: binds the device and its key to the code's commune.
    fn enroll(
        &self,
        code_hash: &[u8; 32],
        req: &EnrollRequest,
        nonce: u64,
        audit: &AuditEntry,
        now_ms: i64,
    ) -> Result<Enrolled>;
    /// The credential of a device, if it was ever enrolled.
    fn device_auth(&self, device: ActorId) -> Result<Option<DeviceAuth>>;
    /// Every enrolled device, by commune then id.
    fn devices(&self) -> Result<Vec<DeviceInfo>>;
    /// Revokes a device (its data stays); false if it was already revoked.
    fn revoke_device(&self, device: ActorId, audit: &AuditEntry, now_ms: i64) -> Result<bool>;
    /// Adds a user (refused if the name is taken).
    fn add_user(&self, user: &User, audit: &AuditEntry, now_ms: i64) -> Result<()>;
    /// Sets a user's password hash and ends their sessions.
    fn set_password(&self, name: &str, hash: &str, audit: &AuditEntry, now_ms: i64) -> Result<()>;
    /// Removes a user and their sessions.
    fn remove_user(&self, name: &str, audit: &AuditEntry, now_ms: i64) -> Result<()>;
    /// A user by name.
    fn user(&self, name: &str) -> Result<Option<User>>;
    /// Every user, by name.
    fn users(&self) -> Result<Vec<User>>;
    /// Opens a session (the token's SHA-256 is stored, never the token).
    fn create_session(
        &self,
        token_hash: &[u8; 32],
        user: &str,
        expires_ms: i64,
        audit: &AuditEntry,
        now_ms: i64,
    ) -> Result<()>;
    /// The user and role of a live session; `Err(expired)` when it ran out.
    fn session(
        &self,
        token_hash: &[u8; 32],
        now_ms: i64,
    ) -> Result<Option<std::result::Result<SessionOf, i64>>>;
    /// Ends a session.
    fn end_session(&self, token_hash: &[u8; 32], audit: &AuditEntry, now_ms: i64) -> Result<()>;
    /// Appends an audit entry on its own (refusals, which store nothing else).
    fn audit(&self, entry: &AuditEntry, now_ms: i64) -> Result<()>;
    /// The newest `limit` audit rows whose action starts with `action`, oldest first.
    fn audit_log(&self, limit: usize, action: Option<&str>) -> Result<Vec<AuditRow>>;
}

/// One verified score to record (thẩm định) for a criterion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Criterion code.
    pub criterion: String,
    /// Verified score.
    pub score: Score,
    /// The analyst's comment.
    pub comment: String,
}

/// The rollout plan and the province's verifications: the hub's own writes to the
/// communes' data, each with its audit entry in the same transaction.
pub trait Rollout: Send + Sync {
    /// The phase a commune is assigned in the plan, if any.
    fn unit_phase(&self, unit: UnitCode) -> Result<Option<u32>>;
    /// Assigns communes to rollout phases (all or nothing); reassigning moves a commune.
    fn assign_phases(
        &self,
        plan: &[(UnitCode, u32)],
        audit: &AuditEntry,
        now_ms: i64,
    ) -> Result<()>;
    /// Records verified scores for a commune in the phase it is assigned, as ops of the
    /// commune's province actor (made on first use) that sync down to its agents.
    /// Entries equal to the verification held are skipped; returns the ops made.
    fn verify(
        &self,
        unit: UnitCode,
        phase: u32,
        scores: &[Verification],
        by: &str,
        audit: &AuditEntry,
        now_ms: i64,
    ) -> Result<Vec<Op>>;
}

/// A commune as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitRow {
    /// Commune code.
    pub unit: UnitCode,
    /// Name.
    pub name: String,
    /// xã, phường or đặc khu.
    pub kind: String,
    /// Its phase in the rollout plan.
    pub phase: Option<u32>,
    /// Last successful sync of any of its devices.
    pub last_sync_ms: Option<i64>,
}

/// A planned commune's standing in its phase, as the rollups hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandingRow {
    /// Commune code.
    pub unit: UnitCode,
    /// The standing (phase, scores, stage).
    pub standing: cchc_common::rollout::Standing,
    /// Grade band code (empty while nothing is scored).
    pub grade: String,
    /// Assigned to the phase at.
    pub assigned_at: i64,
    /// Every criterion self-scored at (when the last one first arrived).
    pub self_assessed_at: Option<i64>,
    /// Every criterion verified at (the latest verification).
    pub verified_at: Option<i64>,
}

/// One phase's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PhaseTotal {
    /// Phase.
    pub phase: u32,
    /// Communes assigned.
    pub assigned: u64,
    /// Communes with every criterion self-scored.
    pub reported: u64,
    /// Communes with every criterion verified.
    pub verified: u64,
    /// Communes verified at or above the threshold.
    pub passed: u64,
}

/// One criterion's sums over the communes of its phase that have a score for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriterionTotal {
    /// Phase.
    pub phase: u32,
    /// Criterion code.
    pub criterion: String,
    /// Communes with a score.
    pub communes: u64,
    /// Sum of their scores (tenths).
    pub total_tenths: u64,
    /// Communes at the maximum.
    pub at_max: u64,
}

/// Pledge figures of one commune, or of the province, for one year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PledgeFigures {
    /// Communes with a signed pledge (1 or 0 for one commune).
    pub units: u64,
    /// Pledges signed.
    pub pledges: u64,
    /// Tasks registered.
    pub tasks: u64,
    /// Tasks done.
    pub done: u64,
}

/// A merged count (increments minus corrections).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KpiValue {
    /// Commune (None: the whole province).
    pub unit: Option<UnitCode>,
    /// Procedure (None: all procedures).
    pub procedure: Option<String>,
    /// Period as recorded.
    pub period: Period,
    /// Metric.
    pub metric: Metric,
    /// Value.
    pub value: i64,
}

/// A commune's counts report for a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    /// Commune.
    pub unit: UnitCode,
    /// Period.
    pub period: Period,
    /// First received.
    pub first_at: i64,
    /// Last received.
    pub last_at: i64,
    /// Count ops received for it.
    pub ops: u64,
}

/// One commune's own data for its page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommuneData {
    /// Merged state (counts, pledges, self-assessments, verifications).
    pub view: cchc_common::view::StateView,
    /// When the hub first / last received each score: (phase, criterion, kind, first, last).
    pub seen: Vec<(u32, String, String, i64, i64)>,
    /// Its reports per period.
    pub reports: Vec<ReportRow>,
}

/// What the dashboard reads: the rollups, never the op log.
pub trait Dashboard: Send + Sync {
    /// The newest published definitions.
    fn newest_definitions(&self) -> Result<Definitions>;
    /// Every commune served, by code, with its phase and last sync.
    fn units(&self) -> Result<Vec<UnitRow>>;
    /// Standings of the planned communes (of one phase, or all), by code.
    fn standings(&self, phase: Option<u32>) -> Result<Vec<StandingRow>>;
    /// Counts per phase.
    fn phase_totals(&self) -> Result<Vec<PhaseTotal>>;
    /// Sums per criterion.
    fn criterion_totals(&self) -> Result<Vec<CriterionTotal>>;
    /// The province's pledge figures for a year.
    fn pledge_totals(&self, year: i32) -> Result<PledgeFigures>;
    /// Each commune's pledge figures for a year, or summed over every year (communes
    /// with any pledge).
    fn pledge_units(&self, year: Option<i32>) -> Result<Vec<(UnitCode, PledgeFigures)>>;
    /// Province-wide merged counts for every period recorded within `year`.
    fn kpi_province(&self, year: i32) -> Result<Vec<KpiValue>>;
    /// Per-commune merged counts for one period as recorded.
    fn kpi_units(&self, period: Period) -> Result<Vec<KpiValue>>;
    /// Per-commune merged counts for every period recorded within `within` (a month,
    /// or the months and quarters of a quarter or year and the period itself).
    fn kpi_units_within(&self, within: Period) -> Result<Vec<KpiValue>>;
    /// Per-procedure province-wide merged counts for one period as recorded.
    fn kpi_procedures(&self, period: Period) -> Result<Vec<KpiValue>>;
    /// Who reported counts for a period as recorded.
    fn reports(&self, period: Period) -> Result<Vec<ReportRow>>;
    /// How many communes reported, for every period recorded within `year`.
    fn period_totals(&self, year: i32) -> Result<Vec<(Period, u64)>>;
    /// One commune's data (None if the hub does not serve it).
    fn commune(&self, unit: UnitCode) -> Result<Option<CommuneData>>;
    /// The score that counts for each criterion of each planned commune: (commune,
    /// phase, criterion, score in tenths).
    fn effective_scores(&self) -> Result<Vec<(UnitCode, u32, String, i64)>>;
}

/// Everything the server needs of a store.
pub trait HubStore:
    Store + Access + Rollout + Dashboard + releases::Releases + upstream::Upstream
{
}
impl<T: Store + Access + Rollout + Dashboard + releases::Releases + upstream::Upstream> HubStore
    for T
{
}

/// A hub store.
pub trait Store: Send + Sync {
    /// The province served.
    fn province(&self) -> Result<Province>;
    /// Whether the commune belongs to the province served.
    fn serves(&self, unit: UnitCode) -> Result<bool>;
    /// Merges one batch for one commune in one transaction, recording the contact;
    /// on any refusal nothing at all is written (not even the contact).
    fn merge(&self, unit: UnitCode, contact: &Contact, ops: Vec<Op>, now_ms: i64)
        -> Result<Merged>;
    /// Up to `limit` ops of the commune that a holder of `have` lacks, in per-device
    /// order, and whether more remain.
    fn ops_since(
        &self,
        unit: UnitCode,
        have: &VersionVector,
        limit: usize,
    ) -> Result<(Vec<Op>, bool)>;
    /// Published definitions newer than `version`, oldest first.
    fn definitions_after(&self, version: u32) -> Result<Vec<SignedDefinitions>>;
    /// Publishes a definitions version (must be newer than every published one).
    fn publish_definitions(
        &self,
        defs: &Definitions,
        signed: &SignedDefinitions,
        now_ms: i64,
    ) -> Result<()>;
    /// Status of every commune of the province, by code.
    fn sync_status(&self) -> Result<Vec<UnitStatus>>;
    /// What the hub holds of a commune: per device, its highest number.
    fn held(&self, unit: UnitCode) -> Result<VersionVector>;
}
