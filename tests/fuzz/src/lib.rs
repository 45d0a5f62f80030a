//! What each fuzz target checks beyond "no panic": an input a parser accepts must be
//! one the rest of the system handles the same way everywhere (the oracles below). A
//! target panics, and libFuzzer keeps the input, when an oracle fails.

use cchc_common::crdt;
use cchc_common::state::{MemObjects, Replica};
use cchc_common::{Op, UnitCode};

/// An op that passed its shape check serializes to JSON that parses back to it.
pub fn round_trips(op: &Op) {
    let json = op.to_json();
    let back = Op::from_json(&json).expect("an accepted op re-parses");
    assert_eq!(&back, op, "an accepted op round-trips through its JSON");
}

/// Applies ops (shape-checked ones) to the in-memory objects and to the SQL objects
/// the stores use: each op is accepted or refused alike, and the objects end equal.
pub fn same_in_memory_and_sql(unit: UnitCode, ops: &[Op]) {
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch(cchc_sql::OBJECT_TABLES).unwrap();
    let tx = conn.transaction().unwrap();
    let mut sql = cchc_sql::SqlObjects::<cchc_sql::Error>::new(&*tx, unit);
    let mut mem = MemObjects::default();
    for op in ops {
        if op.check_shape().is_err() {
            continue;
        }
        round_trips(op);
        let m = crdt::apply_op(&mut mem, op);
        let s = crdt::apply_op(&mut sql, op);
        match (&m, &s) {
            (Ok(()), Ok(())) | (Err(_), Err(cchc_sql::Error::Domain(_))) => {}
            _ => panic!("memory {m:?} and SQL {s:?} disagree on {op:?}"),
        }
    }
    let loaded = sql.load(None).unwrap();
    assert_eq!(loaded, mem, "SQL objects equal the in-memory objects");
    let _ = mem.view(unit);
}

/// Ops delivered to a replica in the order given never panic it; what it applies
/// re-applies to a fresh replica in its own order.
pub fn replica_takes(unit: UnitCode, ops: &[Op]) {
    let mut r = Replica::new(unit);
    for op in ops {
        let _ = r.receive(op.clone());
    }
    let mut again = Replica::new(unit);
    for op in r.ops() {
        again
            .receive_in_order(op.clone())
            .expect("what a replica applied, another applies in its order");
    }
    assert_eq!(again.view(), r.view());
}
