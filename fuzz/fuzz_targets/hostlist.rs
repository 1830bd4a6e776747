//! Host-list expressions: parsing never panics, and what parses also parses after folding.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sshfan::nodeset::NodeSet;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(set) = NodeSet::parse(text) {
        if set.len() > 100_000 {
            return;
        }
        let folded = set.fold();
        let again = NodeSet::parse(&folded).expect("a folded set parses");
        assert_eq!(again.sorted(), set.sorted(), "{text:?} -> {folded:?}");
    }
});
