//! From parsed arguments to a configured client, a plan, and a run.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use sshfan::copy::{CopyOptions, DownloadLayout, Protocol};
use sshfan::{HostKeyPolicy, KeySource, ParallelClient, RunOptions, SshConfigSource};

use crate::args::{ColorChoice, CopyArgs, HostKeyChecking, RunArgs};
use crate::exit::{ExitStatus, UsageError};
use crate::prompt::ask_secret;
use crate::render::{Layout, RenderConfig, Style};
use crate::runner::{Plan, Work, execute};

/// Runs `args.command` on the selected hosts.
pub async fn run_command(args: RunArgs) -> anyhow::Result<ExitStatus> {
    if args.command.is_empty() {
        return Err(UsageError(
            "no command given: put it after the options, e.g. `sshfan -w web1 -- uptime`"
                .to_owned(),
        )
        .into());
    }
    let command = args.command.join(" ");
    run_work(&args, |options| {
        vec![(Work::Command(command), options.clone())]
    })
    .await
}

/// Longest line shown whole: longer lines (and lines that never end) are shown in pieces
/// of this size, so a host without newlines costs at most this much per host in flight.
const MAX_LINE: usize = 1 << 20;

/// `sshfan cp` / `sshfan get`: one run per source, the worst exit status wins.
pub async fn run_copy(copy: CopyArgs, upload: bool) -> anyhow::Result<ExitStatus> {
    let Some((destination, sources)) = copy.run.command.split_last() else {
        return Err(
            UsageError("give the sources, then the destination directory".to_owned()).into(),
        );
    };
    if sources.is_empty() {
        return Err(UsageError(
            "give at least one source before the destination directory".to_owned(),
        )
        .into());
    }
    let mut options = CopyOptions::new()
        .recursive(copy.recursive)
        .preserve(copy.preserve);
    if copy.scp {
        options = options.protocol(Protocol::Scp);
    }
    let destination = destination.clone();
    let sources = sources.to_vec();
    run_work(&copy.run, move |run_options| {
        sources
            .iter()
            .map(|source| {
                let work = if upload {
                    let name = std::path::Path::new(source.trim_end_matches('/'))
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| source.clone());
                    Work::Upload {
                        local: source.into(),
                        remote: format!("{}/{name}", destination.trim_end_matches('/')),
                        options: options.clone(),
                    }
                } else {
                    Work::Download {
                        remote: source.clone(),
                        // A remote path without a base name (`/`) gets a safe one.
                        local: std::path::Path::new(&destination)
                            .join(sshfan::copy::remote_base_name(source)),
                        options: options
                            .clone()
                            .layout(DownloadLayout::Suffix(".".to_owned())),
                    }
                };
                (work, run_options.clone())
            })
            .collect()
    })
    .await
}

/// Builds the client from `args` and runs each piece of work in turn.
async fn run_work(
    args: &RunArgs,
    works: impl FnOnce(&RunOptions) -> Vec<(Work, RunOptions)>,
) -> anyhow::Result<ExitStatus> {
    let hosts = crate::hostlist::select(args, &mut std::io::stdin().lock())?;
    let password = if args.ask_pass {
        Some(ask_secret("Password: ")?)
    } else {
        None
    };
    let mut options = RunOptions::default().fail_fast(args.fail_fast);
    if args.sudo {
        let sudo_password = ask_secret("[sudo] password: ")?;
        options = options.sudo(None, Some(&sudo_password));
    }

    let mut builder = ParallelClient::builder()
        .pool_size(args.fanout)
        .max_line_length(MAX_LINE)
        .retries(args.retries, Duration::from_secs(1));
    if let Some(port) = args.port {
        builder = builder.port(port);
    }
    if let Some(timeout) = args.connect_timeout {
        builder = builder.connect_timeout(seconds("--connect-timeout", timeout)?);
    }
    if let Some(checking) = args.host_key_checking {
        builder = builder.host_key_policy(match checking {
            HostKeyChecking::Yes => HostKeyPolicy::Strict,
            HostKeyChecking::AcceptNew => HostKeyPolicy::AcceptNew,
            HostKeyChecking::No => HostKeyPolicy::Off,
        });
    }
    match &args.ssh_config {
        Some(path) if path.as_os_str() == "none" => {
            builder = builder.ssh_config(SshConfigSource::Off)
        }
        Some(path) => {
            if !path.exists() {
                return Err(UsageError(format!(
                    "ssh_config file `{}` does not exist",
                    path.display()
                ))
                .into());
            }
            builder = builder.ssh_config(SshConfigSource::File(path.clone()));
        }
        None => {}
    }
    if let Some(jump) = &args.jump {
        builder = builder.proxy_jump(jump);
    }
    if let Some(command) = &args.proxy_command {
        builder = builder.proxy_command(command);
    }
    if args.compress {
        builder = builder.compression(true);
    }
    if args.forward_agent {
        builder = builder.forward_agent(true);
    }
    if args.pq_kex {
        builder = builder.post_quantum_kex(true);
    }
    for host in hosts {
        builder = builder.host(host);
    }
    if let Some(user) = &args.user {
        builder = builder.user(user);
    }
    for identity in &args.identities {
        let mut key = KeySource::file(identity);
        if let Some(password) = &password {
            key = key.with_passphrase(password.clone());
        }
        builder = builder.key(key);
    }
    if let Some(password) = password {
        builder = builder.password(password);
    }
    if let Some(timeout) = args.command_timeout {
        builder = builder.command_timeout(seconds("--command-timeout", timeout)?);
    }
    if !args.known_hosts.is_empty() {
        builder = builder.known_hosts_files(args.known_hosts.clone());
    }
    let client = builder.build().map_err(|err| UsageError(err.to_string()))?;

    let layout = if args.json {
        Layout::Json
    } else if args.gather {
        Layout::Gather
    } else {
        Layout::Stream {
            prefix: !args.no_prefix,
            limit: None,
        }
    };
    let render = RenderConfig {
        layout,
        style: if args.json {
            Style::plain()
        } else {
            Style::choose(args.color)
        },
        progress: !args.json && show_progress(args.progress),
        quiet: args.quiet,
        summary_always: args.summary,
        escape: crate::render::Escape::for_terminals(args.raw),
    };
    let mut worst = ExitStatus::Success;
    for (work, options) in works(&options) {
        let plan = Plan {
            work,
            options,
            outdir: args.outdir.clone(),
            errdir: args.errdir.clone(),
            render,
            largest_remote_exit: args.max_exit,
        };
        let (status, _) = execute(&client, plan).await?;
        worst = worst.max(status);
    }
    // Each source of `cp` reused the connections; say goodbye to the servers cleanly.
    client.disconnect().await;
    Ok(worst)
}

/// Progress on stderr: when asked, or automatically when stderr is a terminal.
pub fn show_progress(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => std::io::stderr().is_terminal(),
    }
}

fn seconds(flag: &str, value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("{flag} takes a positive number of seconds, not {value}"))
        .map_err(|err| UsageError(format!("{err:#}")).into())
}
