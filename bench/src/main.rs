//! `sshfan-bench`: the sshfan library on one benchmark workload, as `bench/run.sh` runs it.
//!
//! Runs a command on every host of a host file (optionally repeated, for many sessions
//! to few servers), reads every host's stdout line by line as it streams (one task per
//! host, as a program using the library would), gathers identical outputs, and prints
//! one JSON object: hosts, ok, lines, bytes, distinct outputs. Wall time, CPU and peak
//! RSS are measured from outside by the harness, the same way for every tool.

#[path = "cpu.rs"]
mod cpu;
#[path = "runtime.rs"]
mod runtime;

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// One `host[:port]` per line.
    #[arg(long)]
    hosts_file: PathBuf,
    /// Use each host this many times (sessions beyond the servers' count).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    #[arg(long)]
    user: String,
    #[arg(long)]
    key: PathBuf,
    #[arg(long)]
    known_hosts: PathBuf,
    /// Hosts in flight at once.
    #[arg(long, default_value_t = 100)]
    fanout: usize,
    #[arg(long, default_value_t = 60.0)]
    connect_timeout: f64,
    /// Handshakes in flight at most (default: the fanout, at most 256).
    #[arg(long)]
    max_handshakes: Option<usize>,
    /// Keep each host's whole output to group identical ones (`-b`); off for huge outputs.
    #[arg(long)]
    no_gather: bool,
    /// Run the command this many times in a row on the same client (its sessions are
    /// kept between runs); the counts are the last run's.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Keep a spare channel open on each idle session (`spare_channels`).
    #[arg(long)]
    spare_channels: bool,
    /// Milliseconds to wait between runs (not counted in their times): time for the
    /// spare channels to open.
    #[arg(long, default_value_t = 0)]
    pause_ms: u64,
    /// Tokio worker threads (0: a current-thread runtime; default: one per core).
    #[arg(long)]
    worker_threads: Option<usize>,
    command: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    runtime::build(args.worker_threads)?.block_on(bench(args))
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.hosts_file)
        .with_context(|| format!("reading {}", args.hosts_file.display()))?;
    let hosts: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut builder = sshfan::ParallelClient::builder()
        .user(&args.user)
        .key_file(&args.key)
        .known_hosts_files(vec![args.known_hosts.clone()])
        .ssh_config(sshfan::SshConfigSource::Off)
        .agent(sshfan::AgentSocket::Off)
        .default_identities(false)
        .pool_size(args.fanout)
        .max_handshakes(args.max_handshakes.unwrap_or(args.fanout.min(256)))
        .connect_timeout(Duration::from_secs_f64(args.connect_timeout))
        .spare_channels(args.spare_channels);
    for _ in 0..args.repeat {
        builder = builder.hosts(hosts.iter().copied())?;
    }
    let cold_start = cpu::cpu_seconds();
    let client = builder.build()?;
    let mut last = (0, 0, 0, 0);
    // Each run's wall time: the first connects, the others reuse the sessions.
    let mut run_seconds = Vec::new();
    // CPU from the end of the first run to the end of the last: the warm runs, with what
    // goes on between them (spare channels opening, held closes going out).
    let mut first_run_end = (0.0, 0.0);
    for run in 0..args.runs.max(1) {
        if run > 0 {
            tokio::time::sleep(Duration::from_millis(args.pause_ms)).await;
        }
        let started = std::time::Instant::now();
        last = run_once(&client, &args.command, !args.no_gather).await?;
        run_seconds.push(started.elapsed().as_secs_f64());
        if run == 0 {
            first_run_end = cpu::cpu_seconds();
        }
    }
    let last_run_end = cpu::cpu_seconds();
    let warm_cpu = last_run_end.0 + last_run_end.1 - first_run_end.0 - first_run_end.1;
    let cold_cpu = first_run_end.0 + first_run_end.1 - cold_start.0 - cold_start.1;
    let sessions = hosts.len() * args.repeat;
    let warm_commands = sessions * (args.runs.max(1) - 1);
    let (ok, lines, bytes, distinct) = last;
    let result = serde_json::json!({
        "hosts": sessions,
        "ok": ok,
        "lines": lines,
        "bytes": bytes,
        "distinct_outputs": distinct,
        "run_seconds": run_seconds,
        // Client CPU per host, ms, measured in-process: building the client and the first
        // run (connecting, authenticating, the command), and a command on a warm session.
        "cold_cpu_ms": cold_cpu * 1000.0 / sessions as f64,
        "warm_cpu_ms": (warm_commands > 0).then(|| warm_cpu * 1000.0 / warm_commands as f64),
    });
    writeln!(std::io::stdout().lock(), "{result}")?;
    Ok(())
}

/// Runs `command` once on every host, reading each host's lines as they stream; returns
/// hosts ok, lines, bytes and distinct outputs.
async fn run_once(
    client: &sshfan::ParallelClient,
    command: &str,
    gather: bool,
) -> anyhow::Result<(usize, u64, u64, usize)> {
    let (outputs, joiner) = client.run(command).into_parts();
    let readers: Vec<_> = outputs
        .into_iter()
        .map(|mut host| {
            tokio::spawn(async move {
                let (mut lines, mut bytes, mut kept) = (0u64, 0u64, Vec::new());
                while let Some(line) = host.stdout.next_line().await {
                    lines += 1;
                    bytes += line.len() as u64 + 1;
                    if gather {
                        kept.extend_from_slice(&line);
                        kept.push(b'\n');
                    }
                }
                let ok = matches!(host.wait().await, Ok(status) if status.success());
                (ok, lines, bytes, kept)
            })
        })
        .collect();
    let (mut ok, mut lines, mut bytes) = (0usize, 0u64, 0u64);
    let mut distinct = HashSet::new();
    for reader in readers {
        let (host_ok, host_lines, host_bytes, kept) = reader.await?;
        ok += usize::from(host_ok);
        lines += host_lines;
        bytes += host_bytes;
        distinct.insert(kept);
    }
    joiner.join(None).await.ok();
    Ok((ok, lines, bytes, distinct.len()))
}
