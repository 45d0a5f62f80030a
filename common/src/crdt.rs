//! CRDT objects and the one function that applies ops to them. In: validated [`Op`]s,
//! and an [`Objects`] store (in memory for tests and the hub's checks, SQLite on the
//! agent) that loads and saves the objects an op touches. Out: the merged state.
//!
//! - Counts: one `crdts::PNCounter` per (period, procedure, metric); each device's
//!   running totals are its dots, so a count applied twice or out of order between
//!   devices is counted exactly once, and a correction is a decrement.
//! - Pledge header, task titles and statuses, assessments: `crdts::LWWReg` with a
//!   hybrid-logical-clock [`Stamp`] as marker.
//! - A pledge's task set: `crdts::Orswot` (add wins over a concurrent remove).
//!
//! Ops of one device must be applied in sequence order (the op log guarantees it);
//! ops of different devices may come in any order.
//! This module also builds the ops for local edits ([`count_op`] and friends), because
//! an op's dots depend on the state it was made in.

use crate::definitions::Definitions;
use crate::error::DomainError;
use crate::hlc::Stamp;
use crate::op::{
    ActorId, CountDelta, Dir, Op, OpBody, TaskStatus, ENVELOPE_VERSION, MAX_COUNT_PER_ENTRY,
};
use crate::period::{Date, Period};
use crate::score::Score;
use crate::text;
use crate::units::UnitCode;
use crate::Metric;
use crdts::{CmRDT, Dot, LWWReg, Orswot, PNCounter, VClock};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Key of one count cell within a commune.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountKey {
    /// Period.
    pub period: Period,
    /// Procedure code.
    pub procedure: String,
    /// Metric.
    pub metric: Metric,
}

/// One count: a PNCounter plus each device's running totals (its dots), which is what
/// the store persists and what shows each desk's contribution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountCell {
    counter: PNCounter<ActorId>,
    desks: BTreeMap<ActorId, (u64, u64)>,
}

impl CountCell {
    /// Rebuilds a cell from persisted per-device (increments, corrections) totals.
    pub fn from_desks(desks: BTreeMap<ActorId, (u64, u64)>) -> CountCell {
        let mut counter = PNCounter::new();
        for (actor, (p, n)) in &desks {
            if *p > 0 {
                counter.apply(crdts::pncounter::Op {
                    dot: Dot::new(*actor, *p),
                    dir: crdts::pncounter::Dir::Pos,
                });
            }
            if *n > 0 {
                counter.apply(crdts::pncounter::Op {
                    dot: Dot::new(*actor, *n),
                    dir: crdts::pncounter::Dir::Neg,
                });
            }
        }
        CountCell { counter, desks }
    }

    /// Each device's (increments, corrections) totals.
    pub fn desks(&self) -> &BTreeMap<ActorId, (u64, u64)> {
        &self.desks
    }

    /// Merged value: all increments minus all corrections, over every device.
    pub fn value(&self) -> i64 {
        i64::try_from(&self.counter.read()).unwrap_or(i64::MAX)
    }

    /// The running total the next change by `actor` in direction `dir` continues from.
    pub fn total_of(&self, actor: ActorId, dir: Dir) -> u64 {
        let (p, n) = self.desks.get(&actor).copied().unwrap_or((0, 0));
        match dir {
            Dir::Inc => p,
            Dir::Dec => n,
        }
    }

    /// Applies one device's delta. The delta's running total must continue exactly from
    /// the total held for that device, or the op is refused as inconsistent.
    pub fn apply(&mut self, actor: ActorId, d: &CountDelta) -> Result<(), String> {
        let prev = self.total_of(actor, d.dir);
        if d.total != prev.saturating_add(d.amount) {
            return Err(format!(
                "{} running total {} does not follow the {} held for device {} plus amount {}",
                d.metric, d.total, prev, actor, d.amount
            ));
        }
        let dir = match d.dir {
            Dir::Inc => crdts::pncounter::Dir::Pos,
            Dir::Dec => crdts::pncounter::Dir::Neg,
        };
        self.counter.apply(crdts::pncounter::Op {
            dot: Dot::new(actor, d.total),
            dir,
        });
        let e = self.desks.entry(actor).or_insert((0, 0));
        match d.dir {
            Dir::Inc => e.0 = d.total,
            Dir::Dec => e.1 = d.total,
        }
        Ok(())
    }
}

/// Who signed a pledge, in what role, on what day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PledgeHeader {
    /// Signer's name.
    pub signer: String,
    /// Signer's role.
    pub role: String,
    /// Date signed (None only in the default value).
    pub signed_on: Option<Date>,
}

/// A pledge's merged state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PledgeCrdt {
    /// Year.
    pub year: i32,
    /// Key within the year.
    pub key: String,
    /// Signer, role, date (None until a sign op has been applied here).
    pub header: Option<LWWReg<PledgeHeader, Stamp>>,
    /// Registered task ids.
    pub tasks: Orswot<String, ActorId>,
    /// Task titles by id (marker: the stamp of the op that created the task).
    pub titles: BTreeMap<String, LWWReg<String, Stamp>>,
    /// Task statuses by id.
    pub statuses: BTreeMap<String, LWWReg<TaskStatus, Stamp>>,
    /// Withdrawals that arrived before the task's add (another device's op, applied
    /// in a different order): kept here until the add they saw is held, then applied.
    /// Keeping them out of the Orswot keeps its own deferred set empty, which JSON
    /// could not store (its keys are vector clocks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_removes: Vec<PendingRemove>,
}

/// A withdrawal of a task whose add this replica has not seen yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRemove {
    /// Task id.
    pub task: String,
    /// The add-dots the withdrawing device had seen.
    pub seen: Vec<(ActorId, u64)>,
}

impl PledgeCrdt {
    /// An empty pledge object.
    pub fn new(year: i32, key: &str) -> PledgeCrdt {
        PledgeCrdt {
            year,
            key: key.to_string(),
            header: None,
            tasks: Orswot::new(),
            titles: BTreeMap::new(),
            statuses: BTreeMap::new(),
            pending_removes: Vec::new(),
        }
    }

    /// Whether every add-dot in `seen` is held here.
    fn has_seen(&self, seen: &[(ActorId, u64)]) -> bool {
        let clock = self.tasks.clock();
        seen.iter().all(|(a, c)| clock.get(a) >= *c)
    }

    /// Withdraws a task: now if every add the withdrawing device saw is held, else
    /// once they are (see [`PledgeCrdt::pending_removes`]).
    fn remove_task(&mut self, task: &str, seen: &[(ActorId, u64)]) {
        if self.has_seen(seen) {
            let clock: VClock<ActorId> = seen.iter().map(|(a, c)| Dot::new(*a, *c)).collect();
            self.tasks.apply(crdts::orswot::Op::Rm {
                clock,
                members: vec![task.to_string()],
            });
        } else {
            let pending = PendingRemove {
                task: task.to_string(),
                seen: seen.to_vec(),
            };
            if !self.pending_removes.contains(&pending) {
                self.pending_removes.push(pending);
                self.pending_removes
                    .sort_by(|a, b| (&a.task, &a.seen).cmp(&(&b.task, &b.seen)));
            }
        }
    }

    /// Applies the pending withdrawals whose adds are now held.
    fn apply_pending_removes(&mut self) {
        let (ready, waiting): (Vec<PendingRemove>, Vec<PendingRemove>) =
            std::mem::take(&mut self.pending_removes)
                .into_iter()
                .partition(|r| self.has_seen(&r.seen));
        self.pending_removes = waiting;
        for r in ready {
            self.remove_task(&r.task, &r.seen);
        }
    }

    /// Current task ids in creation order (creation stamp, then id): the same on every replica.
    pub fn task_ids(&self) -> Vec<String> {
        let mut ids: Vec<(Stamp, String)> = self
            .tasks
            .read()
            .val
            .into_iter()
            .map(|id| {
                (
                    self.titles.get(&id).map(|t| t.marker).unwrap_or_default(),
                    id,
                )
            })
            .collect();
        ids.sort();
        ids.into_iter().map(|(_, id)| id).collect()
    }

    /// Whether the task is currently registered.
    pub fn has_task(&self, id: &str) -> bool {
        self.tasks.contains(&id.to_string()).val
    }
}

/// A self-assessment value: score and evidence, written together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AssessValue {
    /// Score.
    pub score: Score,
    /// Evidence note.
    pub evidence: String,
}

/// An assessment register.
pub type AssessReg = LWWReg<AssessValue, Stamp>;

/// A verified score (thẩm định): score, comment and analyst, written together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct VerifyValue {
    /// Verified score.
    pub score: Score,
    /// The analyst's comment.
    pub comment: String,
    /// The analyst.
    pub by: String,
}

/// A verification register.
pub type VerifyReg = LWWReg<VerifyValue, Stamp>;

/// Where ops read and write the objects they touch.
pub trait Objects {
    /// Error of the backing store; domain refusals convert into it.
    type Error: From<DomainError>;
    /// The count cell (empty if never touched).
    fn count_cell(&mut self, key: &CountKey) -> Result<CountCell, Self::Error>;
    /// Saves a count cell.
    fn put_count_cell(&mut self, key: &CountKey, cell: &CountCell) -> Result<(), Self::Error>;
    /// The running total of `actor` in direction `dir` in a cell (0 if none). A store
    /// folding a batch answers from memory.
    fn count_total(
        &mut self,
        key: &CountKey,
        actor: ActorId,
        dir: Dir,
    ) -> Result<u64, Self::Error> {
        Ok(self.count_cell(key)?.total_of(actor, dir))
    }
    /// Applies one checked change of a count op to its cell. A store folding a batch
    /// changes the cell in place, where this default reads, applies and writes it.
    fn apply_to_count_cell(
        &mut self,
        key: &CountKey,
        actor: ActorId,
        d: &CountDelta,
    ) -> Result<(), Self::Error> {
        let mut cell = self.count_cell(key)?;
        cell.apply(actor, d).map_err(|detail| DomainError::BadOp {
            op: actor.to_string(),
            detail,
        })?;
        self.put_count_cell(key, &cell)
    }
    /// The pledge, if any op touched it.
    fn pledge(&mut self, year: i32, key: &str) -> Result<Option<PledgeCrdt>, Self::Error>;
    /// Saves a pledge.
    fn put_pledge(&mut self, pledge: &PledgeCrdt) -> Result<(), Self::Error>;
    /// The assessment register of a criterion.
    fn assessment(&mut self, phase: u32, criterion: &str)
        -> Result<Option<AssessReg>, Self::Error>;
    /// Saves an assessment register.
    fn put_assessment(
        &mut self,
        phase: u32,
        criterion: &str,
        reg: &AssessReg,
    ) -> Result<(), Self::Error>;
    /// The verification register of a criterion.
    fn verification(
        &mut self,
        phase: u32,
        criterion: &str,
    ) -> Result<Option<VerifyReg>, Self::Error>;
    /// Saves a verification register.
    fn put_verification(
        &mut self,
        phase: u32,
        criterion: &str,
        reg: &VerifyReg,
    ) -> Result<(), Self::Error>;
}

/// Applies one op to the objects it touches. Refuses (and writes nothing) when the op
/// does not continue its device's running totals or task-set dots.
pub fn apply_op<O: Objects>(o: &mut O, op: &Op) -> Result<(), O::Error> {
    let stamp = op.stamp();
    let bad = |detail: String| DomainError::BadOp {
        op: op.id().to_string(),
        detail,
    };
    match &op.body {
        OpBody::Count {
            period,
            procedure,
            deltas,
            ..
        } => {
            // Every change checked first, so an op is applied whole or not at all (its
            // metrics are distinct: the shape check refuses one named twice).
            let keys: Vec<CountKey> = deltas
                .iter()
                .map(|d| CountKey {
                    period: *period,
                    procedure: procedure.clone(),
                    metric: d.metric,
                })
                .collect();
            for (key, d) in keys.iter().zip(deltas) {
                let prev = o.count_total(key, op.actor, d.dir)?;
                if d.total != prev.saturating_add(d.amount) {
                    return Err(bad(format!(
                        "{} running total {} does not follow the {} held for device {} plus amount {}",
                        d.metric, d.total, prev, op.actor, d.amount
                    ))
                    .into());
                }
            }
            for (key, d) in keys.iter().zip(deltas) {
                o.apply_to_count_cell(key, op.actor, d)?;
            }
        }
        OpBody::PledgeSign {
            year,
            pledge,
            signer,
            role,
            signed_on,
        } => {
            let mut p = pledge_or_new(o, *year, pledge)?;
            let value = PledgeHeader {
                signer: signer.clone(),
                role: role.clone(),
                signed_on: Some(*signed_on),
            };
            match &mut p.header {
                Some(reg) => reg.update(value, stamp),
                None => {
                    p.header = Some(LWWReg {
                        val: value,
                        marker: stamp,
                    })
                }
            }
            o.put_pledge(&p)?;
        }
        OpBody::TaskAdd {
            year,
            pledge,
            task,
            title,
            dot,
        } => {
            let mut p = pledge_or_new(o, *year, pledge)?;
            let held = p.tasks.clock().get(&op.actor);
            if *dot <= held {
                return Err(bad(format!(
                    "task-set dot {dot} is not after the {held} held for this device"
                ))
                .into());
            }
            p.tasks.apply(crdts::orswot::Op::Add {
                dot: Dot::new(op.actor, *dot),
                members: vec![task.clone()],
            });
            p.apply_pending_removes();
            set_lww(&mut p.titles, task, title.clone(), stamp);
            o.put_pledge(&p)?;
        }
        OpBody::TaskStatus {
            year,
            pledge,
            task,
            status,
        } => {
            let mut p = pledge_or_new(o, *year, pledge)?;
            set_lww(&mut p.statuses, task, *status, stamp);
            o.put_pledge(&p)?;
        }
        OpBody::TaskRemove {
            year,
            pledge,
            task,
            seen,
        } => {
            let mut p = pledge_or_new(o, *year, pledge)?;
            p.remove_task(task, seen);
            o.put_pledge(&p)?;
        }
        OpBody::Assess {
            phase,
            criterion,
            score,
            evidence,
            ..
        } => {
            let value = AssessValue {
                score: *score,
                evidence: evidence.clone(),
            };
            let reg = match o.assessment(*phase, criterion)? {
                Some(mut reg) => {
                    reg.update(value, stamp);
                    reg
                }
                None => LWWReg {
                    val: value,
                    marker: stamp,
                },
            };
            o.put_assessment(*phase, criterion, &reg)?;
        }
        OpBody::Verify {
            phase,
            criterion,
            score,
            comment,
            by,
        } => {
            let value = VerifyValue {
                score: *score,
                comment: comment.clone(),
                by: by.clone(),
            };
            let reg = match o.verification(*phase, criterion)? {
                Some(mut reg) => {
                    reg.update(value, stamp);
                    reg
                }
                None => LWWReg {
                    val: value,
                    marker: stamp,
                },
            };
            o.put_verification(*phase, criterion, &reg)?;
        }
    }
    Ok(())
}

/// The pledge an op touches, or an empty one if no op has touched it yet.
fn pledge_or_new<O: Objects>(o: &mut O, year: i32, key: &str) -> Result<PledgeCrdt, O::Error> {
    Ok(o.pledge(year, key)?
        .unwrap_or_else(|| PledgeCrdt::new(year, key)))
}

fn set_lww<V: PartialEq>(
    map: &mut BTreeMap<String, LWWReg<V, Stamp>>,
    key: &str,
    val: V,
    stamp: Stamp,
) {
    match map.get_mut(key) {
        Some(reg) => reg.update(val, stamp),
        None => {
            map.insert(key.to_string(), LWWReg { val, marker: stamp });
        }
    }
}

/// Checks an op against the definitions that validated it: known procedure, phase and
/// criterion, score within the maximum.
pub fn check_definitions(op: &Op, defs: &Definitions) -> Result<(), DomainError> {
    match &op.body {
        OpBody::Count { procedure, .. } => defs.procedure(procedure).map(|_| ()),
        OpBody::Assess {
            phase,
            criterion,
            score,
            ..
        }
        | OpBody::Verify {
            phase,
            criterion,
            score,
            ..
        } => defs.check_score(*phase, criterion, *score),
        _ => Ok(()),
    }
}

/// Identity and time of an op about to be made on this device.
#[derive(Debug, Clone)]
pub struct OpCtx {
    /// This device.
    pub actor: ActorId,
    /// Its next sequence number.
    pub seq: u64,
    /// A fresh HLC stamp.
    pub stamp: Stamp,
    /// This device's commune.
    pub unit: UnitCode,
    /// Definitions version in force.
    pub defs: u32,
    /// Who is entering (an officer's short name, checked by [`text::entered_by`]);
    /// empty when not said. Carried by count and assessment ops.
    pub by: String,
}

impl OpCtx {
    fn op(&self, body: OpBody) -> Op {
        Op {
            v: ENVELOPE_VERSION,
            actor: self.actor,
            seq: self.seq,
            hlc_ms: self.stamp.wall_ms,
            hlc_c: self.stamp.counter,
            unit: self.unit,
            defs: self.defs,
            body,
        }
    }
}

/// Builds a count op: `changes` are (metric, amount) with amounts above 0; with
/// `correct` they are decrements, refused if any would take the merged value below 0.
pub fn count_op<O: Objects>(
    o: &mut O,
    ctx: &OpCtx,
    defs: &Definitions,
    period: Period,
    procedure: &str,
    changes: &[(Metric, u64)],
    correct: bool,
) -> Result<Op, O::Error> {
    let procedure = &procedure.trim().to_ascii_uppercase();
    defs.procedure(procedure)?;
    let changes: Vec<(Metric, u64)> = changes.iter().copied().filter(|(_, n)| *n > 0).collect();
    if changes.is_empty() {
        return Err(DomainError::NoCounts.into());
    }
    let dir = if correct { Dir::Dec } else { Dir::Inc };
    let mut deltas = Vec::with_capacity(changes.len());
    for (metric, amount) in changes {
        if amount > MAX_COUNT_PER_ENTRY {
            return Err(DomainError::CountTooLarge {
                metric: metric.to_string(),
                value: amount,
                max: MAX_COUNT_PER_ENTRY,
            }
            .into());
        }
        let key = CountKey {
            period,
            procedure: procedure.to_string(),
            metric,
        };
        let cell = o.count_cell(&key)?;
        if correct && cell.value() < amount as i64 {
            return Err(DomainError::CorrectionBelowZero {
                metric: metric.to_string(),
                procedure: procedure.to_string(),
                period: period.to_string(),
                current: cell.value(),
                correction: amount,
            }
            .into());
        }
        deltas.push(CountDelta {
            metric,
            dir,
            amount,
            total: cell.total_of(ctx.actor, dir) + amount,
        });
    }
    Ok(ctx.op(OpBody::Count {
        period,
        procedure: procedure.to_string(),
        deltas,
        by: ctx.by.clone(),
    }))
}

/// Builds a pledge-signing op (creates the pledge or updates signer, role and date).
pub fn pledge_sign_op(
    ctx: &OpCtx,
    year: i32,
    signer: &str,
    role: &str,
    signed_on: Date,
) -> Result<Op, DomainError> {
    let signer = text::required("signer", signer, text::NAME_MAX)?;
    let role = text::required("role", role, text::NAME_MAX)?;
    let key = text::slug(&signer);
    if key.is_empty() {
        return Err(DomainError::EmptyText { field: "signer" });
    }
    if !(crate::period::MIN_YEAR..=crate::period::MAX_YEAR).contains(&year) {
        return Err(DomainError::YearRange {
            year,
            min: crate::period::MIN_YEAR,
            max: crate::period::MAX_YEAR,
        });
    }
    Ok(ctx.op(OpBody::PledgeSign {
        year,
        pledge: key,
        signer,
        role,
        signed_on,
    }))
}

/// Finds a signed pledge by year and signer name (accents and spacing ignored).
pub fn find_pledge<O: Objects>(o: &mut O, year: i32, signer: &str) -> Result<PledgeCrdt, O::Error> {
    match o.pledge(year, &text::slug(signer))? {
        Some(p) if p.header.is_some() => Ok(p),
        _ => Err(DomainError::UnknownPledge {
            year,
            signer: signer.to_string(),
        }
        .into()),
    }
}

/// Builds a task-registration op for a signed pledge.
pub fn task_add_op<O: Objects>(
    o: &mut O,
    ctx: &OpCtx,
    year: i32,
    signer: &str,
    title: &str,
) -> Result<Op, O::Error> {
    let title = text::required("title", title, text::TITLE_MAX)?;
    let p = find_pledge(o, year, signer)?;
    let dot = p.tasks.clock().get(&ctx.actor) + 1;
    let task = format!("{}-{}", ctx.actor, ctx.seq);
    Ok(ctx.op(OpBody::TaskAdd {
        year,
        pledge: p.key,
        task,
        title,
        dot,
    }))
}

/// Resolves a task given as its 1-based number in `pledge show` or as its id.
pub fn resolve_task(p: &PledgeCrdt, task: &str) -> Result<String, DomainError> {
    let ids = p.task_ids();
    let signer = p
        .header
        .as_ref()
        .map(|h| h.val.signer.clone())
        .unwrap_or_default();
    let unknown = || DomainError::UnknownTask {
        task: task.to_string(),
        year: p.year,
        signer: signer.clone(),
    };
    let t = task.trim();
    if let Ok(n) = t.parse::<usize>() {
        return ids.get(n.wrapping_sub(1)).cloned().ok_or_else(unknown);
    }
    ids.into_iter().find(|id| id == t).ok_or_else(unknown)
}

/// Builds a task-status op.
pub fn task_status_op<O: Objects>(
    o: &mut O,
    ctx: &OpCtx,
    year: i32,
    signer: &str,
    task: &str,
    status: TaskStatus,
) -> Result<Op, O::Error> {
    let p = find_pledge(o, year, signer)?;
    let task = resolve_task(&p, task)?;
    Ok(ctx.op(OpBody::TaskStatus {
        year,
        pledge: p.key,
        task,
        status,
    }))
}

/// Builds a task-withdrawal op (removes what this device has seen of the task).
pub fn task_remove_op<O: Objects>(
    o: &mut O,
    ctx: &OpCtx,
    year: i32,
    signer: &str,
    task: &str,
) -> Result<Op, O::Error> {
    let p = find_pledge(o, year, signer)?;
    let task = resolve_task(&p, task)?;
    let seen: Vec<(ActorId, u64)> = p
        .tasks
        .contains(&task)
        .derive_rm_ctx()
        .clock
        .into_iter()
        .map(|d| (d.actor, d.counter))
        .collect();
    Ok(ctx.op(OpBody::TaskRemove {
        year,
        pledge: p.key,
        task,
        seen,
    }))
}

/// Builds the province's verification op for one criterion, checked against the
/// definitions. `ctx` is the province actor of the commune (see the hub).
pub fn verify_op(
    ctx: &OpCtx,
    defs: &Definitions,
    phase: u32,
    criterion: &str,
    score: Score,
    comment: &str,
    by: &str,
) -> Result<Op, DomainError> {
    let criterion = criterion.trim().to_ascii_uppercase();
    defs.check_score(phase, &criterion, score)?;
    let comment = text::optional("comment", comment, text::EVIDENCE_MAX)?;
    let by = text::required("by", by, text::NAME_MAX)?;
    Ok(ctx.op(OpBody::Verify {
        phase,
        criterion,
        score,
        comment,
        by,
    }))
}

/// Builds a self-assessment op, checked against the definitions.
pub fn assess_op(
    ctx: &OpCtx,
    defs: &Definitions,
    phase: u32,
    criterion: &str,
    score: Score,
    evidence: &str,
) -> Result<Op, DomainError> {
    let criterion = criterion.trim().to_ascii_uppercase();
    defs.check_score(phase, &criterion, score)?;
    let evidence = text::optional("evidence", evidence, text::EVIDENCE_MAX)?;
    Ok(ctx.op(OpBody::Assess {
        phase,
        criterion,
        score,
        evidence,
        by: ctx.by.clone(),
    }))
}
