//! Folding arbitrary names: the folded text expands back to exactly those names.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sshfan::nodeset::NodeSet;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Names without the expression syntax's own characters or whitespace (which the
    // syntax trims around terms), and not starting with `@` (a node group).
    let names: Vec<String> = text
        .split('\n')
        .filter(|n| !n.is_empty() && !n.starts_with('@') && !n.contains([',', '!', '&', '^', '[', ']']) && !n.contains(char::is_whitespace))
        .map(str::to_owned)
        .take(200)
        .collect();
    let set = NodeSet::from_names(names);
    let folded = set.fold();
    if set.is_empty() {
        return;
    }
    let again = NodeSet::parse(&folded).expect("a folded set parses");
    assert_eq!(again.sorted(), set.sorted(), "{folded:?}");
});
