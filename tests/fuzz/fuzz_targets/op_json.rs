//! One op's JSON (as stored in every op log and carried in bundles and sync bodies):
//! an op that parses and passes its shape check round-trips, and applies alike in
//! memory and in SQL.
#![no_main]
use cchc_common::Op;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(op) = Op::from_json(text) {
        cchc_fuzz::same_in_memory_and_sql(op.unit, std::slice::from_ref(&op));
    }
});
