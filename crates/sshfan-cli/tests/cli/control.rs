//! Fail-fast, timeouts, `-S`, Ctrl-C.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use sshfan_testkit::{Fault, Fleet};

use crate::util::{run_all, sshfan, text};

#[tokio::test(flavor = "multi_thread")]
async fn fail_fast_starts_no_more_hosts_after_a_failure() {
    let fleet = Fleet::builder(6)
        .fault(0, Fault::RejectAuth)
        .start()
        .await
        .unwrap();
    let out = run_all(&fleet, &["-k", "-f", "1"], "echo ran");
    let stdout = text(&out.stdout);
    assert!(
        stdout.is_empty(),
        "no host after the failing first one ran: {stdout}"
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("sshfan: cancelled: "), "{stderr}");
    assert!(stderr.contains("(5)"), "{stderr}");
    assert_eq!(out.status.code(), Some(3));
    // Without -k every other host runs.
    let out = run_all(&fleet, &["-f", "1"], "echo ran");
    assert_eq!(text(&out.stdout).lines().count(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_and_command_timeouts_exit_4() {
    let fleet = Fleet::builder(3)
        .fault(0, Fault::StallBeforeBanner)
        .fault(1, Fault::Hang)
        .start()
        .await
        .unwrap();
    let started = Instant::now();
    let out = run_all(&fleet, &["-t", "1", "-u", "1"], "echo ok");
    assert!(started.elapsed() < Duration::from_secs(5));
    let hosts = fleet.host_specs();
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("sshfan: connect timeout: {} (1)", hosts[0])),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("sshfan: command timeout: {} (1)", hosts[1])),
        "{stderr}"
    );
    assert_eq!(text(&out.stdout), format!("{}: ok\n", hosts[2]));
    assert_eq!(out.status.code(), Some(4));
}

/// `-t` covers everything until the remote command has started: a host that
/// authenticates but never opens a channel fails at the connect timeout, not at `-u`.
#[tokio::test(flavor = "multi_thread")]
async fn the_connect_timeout_covers_starting_the_command() {
    let fleet = Fleet::builder(2)
        .fault(0, Fault::StallAfterAuth)
        .start()
        .await
        .unwrap();
    let started = Instant::now();
    let out = run_all(&fleet, &["-t", "1"], "echo ok");
    assert!(started.elapsed() < Duration::from_secs(5));
    let hosts = fleet.host_specs();
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("sshfan: connect timeout: {} (1)", hosts[0])),
        "{stderr}"
    );
    assert!(stderr.contains("while starting the command"), "{stderr}");
    assert_eq!(text(&out.stdout), format!("{}: ok\n", hosts[1]));
    assert_eq!(out.status.code(), Some(4));
}

#[tokio::test(flavor = "multi_thread")]
async fn dash_s_returns_the_largest_remote_exit_code() {
    let fleet = Fleet::builder(1).real_shell(true).start().await.unwrap();
    let spec = fleet.host_specs()[0].clone();
    let out = sshfan(&fleet)
        .args([
            "-w",
            &format!("{spec},{spec}"),
            "--allow-duplicates",
            "-S",
            "--",
            "exit 7",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7));
    let out = run_all(&fleet, &["-S"], "kill -TERM $$");
    assert_eq!(out.status.code(), Some(128 + 15));
    let out = run_all(&fleet, &["-S"], "exit 0");
    assert_eq!(out.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_cancels_and_prints_the_summary() {
    let fleet = Fleet::start(3).await.unwrap();
    let mut child = sshfan(&fleet)
        .arg("-w")
        .arg(fleet.host_specs().join(","))
        .args(["-f", "2", "--", "echo started; hang"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once a host has printed, the run is under way.
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.ends_with(": started\n"), "{first}");
    interrupt(child.id());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("sshfan: interrupted"), "{stderr}");
    assert!(stderr.contains("sshfan: cancelled: "), "{stderr}");
    assert!(
        stderr.contains("(3)"),
        "running and pending hosts are all cancelled: {stderr}"
    );
    assert!(
        stderr.contains("sshfan: 3 hosts, 0 ok, 0 failed, 3 cancelled in "),
        "{stderr}"
    );
}

/// Ctrl-\ (SIGQUIT) mid-run prints which hosts are still running, folded, and the run
/// goes on (clush's keypress).
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_backslash_prints_the_hosts_still_running() {
    let fleet = Fleet::start(3).await.unwrap();
    let hosts = fleet.host_specs();
    let mut child = sshfan(&fleet)
        .arg("-w")
        .arg(hosts.join(","))
        .args(["-f", "2", "--", "echo started; hang"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    first.clear();
    stdout.read_line(&mut first).unwrap();
    signal(child.id(), "-QUIT");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("sshfan: 0/3 done, running: ") && line.ends_with(" (2), pending: 1\n"),
        "{line}"
    );
    assert!(child.try_wait().unwrap().is_none(), "the run goes on");
    interrupt(child.id());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
}

/// A second Ctrl-C exits at once, even when the first one's orderly shutdown cannot
/// finish: here nobody reads sshfan's stdout, so its writer is stuck on a full pipe.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_ctrl_c_aborts_at_once() {
    let fleet = Fleet::start(2).await.unwrap();
    let mut child = sshfan(&fleet)
        .arg("-w")
        .arg(fleet.host_specs().join(","))
        .args(["--", "flood 100000000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Let the pipe fill (64 KiB) so the writer blocks, then interrupt once.
    tokio::time::sleep(Duration::from_secs(1)).await;
    interrupt(child.id());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first Ctrl-C waits for the output to be written"
    );
    interrupt(child.id());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the second Ctrl-C did not abort"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.code(), Some(130));
}

/// Sends SIGINT (Ctrl-C) to a process.
fn interrupt(pid: u32) {
    signal(pid, "-INT");
}

/// Sends a signal (`-INT`, `-QUIT`) to a process.
fn signal(pid: u32, which: &str) {
    let status = std::process::Command::new("kill")
        .args([which, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
