//! `sshfan-fleet`: serve a fleet of virtual SSH hosts on loopback until interrupted.
//!
//! Prints one `127.0.0.1:PORT` per line on stdout (ready to use as a host file), then the
//! paths of the known_hosts file and client key on stderr, and serves until Ctrl-C.

use anyhow::Context;
use clap::Parser;
use std::io::Write;

/// Serve N virtual SSH hosts on loopback for benchmarks and demos.
#[derive(Parser)]
struct Args {
    /// Number of hosts.
    #[arg(long, default_value_t = 100)]
    hosts: usize,
    /// Run commands with a real `sh -c` instead of the built-in interpreter.
    #[arg(long)]
    real_shell: bool,
    /// Write the host list to this file as well as stdout.
    #[arg(long)]
    hosts_file: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    sshfan::raise_open_file_limit();
    let fleet = sshfan_testkit::Fleet::builder(args.hosts)
        .real_shell(args.real_shell)
        .start()
        .await
        .context("starting the fleet")?;
    let list = fleet.host_specs().join("\n") + "\n";
    if let Some(path) = &args.hosts_file {
        std::fs::write(path, &list).with_context(|| format!("writing {}", path.display()))?;
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(list.as_bytes())?;
    stdout.flush()?;
    drop(stdout);
    let mut stderr = std::io::stderr().lock();
    writeln!(
        stderr,
        "fleet: {} hosts, user `{}`, password `{}`\nfleet: known_hosts {}\nfleet: client key {}",
        fleet.len(),
        sshfan_testkit::FLEET_USER,
        sshfan_testkit::FLEET_PASSWORD,
        fleet.known_hosts_path().display(),
        fleet.client_key_path().display(),
    )?;
    drop(stderr);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
