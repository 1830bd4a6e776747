//! Streamed output and exit codes.

use sshfan_testkit::{Fault, Fleet};

use crate::util::{folded, run_all, sorted_lines, text};

#[tokio::test(flavor = "multi_thread")]
async fn output_is_prefixed_by_host_and_exit_code_is_zero() {
    let fleet = Fleet::start(3).await.unwrap();
    let hosts = fleet.host_specs();
    let out = run_all(&fleet, &[], "hostname; echo warn >&2");
    let mut expected: Vec<String> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| format!("{h}: host{i}"))
        .collect();
    expected.sort();
    assert_eq!(sorted_lines(&out.stdout), expected);
    let mut expected_err: Vec<String> = hosts.iter().map(|h| format!("{h}: warn")).collect();
    expected_err.sort();
    assert_eq!(
        sorted_lines(&out.stderr),
        expected_err,
        "no summary when all succeed"
    );
    assert_eq!(out.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_final_line_without_newline_is_printed() {
    let fleet = Fleet::start(1).await.unwrap();
    let out = run_all(&fleet, &[], "echo -n tail");
    assert_eq!(
        text(&out.stdout),
        format!("{}: tail\n", fleet.host_specs()[0])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn remote_failure_exits_1_names_the_hosts_and_summarises() {
    let fleet = Fleet::start(3).await.unwrap();
    let hosts = fleet.host_specs();
    let out = run_all(&fleet, &[], "exit 5");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    for host in &hosts {
        assert!(
            stderr.contains(&format!("sshfan: {host}: exit code 5\n")),
            "{stderr}"
        );
    }
    assert!(
        stderr.contains(&format!("sshfan: exit 5: {} (3)\n", folded(&hosts))),
        "{stderr}"
    );
    assert!(
        stderr.contains("sshfan: 3 hosts, 0 ok, 3 failed in "),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_error_exits_3_and_the_others_still_print() {
    let fleet = Fleet::builder(3)
        .fault(1, Fault::RejectAuth)
        .start()
        .await
        .unwrap();
    let hosts = fleet.host_specs();
    let out = run_all(&fleet, &[], "echo ok");
    assert_eq!(out.status.code(), Some(3));
    let mut expected = vec![format!("{}: ok", hosts[0]), format!("{}: ok", hosts[2])];
    expected.sort();
    assert_eq!(sorted_lines(&out.stdout), expected);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "sshfan: {}: failed to authenticate `fleet`",
            hosts[1]
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "sshfan: ok: {} (2)",
            folded(&[&hosts[0], &hosts[2]])
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("sshfan: auth failed: {} (1)", hosts[1])),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn summary_folds_every_outcome_and_the_highest_exit_code_wins() {
    let fleet = Fleet::builder(6)
        .fault(1, Fault::RejectAuth)
        .fault(2, Fault::WrongHostKey)
        .fault(3, Fault::Hang)
        .start()
        .await
        .unwrap();
    let hosts = fleet.host_specs();
    let (refused, _reserved) = sshfan_testkit::refused_address().unwrap();
    let refused = refused.to_string();
    let out = crate::util::sshfan(&fleet)
        .arg("-w")
        .arg(format!("{},{refused}", hosts.join(",")))
        .args(["-u", "1", "--", "hostname; exit 0"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    for line in [
        format!(
            "sshfan: ok: {} (3)",
            folded(&[&hosts[0], &hosts[4], &hosts[5]])
        ),
        format!("sshfan: auth failed: {} (1)", hosts[1]),
        format!("sshfan: host key: {} (1)", hosts[2]),
        format!("sshfan: command timeout: {} (1)", hosts[3]),
        format!("sshfan: unreachable: {refused} (1)"),
        "sshfan: 7 hosts, 3 ok, 4 failed in".to_owned(),
    ] {
        assert!(stderr.contains(&line), "missing `{line}` in:\n{stderr}");
    }
    assert_eq!(out.status.code(), Some(4), "a timeout outranks host errors");
}

#[tokio::test(flavor = "multi_thread")]
async fn long_lines_are_never_mixed() {
    // Lines far longer than a pipe buffer (64 KiB), from many hosts at once.
    let fleet = Fleet::start(8).await.unwrap();
    let out = run_all(&fleet, &[], "line 300000; flood 64000; line 300000");
    let stdout = text(&out.stdout);
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
    let binary = env!("CARGO_BIN_EXE_sshfan");
    let out = std::process::Command::new(binary)
        .args(["-w", "bad host", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("invalid host `bad host`"),
        "{}",
        text(&out.stderr)
    );

    let out = std::process::Command::new(binary)
        .args(["-w", "a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no command given"));

    let out = std::process::Command::new(binary)
        .args(["--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let out = std::process::Command::new(binary)
        .args(["-w", "a", "-t", "0", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--connect-timeout takes a positive number"));
}

#[test]
fn help_documents_the_exit_codes() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sshfan"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for needle in [
        "Exit codes:",
        "130  interrupted",
        "-S, the exit code",
        "SSHFAN_FANOUT",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
}
