//! known_hosts lookups at fleet scale: 100,000 hosts checked against a 100,000-line file.
//!
//! `cargo bench -p sshfan --bench known_hosts` prints the time to load (parse and index)
//! the file once and the time per lookup, for literal `[host]:port` entries (the common
//! case, hash-map lookups) and, separately, for a file of hashed `|1|` names, which must be
//! scanned entry by entry (HMAC-SHA1 each), as OpenSSH does.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Instant;

use sshfan::known_hosts::{HostKeyPolicy, KnownHosts, hashed_name};

const HOSTS: usize = 100_000;
const HASHED_ENTRIES: usize = 2_000;
const HASHED_LOOKUPS: usize = 200;

fn main() {
    let keys: Vec<russh::keys::PrivateKey> =
        (0..64).map(|_| sshfan_testkit::keys::ed25519()).collect();
    let line_key = |i: usize| sshfan_testkit::keys::public_line(&keys[i % keys.len()]);
    let name = |i: usize| {
        format!(
            "[10.{}.{}.{}]:22{:02}",
            i / 65536,
            (i / 256) % 256,
            i % 256,
            i % 100
        )
    };
    let dir = tempfile::tempdir().unwrap();

    let file = dir.path().join("known_hosts");
    let text: String = (0..HOSTS)
        .map(|i| format!("{} {}\n", name(i), line_key(i)))
        .collect();
    std::fs::write(&file, &text).unwrap();
    let started = Instant::now();
    let known = KnownHosts::load(std::slice::from_ref(&file));
    let load = started.elapsed();

    let offered: Vec<russh::keys::PublicKey> = (0..keys.len())
        .map(|i| keys[i].public_key().clone())
        .collect();
    let started = Instant::now();
    for i in 0..HOSTS {
        let host = name(i);
        let (addr, port) = host.trim_start_matches('[').split_once("]:").unwrap();
        known
            .check(
                addr,
                port.parse().unwrap(),
                &offered[i % keys.len()],
                HostKeyPolicy::Strict,
            )
            .unwrap();
    }
    let lookups = started.elapsed();

    let hashed_file = dir.path().join("known_hosts_hashed");
    let hashed: String = (0..HASHED_ENTRIES)
        .map(|i| {
            format!(
                "{} {}\n",
                hashed_name(&name(i), &(i as u64).to_le_bytes()),
                line_key(i)
            )
        })
        .collect();
    std::fs::write(&hashed_file, hashed).unwrap();
    let hashed_known = KnownHosts::load(std::slice::from_ref(&hashed_file));
    let started = Instant::now();
    for i in 0..HASHED_LOOKUPS {
        let host = name(i * (HASHED_ENTRIES / HASHED_LOOKUPS));
        let (addr, port) = host.trim_start_matches('[').split_once("]:").unwrap();
        let key = &offered[(i * (HASHED_ENTRIES / HASHED_LOOKUPS)) % keys.len()];
        hashed_known
            .check(addr, port.parse().unwrap(), key, HostKeyPolicy::Strict)
            .unwrap();
    }
    let hashed_lookups = started.elapsed();

    println!("known_hosts benchmark");
    println!(
        "  file: {HOSTS} lines, {:.1} MiB",
        text.len() as f64 / (1 << 20) as f64
    );
    println!("  load + index once: {:.1} ms", load.as_secs_f64() * 1e3);
    println!(
        "  {HOSTS} lookups: {:.1} ms total, {:.2} µs per lookup",
        lookups.as_secs_f64() * 1e3,
        lookups.as_secs_f64() * 1e6 / HOSTS as f64
    );
    println!(
        "  hashed names: {HASHED_LOOKUPS} lookups in a {HASHED_ENTRIES}-entry file: {:.1} µs per lookup ({:.2} µs per entry scanned)",
        hashed_lookups.as_secs_f64() * 1e6 / HASHED_LOOKUPS as f64,
        hashed_lookups.as_secs_f64() * 1e6 / (HASHED_LOOKUPS * HASHED_ENTRIES) as f64
    );
}
