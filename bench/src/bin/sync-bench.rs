//! `cargo run --release -p cchc-bench --bin sync-bench`: figures of the sync protocol.
//! Not a test: nothing here asserts a time or a size.
//!
//! - bytes per op on the wire for a commune's typical month (two desks, 22 working
//!   days, three count entries per desk per day).

use cchc_common::crdt::{count_op, OpCtx};
use cchc_common::state::{Replica, VersionVector};
use cchc_common::sync::{encode, SyncRequest, PROTOCOL_VERSION};
use cchc_common::{ActorId, Definitions, Metric, Op, UnitCode};

/// A typical month of one commune: every op two desks make.
fn typical_month() -> (Replica, [ActorId; 2]) {
    let defs = Definitions::builtin();
    let mut r = Replica::new(UnitCode(70));
    let desks = [
        ActorId(0x1234_5678_9abc_def0),
        ActorId(0x0fed_cba9_8765_4321),
    ];
    let procedures = ["CT-01", "CT-02", "CC-01", "DX-01", "CT-04"];
    let mut t = 1_793_000_000_000u64;
    for day in 0..22u64 {
        for (i, d) in desks.iter().enumerate() {
            for k in 0..3 {
                t += 600_000;
                let p = procedures[(day as usize + i + k) % procedures.len()];
                let changes = [
                    (Metric::Received, 3 + day % 5),
                    (Metric::OnTime, 2 + day % 4),
                    (Metric::Online, 1 + day % 3),
                    (Metric::Satisfied, 3 + day % 5),
                ];
                let period = "2026-11".parse().expect("valid period");
                r.local(*d, t, 1, |o, ctx: &OpCtx| {
                    count_op(o, ctx, &defs, period, p, &changes, false)
                })
                .expect("valid entry");
            }
        }
    }
    (r, desks)
}

fn main() {
    let (month, desks) = typical_month();
    let ops: Vec<Op> = month.ops_since(&VersionVector::new());
    let n = ops.len();
    let json: usize = ops.iter().map(|o| o.to_json().len()).sum();
    let req = SyncRequest {
        protocol: PROTOCOL_VERSION,
        unit: UnitCode(70),
        device: desks[0],
        agent_version: "bench".into(),
        defs: 1,
        have: month.version_vector().clone(),
        ops,
        sent_ms: 1_793_000_000_000,
    };
    let wire = encode(&req).len();
    println!("== sync protocol figures");
    println!(
        "wire, typical commune month: {n} ops in one request of {wire} B = {:.1} B/op \
         (uncompressed op JSON {:.0} B/op, ratio {:.3})",
        wire as f64 / n as f64,
        json as f64 / n as f64,
        wire as f64 / json as f64
    );
}
