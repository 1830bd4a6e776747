//! The chaos run: many hosts served in memory, a tenth of them with a random fault each.
//! Every healthy host must return its full output and exit code, every faulty one its
//! error kind, all within the timeouts' bound. CI runs 2,000 hosts; the full size is
//! `SSHFAN_CHAOS_HOSTS=10000 cargo test --release -p sshfan --test it chaos -- --nocapture`.

use std::time::{Duration, Instant};

use sshfan::ExitStatus;
use sshfan_testkit::{Fault, Fleet};

use crate::util::collect;

/// The faults handed out, with the error kind each must produce (`None`: it must succeed).
fn fault(pick: u64) -> (Fault, Option<&'static str>) {
    match pick % 7 {
        0 => (Fault::RejectAuth, Some("auth")),
        1 => (Fault::StallBeforeBanner, Some("connect_timeout")),
        2 => (Fault::StallAfterAuth, Some("connect_timeout")),
        3 => (
            Fault::DropMidOutput { after_bytes: 10 },
            Some("connection_lost"),
        ),
        4 => (Fault::Hang, Some("command_timeout")),
        5 => (Fault::WrongHostKey, Some("host_key")),
        _ => (
            Fault::Trickle {
                delay: Duration::from_millis(50),
            },
            None,
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_run_every_host_gets_its_output_or_its_error() {
    let hosts: usize = std::env::var("SSHFAN_CHAOS_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let mut rng: u64 = 0x5DEECE66D;
    let mut next = move || {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        rng >> 33
    };
    let mut builder = Fleet::builder(hosts).in_memory();
    let mut expected = vec![None; hosts];
    for (index, slot) in expected.iter_mut().enumerate() {
        if next() % 10 == 0 {
            let (fault, error) = fault(next());
            builder = builder.fault(index, fault);
            *slot = Some(error);
        }
    }
    let fleet = builder.start().await.unwrap();
    let (connect, command) = (Duration::from_secs(2), Duration::from_secs(4));
    let client = fleet
        .memory_client()
        .pool_size(1000)
        .connect_timeout(connect)
        .command_timeout(command)
        .build()
        .unwrap();
    let started = Instant::now();
    let results = collect(client.run("hostname; seq 10; echo done >&2; exit 3")).await;
    let wall = started.elapsed();
    let tail: String = (1..=10).map(|i| format!("{i}\n")).collect();
    let mut faulty = 0;
    for (index, host) in results.iter().enumerate() {
        match expected[index] {
            Some(Some(kind)) => {
                faulty += 1;
                assert_eq!(host.error_code(), kind, "host{index}");
            }
            Some(None) | None => {
                assert_eq!(
                    host.stdout_text(),
                    format!("host{index}\n{tail}"),
                    "host{index}: {:?}",
                    host.outcome
                );
                assert_eq!(host.stderr_text(), "done\n");
                assert_eq!(host.status(), &ExitStatus::Code(3));
            }
        }
    }
    // Hosts run in waves of the pool size; each wave is bounded by the longest timeout.
    let waves = hosts.div_ceil(1000) as u32;
    let bound = (connect + command) * waves + Duration::from_secs(10);
    assert!(wall < bound, "{hosts} hosts took {wall:?}, bound {bound:?}");
    let rss_mib = crate::util::peak_rss_kib() / 1024;
    // Client and in-memory servers together, in one process.
    let budget_mib = 300 + hosts as u64 / 4;
    assert!(
        rss_mib < budget_mib,
        "peak RSS {rss_mib} MiB over {budget_mib} MiB"
    );
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "chaos: {hosts} hosts, {faulty} faulty, {:.2} s wall, peak RSS {rss_mib} MiB (client + servers)",
        wall.as_secs_f64()
    );
}
