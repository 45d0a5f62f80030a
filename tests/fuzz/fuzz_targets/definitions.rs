//! Definitions documents (`definitions publish`, and what agents receive): a document
//! that parses is valid, round-trips through JSON, and scores its own criteria.
#![no_main]
use cchc_common::{Definitions, Score};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = Definitions::from_json(text) {
        d.validate().expect("a parsed document is valid");
        let json = serde_json::to_string(&d).unwrap();
        let back = Definitions::from_json(&json).expect("it re-parses");
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
        for ph in &d.phases {
            for c in &ph.criteria {
                d.check_score(ph.phase, &c.code, c.max_score)
                    .expect("the maximum score is a valid score");
                assert!(d
                    .check_score(ph.phase, &c.code, Score(c.max_score.0 + 1))
                    .is_err());
            }
        }
    }
});
