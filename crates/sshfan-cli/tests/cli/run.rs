//! Runs of the binary against a fleet.

use std::process::{Command, Output};

use sshfan_testkit::{FLEET_USER, Fault, Fleet};

fn sshfan(fleet: &Fleet, hosts: &[String], command: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sshfan"))
        .arg("-w")
        .arg(hosts.join(","))
        .args(["-l", FLEET_USER, "-t", "5"])
        .arg("-i")
        .arg(fleet.client_key_path())
        .arg("--known-hosts")
        .arg(fleet.known_hosts_path())
        .env("SSH_AUTH_SOCK", "/nonexistent")
        .env("HOME", fleet.dir())
        .arg("--")
        .arg(command)
        .output()
        .expect("run sshfan")
}

fn sorted_lines(bytes: &[u8]) -> Vec<String> {
    let mut lines: Vec<String> = String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread")]
async fn output_is_prefixed_by_host_and_exit_code_is_zero() {
    let fleet = Fleet::start(3).await.unwrap();
    let hosts = fleet.host_specs();
    let out = sshfan(&fleet, &hosts, "hostname; echo warn >&2");
    let mut expected: Vec<String> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| format!("{h}: host{i}"))
        .collect();
    expected.sort();
    assert_eq!(sorted_lines(&out.stdout), expected);
    let stderr = sorted_lines(&out.stderr);
    assert_eq!(stderr.len(), 3, "{stderr:?}");
    assert!(stderr.iter().all(|l| l.ends_with(": warn")), "{stderr:?}");
    assert_eq!(out.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_final_line_without_newline_is_printed() {
    let fleet = Fleet::start(1).await.unwrap();
    let out = sshfan(&fleet, &fleet.host_specs(), "echo -n tail");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}: tail\n", fleet.host_specs()[0])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn remote_failure_exits_1_and_names_the_host() {
    let fleet = Fleet::start(2).await.unwrap();
    let out = sshfan(&fleet, &fleet.host_specs(), "exit 5");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for host in fleet.host_specs() {
        assert!(
            stderr.contains(&format!("sshfan: {host}: exit code 5")),
            "{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_error_exits_2_and_the_others_still_print() {
    let fleet = Fleet::builder(3)
        .fault(1, Fault::RejectAuth)
        .start()
        .await
        .unwrap();
    let hosts = fleet.host_specs();
    let out = sshfan(&fleet, &hosts, "echo ok");
    assert_eq!(out.status.code(), Some(2));
    let stdout = sorted_lines(&out.stdout);
    let mut expected = vec![format!("{}: ok", hosts[0]), format!("{}: ok", hosts[2])];
    expected.sort();
    assert_eq!(stdout, expected);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "sshfan: {}: failed to authenticate `fleet`",
            hosts[1]
        )),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn long_lines_are_never_mixed() {
    // Lines far longer than a pipe buffer, from many hosts at once.
    let fleet = Fleet::start(8).await.unwrap();
    let out = sshfan(
        &fleet,
        &fleet.host_specs(),
        "line 300000; flood 64000; line 300000",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (long, short) = ("z".repeat(300000), "y".repeat(63));
    let mut per_host = std::collections::HashMap::new();
    for line in stdout.lines() {
        let (host, rest) = line.split_once(": ").expect("prefixed line");
        assert!(rest == long || rest == short, "a line was split or mixed");
        *per_host.entry(host.to_owned()).or_insert(0) += 1;
    }
    assert_eq!(per_host.len(), 8);
    assert!(
        per_host.values().all(|&n| n == 2 + 64000 / 64),
        "{per_host:?}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_sshfan"))
        .args(["-w", "bad host", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid host `bad host`"), "{stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_sshfan"))
        .args(["-w", "a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no command given"));
}
