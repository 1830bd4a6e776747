//! The parallel client: jobs (commands, shells, copies, connects) over many hosts, a
//! handle per host.
//!
//! [`ParallelClient::run`] and friends return at once with a [`Run`]: the data path is
//! host list → [`prepare`](crate::prepare) (plans, credentials, known_hosts, once per
//! client) → [`scheduler`](crate::scheduler) (dispatch and per-host driving) →
//! [`sessions`](crate::sessions) (one connection per host, kept between jobs) → output
//! events into each host's [`HostOutput`].

use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::{Semaphore, mpsc, watch};

use crate::command::CommandLine;
use crate::config::{ClientBuilder, ClientConfig};
use crate::copy::{CopyOptions, LocalTree, Transfer};
use crate::error::{ConfigError, Error, ErrorKind};
use crate::exec::ChannelSetup;
use crate::host::Host;
use crate::host_output::{Completions, HostOutput, HostStdin};
use crate::host_state::{HostState, HostTiming};
use crate::limits::raise_open_file_limit;
use crate::output::{ExitStatus, OutputReader, StreamBuffer};
use crate::prepare::Prepared;
use crate::run_options::RunOptions;
use crate::scheduler::{Job, RolloutState, RunContext, dispatch};

pub use crate::host_state::Timing;
pub use crate::run::{JoinTimeout, Joiner, Progress, Run};

/// How one host's command ended: its exit status, or why it could not run.
pub type Outcome = Result<ExitStatus, Error>;

/// Runs commands on many hosts at once.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use sshfan::ParallelClient;
///
/// let client = ParallelClient::builder().hosts(["web1", "web2"])?.build()?;
/// let mut run = client.run("uname -r");
/// run.join(None).await?;
/// for host in run.outputs_mut() {
///     for line in host.stdout.lines_lossy().await {
///         println!("{}: {line}", host.label());
///     }
///     println!("{}: {:?}", host.label(), host.outcome());
/// }
/// # Ok(()) }
/// ```
pub struct ParallelClient {
    hosts: Vec<Arc<Host>>,
    config: ClientConfig,
    /// Plans, credentials, known_hosts and sessions: made by the first job, kept for the
    /// client's life (see [`crate::sessions`]), and shared with [`only`](Self::only)'s
    /// clients.
    prepared: Arc<OnceLock<Arc<Prepared>>>,
    /// The hosts this client's jobs run on, in run order (all of them, unless made by
    /// [`only`](Self::only)).
    selection: Arc<[Selected]>,
}

/// One host a client's jobs run on: its session slot (its position among all the
/// hosts sharing the sessions), the host, and its label (made once, shared by every
/// run's handles).
#[derive(Clone)]
struct Selected {
    slot: usize,
    host: Arc<Host>,
    label: Arc<str>,
}

impl ParallelClient {
    /// Starts building a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    pub(crate) fn new(hosts: Vec<Host>, config: ClientConfig) -> Self {
        raise_open_file_limit();
        let hosts: Vec<Arc<Host>> = hosts.into_iter().map(Arc::new).collect();
        ParallelClient {
            selection: (hosts.iter().enumerate())
                .map(|(slot, host)| Selected {
                    slot,
                    host: host.clone(),
                    label: host.label().into(),
                })
                .collect(),
            hosts,
            config,
            prepared: Arc::new(OnceLock::new()),
        }
    }

    /// A client for some of these hosts (positions in [`hosts`](Self::hosts)), sharing
    /// this client's settings, credentials and sessions: its jobs use the connections
    /// this client made, and the other way round (a per-host client, as parallel-ssh's
    /// `HostOutput.client` is). A position out of range is an error.
    pub fn only(&self, hosts: &[usize]) -> Result<ParallelClient, ConfigError> {
        let selection = hosts
            .iter()
            .map(|&position| {
                self.selection
                    .get(position)
                    .cloned()
                    .ok_or(ConfigError::InvalidSetting {
                        name: "hosts",
                        reason: format!(
                            "host position {position} is out of range ({} hosts)",
                            self.selection.len()
                        ),
                    })
            })
            .collect::<Result<Arc<[Selected]>, ConfigError>>()?;
        Ok(ParallelClient {
            hosts: self.hosts.clone(),
            config: self.config.clone(),
            prepared: self.prepared.clone(),
            selection,
        })
    }

    /// What every job of this client shares, made once.
    fn prepared(&self) -> Arc<Prepared> {
        self.prepared
            .get_or_init(|| Arc::new(Prepared::new(&self.hosts, &self.config)))
            .clone()
    }

    /// Connects and authenticates every host and keeps the sessions for later jobs
    /// (parallel-ssh's `connect_auth`); each host's outcome is exit status 0 or its
    /// connection error. Hosts already connected are not connected again.
    pub fn connect(&self) -> Run {
        self.connect_auth()
    }

    /// Closes every host's session cleanly (jobs still running on them lose their
    /// connection). Later jobs connect again. A client made by [`only`](Self::only)
    /// closes its own hosts' sessions.
    pub async fn disconnect(&self) {
        if let Some(prepared) = self.prepared.get() {
            let slots: Vec<usize> = self
                .selection
                .iter()
                .map(|selected| selected.slot)
                .collect();
            prepared.sessions.disconnect(&slots).await;
        }
    }

    /// Host keys recorded under the accept-new policy so far, per known_hosts file.
    pub fn added_host_keys(&self) -> Vec<(std::path::PathBuf, usize)> {
        let Some(prepared) = self.prepared.get() else {
            return Vec::new();
        };
        prepared
            .connector
            .known_hosts
            .values()
            .filter_map(|known| known.added())
            .filter(|(_, count)| *count > 0)
            .collect()
    }

    /// SSH connections this client holds open now (with the clients [`only`](Self::only)
    /// made from it, or that it was made from).
    pub fn open_sessions(&self) -> usize {
        self.prepared
            .get()
            .map_or(0, |prepared| prepared.sessions.open_sessions())
    }

    /// The hosts, in run order.
    pub fn hosts(&self) -> impl ExactSizeIterator<Item = &Host> {
        self.selection.iter().map(|selected| &*selected.host)
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Starts `command` on every host and returns at once with one handle per host.
    ///
    /// Keys are loaded and decrypted here, once for the whole run, and known_hosts is
    /// read once. Must be called from within a Tokio runtime.
    pub fn run(&self, command: impl Into<CommandLine>) -> Run {
        self.run_with(command, RunOptions::default())
    }

    /// [`run`](Self::run) with options: stdin, PTY, environment, sudo, shell, …
    pub fn run_with(&self, command: impl Into<CommandLine>, options: RunOptions) -> Run {
        let command = options.wrap(&command.into());
        self.start(Job::Command, |_| Some(command.clone()), options)
    }

    /// Runs a command template with one argument set per host (parallel-ssh's
    /// `host_args`): each `%s` takes the host's next argument (see
    /// [`command::substitute`](crate::command::substitute)). A count mismatch, or a
    /// template that does not fit an argument set, is an error before anything runs.
    pub fn run_host_args(
        &self,
        template: &str,
        host_args: &[Vec<String>],
        options: RunOptions,
    ) -> Result<Run, ConfigError> {
        if host_args.len() != self.selection.len() {
            return Err(ConfigError::InvalidSetting {
                name: "host_args",
                reason: format!(
                    "{} argument sets for {} hosts: give one per host",
                    host_args.len(),
                    self.selection.len()
                ),
            });
        }
        let commands = host_args
            .iter()
            .map(|args| crate::command::substitute(template, args))
            .collect::<Result<Vec<String>, ConfigError>>()?;
        self.run_commands(&commands, options)
    }

    /// Runs one command line per host, in host order (for callers that build each host's
    /// command themselves). A count mismatch is an error before anything runs.
    pub fn run_commands(
        &self,
        commands: impl IntoIterator<Item = impl Into<CommandLine>>,
        options: RunOptions,
    ) -> Result<Run, ConfigError> {
        let commands: Vec<CommandLine> = commands
            .into_iter()
            .map(|command| options.wrap(&command.into()))
            .collect();
        if commands.len() != self.selection.len() {
            return Err(ConfigError::InvalidSetting {
                name: "commands",
                reason: format!(
                    "{} commands for {} hosts: give one per host",
                    commands.len(),
                    self.selection.len()
                ),
            });
        }
        Ok(self.start(Job::Command, |index| commands.get(index).cloned(), options))
    }

    /// Connects to and authenticates with every host (parallel-ssh's `connect_auth`):
    /// the sessions are kept for later jobs; each host's outcome is exit status 0 or its
    /// connection error.
    pub fn connect_auth(&self) -> Run {
        self.start(Job::Connect, |_| None, RunOptions::default())
    }

    /// Uploads a local file (or, with `recursive`, a directory tree) to `remote` on every
    /// host (parallel-ssh's `copy_file`, or `scp_send` with [`Protocol::Scp`](crate::copy::Protocol)).
    /// The local files are read once for all hosts; each host's result is its outcome,
    /// with [`HostOutput::copy_report`] on success.
    pub fn upload(
        &self,
        local: impl AsRef<std::path::Path>,
        remote: &str,
        options: CopyOptions,
    ) -> Run {
        let transfer = match LocalTree::read(local.as_ref(), options.recursive) {
            Ok(tree) => Ok(Transfer::Upload {
                tree: Arc::new(tree),
                remote: remote.to_owned(),
                options,
            }),
            Err(err) => Err(err),
        };
        self.start_transfer(transfer)
    }

    /// Downloads `remote` (a file, or with `recursive` a directory) from every host to a
    /// local path per host: `<local>_<host>` by default (parallel-ssh's `copy_remote_file`,
    /// or `scp_recv` with SCP).
    pub fn download(
        &self,
        remote: &str,
        local: impl AsRef<std::path::Path>,
        options: CopyOptions,
    ) -> Run {
        self.start_transfer(Ok(Transfer::Download {
            remote: remote.to_owned(),
            local: local.as_ref().to_owned(),
            options,
        }))
    }

    fn start_transfer(&self, transfer: Result<Transfer, ErrorKind>) -> Run {
        let job = Job::Transfer(Arc::new(transfer));
        self.start(job, |_| None, RunOptions::default())
    }

    /// Opens an interactive shell on every host (parallel-ssh's `open_shell`): write
    /// commands with [`Run::run_shell_commands`], then [`Run::join_shells`] closes stdin,
    /// which ends the shells, and waits; output and exit codes are read as for commands.
    pub fn open_shells(&self, options: RunOptions) -> Run {
        self.start(Job::Shell, |_| None, options)
    }

    /// Starts one run of `job`; `command(index)` is the host's command line (for
    /// [`Job::Command`]).
    fn start(
        &self,
        job: Job,
        command: impl Fn(usize) -> Option<CommandLine>,
        options: RunOptions,
    ) -> Run {
        let config = &self.config;
        let prepared = self.prepared();
        let (cancel, cancelled) = watch::channel(false);
        // Held by the joiner and by every host's handle: the run is cancelled when the
        // last of them is dropped, not before.
        let cancel = Arc::new(cancel);
        let (stop, stopped) = watch::channel(false);
        let stop = Arc::new(stop);
        let (completed, completions) = mpsc::unbounded_channel();
        let context = Arc::new(RunContext {
            job,
            moved: crate::copy::Moved::new(0),
            setup: ChannelSetup {
                pty: options.pty,
                env: options.env.clone(),
                sudo_password: options.sudo_password(),
                stdin: options.stdin.clone(),
                forward_agent: false,
                start_timeout: None,
            },
            completed,
            fail_fast: options.fail_fast,
            stop: stop.clone(),
            connector: prepared.connector.clone(),
            sessions: prepared.sessions.clone(),
            command_timeout: options.command_timeout.or(config.command_timeout),
            rollout: options
                .rollout
                .clone()
                .map(|rollout| RolloutState::new(rollout, self.selection.len())),
        });
        let mut outputs = Vec::with_capacity(self.selection.len());
        let mut states = Vec::with_capacity(self.selection.len());
        let line_reader = |buffer: &Arc<StreamBuffer>| {
            let mut reader = OutputReader::new(buffer.clone(), options.read_timeout);
            reader.set_max_line(config.max_line_length);
            reader
        };
        for (index, Selected { slot, host, label }) in self.selection.iter().enumerate() {
            let slot = *slot;
            let (stdin, stdin_receiver) = mpsc::channel(STDIN_QUEUE);
            let state = Arc::new(HostState {
                index,
                slot,
                command: command(index),
                stdin: Mutex::new(Some(stdin_receiver)),
                copy_report: OnceLock::new(),
                cancel: tokio::sync::Notify::new(),
                label: label.clone(),
                stdout: Arc::new(StreamBuffer::new(config.output_buffer_limit)),
                stderr: Arc::new(StreamBuffer::new(config.output_buffer_limit)),
                outcome: watch::channel(None).0,
                reached: watch::channel(false).0,
                timing: HostTiming::default(),
                plan: prepared
                    .plans
                    .get(slot)
                    .cloned()
                    .unwrap_or(Err(ErrorKind::Cancelled)),
            });
            outputs.push(HostOutput {
                index,
                label: state.label.clone(),
                host: host.clone(),
                stdout: line_reader(&state.stdout),
                stderr: line_reader(&state.stderr),
                stdin: HostStdin { sender: stdin },
                outcome: state.outcome.subscribe(),
                state: state.clone(),
                _run: cancel.clone(),
            });
            states.push(state);
        }
        let pool = Arc::new(Semaphore::new(
            options.pool_size.unwrap_or(config.pool_size).max(1),
        ));
        let context_for_joiner = context.clone();
        tokio::spawn(dispatch(context, states.clone(), pool, cancelled, stopped));
        Run {
            outputs,
            completions: Some(Completions {
                receiver: completions,
                remaining: self.selection.len(),
            }),
            joiner: Joiner {
                context: context_for_joiner,
                states,
                cancel,
                stop,
            },
        }
    }
}

/// Messages queued per host stdin before [`HostStdin::write`] waits.
const STDIN_QUEUE: usize = 16;
