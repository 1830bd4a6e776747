//! The `sshfan` process itself.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// mimalloc would have whole 2 MiB pages cleared for memory a run barely uses
/// (`src/huge_pages.rs`): the binary turns transparent huge pages off before anything
/// else. Seen from outside, while the process waits for its stdin.
#[cfg(target_os = "linux")]
#[test]
fn the_binary_runs_without_transparent_huge_pages() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sshfan"))
        .args(["nodeset", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start sshfan");
    // `THP_enabled` is in the status of Linux 5.0 and later. The process sets it first
    // thing; it is read until it says 0 (the flag is never set back), for a few seconds.
    let thp_enabled = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
            .expect("read the process's status");
        status
            .lines()
            .find(|line| line.starts_with("THP_enabled:"))
            .expect("a kernel that reports THP_enabled")
            .to_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut line = thp_enabled();
    while line.split_whitespace().nth(1) != Some("0") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        line = thp_enabled();
    }
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"n1 n2 n3\n").expect("write stdin");
    drop(stdin);
    let output = child.wait_with_output().expect("wait for sshfan");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "n[1-3]\n");
    assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
}
