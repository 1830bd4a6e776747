//! Micro-benchmarks of the hot paths a 100,000-host run goes through once per host or
//! once per line: host-list expansion and folding, line splitting, known_hosts lookup,
//! JSON line encoding and output gathering. `cargo bench -p sshfan-bench --bench micro`.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use sshfan::known_hosts::{HostKeyPolicy, KnownHosts};
use sshfan::nodeset::{NodeSet, expand_with_duplicates};

fn main() {
    divan::main();
}

/// 10,000 names with two ranges each.
const EXPRESSION: &str = "rack[01-20]-node[001-500]";

#[divan::bench]
fn hostlist_expand_10k() -> usize {
    expand_with_duplicates(divan::black_box(EXPRESSION))
        .unwrap()
        .len()
}

#[divan::bench]
fn nodeset_fold_10k(bencher: divan::Bencher) {
    let names = expand_with_duplicates(EXPRESSION).unwrap();
    bencher.bench(|| NodeSet::from_names(divan::black_box(names.iter().cloned())).fold());
}

/// 1 MiB of 64-byte lines arriving in 32 KiB chunks, read line by line.
#[divan::bench]
fn split_lines_1mib(bencher: divan::Bencher) {
    let line = [b'y'; 63].iter().chain(b"\n").copied().collect::<Vec<u8>>();
    let data = Bytes::from(line.repeat(16 * 1024));
    let chunks: Vec<Bytes> = (0..data.len())
        .step_by(32 * 1024)
        .map(|at| data.slice(at..(at + 32 * 1024).min(data.len())))
        .collect();
    bencher
        .counter(divan::counter::BytesCount::new(data.len()))
        .bench(|| {
            let mut reader = sshfan::OutputReader::from_chunks(chunks.iter().cloned());
            futures::executor::block_on(async {
                let mut lines = 0;
                while reader.next_line().await.is_some() {
                    lines += 1;
                }
                lines
            })
        });
}

/// One strict lookup in a 10,000-entry known_hosts (literal address entries).
#[divan::bench]
fn known_hosts_lookup_in_10k(bencher: divan::Bencher) {
    let key = sshfan_testkit::keys::ed25519();
    let line = sshfan_testkit::keys::public_line(&key);
    let text: String = (0..10_000)
        .map(|i| format!("10.0.{}.{} {line}\n", i / 256, i % 256))
        .collect();
    let known = KnownHosts::from_text(&text);
    let offered = key.public_key().clone();
    bencher.bench(|| {
        known
            .check(
                divan::black_box("10.0.20.7"),
                22,
                &offered,
                HostKeyPolicy::Strict,
            )
            .unwrap()
    });
}

/// One `--json` line event.
#[divan::bench]
fn json_line_event() -> String {
    sshfan_cli::render::json::line(
        42,
        divan::black_box("web042.example.com"),
        sshfan_cli::render::Stream::Stdout,
        divan::black_box(b" 12:00:01 up 3 days,  2 users,  load average: 0.00, 0.01, 0.05"),
        true,
    )
}

/// `-b` over 10,000 hosts, two lines each, 10 distinct outputs: grouping and folding.
#[divan::bench]
fn gather_10k_hosts(bencher: divan::Bencher) {
    let labels: Vec<String> = expand_with_duplicates(EXPRESSION).unwrap();
    bencher.bench(|| {
        let mut gathered = sshfan_cli::render::gather::Gathered::new(labels.len());
        for host in 0..labels.len() {
            gathered.push_line(host, b"Linux 6.1.0-13-amd64 x86_64");
            gathered.push_line(host, format!("uptime {}", host % 10).as_bytes());
            gathered.finish(
                host,
                &sshfan_cli::ending::Ending::Remote(sshfan::ExitStatus::Code(0)),
            );
        }
        gathered
            .render(&labels, sshfan_cli::render::Style::plain())
            .len()
    });
}

/// The public-key crypto every connection needs, whichever client makes it: the client's
/// half of a curve25519 key exchange (its key pair, then the shared secret), checking the
/// host's Ed25519 signature over the exchange hash, and signing the publickey request.
/// Their sum is the floor under client CPU per host (BENCHMARKS.md), with the crates and
/// build russh uses: aws-lc for X25519 (the vendored patch), ed25519-dalek for signatures.
mod handshake_crypto {
    use aws_lc_rs::agreement::{PrivateKey, UnparsedPublicKey, X25519, agree};
    use curve25519_dalek::montgomery::MontgomeryPoint;
    use ed25519_dalek::{Signer, SigningKey, Verifier};

    const SECRET: [u8; 32] = [7; 32];

    #[divan::bench]
    fn x25519_key_pair_and_shared_secret(bencher: divan::Bencher) {
        let server = MontgomeryPoint::mul_base_clamped([9; 32]);
        bencher.bench(|| {
            let secret = divan::black_box(SECRET);
            let key = PrivateKey::from_private_key(&X25519, &secret).unwrap();
            divan::black_box(key.compute_public_key().unwrap());
            agree(
                &key,
                UnparsedPublicKey::new(&X25519, server.0),
                (),
                |shared| Ok(shared[0]),
            )
            .unwrap()
        });
    }

    /// The same with curve25519-dalek, which russh uses unpatched.
    #[divan::bench]
    fn x25519_key_pair_and_shared_secret_dalek(bencher: divan::Bencher) {
        let server = MontgomeryPoint::mul_base_clamped([9; 32]);
        bencher.bench(|| {
            let secret = divan::black_box(SECRET);
            divan::black_box(MontgomeryPoint::mul_base_clamped(secret));
            server.mul_clamped(secret)
        });
    }

    /// The host's public key arrives in bytes with every connection (each host has its
    /// own): decompressing it is part of the check.
    #[divan::bench]
    fn ed25519_verify_host_signature(bencher: divan::Bencher) {
        let host = SigningKey::from_bytes(&[3; 32]);
        let exchange_hash = [5u8; 32];
        let signature = host.sign(&exchange_hash);
        let public = host.verifying_key().to_bytes();
        bencher.bench(|| {
            ed25519_dalek::VerifyingKey::from_bytes(divan::black_box(&public))
                .unwrap()
                .verify(divan::black_box(&exchange_hash), &signature)
                .is_ok()
        });
    }

    /// As `ssh_key` signs: the signing key (its public point) derived from the seed for
    /// every signature. The vendored russh derives it once per key instead
    /// (`PrivateKeyWithHashAlg`), as the next benchmark times.
    #[divan::bench]
    fn ed25519_sign_deriving_the_key_each_time(bencher: divan::Bencher) {
        let request = [1u8; 150];
        bencher.bench(|| {
            SigningKey::from_bytes(divan::black_box(&SECRET)).sign(divan::black_box(&request))
        });
    }

    #[divan::bench]
    fn ed25519_sign_userauth_request(bencher: divan::Bencher) {
        let user = SigningKey::from_bytes(&SECRET);
        // Session id, user, service, method, algorithm and public key: about 150 bytes.
        let request = [1u8; 150];
        bencher.bench(|| user.sign(divan::black_box(&request)));
    }
}
