//! Property: for random op histories from 1–5 devices of one commune (with partial
//! syncs between them, so later ops depend on earlier ones of other devices), applying
//! every op in any order, with duplicates, gives identical materialized state, and each
//! count equals the sum of its increments minus its corrections. The same ops applied
//! to the SQL implementation of the objects (`cchc-sql`, what the agent and the hub
//! store), in two interleavings of the devices, give the in-memory replica's objects.

use cchc_common::crdt::{self, CountKey};
use cchc_common::op::{Dir, OpBody, TaskStatus};
use cchc_common::state::{Receipt, Replica};
use cchc_common::{ActorId, Date, Definitions, Metric, Op, Period, Score, UnitCode};
use proptest::prelude::*;
use std::collections::BTreeMap;

const UNIT: UnitCode = UnitCode(70);
const PROCS: [&str; 3] = ["CT-01", "CT-02", "DX-01"];
const PERIODS: [Period; 3] = [
    Period::Month(2026, 10),
    Period::Month(2026, 11),
    Period::Quarter(2026, 4),
];
const SIGNERS: [&str; 2] = ["Nguyễn Văn An", "Trần Thị Bình"];
const CRITERIA: [&str; 3] = ["TC-01", "TC-03", "TC-05"];

#[derive(Debug, Clone)]
enum Action {
    Record {
        dev: usize,
        period: usize,
        proc_: usize,
        metric: usize,
        amount: u64,
        correct: bool,
    },
    Assess {
        dev: usize,
        crit: usize,
        tenths: u32,
    },
    Sign {
        dev: usize,
        signer: usize,
        role: usize,
    },
    TaskAdd {
        dev: usize,
        signer: usize,
        title: usize,
    },
    TaskStatus {
        dev: usize,
        signer: usize,
        pick: usize,
        status: usize,
    },
    TaskRemove {
        dev: usize,
        signer: usize,
        pick: usize,
    },
    Sync {
        from: usize,
        to: usize,
    },
}

fn action() -> impl Strategy<Value = Action> {
    let d = 0usize..5;
    prop_oneof![
        4 => (d.clone(), 0..3usize, 0..3usize, 0..8usize, 1u64..50, prop::bool::weighted(0.3))
            .prop_map(|(dev, period, proc_, metric, amount, correct)| Action::Record { dev, period, proc_, metric, amount, correct }),
        2 => (d.clone(), 0..3usize, 0u32..=100).prop_map(|(dev, crit, tenths)| Action::Assess { dev, crit, tenths }),
        1 => (d.clone(), 0..2usize, 0..2usize).prop_map(|(dev, signer, role)| Action::Sign { dev, signer, role }),
        2 => (d.clone(), 0..2usize, 0..4usize).prop_map(|(dev, signer, title)| Action::TaskAdd { dev, signer, title }),
        2 => (d.clone(), 0..2usize, 1..5usize, 0..3usize).prop_map(|(dev, signer, pick, status)| Action::TaskStatus { dev, signer, pick, status }),
        1 => (d.clone(), 0..2usize, 1..5usize).prop_map(|(dev, signer, pick)| Action::TaskRemove { dev, signer, pick }),
        3 => (d.clone(), d).prop_map(|(from, to)| Action::Sync { from, to }),
    ]
}

struct Device {
    actor: ActorId,
    replica: Replica,
    clock_ms: u64,
}

/// Runs the actions; returns every op made (some edits are refused by validation,
/// e.g. a correction below zero, and make no op).
fn simulate(n: usize, skews: &[i64], actions: &[Action]) -> Vec<Op> {
    let defs = Definitions::builtin();
    let mut devs: Vec<Device> = (0..n)
        .map(|i| Device {
            actor: ActorId(0x1000 + i as u64),
            replica: Replica::new(UNIT),
            clock_ms: (1_790_000_000_000i64 + skews[i]) as u64,
        })
        .collect();
    for a in actions {
        match a {
            Action::Sync { from, to } => {
                let (from, to) = (from % n, to % n);
                if from == to {
                    continue;
                }
                let ops = devs[from]
                    .replica
                    .ops_since(devs[to].replica.version_vector());
                for op in ops {
                    devs[to]
                        .replica
                        .receive_in_order(op)
                        .expect("in-order sync is accepted");
                }
            }
            _ => {
                let dev = match a {
                    Action::Record { dev, .. }
                    | Action::Assess { dev, .. }
                    | Action::Sign { dev, .. }
                    | Action::TaskAdd { dev, .. }
                    | Action::TaskStatus { dev, .. }
                    | Action::TaskRemove { dev, .. } => dev % n,
                    Action::Sync { .. } => unreachable!(),
                };
                let d = &mut devs[dev];
                d.clock_ms += 1_000;
                let (actor, now) = (d.actor, d.clock_ms);
                let defs = &defs;
                let _ = d.replica.local(actor, now, 1, |o, ctx| match a {
                    Action::Record {
                        period,
                        proc_,
                        metric,
                        amount,
                        correct,
                        ..
                    } => crdt::count_op(
                        o,
                        ctx,
                        defs,
                        PERIODS[*period],
                        PROCS[*proc_],
                        &[(Metric::ALL[*metric], *amount)],
                        *correct,
                    ),
                    Action::Assess { crit, tenths, .. } => {
                        crdt::assess_op(ctx, defs, 1, CRITERIA[*crit], Score(*tenths), "minh chứng")
                    }
                    Action::Sign { signer, role, .. } => crdt::pledge_sign_op(
                        ctx,
                        2026,
                        SIGNERS[*signer],
                        ["Trưởng Công an xã", "Cán bộ"][*role],
                        Date::new(2026, 1, 15).unwrap(),
                    ),
                    Action::TaskAdd { signer, title, .. } => crdt::task_add_op(
                        o,
                        ctx,
                        2026,
                        SIGNERS[*signer],
                        &format!("Nhiệm vụ {title}"),
                    ),
                    Action::TaskStatus {
                        signer,
                        pick,
                        status,
                        ..
                    } => crdt::task_status_op(
                        o,
                        ctx,
                        2026,
                        SIGNERS[*signer],
                        &pick.to_string(),
                        [
                            TaskStatus::NotStarted,
                            TaskStatus::InProgress,
                            TaskStatus::Done,
                        ][*status],
                    ),
                    Action::TaskRemove { signer, pick, .. } => {
                        crdt::task_remove_op(o, ctx, 2026, SIGNERS[*signer], &pick.to_string())
                    }
                    Action::Sync { .. } => unreachable!(),
                });
            }
        }
    }
    let mut all: BTreeMap<_, Op> = BTreeMap::new();
    for d in &devs {
        for op in d.replica.ops() {
            all.insert(op.id(), op.clone());
        }
    }
    all.into_values().collect()
}

/// Delivers ops in the order given by `keys` (one per op, plus duplicates).
fn deliver(ops: &[Op], order: &[(u32, usize)]) -> Replica {
    let mut idx: Vec<(u32, usize)> = order.iter().map(|(k, i)| (*k, i % ops.len())).collect();
    idx.extend(ops.iter().enumerate().map(|(i, _)| (u32::MAX, i))); // every op at least once
    idx.sort();
    let mut r = Replica::new(UNIT);
    for (_, i) in idx {
        let receipt = r
            .receive(ops[i].clone())
            .expect("valid ops are accepted in any order");
        assert!(matches!(
            receipt,
            Receipt::Applied | Receipt::Buffered | Receipt::Duplicate
        ));
    }
    assert_eq!(
        r.pending_len(),
        0,
        "every buffered op was eventually applied"
    );
    r
}

fn expected_counts(ops: &[Op]) -> BTreeMap<CountKey, i64> {
    let mut sums = BTreeMap::new();
    for op in ops {
        if let OpBody::Count {
            period,
            procedure,
            deltas,
            ..
        } = &op.body
        {
            for d in deltas {
                let key = CountKey {
                    period: *period,
                    procedure: procedure.clone(),
                    metric: d.metric,
                };
                let sign = if d.dir == Dir::Inc { 1 } else { -1 };
                *sums.entry(key).or_insert(0) += sign * d.amount as i64;
            }
        }
    }
    sums
}

/// Applies `ops` (each device's in sequence order) to the SQL objects of a fresh
/// database inside one transaction, as the stores do, and reads every object back.
fn through_sql(ops: &[&Op]) -> cchc_common::state::MemObjects {
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch(cchc_sql::OBJECT_TABLES).unwrap();
    let tx = conn.transaction().unwrap();
    let mut objects = cchc_sql::SqlObjects::<cchc_sql::Error>::new(&*tx, UNIT);
    for op in ops {
        crdt::apply_op(&mut objects, op).expect("the SQL objects accept what the replica did");
    }
    let loaded = objects.load(None).unwrap();
    tx.commit().unwrap();
    loaded
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_delivery_order_converges(
        n in 1usize..=5,
        skews in prop::collection::vec(-40_000_000_000i64..40_000_000_000, 5),
        actions in prop::collection::vec(action(), 1..80),
        order_a in prop::collection::vec((any::<u32>(), any::<usize>()), 0..200),
        order_b in prop::collection::vec((any::<u32>(), any::<usize>()), 0..200),
    ) {
        let ops = simulate(n, &skews, &actions);
        prop_assume!(!ops.is_empty());
        let a = deliver(&ops, &order_a);
        let b = deliver(&ops, &order_b);
        prop_assert_eq!(a.view(), b.view());
        prop_assert_eq!(&a.objects, &b.objects);
        prop_assert_eq!(a.version_vector(), b.version_vector());
        let expected = expected_counts(&ops);
        let got: BTreeMap<CountKey, i64> = a.objects.counts.iter().map(|(k, c)| (k.clone(), c.value())).collect();
        prop_assert_eq!(got, expected);
        // The merged view is the JSON document agents print: equal bytes, not just equal values.
        prop_assert_eq!(serde_json::to_string(&a.view()).unwrap(), serde_json::to_string(&b.view()).unwrap());
        // The SQL objects hold what the replica holds, whichever device's ops come first.
        let mut by_device: Vec<&Op> = a.ops().collect();
        by_device.sort_by_key(|o| (o.actor, o.seq));
        let mut by_number = by_device.clone();
        by_number.sort_by_key(|o| (o.seq, std::cmp::Reverse(o.actor)));
        let sql_a = through_sql(&by_device);
        prop_assert_eq!(&sql_a, &a.objects);
        prop_assert_eq!(&through_sql(&by_number), &a.objects);
        prop_assert_eq!(serde_json::to_string(&sql_a.view(UNIT)).unwrap(), serde_json::to_string(&a.view()).unwrap());
    }
}

/// A desk withdraws a task another desk added; a third replica gets the withdrawal
/// first (the stores apply a batch by device id, and the withdrawing desk's id is the
/// smaller). The pledge is stored (its state was unwritable JSON before: the Orswot
/// deferred the removal under a vector-clock key) and the task goes once the add comes.
#[test]
fn a_withdrawal_that_arrives_before_its_add_is_stored_and_applied_later() {
    let ops = simulate(
        2,
        &[0; 5],
        &[
            Action::Sign {
                dev: 1,
                signer: 0,
                role: 0,
            },
            Action::TaskAdd {
                dev: 1,
                signer: 0,
                title: 0,
            },
            Action::TaskAdd {
                dev: 1,
                signer: 0,
                title: 1,
            },
            Action::Sync { from: 1, to: 0 },
            Action::TaskRemove {
                dev: 0,
                signer: 0,
                pick: 1,
            },
        ],
    );
    assert!(ops
        .iter()
        .any(|o| matches!(o.body, OpBody::TaskRemove { .. })));
    let mut by_device: Vec<&Op> = ops.iter().collect();
    by_device.sort_by_key(|o| (o.actor, o.seq));
    assert!(
        matches!(by_device[0].body, OpBody::TaskRemove { .. }),
        "the withdrawal comes first"
    );
    // Only the withdrawal so far: it waits, and the pledge state is JSON.
    let early = through_sql(&by_device[..1]);
    let pledge = early.pledges.values().next().unwrap();
    assert_eq!(pledge.pending_removes.len(), 1);
    assert!(serde_json::to_string(pledge).is_ok());
    // Everything: the withdrawn task is gone, the other stays, nothing waits.
    let all = through_sql(&by_device);
    let pledge = all.pledges.values().next().unwrap();
    assert_eq!(pledge.task_ids().len(), 1);
    assert!(pledge.pending_removes.is_empty());
    // The same as a replica that got every op in causal (stamp) order.
    let mut causal = ops.clone();
    causal.sort_by_key(|o| o.stamp());
    let mut in_order = Replica::new(UNIT);
    for op in causal {
        in_order.receive_in_order(op).unwrap();
    }
    assert_eq!(all, in_order.objects);
}

#[test]
fn a_gap_is_refused_in_order_but_buffered_out_of_order() {
    let ops = simulate(
        1,
        &[0; 5],
        &[
            Action::Record {
                dev: 0,
                period: 0,
                proc_: 0,
                metric: 0,
                amount: 3,
                correct: false,
            },
            Action::Record {
                dev: 0,
                period: 0,
                proc_: 0,
                metric: 0,
                amount: 2,
                correct: false,
            },
        ],
    );
    let mut r = Replica::new(UNIT);
    let e = r.receive_in_order(ops[1].clone()).unwrap_err();
    assert!(e.to_string().contains("gap"), "{e}");
    assert_eq!(r.receive(ops[1].clone()).unwrap(), Receipt::Buffered);
    assert_eq!(r.receive(ops[0].clone()).unwrap(), Receipt::Applied);
    assert_eq!(r.view().counts[0].value, 5);
}

#[test]
fn a_conflicting_op_and_a_foreign_unit_are_refused() {
    let ops = simulate(
        1,
        &[0; 5],
        &[Action::Record {
            dev: 0,
            period: 0,
            proc_: 0,
            metric: 0,
            amount: 3,
            correct: false,
        }],
    );
    let mut r = Replica::new(UNIT);
    r.receive(ops[0].clone()).unwrap();
    let mut forged = ops[0].clone();
    forged.hlc_c += 1;
    assert!(r
        .receive(forged)
        .unwrap_err()
        .to_string()
        .contains("conflicts"));
    let mut other = Replica::new(UnitCode(73));
    assert!(other
        .receive(ops[0].clone())
        .unwrap_err()
        .to_string()
        .contains("commune 70"));
}

#[test]
fn an_inconsistent_running_total_is_refused_and_changes_nothing() {
    let ops = simulate(
        1,
        &[0; 5],
        &[Action::Record {
            dev: 0,
            period: 0,
            proc_: 0,
            metric: 0,
            amount: 3,
            correct: false,
        }],
    );
    let mut smuggled = ops[0].clone();
    if let OpBody::Count { deltas, .. } = &mut smuggled.body {
        deltas[0].total = 1_000; // claims a history that never happened
    }
    let mut r = Replica::new(UNIT);
    let e = r.receive(smuggled).unwrap_err();
    assert!(e.to_string().contains("running total"), "{e}");
    assert!(r.view().counts.is_empty());
    assert!(r.version_vector().is_empty());
}
