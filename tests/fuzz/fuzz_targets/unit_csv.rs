//! The official unit list as a CSV file (`init --units`): a list that parses has
//! communes, each under a province it names, and every commune is found by its code.
#![no_main]
use cchc_common::UnitCatalog;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cat) = UnitCatalog::parse_csv(text) {
        for u in cat.communes() {
            assert!(!u.name.is_empty() && !u.province_name.is_empty());
            assert_eq!(cat.commune(u.code).map(|c| c.code), Ok(u.code));
        }
    }
});
