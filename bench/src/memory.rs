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
//!
//! With `--warm-runs N` it measures kept sessions instead: connect every host and keep the
//! sessions idle, read memory, run `true` N times on every host, read memory again. Both
//! readings give resident memory and the live heap (counted by a wrapper around the
//! system allocator), per session: a heap that grows with N is a leak, resident memory
//! that grows while the heap does not is the allocator keeping freed pages.

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
    /// Instead of one long command: connect every host and keep the sessions idle, then
    /// run `true` on every host this many times (warm commands on kept sessions), reading
    /// memory after connecting and again after the warm runs.
    #[arg(long)]
    warm_runs: Option<usize>,
    /// Keep a spare channel open on each idle session (`spare_channels`).
    #[arg(long)]
    spare_channels: bool,
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
        .spare_channels(args.spare_channels)
        .build()?;
    if let Some(runs) = args.warm_runs {
        return warm(&client, args.sessions, runs, before, args.settle).await;
    }
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

/// Idle kept sessions: memory after connecting, then after `runs` warm commands per host.
async fn warm(
    client: &sshfan::ParallelClient,
    sessions: usize,
    runs: usize,
    before: Memory,
    settle: f64,
) -> anyhow::Result<()> {
    let connect = client.connect();
    let mut up = 0;
    for host in connect.outputs() {
        up += usize::from(host.wait_connected().await.is_ok());
    }
    drop(connect);
    tokio::time::sleep(Duration::from_secs_f64(settle)).await;
    let connected = Memory::read()?;
    let heap_connected = heap::live();
    for _ in 0..runs {
        let run = client.run("true");
        run.join(None).await?;
    }
    tokio::time::sleep(Duration::from_secs_f64(settle)).await;
    let warmed = Memory::read()?;
    let heap_warm = heap::live();
    let per = |kib: u64| kib.saturating_sub(before.rss_kib) as f64 / sessions as f64;
    let result = serde_json::json!({
        "sessions": sessions,
        "up": up,
        "warm_runs": runs,
        "rss_connected_per_session_kib": per(connected.rss_kib),
        "rss_warm_per_session_kib": per(warmed.rss_kib),
        "heap_connected_per_session_kib": heap_connected as f64 / 1024.0 / sessions as f64,
        "heap_warm_per_session_kib": heap_warm as f64 / 1024.0 / sessions as f64,
    });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{result}")?;
    stdout.flush()?;
    std::process::exit(0);
}

/// Live heap bytes, counted by a wrapper around the system allocator.
#[allow(unsafe_code)]
mod heap {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering};

    static LIVE: AtomicUsize = AtomicUsize::new(0);

    struct Counting;

    // SAFETY: every call is passed to the system allocator unchanged.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Counting = Counting;

    /// Bytes allocated and not yet freed.
    pub fn live() -> usize {
        LIVE.load(Ordering::Relaxed)
    }
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
