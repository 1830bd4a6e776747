//! From parsed arguments to a configured client and a run.

use std::time::Duration;

use anyhow::{Context, bail};
use sshfan::{HostKeyPolicy, ParallelClient};

use crate::args::{HostKeyChecking, RunArgs};
use crate::exit::ExitStatus;
use crate::printer::Printer;
use crate::stream::{Show, run};

/// Builds the client from `args` and streams the command's output.
pub async fn run_command(args: RunArgs) -> anyhow::Result<ExitStatus> {
    if args.hosts.is_empty() {
        bail!("no hosts given: use -w HOST[,HOST…]");
    }
    if args.command.is_empty() {
        bail!("no command given: put it after the options, e.g. `sshfan -w web1 -- uptime`");
    }
    let client = build_client(&args)?;
    let printer = Printer::start();
    let summary = run(
        &client,
        &args.command.join(" "),
        Show::All {
            prefix: !args.no_prefix,
        },
        &printer,
    )
    .await;
    printer.finish().context("writing output")?;
    Ok(summary.status)
}

fn build_client(args: &RunArgs) -> anyhow::Result<ParallelClient> {
    let specs = args
        .hosts
        .iter()
        .flat_map(|list| list.split(','))
        .map(str::trim)
        .filter(|spec| !spec.is_empty());
    let mut builder = ParallelClient::builder()
        .hosts(specs)?
        .port(args.port)
        .pool_size(args.fanout)
        .connect_timeout(seconds("--connect-timeout", args.connect_timeout)?)
        .retries(args.retries, Duration::from_secs(1))
        .host_key_policy(match args.host_key_checking {
            HostKeyChecking::Yes => HostKeyPolicy::Strict,
            HostKeyChecking::AcceptNew => HostKeyPolicy::AcceptNew,
            HostKeyChecking::No => HostKeyPolicy::Off,
        });
    if let Some(user) = &args.user {
        builder = builder.user(user);
    }
    for identity in &args.identities {
        builder = builder.key_file(identity);
    }
    if let Some(timeout) = args.command_timeout {
        builder = builder.command_timeout(seconds("--command-timeout", timeout)?);
    }
    if !args.known_hosts.is_empty() {
        builder = builder.known_hosts_files(args.known_hosts.clone());
    }
    Ok(builder.build()?)
}

fn seconds(flag: &str, value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("{flag} takes a positive number of seconds, not {value}"))
}
