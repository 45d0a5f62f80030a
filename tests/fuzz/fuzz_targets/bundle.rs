//! Bundle files (USB sticks between desks): the envelope, then its ops as a desk
//! imports them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(b) = cchc_common::bundle::parse(data) {
        cchc_fuzz::same_in_memory_and_sql(b.unit, &b.ops);
        cchc_fuzz::replica_takes(b.unit, &b.ops);
    }
});
