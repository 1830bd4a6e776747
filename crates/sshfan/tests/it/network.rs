//! Network faults, made real in a network namespace the test creates for itself.
//!
//! The test re-runs itself under `unshare --net` (a fresh namespace with only loopback),
//! brings loopback up with a 1500-byte MTU, and installs nftables rules there: SYNs to one
//! host are dropped (a blackholed address), and 2% of the packets to and from another are
//! dropped at random. That host is also reached through a relay adding 200 ms each way
//! ([`DelayRelay`]; this kernel has no `tc netem`). Nothing leaves the namespace.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sshfan_testkit::{DelayRelay, Fleet, require};

use crate::util::{assert_inner_passed, collect, run_inner};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `program --version` (or `-V`) runs.
fn available(program: &str, flag: &str) -> Result<(), String> {
    match Command::new(program).arg(flag).output() {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(format!(
            "`{program} {flag}` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )),
        Err(err) => Err(format!(
            "`{program}` is not installed ({err}): apt-get install nftables iproute2"
        )),
    }
}

#[test]
fn blackholed_address_and_slow_lossy_link_in_a_network_namespace() {
    let test = "network::inner_blackhole_and_lossy_link";
    let tools = available("nft", "--version").and_then(|()| available("ip", "-V"));
    let Some(()) = require(test, tools) else {
        return;
    };
    if let Some(output) = require(test, run_inner(test, &["unshare", "--net", "--"])) {
        assert_inner_passed(test, output);
    }
}

fn run(program: &str, args: &[&str], stdin: &str) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("{program}: {err}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{program} {args:?} failed");
}

/// Packets dropped by the rules holding `comment`, from `nft list ruleset`.
fn dropped(comment: &str) -> u64 {
    let output = Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.lines()
        .filter(|line| line.contains(comment))
        .filter_map(|line| {
            let after = line.split("counter packets ").nth(1)?;
            after.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "run inside its own network namespace by the test above"]
async fn inner_blackhole_and_lossy_link() {
    run("ip", &["link", "set", "lo", "up", "mtu", "1500"], "");
    let fleet = Fleet::start(3).await.unwrap();
    let addrs = fleet.addrs().to_vec();
    let relay = DelayRelay::start(addrs[1], Duration::from_millis(200))
        .await
        .unwrap();
    let (blackholed, relayed) = (addrs[0].port(), relay.addr().port());
    run(
        "nft",
        &["-f", "-"],
        &format!(
            "table inet faults {{
               chain input {{
                 type filter hook input priority 0; policy accept;
                 tcp dport {blackholed} tcp flags syn counter drop comment \"blackhole\"
                 tcp dport {relayed} numgen random mod 100 < 2 counter drop comment \"loss\"
                 tcp sport {relayed} numgen random mod 100 < 2 counter drop comment \"loss\"
               }}
             }}"
        ),
    );
    // The relay listens on another port: teach known_hosts its name.
    let known_hosts = fleet.dir().join("known_hosts_with_relay");
    let mut text = std::fs::read_to_string(fleet.known_hosts_path()).unwrap();
    text.push_str(&format!(
        "[127.0.0.1]:{relayed} {}\n",
        fleet.host_public_key()
    ));
    std::fs::write(&known_hosts, text).unwrap();

    let hosts = [
        addrs[0].to_string(),
        relay.addr().to_string(),
        addrs[2].to_string(),
    ];
    let client = fleet
        .client_settings()
        .hosts(hosts)
        .unwrap()
        .key_file(fleet.client_key_path())
        .known_hosts_files(vec![known_hosts])
        .connect_timeout(CONNECT_TIMEOUT)
        .command_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let started = Instant::now();
    let hosts = collect(client.run("seq 200000")).await;
    let expected: String = (1..=200_000).map(|i| format!("{i}\n")).collect();

    // The blackholed host: a connect timeout while connecting, within the timeout + margin.
    assert_eq!(
        hosts[0].error_code(),
        "connect_timeout",
        "{:?}",
        hosts[0].outcome
    );
    let failed_after = hosts[0].elapsed.expect("timed");
    assert!(
        failed_after >= CONNECT_TIMEOUT && failed_after < CONNECT_TIMEOUT + Duration::from_secs(3),
        "failed after {failed_after:?}"
    );
    // The slow, lossy host and the healthy one: every line, in order, exit 0.
    for host in &hosts[1..] {
        assert!(
            host.status().success(),
            "{}: {:?}",
            host.label,
            host.outcome
        );
        let text = host.stdout_text();
        assert!(
            text == expected,
            "{}: {} bytes, expected {}; starts {:?}, ends {:?}",
            host.label,
            text.len(),
            expected.len(),
            &text[..text.len().min(40)],
            &text[text.len().saturating_sub(40)..]
        );
    }
    assert!(dropped("blackhole") >= 1, "SYNs were dropped");
    assert!(dropped("loss") >= 1, "packets were lost on the slow link");
    assert!(started.elapsed() < Duration::from_secs(60));
}
