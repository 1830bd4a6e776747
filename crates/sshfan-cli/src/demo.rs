//! `sshfan demo`: the whole product on one machine, with no hosts of your own.
//!
//! Starts an in-process fleet of SSH servers on loopback (real TCP, real SSH, real host-key
//! checks against the fleet's known_hosts), runs a command across it with the same code
//! path as a normal run, and prints a few hosts' output and a summary.

use anyhow::Context;
use sshfan::Host;
use sshfan_testkit::Fleet;

use crate::args::DemoArgs;
use crate::exit::ExitStatus;
use crate::printer::{Message, Printer};
use crate::stream::{Show, run};

pub async fn demo(args: DemoArgs) -> anyhow::Result<ExitStatus> {
    sshfan::raise_open_file_limit();
    let printer = Printer::start();
    let say = |text: String| Message::Stderr(text.into_bytes());
    let started = std::time::Instant::now();
    let fleet = Fleet::start(args.hosts)
        .await
        .with_context(|| format!("starting a fleet of {} hosts on loopback", args.hosts))?;
    let mut builder = fleet.client_settings().key_file(fleet.client_key_path());
    for (index, spec) in fleet.host_specs().iter().enumerate() {
        builder = builder.host(Host::parse(spec)?.with_alias(fleet.host_name(index)));
    }
    let client = builder
        .pool_size(args.fanout)
        .build()
        .context("building the client")?;
    let sender = printer.sender();
    sender
        .send(say(format!(
            "sshfan demo: {} SSH servers on 127.0.0.1 (started in {:.2} s); running `{}` with fanout {}\n",
            fleet.len(),
            started.elapsed().as_secs_f64(),
            args.command,
            args.fanout
        )))
        .await?;
    let summary = run(&client, &args.command, Show::First(args.show), &printer).await;
    if args.show < summary.hosts {
        sender
            .send(say(format!(
                "… output of {} more hosts not shown\n",
                summary.hosts - args.show
            )))
            .await?;
    }
    sender
        .send(say(format!(
            "{} hosts: {} ok, {} failed remotely, {} errors in {:.2} s ({:.0} hosts/s)\n",
            summary.hosts,
            summary.ok,
            summary.remote_failures,
            summary.errors,
            summary.elapsed.as_secs_f64(),
            summary.hosts as f64 / summary.elapsed.as_secs_f64().max(1e-9)
        )))
        .await?;
    drop(sender);
    printer.finish()?;
    Ok(summary.status)
}
