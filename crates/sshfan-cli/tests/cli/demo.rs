//! `sshfan demo`: the README's first command.

use std::process::Command;

#[test]
fn demo_runs_every_host_and_summarises() {
    let out = Command::new(env!("CARGO_BIN_EXE_sshfan"))
        .args(["demo", "--hosts", "200", "--show", "2"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("sshfan: ok: host[0-199] (200)"), "{stderr}");
    assert!(
        stderr.contains("sshfan: 200 hosts, 200 ok, 0 failed in"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "host0: hello from",
            "host0: host0",
            "host1: hello from",
            "host1: host1"
        ]
    );
}
