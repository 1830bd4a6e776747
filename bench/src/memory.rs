//! `sshfan-bench-memory`: N sessions held open at once in one process, over in-memory pipes.
//!
//! This is issue 8's in-memory scale run. One process may hold at most 20,000 file
//! descriptors here, so 100,000 concurrent sessions cannot use sockets. The testkit fleet
//! serves N hosts through in-process duplex streams instead. It uses the library's pluggable
//! transport, the same hook that jump hosts and ProxyCommand use. One client runs a quiet
//! long command on every host, with every session in flight. Once all sessions are up, the
//! program reads its own resident memory. It prints one JSON object: sessions, sessions up,
//! seconds until all were up, CPU seconds, RSS before the run and with every session open,
//! and RSS per session. Both halves of each session, client and server, live in this one
//! process, so the per-session figure covers both ends. `bench/harness.py` reports the
//! client's share from its socket runs.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Sessions (in-memory hosts) held at once.
    #[arg(long, default_value_t = 100_000)]
    sessions: usize,
    /// Handshakes in progress at once.
    #[arg(long, default_value_t = 256)]
    handshakes: usize,
    /// Seconds to wait, once every session is up, before reading memory.
    #[arg(long, default_value_t = 2.0)]
    settle: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let fleet = sshfan_testkit::Fleet::builder(args.sessions)
        .in_memory()
        .start()
        .await
        .context("starting the in-memory fleet")?;
    let before = Memory::read()?;
    let client = fleet
        .memory_client()
        .pool_size(args.sessions)
        .max_handshakes(args.handshakes)
        .connect_timeout(Duration::from_secs(3600))
        .build()?;
    let started = Instant::now();
    // Quiet and long: it outlives the measurement, and the process exits before it ends.
    let run = client.run("sleep 86400");
    let mut up = 0;
    for host in run.outputs() {
        up += usize::from(host.wait_connected().await.is_ok());
    }
    let ramp = started.elapsed();
    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    let open = Memory::read()?;
    let result = serde_json::json!({
        "sessions": args.sessions,
        "up": up,
        "ramp_s": ramp.as_secs_f64(),
        "cpu_s": cpu_seconds()?,
        "rss_before_kib": before.rss_kib,
        "rss_open_kib": open.rss_kib,
        "peak_rss_kib": open.peak_kib,
        "rss_per_session_kib": (open.rss_kib - before.rss_kib) as f64 / up.max(1) as f64,
    });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{result}")?;
    stdout.flush()?;
    // Tearing down 100,000 sessions one by one measures nothing: leave at once.
    std::process::exit(if up == args.sessions { 0 } else { 1 });
}

/// This process's resident memory, from `/proc/self/status`.
struct Memory {
    rss_kib: u64,
    peak_kib: u64,
}

impl Memory {
    fn read() -> anyhow::Result<Self> {
        let status = std::fs::read_to_string("/proc/self/status")?;
        let field = |name: &str| -> anyhow::Result<u64> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
                .with_context(|| format!("no {name} in /proc/self/status"))
        };
        Ok(Self {
            rss_kib: field("VmRSS:")?,
            peak_kib: field("VmHWM:")?,
        })
    }
}

/// User + system CPU seconds of this process so far, from `/proc/self/stat` (clock ticks
/// of 1/100 s, as on every Linux this runs on).
fn cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let rest = stat
        .rsplit_once(')')
        .context("malformed /proc/self/stat")?
        .1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i)
            .context("short /proc/self/stat")?
            .parse::<f64>()?)
    };
    // utime and stime are fields 14 and 15, that is 11 and 12 after the state.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}
