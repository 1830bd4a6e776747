//! Host selection forms, run against fleets listening on distinct loopback addresses.

use std::io::Write;
use std::process::Stdio;

use sshfan_testkit::{Bind, FLEET_USER, Fleet, require};

use crate::util::{sorted_lines, sshfan, text};

async fn address_fleet(hosts: usize) -> Fleet {
    Fleet::builder(hosts)
        .bind(Bind::Addresses)
        .start()
        .await
        .unwrap()
}

fn names(out: &std::process::Output) -> Vec<String> {
    sorted_lines(&out.stdout)
}

#[tokio::test(flavor = "multi_thread")]
async fn ranges_ports_users_and_exclusions() {
    let fleet = address_fleet(5).await;
    let port = fleet.port().unwrap().to_string();
    let out = sshfan(&fleet)
        .args([
            "-w",
            "127.1.0.[1-3,5]",
            "-p",
            &port,
            "-x",
            "127.1.0.2",
            "--",
            "hostname",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        names(&out),
        ["127.1.0.1: host0", "127.1.0.3: host2", "127.1.0.5: host4"]
    );
    // user@ prefix, :port suffix, two bracket groups in one name.
    let out = sshfan(&fleet)
        .args([
            "-w",
            &format!("{FLEET_USER}@127.1.[0].[4-5]:{port}"),
            "--",
            "hostname",
        ])
        .output()
        .unwrap();
    assert_eq!(
        names(&out),
        [
            format!("127.1.0.4:{port}: host3"),
            format!("127.1.0.5:{port}: host4")
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn host_files_stdin_and_duplicates() {
    let fleet = address_fleet(4).await;
    let port = fleet.port().unwrap().to_string();
    let file = fleet.dir().join("hosts");
    std::fs::write(
        &file,
        "# web tier\n127.1.0.1\n\n127.1.0.[2-3]  # two more\n127.1.0.1\n",
    )
    .unwrap();
    let out = sshfan(&fleet)
        .args(["-p", &port, "-h"])
        .arg(&file)
        .args(["--", "hostname"])
        .output()
        .unwrap();
    assert_eq!(
        names(&out),
        ["127.1.0.1: host0", "127.1.0.2: host1", "127.1.0.3: host2"]
    );

    let out = sshfan(&fleet)
        .args(["-p", &port, "-w"])
        .arg(format!("^{}", file.display()))
        .args(["-w", "127.1.0.1", "--allow-duplicates", "--", "hostname"])
        .output()
        .unwrap();
    assert_eq!(
        names(&out),
        [
            "127.1.0.1: host0",
            "127.1.0.1: host0",
            "127.1.0.1: host0",
            "127.1.0.2: host1",
            "127.1.0.3: host2"
        ]
    );

    let mut child = sshfan(&fleet)
        .args(["-p", &port, "-w", "-", "-x", "127.1.0.4", "--", "hostname"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"127.1.0.[3-4]\n127.1.0.2\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(names(&out), ["127.1.0.2: host1", "127.1.0.3: host2"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn ipv6_in_brackets() {
    let Some(fleet) = require(
        "ipv6_in_brackets",
        Fleet::builder(2).bind(Bind::Ipv6).start().await,
    ) else {
        return;
    };
    let out = crate::util::run_all(&fleet, &[], "hostname");
    let specs = fleet.host_specs();
    assert!(specs[0].starts_with("[::1]:"), "{specs:?}");
    let mut expected = vec![
        format!("{}: host0", specs[0]),
        format!("{}: host1", specs[1]),
    ];
    expected.sort();
    assert_eq!(names(&out), expected, "{}", text(&out.stderr));
}

#[test]
fn malformed_host_lists_point_at_the_problem() {
    let binary = env!("CARGO_BIN_EXE_sshfan");
    let out = std::process::Command::new(binary)
        .args(["-w", "web[01-x]", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "sshfan: invalid node set `web[01-x]` at column 5: not a number or range `01-x`\n  web[01-x]\n      ^\n"
    );
    let out = std::process::Command::new(binary)
        .args(["-w", "web[1-3", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("missing `]`"));
    let out = std::process::Command::new(binary)
        .args(["-w", "a", "-x", "a", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no hosts left to run on"));
    let out = std::process::Command::new(binary)
        .args(["true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // No hosts: the first word is taken for a mistyped subcommand, with the way out.
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("unrecognized subcommand `true`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("give hosts with -w HOSTS or -h FILE"),
        "{stderr}"
    );
}
