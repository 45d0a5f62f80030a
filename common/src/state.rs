//! An in-memory replica: the reference implementation of receiving ops. In: ops from
//! anywhere, in any order, duplicated. Out: merged objects, a version vector, and the
//! ops a peer lacks. The agent's SQLite store applies ops through the same
//! [`crate::crdt::apply_op`]; property tests hold the two to the same results.

use crate::crdt::{self, AssessReg, CountCell, CountKey, Objects, OpCtx, PledgeCrdt, VerifyReg};
use crate::error::DomainError;
use crate::hlc::Hlc;
use crate::op::{ActorId, Op, OpId};
use crate::units::UnitCode;
use crate::view::StateView;
use crdts::{CmRDT, Dot, VClock};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// A version vector: for each device, the highest sequence number held with no gap
/// below it. A `crdts::VClock` inside; serialized as a plain `{"<device>": seq}` map of
/// our own, so the crate's format never reaches disk or wire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionVector(VClock<ActorId>);

impl VersionVector {
    /// An empty vector.
    pub fn new() -> VersionVector {
        VersionVector::default()
    }

    /// The highest sequence number held from `actor` (0 if none).
    pub fn get(&self, actor: &ActorId) -> u64 {
        self.0.get(actor)
    }

    /// Records that `actor`'s ops up to `seq` are held (never moves backwards).
    pub fn advance(&mut self, actor: ActorId, seq: u64) {
        self.0.apply(Dot::new(actor, seq));
    }

    /// Devices and their highest sequence numbers.
    pub fn iter(&self) -> impl Iterator<Item = (ActorId, u64)> + '_ {
        self.0.iter().map(|d| (*d.actor, d.counter))
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Total number of ops covered.
    pub fn total(&self) -> u64 {
        self.iter().map(|(_, s)| s).sum()
    }
}

impl FromIterator<(ActorId, u64)> for VersionVector {
    fn from_iter<I: IntoIterator<Item = (ActorId, u64)>>(iter: I) -> Self {
        let mut v = VersionVector::new();
        for (a, s) in iter {
            v.advance(a, s);
        }
        v
    }
}

impl Serialize for VersionVector {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for VersionVector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = BTreeMap::<ActorId, u64>::deserialize(d)?;
        Ok(m.into_iter().collect())
    }
}

/// What happened to a received op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// Applied now (and possibly some buffered successors with it).
    Applied,
    /// Already held: nothing changed.
    Duplicate,
    /// Held back until the ops before it from its device arrive.
    Buffered,
}

/// Objects held in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemObjects {
    /// Count cells.
    pub counts: BTreeMap<CountKey, CountCell>,
    /// Pledges by (year, key).
    pub pledges: BTreeMap<(i32, String), PledgeCrdt>,
    /// Assessments by (phase, criterion).
    pub assessments: BTreeMap<(u32, String), AssessReg>,
    /// The province's verifications by (phase, criterion).
    pub verifications: BTreeMap<(u32, String), VerifyReg>,
}

impl MemObjects {
    /// The `show --json` document of these objects for commune `unit`.
    pub fn view(&self, unit: UnitCode) -> StateView {
        StateView::build(
            unit,
            self.counts.iter(),
            self.pledges.values(),
            self.assessments
                .iter()
                .map(|((p, c), r)| ((*p, c.as_str()), r)),
            self.verifications
                .iter()
                .map(|((p, c), r)| ((*p, c.as_str()), r)),
        )
    }
}

impl Objects for MemObjects {
    type Error = DomainError;
    fn count_cell(&mut self, key: &CountKey) -> Result<CountCell, DomainError> {
        Ok(self.counts.get(key).cloned().unwrap_or_default())
    }
    fn put_count_cell(&mut self, key: &CountKey, cell: &CountCell) -> Result<(), DomainError> {
        self.counts.insert(key.clone(), cell.clone());
        Ok(())
    }
    fn pledge(&mut self, year: i32, key: &str) -> Result<Option<PledgeCrdt>, DomainError> {
        Ok(self.pledges.get(&(year, key.to_string())).cloned())
    }
    fn put_pledge(&mut self, p: &PledgeCrdt) -> Result<(), DomainError> {
        self.pledges.insert((p.year, p.key.clone()), p.clone());
        Ok(())
    }
    fn assessment(&mut self, phase: u32, c: &str) -> Result<Option<AssessReg>, DomainError> {
        Ok(self.assessments.get(&(phase, c.to_string())).cloned())
    }
    fn put_assessment(&mut self, phase: u32, c: &str, reg: &AssessReg) -> Result<(), DomainError> {
        self.assessments.insert((phase, c.to_string()), reg.clone());
        Ok(())
    }
    fn verification(&mut self, phase: u32, c: &str) -> Result<Option<VerifyReg>, DomainError> {
        Ok(self.verifications.get(&(phase, c.to_string())).cloned())
    }
    fn put_verification(
        &mut self,
        phase: u32,
        c: &str,
        reg: &VerifyReg,
    ) -> Result<(), DomainError> {
        self.verifications
            .insert((phase, c.to_string()), reg.clone());
        Ok(())
    }
}

/// An in-memory replica of one commune's data.
#[derive(Debug, Clone)]
pub struct Replica {
    unit: UnitCode,
    log: BTreeMap<OpId, Op>,
    pending: BTreeMap<OpId, Op>,
    vv: VersionVector,
    /// The replica's clock.
    pub hlc: Hlc,
    /// Merged objects.
    pub objects: MemObjects,
}

impl Replica {
    /// An empty replica for a commune.
    pub fn new(unit: UnitCode) -> Replica {
        Replica {
            unit,
            log: BTreeMap::new(),
            pending: BTreeMap::new(),
            vv: VersionVector::new(),
            hlc: Hlc::default(),
            objects: MemObjects::default(),
        }
    }

    /// The version vector.
    pub fn version_vector(&self) -> &VersionVector {
        &self.vv
    }

    /// Ops held back for missing predecessors.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Every op held, by id.
    pub fn ops(&self) -> impl Iterator<Item = &Op> {
        self.log.values()
    }

    /// The ops a peer with version vector `peer` lacks, in per-device order.
    pub fn ops_since(&self, peer: &VersionVector) -> Vec<Op> {
        self.log
            .values()
            .filter(|op| op.seq > peer.get(&op.actor))
            .cloned()
            .collect()
    }

    fn check_known(&self, op: &Op) -> Result<Option<Receipt>, DomainError> {
        op.check_shape()?;
        if op.unit != self.unit {
            return Err(DomainError::WrongUnit {
                op: op.id().to_string(),
                op_unit: op.unit.0,
                own_unit: self.unit.0,
            });
        }
        if let Some(held) = self
            .log
            .get(&op.id())
            .or_else(|| self.pending.get(&op.id()))
        {
            return if held == op {
                Ok(Some(Receipt::Duplicate))
            } else {
                Err(DomainError::OpConflict {
                    op: op.id().to_string(),
                })
            };
        }
        Ok(None)
    }

    /// Receives an op in any order: applies it if it is its device's next, buffers it if
    /// earlier ones are missing, ignores exact duplicates, refuses conflicts.
    pub fn receive(&mut self, op: Op) -> Result<Receipt, DomainError> {
        if let Some(r) = self.check_known(&op)? {
            return Ok(r);
        }
        let next = self.vv.get(&op.actor) + 1;
        if op.seq > next {
            self.pending.insert(op.id(), op);
            return Ok(Receipt::Buffered);
        }
        let actor = op.actor;
        self.apply_next(op)?;
        loop {
            let next = OpId {
                actor,
                seq: self.vv.get(&actor) + 1,
            };
            match self.pending.remove(&next) {
                Some(op) => self.apply_next(op)?,
                None => break,
            }
        }
        Ok(Receipt::Applied)
    }

    /// Receives an op that must be its device's next (as the sync protocol requires):
    /// a gap is refused, not buffered.
    pub fn receive_in_order(&mut self, op: Op) -> Result<Receipt, DomainError> {
        if let Some(r) = self.check_known(&op)? {
            return Ok(r);
        }
        let expected = self.vv.get(&op.actor) + 1;
        if op.seq != expected {
            return Err(DomainError::SeqGap {
                op: op.id().to_string(),
                actor: op.actor.to_string(),
                expected,
            });
        }
        self.apply_next(op)?;
        Ok(Receipt::Applied)
    }

    fn apply_next(&mut self, op: Op) -> Result<(), DomainError> {
        // Apply to a copy so a refused op leaves nothing behind.
        let mut objects = self.objects.clone();
        crdt::apply_op(&mut objects, &op)?;
        self.objects = objects;
        self.hlc.observe(&op.stamp());
        self.vv.advance(op.actor, op.seq);
        self.log.insert(op.id(), op);
        Ok(())
    }

    /// Makes a local edit as device `actor` at physical time `physical_ms`: `make`
    /// builds the op from the current objects; the op is then applied.
    pub fn local(
        &mut self,
        actor: ActorId,
        physical_ms: u64,
        defs: u32,
        make: impl FnOnce(&mut MemObjects, &OpCtx) -> Result<Op, DomainError>,
    ) -> Result<Op, DomainError> {
        let mut hlc = self.hlc;
        let stamp = hlc.tick(physical_ms, actor);
        let seq = self.vv.get(&actor) + 1;
        let ctx = OpCtx {
            actor,
            seq,
            stamp,
            unit: self.unit,
            defs,
            by: String::new(),
        };
        let op = make(&mut self.objects, &ctx)?;
        self.hlc = hlc;
        self.receive_in_order(op.clone())?;
        Ok(op)
    }

    /// The materialized view.
    pub fn view(&self) -> StateView {
        self.objects.view(self.unit)
    }
}
