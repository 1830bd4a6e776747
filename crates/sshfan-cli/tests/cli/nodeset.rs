//! `sshfan nodeset`, as a user types it.

use crate::util::text;

fn nodeset(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sshfan"))
        .arg("nodeset")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn expand_fold_count_and_set_operations() {
    assert_eq!(
        text(&nodeset(&["-e", "web[01-03]"]).stdout),
        "web01 web02 web03\n"
    );
    assert_eq!(
        text(&nodeset(&["-f", "web3", "web1,web2", "db1"]).stdout),
        "db1,web[1-3]\n"
    );
    assert_eq!(
        text(&nodeset(&["-c", "rack[1-2]-node[01-16]"]).stdout),
        "32\n"
    );
    assert_eq!(
        text(&nodeset(&["-f", "n[1-10]", "-x", "n5", "-i", "n[4-8]"]).stdout),
        "n[4,6-8]\n"
    );
    let bad = nodeset(&["-f", "n[1-x]"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("column 3"),
        "{}",
        text(&bad.stderr)
    );
}
