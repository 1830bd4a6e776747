//! Host-key verification end to end: the fleet's real host key (and host certificates)
//! against known_hosts files written by the tests.

use sshfan::HostKeyPolicy;
use sshfan::known_hosts::hashed_name;
use sshfan_testkit::{Fleet, keys};

use crate::util::collect;

/// Runs `echo ok` on every host with this known_hosts text; returns the error codes
/// (`""` for success).
async fn codes_with(fleet: &Fleet, known_hosts: &str) -> Vec<&'static str> {
    let file = fleet.dir().join(format!("kh-{}", rand_suffix()));
    std::fs::write(&file, known_hosts).unwrap();
    let client = fleet
        .client()
        .known_hosts_files(vec![file])
        .build()
        .unwrap();
    collect(client.run("echo ok"))
        .await
        .into_iter()
        .map(|host| match host.outcome {
            Ok(_) => {
                assert_eq!(host.stdout_text(), "ok\n");
                ""
            }
            Err(err) => err.kind().code(),
        })
        .collect()
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test]
async fn a_mismatch_fails_the_host_and_nothing_runs_there() {
    let fleet = Fleet::start(2).await.unwrap();
    let port = fleet.addrs()[0].port();
    let other = keys::public_line(&keys::ed25519());
    let codes = codes_with(
        &fleet,
        &format!(
            "[127.0.0.1]:{port} {other}\n[127.0.0.1]:{} {}\n",
            fleet.addrs()[1].port(),
            fleet.host_public_key()
        ),
    )
    .await;
    assert_eq!(codes, ["host_key", ""]);
    assert_eq!(
        fleet.execs(0),
        0,
        "nothing was executed on the mismatched host"
    );
    assert_eq!(fleet.execs(1), 1);
}

#[tokio::test]
async fn hashed_wildcard_and_negated_entries() {
    let fleet = Fleet::start(3).await.unwrap();
    let key = fleet.host_public_key();
    let [a, b, c] = [0, 1, 2].map(|i| fleet.addrs()[i].port());
    let hashed = hashed_name(&format!("[127.0.0.1]:{a}"), b"twenty-byte-salt-123");
    assert_eq!(
        codes_with(&fleet, &format!("{hashed} {key}\n")).await,
        ["", "host_key", "host_key"]
    );
    assert_eq!(
        codes_with(&fleet, &format!("[127.0.0.1]:* {key}\n")).await,
        ["", "", ""]
    );
    assert_eq!(
        codes_with(&fleet, &format!("[127.0.0.1]:*,![127.0.0.1]:{b} {key}\n")).await,
        ["", "host_key", ""]
    );
    assert_eq!(
        codes_with(&fleet, &format!("[127.0.0.?]:{c} {key}\n")).await,
        ["host_key", "host_key", ""]
    );
}

#[tokio::test]
async fn revoked_keys_are_refused() {
    let fleet = Fleet::start(1).await.unwrap();
    let key = fleet.host_public_key();
    let port = fleet.addrs()[0].port();
    let text = format!("[127.0.0.1]:{port} {key}\n@revoked * {key}\n");
    assert_eq!(codes_with(&fleet, &text).await, ["host_key"]);
}

#[tokio::test]
async fn cert_authority_vouches_for_host_certificates() {
    let ca = keys::ed25519();
    let ca_line = keys::public_line(&ca);
    let now = keys::unix_now();
    let fleet = Fleet::builder(2)
        .host_certificate(ca.clone(), &["127.0.0.1"], now - 60, now + 3600)
        .start()
        .await
        .unwrap();
    // No plain key recorded: only the CA.
    assert_eq!(
        codes_with(&fleet, &format!("@cert-authority * {ca_line}\n")).await,
        ["", ""]
    );
    // A CA scoped to other hosts does not vouch.
    assert_eq!(
        codes_with(
            &fleet,
            &format!("@cert-authority *.example.com {ca_line}\n")
        )
        .await,
        ["host_key", "host_key"]
    );
    // A revoked CA is refused.
    assert_eq!(
        codes_with(
            &fleet,
            &format!("@cert-authority * {ca_line}\n@revoked * {ca_line}\n")
        )
        .await,
        ["host_key", "host_key"]
    );

    // Wrong principal, expired: refused.
    let wrong_name = Fleet::builder(1)
        .host_certificate(ca.clone(), &["db1.example.com"], now - 60, now + 3600)
        .start()
        .await
        .unwrap();
    assert_eq!(
        codes_with(&wrong_name, &format!("@cert-authority * {ca_line}\n")).await,
        ["host_key"]
    );
    let expired = Fleet::builder(1)
        .host_certificate(ca, &[], now - 7200, now - 3600)
        .start()
        .await
        .unwrap();
    assert_eq!(
        codes_with(&expired, &format!("@cert-authority * {ca_line}\n")).await,
        ["host_key"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_new_writes_each_of_1000_hosts_once_without_corruption() {
    let fleet = Fleet::start(1000).await.unwrap();
    let file = fleet.dir().join("new_known_hosts");
    let mut specs = fleet.host_specs();
    specs.extend(fleet.host_specs().into_iter().take(100)); // the same hosts twice
    let client = fleet
        .client_settings()
        .key_file(fleet.client_key_path())
        .hosts(&specs)
        .unwrap()
        .known_hosts_files(vec![file.clone()])
        .host_key_policy(HostKeyPolicy::AcceptNew)
        .pool_size(500)
        .build()
        .unwrap();
    for host in collect(client.run("echo ok")).await {
        assert!(host.status().success(), "{}", host.label);
    }
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1000);
    let key = fleet.host_public_key();
    let mut names: Vec<&str> = lines
        .iter()
        .map(|line| {
            let (name, rest) = line.split_once(' ').unwrap();
            assert_eq!(rest, key, "a whole, intact line");
            name
        })
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 1000);
    // The file now verifies strictly.
    let strict = fleet
        .client()
        .known_hosts_files(vec![file])
        .build()
        .unwrap();
    assert!(
        collect(strict.run("echo ok"))
            .await
            .iter()
            .all(|h| h.outcome.is_ok())
    );
}
