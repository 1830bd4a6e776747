//! `sshfan-relay`: put a slow link in front of many SSH hosts, for latency benchmarks.
//!
//! Reads `ADDRESS:PORT` targets (one per line), listens on one loopback address per
//! target (`127.6.0.1`, `127.6.0.2`, … and one port for all, as pdsh and clush need), and
//! relays each connection with `--delay-ms` added each way (see `sshfan_testkit::Link`).
//! Writes the relayed host list to `--hosts-out`, then `ready` beside it, and serves
//! until killed.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use sshfan_testkit::{DelayRelay, Link};

#[derive(Parser)]
struct Args {
    /// The hosts to relay to, `ADDRESS:PORT` per line.
    #[arg(long)]
    targets: PathBuf,
    /// Milliseconds added each way (the round trip is twice this).
    #[arg(long, default_value_t = 50)]
    delay_ms: u64,
    /// Hold each new connection for one round trip, as TCP's handshake would.
    #[arg(long)]
    charge_connect: bool,
    /// Where to write the relayed hosts (`ready` is written beside it once serving).
    #[arg(long)]
    hosts_out: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    sshfan::raise_open_file_limit();
    let targets: Vec<SocketAddr> = std::fs::read_to_string(&args.targets)?
        .split_whitespace()
        .map(|line| line.parse().with_context(|| format!("a target `{line}`")))
        .collect::<anyhow::Result<_>>()?;
    let link = Link {
        delay: Duration::from_millis(args.delay_ms),
        charge_connect: args.charge_connect,
    };
    let mut port = 0;
    let mut relays = Vec::with_capacity(targets.len());
    let mut listed = String::new();
    for (i, target) in targets.iter().enumerate() {
        let octets = u8::try_from(i / 250).context("at most 62,500 targets")?;
        let last = u8::try_from(1 + i % 250).context("address")?;
        let address = SocketAddr::from((Ipv4Addr::new(127, 6, octets, last), port));
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("listening on {address}"))?;
        port = listener.local_addr()?.port();
        let relay = DelayRelay::serve(listener, *target, link)?;
        listed.push_str(&format!("{}\n", relay.addr()));
        relays.push(relay);
    }
    std::fs::write(&args.hosts_out, listed)?;
    let ready = args.hosts_out.with_file_name("ready");
    std::fs::File::create(ready)?.flush()?;
    std::future::pending::<()>().await;
    Ok(())
}
