//! Sync messages as the hub receives them (gzip JSON): decode, then every op that
//! passes its shape check round-trips and merges alike in memory and in SQL.
#![no_main]
use cchc_common::sync::{decode, SyncRequest, SyncResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = decode::<SyncRequest>(data) {
        cchc_fuzz::same_in_memory_and_sql(req.unit, &req.ops);
        cchc_fuzz::replica_takes(req.unit, &req.ops);
    }
    if let Ok(resp) = decode::<SyncResponse>(data) {
        cchc_fuzz::replica_takes(resp.unit, &resp.ops);
    }
});
