//! `sshfan demo`: the whole product on one machine, with no hosts of your own.
//!
//! Starts an in-process fleet of SSH servers on loopback (real TCP, real SSH, real host-key
//! checks against the fleet's known_hosts), runs a command across it with the same code
//! path as a normal run, and prints a few hosts' output and the summary.

use std::io::Write;

use anyhow::Context;
use sshfan::Host;
use sshfan_testkit::{Bind, Fleet};

/// Most hosts served over TCP by `--transport auto`: each needs a listening socket and a
/// connection in this process, within its descriptor limit.
const TCP_HOSTS: usize = 15_000;

use crate::args::{ColorChoice, DemoArgs, DemoTransport};
use crate::exit::ExitStatus;
use crate::render::{Layout, RenderConfig, Style};
use crate::runner::{Plan, Work, execute};
use crate::settings::show_progress;

pub async fn demo(args: DemoArgs) -> anyhow::Result<ExitStatus> {
    sshfan::raise_open_file_limit();
    let started = std::time::Instant::now();
    let in_memory = match args.transport {
        DemoTransport::Tcp => false,
        DemoTransport::Memory => true,
        DemoTransport::Auto => args.hosts > TCP_HOSTS,
    };
    // TCP: one port on many loopback addresses (binding 10,000 ports of their own makes
    // the kernel search its ephemeral range for each, quadratic); in memory: no sockets.
    let bind = match in_memory {
        true => Bind::Memory,
        false => Bind::Addresses,
    };
    // The hosts list curve25519 first, as OpenSSH 6.5 to 8.9 and Dropbear do (russh's
    // default is ML-KEM, as OpenSSH 9.9+): they take sshfan's key exchange guess.
    let fleet = Fleet::builder(args.hosts)
        .bind(bind)
        .kex_first(russh::kex::CURVE25519)
        .start()
        .await
        .with_context(|| format!("starting a fleet of {} hosts on loopback", args.hosts))?;
    let builder = match in_memory {
        true => fleet.memory_client(),
        false => {
            let mut builder = fleet.client_settings().key_file(fleet.client_key_path());
            for (index, spec) in fleet.host_specs().iter().enumerate() {
                builder = builder.host(Host::parse(spec)?.with_alias(fleet.host_name(index)));
            }
            builder
        }
    };
    // One run: a host's session may close once it is done, so the fleet's listeners, its
    // accepted connections and the client's sessions (all in this one process) stay well
    // under the descriptor limit.
    let client = builder
        .pool_size(args.fanout)
        .max_sessions(args.fanout)
        .build()
        .context("building the client")?;
    let place = match (fleet.addrs().first(), fleet.addrs().last()) {
        (Some(first), Some(last)) if first != last => {
            format!("on {}-{}, port {}", first.ip(), last.ip(), first.port())
        }
        (Some(first), _) => format!("on {first}"),
        _ => "in memory (no sockets: more hosts than one process has descriptors for)".to_owned(),
    };
    writeln!(
        std::io::stderr().lock(),
        "sshfan demo: {} SSH servers {place} (started in {:.2} s); running `{}` with fanout {}",
        fleet.len(),
        started.elapsed().as_secs_f64(),
        args.command,
        args.fanout
    )?;
    let plan = Plan {
        work: Work::Command(args.command.clone()),
        options: sshfan::RunOptions::default(),
        outdir: None,
        errdir: None,
        render: RenderConfig {
            layout: Layout::Stream {
                prefix: true,
                limit: Some(args.show),
            },
            style: Style::choose(ColorChoice::Auto),
            progress: show_progress(ColorChoice::Auto),
            quiet: false,
            summary_always: true,
            escape: crate::render::Escape::for_terminals(false),
        },
        largest_remote_exit: false,
        watch_keys: true,
        journal: None,
        outliers: None,
    };
    let run_started = std::time::Instant::now();
    let client = crate::fleet::Fleet::Local(client);
    let (status, summary) = execute(&client, plan).await?;
    let elapsed = run_started.elapsed().as_secs_f64();
    writeln!(
        std::io::stderr().lock(),
        "sshfan demo: output of {} hosts shown; {:.0} hosts/s",
        args.show.min(summary.hosts),
        summary.hosts as f64 / elapsed.max(1e-9)
    )?;
    Ok(status)
}
