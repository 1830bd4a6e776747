//! From parsed arguments to a configured client and a report: what runs and copies share.
//!
//! [`Connection`] turns the host selection and connection options into a
//! [`ParallelClient`] (local mistakes such as a missing key are reported here, once, before
//! any host is touched); [`Report`] turns the output options into a [`RenderConfig`];
//! [`run_all`] runs each piece of work on that client in turn, reusing its connections.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use sshfan::{
    ClientBuilder, Host, HostKeyPolicy, KeySource, ParallelClient, RunOptions, SshConfigSource,
};

use crate::agent::remote::RemoteFleet;
use crate::args::{ColorChoice, ConnectArgs, HostArgs, HostKeyChecking, ReportArgs};
use crate::exit::{ExitStatus, UsageError};
use crate::fleet::Fleet;
use crate::prompt::ask_secret;
use crate::render::{Layout, RenderConfig, Style};
use crate::runner::{Plan, Work, execute};

/// How this run was asked for: its arguments (kept in its journal, to run it again) and,
/// for a rerun, the only hosts of its selection to run on.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// The arguments after the program name.
    pub argv: Vec<String>,
    /// A rerun's hosts, by label: the selection's other hosts are left out.
    pub only: Option<std::collections::HashSet<String>>,
}

impl Invocation {
    /// This process's own arguments.
    pub fn from_env() -> Invocation {
        Invocation {
            argv: std::env::args_os()
                .skip(1)
                .map(|arg| arg.to_string_lossy().into_owned())
                .collect(),
            only: None,
        }
    }

    /// Whether `--` was given (after it, everything is the remote command).
    pub fn has_dashes(&self) -> bool {
        self.argv.iter().any(|arg| arg == "--")
    }
}

/// Whether a client's connections serve one piece of work or several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// One run: each host's connection may close as soon as the host is done.
    Once,
    /// Several runs (interactive mode, several copies): connections stay open.
    Keep,
}

/// A client built from the arguments, with the run options they imply.
pub struct Connection {
    pub client: Fleet,
    /// `-k` and the like; stdin and sudo are added by the run.
    pub options: RunOptions,
    /// The client's settings without hosts, for a client over other hosts later
    /// (interactive mode's `+HOSTS`) without asking for secrets again (none when the
    /// agent connects).
    template: Option<ClientBuilder>,
}

impl Connection {
    /// Selects the hosts and builds the client (or hands them to the agent, see
    /// [`crate::agent`]). Asks for a password once with `-A`. With `only`, just those of
    /// the selected hosts (a rerun's). `reuse` says whether later work will use the
    /// connections again.
    pub async fn build(
        select: &HostArgs,
        args: &ConnectArgs,
        only: Option<&std::collections::HashSet<String>>,
        reuse: Reuse,
    ) -> anyhow::Result<Connection> {
        let mut hosts = crate::hostlist::select(select, &mut std::io::stdin().lock())?;
        if let Some(only) = only {
            hosts.retain(|host| only.contains(&host.label()));
            if hosts.is_empty() {
                return Err(UsageError(
                    "none of the hosts to run again is selected by the run's arguments any                      more (a host file or group changed?)"
                        .to_owned(),
                )
                .into());
            }
        }
        // Per run, so that the agent's sessions serve any fanout and command timeout.
        let mut options = RunOptions::default()
            .fail_fast(args.fail_fast)
            .pool_size(args.fanout.max(1));
        if let Some(timeout) = args.command_timeout {
            options = options.command_timeout(seconds("--command-timeout", timeout)?);
        }
        if args.wants_agent() {
            match RemoteFleet::reach(args, &hosts).await {
                Ok(remote) => {
                    return Ok(Connection {
                        client: Fleet::Agent(remote),
                        options,
                        template: None,
                    });
                }
                Err(why) => {
                    use std::io::Write;
                    let _ = writeln!(std::io::stderr(), "sshfan: {why}; connecting directly");
                }
            }
        }
        let mut template = client_template(args)?;
        if reuse == Reuse::Once {
            // As many open as run at once: a host's session closes once its work is done
            // and another host needs the room, not at the end of the run (so 100,000 hosts
            // never hold 100,000 connections on the client and servers at once).
            template = template.max_sessions(args.fanout.max(1));
        }
        let client = Fleet::Local(Connection::client(&template, hosts)?);
        Ok(Connection {
            client,
            options,
            template: Some(template),
        })
    }

    /// A client with these settings over other hosts (no session shared, unless the
    /// agent has them).
    pub fn with_hosts(&self, hosts: Vec<Host>) -> anyhow::Result<Fleet> {
        match (&self.client, &self.template) {
            (Fleet::Agent(remote), _) => Ok(Fleet::Agent(remote.with_hosts(&hosts)?)),
            (Fleet::Local(_), Some(template)) => {
                Ok(Fleet::Local(Connection::client(template, hosts)?))
            }
            (Fleet::Local(_), None) => anyhow::bail!("no settings to connect with"),
        }
    }

    fn client(template: &ClientBuilder, hosts: Vec<Host>) -> anyhow::Result<ParallelClient> {
        let builder = hosts
            .into_iter()
            .fold(template.clone(), |builder, host| builder.host(host));
        Ok(builder.build().map_err(|err| UsageError(err.to_string()))?)
    }
}

/// Every setting but the hosts; asks for the password (`-A`) and key passphrases.
pub fn client_template(args: &ConnectArgs) -> anyhow::Result<ClientBuilder> {
    let password = if args.ask_pass {
        Some(ask_secret("Password: ")?)
    } else {
        None
    };
    let mut builder = ParallelClient::builder()
        .pool_size(args.fanout)
        // As many handshakes as hosts in flight (as the Python bindings do), up to 1,000:
        // on a distant fleet a handshake is mostly waiting (6 round trips), and a lower
        // cap made `-f 1000` behind 100 ms take 4.5 s instead of 1.
        .max_handshakes(args.fanout.clamp(1, MAX_HANDSHAKES))
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
    Ok(builder)
}

/// How a run reports: the renderer's settings and where per-host files go.
pub struct Report {
    pub render: RenderConfig,
    pub outdir: Option<PathBuf>,
    pub errdir: Option<PathBuf>,
    pub largest_remote_exit: bool,
    /// Where the run journal goes (none with `--no-journal`).
    pub journal: Option<crate::journal::JournalSetup>,
    /// An outlier gather's normalizer (`-B`).
    pub outliers: Option<std::sync::Arc<sshfan::outliers::Normalizer>>,
}

impl Report {
    /// `layout` for plain output (JSON when `--json` is given).
    pub fn new(args: &ReportArgs, layout: Layout) -> Report {
        let layout = if args.json { Layout::Json } else { layout };
        Report {
            render: RenderConfig {
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
            },
            outdir: None,
            errdir: None,
            largest_remote_exit: false,
            journal: None,
            outliers: None,
        }
    }
}

/// Runs each piece of work in turn on the connection's client (the worst exit status
/// wins), then closes its connections cleanly.
pub async fn run_all(
    connection: Connection,
    works: Vec<(Work, RunOptions)>,
    report: &Report,
) -> anyhow::Result<ExitStatus> {
    let client = connection.client;
    let journal = report.journal.as_ref().and_then(|setup| {
        let labels = client.labels().into();
        match crate::journal::Journal::create(setup, labels) {
            Ok(journal) => Some(std::sync::Arc::new(std::sync::Mutex::new(journal))),
            Err(err) => {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "sshfan: cannot write the run journal in `{}` ({err}); running without \
                     it (--journal DIR puts it elsewhere, --no-journal says not to keep one)",
                    setup.root().display()
                );
                None
            }
        }
    });
    let mut worst = ExitStatus::Success;
    for (work, options) in works {
        let plan = Plan {
            work,
            options,
            outdir: report.outdir.clone(),
            errdir: report.errdir.clone(),
            render: report.render,
            largest_remote_exit: report.largest_remote_exit,
            watch_keys: true,
            journal: journal.clone(),
            outliers: report.outliers.clone(),
        };
        let (status, _) = execute(&client, plan).await?;
        worst = worst.max(status);
        if status == ExitStatus::Interrupted {
            break;
        }
    }
    if !report.render.quiet {
        use std::io::Write;
        for (file, count) in client.added_host_keys() {
            let _ = writeln!(
                std::io::stderr(),
                "sshfan: added {count} host keys to {}",
                file.display()
            );
        }
    }
    // Several pieces of work (cp's sources) reused the connections; say goodbye cleanly.
    client.disconnect().await;
    Ok(worst)
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

/// Handshakes in flight at most, whatever the fanout: each costs CPU while it computes,
/// and ten thousand at once on a small client would time out waiting for it.
const MAX_HANDSHAKES: usize = 1000;

/// Longest line shown whole: longer lines (and lines that never end) are shown in pieces
/// of this size, so a host without newlines costs at most this much per host in flight.
const MAX_LINE: usize = 1 << 20;

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
