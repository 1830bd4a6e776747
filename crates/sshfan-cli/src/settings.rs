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

/// sshfan's subcommands, which a remote command's first word must not be mistaken for.
const SUBCOMMANDS: [&str; 7] = [
    "cp",
    "get",
    "nodeset",
    "merge",
    "demo",
    "completions",
    "man",
];

/// Runs `args.command` on the selected hosts.
pub async fn run_command(args: RunArgs) -> anyhow::Result<ExitStatus> {
    check_command_words(&args, std::env::args().any(|a| a == "--"))?;
    let command = args.command.join(" ");
    run_work(&args, true, |options| {
        vec![(Work::Command(command), options.clone())]
    })
    .await
}

/// The command line's first word, checked before anything runs: no command; a word that
/// is a misspelt subcommand while no hosts are given (`sshfan nodest -e n1`); a
/// subcommand's name after host options without `--` (`sshfan -w web1 cp a /tmp` could
/// mean either).
fn check_command_words(args: &RunArgs, after_dashes: bool) -> Result<(), UsageError> {
    let Some(first) = args.command.first() else {
        return Err(UsageError(
            "no command given: put it after the options, e.g. `sshfan -w web1 -- uptime`"
                .to_owned(),
        ));
    };
    let no_hosts = args.hosts.is_empty() && args.host_files.is_empty();
    if no_hosts && !after_dashes {
        let hint = SUBCOMMANDS
            .iter()
            .find(|name| edit_distance(name, first) <= 2)
            .map(|name| format!(" (did you mean `{name}`?)"))
            .unwrap_or_default();
        return Err(UsageError(format!(
            "unrecognized subcommand `{first}`{hint}; to run a command, give hosts with -w \
             HOSTS or -h FILE"
        )));
    }
    if SUBCOMMANDS.contains(&first.as_str()) && !after_dashes {
        return Err(UsageError(format!(
            "`{first}` is an sshfan subcommand: write `sshfan {first} -w HOSTS …` for it, or put \
             the remote command after `--` (`sshfan -w HOSTS -- {first} …`)"
        )));
    }
    Ok(())
}

/// Levenshtein distance, for "did you mean" hints.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(previous + 1).min(row[j] + 1);
        }
    }
    row[b.len()]
}

/// `EBADF`: descriptor 0 is not open.
const EBADF: i32 = 9;

/// The bytes every host's command gets on stdin: stdin itself when it is not a terminal
/// (read once, held once for all hosts, as clush does), unless `-n` or the host list
/// came from stdin (`-w -`); nothing otherwise, so remote commands see end-of-file.
fn broadcast_stdin(args: &RunArgs) -> anyhow::Result<bytes::Bytes> {
    use std::io::Read;
    let hosts_from_stdin = args.hosts.iter().any(|h| h == "-");
    if args.no_stdin || hosts_from_stdin || std::io::stdin().is_terminal() {
        return Ok(bytes::Bytes::new());
    }
    let mut data = Vec::new();
    match std::io::stdin().lock().read_to_end(&mut data) {
        Ok(_) => Ok(bytes::Bytes::from(data)),
        // No stdin at all (descriptor 0 closed): nothing to send.
        Err(err) if err.raw_os_error() == Some(EBADF) => Ok(bytes::Bytes::new()),
        Err(err) => Err(anyhow::Error::new(err).context("reading stdin for the remote commands")),
    }
}

/// A `-i` key, checked once before any host is touched: a missing or unreadable file, a
/// wrong passphrase or an unknown format is one usage error (not one per host). An
/// encrypted key without a passphrase is asked for once when it can be (a terminal or
/// `SSHFAN_ASKPASS`), else the error says how to give one.
fn usable_key(path: &std::path::Path, passphrase: Option<&str>) -> anyhow::Result<KeySource> {
    let mut key = KeySource::file(path);
    if let Some(passphrase) = passphrase {
        key = key.with_passphrase(passphrase.to_owned());
    }
    if key.needs_passphrase() {
        let prompt = format!("Enter passphrase for key '{}': ", path.display());
        match ask_secret(&prompt) {
            Ok(asked) => key = KeySource::file(path).with_passphrase(asked),
            Err(_) => {
                return Err(UsageError(format!(
                    "key `{}` is encrypted and there is no terminal to ask for its \
                     passphrase: give it with -A (asked once, or from SSHFAN_ASKPASS), or \
                     load the key into ssh-agent",
                    path.display()
                ))
                .into());
            }
        }
    }
    key.check().map_err(|err| UsageError(err.to_string()))?;
    Ok(key)
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
    if upload {
        // A local mistake is reported once, before any host is touched.
        for source in sources {
            match std::fs::metadata(source) {
                Err(err) => {
                    return Err(UsageError(format!("cannot read `{source}`: {err}")).into());
                }
                Ok(meta) if meta.is_dir() && !copy.recursive => {
                    return Err(
                        UsageError(format!("`{source}` is a directory: copy it with -r")).into(),
                    );
                }
                Ok(_) => {}
            }
        }
    }
    let mut options = CopyOptions::new()
        .recursive(copy.recursive)
        .preserve(copy.preserve);
    if copy.scp {
        options = options.protocol(Protocol::Scp);
    }
    let destination = destination.clone();
    let sources = sources.to_vec();
    run_work(&copy.run, false, move |run_options| {
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
    command_stdin: bool,
    works: impl FnOnce(&RunOptions) -> Vec<(Work, RunOptions)>,
) -> anyhow::Result<ExitStatus> {
    let hosts = crate::hostlist::select(args, &mut std::io::stdin().lock())?;
    let password = if args.ask_pass {
        Some(ask_secret("Password: ")?)
    } else {
        None
    };
    let mut options = RunOptions::default().fail_fast(args.fail_fast);
    if command_stdin {
        options = options.stdin(broadcast_stdin(args)?);
    }
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
    for option in &args.ssh_options {
        builder = builder.ssh_option(option.clone());
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
        builder = builder.key(usable_key(identity, password.as_deref())?);
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
    if !args.quiet {
        use std::io::Write;
        for (file, count) in client.added_host_keys() {
            let _ = writeln!(
                std::io::stderr(),
                "sshfan: added {count} host keys to {}",
                file.display()
            );
        }
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
