//! File-transfer throughput, side by side with OpenSSH in one run.
//!
//! `cargo bench -p sshfan --bench copy` (needs root, `sshd`, `sftp` and `scp`):
//! 1. one 1 GiB file to one host on loopback (a real sshd): sshfan SFTP and SCP against
//!    OpenSSH's `sftp` and `scp` (legacy `-O` and default), wall time and throughput;
//! 2. one 10 MB file to 500 hosts (the in-process fleet on its own runtime thread): total
//!    wall time and the client's own CPU time (the client runtime's threads only, read from
//!    /proc), against CPU per host.
//!
//! `SSHFAN_BENCH_GIB` overrides the size of the big file (default 1).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sshfan::copy::{CopyOptions, Protocol};
use sshfan_testkit::{Fleet, Sshd, SshdOptions};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("client-worker")
        .enable_all()
        .build()
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    println!("copy benchmark ({})", std::env::consts::ARCH);
    runtime.block_on(one_big_file(work.path()));
    fan_out(work.path(), &runtime);
}

fn write_big(path: &Path, bytes: usize) {
    let block = sshfan_testkit::data::pseudo_random(1 << 20);
    let mut file = std::fs::File::create(path).unwrap();
    for _ in 0..bytes >> 20 {
        std::io::Write::write_all(&mut file, &block).unwrap();
    }
}

fn rate(bytes: usize, elapsed: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / elapsed.as_secs_f64()
}

async fn one_big_file(work: &Path) {
    let gib: usize = std::env::var("SSHFAN_BENCH_GIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let size = gib << 30;
    let sshd = match Sshd::start(SshdOptions::default()).await {
        Ok(sshd) => sshd,
        Err(err) => {
            println!("  1 GiB to one host: skipped ({err})");
            return;
        }
    };
    let big = work.join("big.bin");
    write_big(&big, size);
    let key = sshd.client_key_file(None).unwrap();
    let dest = work.join("dest");
    std::fs::create_dir_all(&dest).unwrap();
    let client = sshfan::ParallelClient::builder()
        .hosts([sshd.host_spec()])
        .unwrap()
        .user("root")
        .key_file(&key)
        .known_hosts_files(vec![sshd.known_hosts_path().to_owned()])
        .agent(sshfan::AgentSocket::Off)
        .default_identities(false)
        .ssh_config(sshfan::SshConfigSource::Off)
        .build()
        .unwrap();
    let mut results: Vec<(String, Duration)> = Vec::new();
    for protocol in [Protocol::Sftp, Protocol::Scp] {
        let target = dest.join(format!("sshfan-{protocol:?}.bin"));
        let started = Instant::now();
        let run = client.upload(
            &big,
            &target.display().to_string(),
            CopyOptions::new().protocol(protocol),
        );
        run.join(None).await.unwrap();
        let outcome = run.outputs()[0].outcome().unwrap();
        assert!(outcome.is_ok(), "{outcome:?}");
        results.push((format!("sshfan {protocol:?}"), started.elapsed()));
        std::fs::remove_file(&target).unwrap();
    }
    let ssh_opts = |cmd: &mut Command| {
        cmd.arg("-i")
            .arg(&key)
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                sshd.known_hosts_path().display()
            ))
            .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]);
    };
    let batch = work.join("batch");
    std::fs::write(
        &batch,
        format!(
            "put {} {}\n",
            big.display(),
            dest.join("openssh-sftp.bin").display()
        ),
    )
    .unwrap();
    let mut sftp = Command::new("sftp");
    ssh_opts(&mut sftp);
    sftp.args(["-q", "-P", &sshd.port().to_string(), "-b"])
        .arg(&batch)
        .arg("root@127.0.0.1");
    let started = Instant::now();
    let status = sftp.output().unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    results.push(("OpenSSH sftp".to_owned(), started.elapsed()));
    for (label, legacy) in [
        ("OpenSSH scp -O (legacy)", true),
        ("OpenSSH scp (SFTP)", false),
    ] {
        let mut scp = Command::new("scp");
        ssh_opts(&mut scp);
        if legacy {
            scp.arg("-O");
        }
        scp.args(["-q", "-P", &sshd.port().to_string()])
            .arg(&big)
            .arg(format!(
                "root@127.0.0.1:{}",
                dest.join("openssh-scp.bin").display()
            ));
        let started = Instant::now();
        let status = scp.output().unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        results.push((label.to_owned(), started.elapsed()));
    }
    let best_openssh = results
        .iter()
        .filter(|(name, _)| name.starts_with("OpenSSH"))
        .map(|(_, t)| rate(size, *t))
        .fold(0.0, f64::max);
    println!("  {gib} GiB to one host over loopback (real sshd), same run:");
    for (name, elapsed) in &results {
        println!(
            "    {name:<26} {:>6.2} s  {:>7.1} MiB/s  ({:>5.1}% of the best OpenSSH)",
            elapsed.as_secs_f64(),
            rate(size, *elapsed),
            100.0 * rate(size, *elapsed) / best_openssh
        );
    }
}

/// CPU seconds (user + system) of this process's threads whose name starts with `prefix`.
fn thread_cpu(prefix: &str) -> f64 {
    let ticks = 100.0; // USER_HZ on Linux
    let mut total = 0.0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.trim().starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let utime: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        let stime: f64 = fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        total += (utime + stime) / ticks;
    }
    total
}

fn fan_out(work: &Path, client_runtime: &tokio::runtime::Runtime) {
    const HOSTS: usize = 500;
    let file = work.join("ten.bin");
    write_big(&file, 10 << 20);
    // The fleet on its own runtime and threads, so the client's CPU can be told apart.
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("fleet-server")
        .enable_all()
        .build()
        .unwrap();
    let fleet = server_runtime.block_on(Fleet::start(HOSTS)).unwrap();
    let client = fleet.client().pool_size(HOSTS).build().unwrap();
    let cpu_before = thread_cpu("client-worker");
    let started = Instant::now();
    let ok = client_runtime.block_on(async {
        let run = client.upload(&file, "dest/ten.bin", CopyOptions::new());
        run.join(None).await.unwrap();
        run.outputs()
            .iter()
            .filter(|h| matches!(h.outcome(), Some(Ok(_))))
            .count()
    });
    let wall = started.elapsed();
    let cpu = thread_cpu("client-worker") - cpu_before;
    println!("  10 MB to {HOSTS} hosts (in-process fleet on its own threads), SFTP:");
    println!(
        "    {ok}/{HOSTS} ok, {:.2} s wall, {:.0} MiB/s aggregate, client CPU {:.2} s ({:.1} ms per host)",
        wall.as_secs_f64(),
        rate(HOSTS * (10 << 20), wall),
        cpu,
        cpu * 1000.0 / HOSTS as f64
    );
    drop(fleet);
    server_runtime.shutdown_background();
}
