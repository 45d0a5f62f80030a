//! Rollout plan CSV files (`phase assign --csv`): a plan that parses names each commune
//! once, with a phase of 1 or more.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(plan) = cchc_common::plan::parse_csv(text, "plan.csv") {
        assert!(!plan.is_empty());
        let units: BTreeSet<_> = plan.iter().map(|(u, _)| *u).collect();
        assert_eq!(units.len(), plan.len(), "each commune once");
        assert!(plan.iter().all(|(_, p)| *p >= 1));
    }
});
