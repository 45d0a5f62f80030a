//! Integrating ops from a peer: the one rule set both the agent (desk bundles, hub
//! downloads) and the hub (device uploads) follow. In: a batch of ops and an
//! [`OpLog`] opened inside one transaction of the caller's store. Out: every op
//! applied exactly once, or an error and nothing the caller should commit.
//!
//! Rules, in order, per op: envelope shape; the op's commune is the receiver's; an op
//! already held under its (device, number) is skipped if identical and refused if not;
//! otherwise it must be its device's next number (a gap is refused, never buffered);
//! it must satisfy the definitions version that validated it; then the CRDT merge.

use crate::crdt::{self, Objects};
use crate::definitions::Definitions;
use crate::error::DomainError;
use crate::op::{ActorId, Op, OpBody, OpId};
use crate::units::UnitCode;
use rustc_hash::FxHashSet;
use std::collections::BTreeMap;

/// What to do with an op validated by a definitions version the receiver lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownDefs {
    /// Accept it as recorded (an agent: another desk got newer definitions first).
    Accept,
    /// Refuse it (the hub publishes every version, so it cannot be honest).
    Refuse,
}

/// The op log and objects of one commune inside one open transaction.
pub trait OpLog {
    /// Error of the backing store; domain refusals convert into it.
    type Error: From<DomainError>;
    /// The CRDT objects the log's ops are applied to, in the same transaction.
    type Objects: Objects<Error = Self::Error>;
    /// The objects.
    fn objects(&mut self) -> &mut Self::Objects;
    /// The op held under `id`, if any.
    fn held(&mut self, id: OpId) -> Result<Option<Op>, Self::Error>;
    /// The highest sequence number held from `actor` (0 if none); every number below
    /// it is held too.
    fn max_seq(&mut self, actor: ActorId) -> Result<u64, Self::Error>;
    /// Definitions of a version, if held.
    fn definitions(&mut self, version: u32) -> Result<Option<Definitions>, Self::Error>;
    /// The newest definitions version held.
    fn newest_definitions(&mut self) -> Result<u32, Self::Error>;
    /// Appends an applied op to the log and advances the version vector.
    fn append(&mut self, op: Op) -> Result<(), Self::Error>;
}

/// What a merge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeReport {
    /// Ops applied now, in the order applied.
    pub applied: Vec<OpId>,
    /// Ops already held (identical copies skipped).
    pub duplicates: usize,
}

/// Merges `ops` (any order; sorted here by device and number) into `log` for commune
/// `unit`. Stops at the first refused op; the caller must then roll back.
pub fn merge<L: OpLog>(
    log: &mut L,
    unit: UnitCode,
    mut ops: Vec<Op>,
    unknown_defs: UnknownDefs,
) -> Result<MergeReport, L::Error> {
    ops.sort_by_key(|o| (o.actor, o.seq));
    let mut report = MergeReport::default();
    let mut defs: BTreeMap<u32, Option<Definitions>> = BTreeMap::new();
    // Procedure codes already found in a definitions version: a batch names a few
    // dozen codes thousands of times.
    let mut known: BTreeMap<u32, FxHashSet<String>> = BTreeMap::new();
    for owned in ops {
        let op = &owned;
        op.check_shape()?;
        let id = op.id();
        if op.unit != unit {
            return Err(DomainError::WrongUnit {
                op: id.to_string(),
                op_unit: op.unit.0,
                own_unit: unit.0,
            }
            .into());
        }
        // A device's ops are held without gaps: below its highest number, an op is
        // held (the log is asked for it only then); above, it must be the next.
        let max = log.max_seq(op.actor)?;
        if op.seq <= max {
            if log.held(id)?.as_ref() != Some(op) {
                return Err(DomainError::OpConflict { op: id.to_string() }.into());
            }
            report.duplicates += 1;
            continue;
        }
        let expected = max + 1;
        if op.seq != expected {
            return Err(DomainError::SeqGap {
                op: id.to_string(),
                actor: op.actor.to_string(),
                expected,
            }
            .into());
        }
        if let std::collections::btree_map::Entry::Vacant(e) = defs.entry(op.defs) {
            e.insert(log.definitions(op.defs)?);
        }
        match defs.get(&op.defs) {
            Some(Some(d)) => match &op.body {
                OpBody::Count { procedure, .. } => {
                    // Checked once per code and version (the check is a scan by name).
                    let codes = known.entry(op.defs).or_default();
                    if !codes.contains(procedure.as_str()) {
                        crdt::check_definitions(op, d)?;
                        codes.insert(procedure.clone());
                    }
                }
                _ => crdt::check_definitions(op, d)?,
            },
            _ if unknown_defs == UnknownDefs::Refuse => {
                return Err(DomainError::UnknownDefinitions {
                    op: id.to_string(),
                    version: op.defs,
                    newest: log.newest_definitions()?,
                }
                .into())
            }
            _ => {}
        }
        crdt::apply_op(log.objects(), op)?;
        report.applied.push(id);
        log.append(owned)?;
    }
    Ok(report)
}
