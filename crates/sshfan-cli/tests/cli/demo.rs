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

/// Beyond what one process can serve over sockets, the demo runs over in-memory pipes
/// (chosen with `--transport memory` here, automatically past 15,000 hosts).
#[test]
fn demo_runs_in_memory() {
    let out = Command::new(env!("CARGO_BIN_EXE_sshfan"))
        .args([
            "demo",
            "--hosts",
            "300",
            "--show",
            "0",
            "--transport",
            "memory",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("SSH servers in memory"), "{stderr}");
    assert!(
        stderr.contains("sshfan: 300 hosts, 300 ok, 0 failed in"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
