//! The hub's storage interface. In: merged batches from [`crate::sync`], queries from
//! the views. Out: durable ops, per-commune CRDT state and what the views read.
//!
//! The merge rules live in `cchc_common::merge`; a store only provides one commune's
//! op log and objects inside one transaction of its own. So a PostgreSQL store can be
//! added beside [`sqlite::SqliteStore`] without touching merge, sync or routes.

pub mod sqlite;

use crate::error::Result;
use cchc_common::state::VersionVector;
use cchc_common::{ActorId, Definitions, Metric, Op, Period, Score, UnitCode};
use std::collections::BTreeMap;

/// The province a hub serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Province {
    /// Province code.
    pub code: u32,
    /// Province name.
    pub name: String,
}

/// Who is syncing: recorded with every successful exchange.
#[derive(Debug, Clone)]
pub struct Contact {
    /// Device id.
    pub device: ActorId,
    /// Agent build.
    pub agent_version: String,
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

/// One commune's line in `cchc-hub status`.
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
    /// Pledges held.
    pub pledges: u32,
    /// Pledges with a task not yet done (or no task yet).
    pub pledges_pending: u32,
    /// Self-assessment total per phase.
    pub assessment: BTreeMap<u32, Score>,
}

/// The merged value of one metric for one commune and period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountSum {
    /// Commune.
    pub unit: UnitCode,
    /// Period recorded.
    pub period: Period,
    /// Metric.
    pub metric: Metric,
    /// Value (increments minus corrections over all desks and procedures).
    pub value: i64,
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
    fn definitions_after(&self, version: u32) -> Result<Vec<Definitions>>;
    /// Publishes a definitions version (must be newer than every published one).
    fn publish_definitions(&self, defs: &Definitions, now_ms: i64) -> Result<()>;
    /// Status of every commune of the province, by code.
    fn unit_status(&self) -> Result<Vec<UnitStatus>>;
    /// Merged metric values of every commune for the periods within `within`.
    fn count_sums(&self, within: Period) -> Result<Vec<CountSum>>;
}
