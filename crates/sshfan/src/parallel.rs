//! The parallel client: one command over many hosts, a handle per host.
//!
//! [`ParallelClient::run`] returns at once. One dispatcher task starts hosts as pool
//! permits free up, so a run of 100,000 hosts holds at most `pool_size` host tasks and
//! sessions at a time; hosts not yet started cost only their handle. Each host's task
//! connects, runs the command, streams output into the host's buffers and publishes its
//! outcome. A failure is that host's outcome, never the run's.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;

use futures::FutureExt;
use tokio::sync::{Semaphore, mpsc, watch};
use tracing::debug;

use crate::config::{ClientBuilder, ClientConfig};
use crate::connect::Connector;
use crate::copy::{CopyOptions, CopyReport, LocalTree, Transfer};
use crate::error::{ConfigError, Error, ErrorKind};
use crate::exec::{ChannelSetup, Sinks, StdinMessage, run_command};
use crate::host::Host;
use crate::host_output::{Completions, HostOutput, HostStdin, StdinClosed};
use crate::limits::raise_open_file_limit;
use crate::output::{ExitStatus, OutputReader, StreamBuffer};
use crate::prepare::Prepared;
use crate::resolve::HostPlan;
use crate::run_options::RunOptions;
use crate::sessions::SessionPool;

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
    /// client's life (see [`crate::sessions`]).
    prepared: OnceLock<Arc<Prepared>>,
}

impl ParallelClient {
    /// Starts building a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    pub(crate) fn new(hosts: Vec<Host>, config: ClientConfig) -> Self {
        raise_open_file_limit();
        ParallelClient {
            hosts: hosts.into_iter().map(Arc::new).collect(),
            config,
            prepared: OnceLock::new(),
        }
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
    /// connection). Later jobs connect again.
    pub async fn disconnect(&self) {
        if let Some(prepared) = self.prepared.get() {
            prepared.sessions.disconnect().await;
        }
    }

    /// SSH connections this client holds open now.
    pub fn open_sessions(&self) -> usize {
        self.prepared
            .get()
            .map_or(0, |prepared| prepared.sessions.open_sessions())
    }

    /// The hosts, in run order.
    pub fn hosts(&self) -> impl ExactSizeIterator<Item = &Host> {
        self.hosts.iter().map(|host| &**host)
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Starts `command` on every host and returns at once with one handle per host.
    ///
    /// Keys are loaded and decrypted here, once for the whole run, and known_hosts is
    /// read once. Must be called from within a Tokio runtime.
    pub fn run(&self, command: impl Into<String>) -> Run {
        self.run_with(command, RunOptions::default())
    }

    /// [`run`](Self::run) with options: stdin, PTY, environment, sudo, shell, …
    pub fn run_with(&self, command: impl Into<String>, options: RunOptions) -> Run {
        let command: Arc<str> = Arc::from(options.wrap(&command.into()));
        self.start(|_| Some(command.clone()), options)
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
        if host_args.len() != self.hosts.len() {
            return Err(ConfigError::InvalidSetting {
                name: "host_args",
                reason: format!(
                    "{} argument sets for {} hosts: give one per host",
                    host_args.len(),
                    self.hosts.len()
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
        commands: &[String],
        options: RunOptions,
    ) -> Result<Run, ConfigError> {
        if commands.len() != self.hosts.len() {
            return Err(ConfigError::InvalidSetting {
                name: "commands",
                reason: format!(
                    "{} commands for {} hosts: give one per host",
                    commands.len(),
                    self.hosts.len()
                ),
            });
        }
        let commands: Vec<Arc<str>> = commands
            .iter()
            .map(|command| Arc::from(options.wrap(command)))
            .collect();
        Ok(self.start(|index| commands.get(index).cloned(), options))
    }

    /// Connects to and authenticates with every host, then disconnects (parallel-ssh's
    /// `connect_auth`): the sessions are kept for later jobs; each host's outcome is exit
    /// status 0 or its connection error.
    pub fn connect_auth(&self) -> Run {
        let options = RunOptions {
            connect_only: true,
            ..Default::default()
        };
        self.start(|_| None, options)
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
        let options = RunOptions {
            transfer: Some(Arc::new(transfer)),
            ..Default::default()
        };
        self.start(|_| None, options)
    }

    /// Opens an interactive shell on every host (parallel-ssh's `open_shell`): write
    /// commands with [`Run::run_shell_commands`], then [`Run::join_shells`] closes stdin,
    /// which ends the shells, and waits; output and exit codes are read as for commands.
    pub fn open_shells(&self, options: RunOptions) -> Run {
        self.start(|_| None, options)
    }

    /// Starts one run; `command(index)` is the host's command line, `None` for a shell.
    fn start(&self, command: impl Fn(usize) -> Option<Arc<str>>, options: RunOptions) -> Run {
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
            transfer: options.transfer.clone(),
            moved: crate::copy::Moved::new(0),
            setup: ChannelSetup {
                pty: options.pty,
                env: options.env.clone(),
                sudo_password: options.sudo_password(),
                stdin: options.stdin.clone(),
                forward_agent: false,
            },
            completed,
            fail_fast: options.fail_fast,
            connect_only: options.connect_only,
            stop: stop.clone(),
            connector: prepared.connector.clone(),
            sessions: prepared.sessions.clone(),
            command_timeout: options.command_timeout.or(config.command_timeout),
        });
        let mut plans = prepared.plans.iter().cloned();

        let mut outputs = Vec::with_capacity(self.hosts.len());
        let mut states = Vec::with_capacity(self.hosts.len());
        let line_reader = |buffer: &Arc<StreamBuffer>| {
            let mut reader = OutputReader::new(buffer.clone(), options.read_timeout);
            reader.set_max_line(config.max_line_length);
            reader
        };
        for (index, host) in self.hosts.iter().enumerate() {
            let (stdin, stdin_receiver) = mpsc::channel(STDIN_QUEUE);
            let state = Arc::new(HostState {
                index,
                command: command(index),
                stdin: Mutex::new(Some(stdin_receiver)),
                copy_report: OnceLock::new(),
                label: host.label(),
                stdout: Arc::new(StreamBuffer::new(config.output_buffer_limit)),
                stderr: Arc::new(StreamBuffer::new(config.output_buffer_limit)),
                outcome: watch::channel(None).0,
                reached: watch::channel(false).0,
                timing: HostTiming::default(),
                plan: plans.next().unwrap_or(Err(ErrorKind::Cancelled)),
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
        let pool = Arc::new(Semaphore::new(config.pool_size));
        let context_for_joiner = context.clone();
        tokio::spawn(dispatch(context, states.clone(), pool, cancelled, stopped));
        Run {
            outputs,
            completions: Some(Completions {
                receiver: completions,
                remaining: self.hosts.len(),
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

/// When a host started, connected and finished.
#[derive(Default)]
pub(crate) struct HostTiming {
    started: OnceLock<Instant>,
    connected: OnceLock<Instant>,
    finished: OnceLock<Instant>,
}

/// How long a host took, as far as it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// From the host's start to an authenticated session.
    pub connect: Option<Duration>,
    /// From the host's start to its outcome (or to now, if still running).
    pub total: Duration,
}

/// What one run context holds for every host task.
struct RunContext {
    /// A file transfer instead of a command (`Err`: the local side failed for every host).
    transfer: Option<Arc<Result<Transfer, ErrorKind>>>,
    /// Bytes moved so far by transfers, all hosts together.
    moved: crate::copy::Moved,
    setup: ChannelSetup,
    /// Host indexes, sent as hosts finish.
    completed: mpsc::UnboundedSender<usize>,
    fail_fast: bool,
    /// Connect and authenticate, then disconnect (no command).
    connect_only: bool,
    stop: Arc<watch::Sender<bool>>,
    connector: Arc<Connector>,
    sessions: Arc<SessionPool>,
    command_timeout: Option<Duration>,
}

/// One host's shared state: written by its task, read through its [`HostOutput`].
pub(crate) struct HostState {
    pub(crate) index: usize,
    pub(crate) label: String,
    pub(crate) stdout: Arc<StreamBuffer>,
    pub(crate) stderr: Arc<StreamBuffer>,
    pub(crate) outcome: watch::Sender<Option<Outcome>>,
    /// Set once the host has an authenticated session, or has finished without one.
    pub(crate) reached: watch::Sender<bool>,
    pub(crate) timing: HostTiming,
    /// How to reach the host, or why its settings do not work.
    pub(crate) plan: Result<HostPlan, ErrorKind>,
    /// The command line; `None` for an interactive shell.
    pub(crate) command: Option<Arc<str>>,
    /// The host's stdin, taken by its task when it starts.
    pub(crate) stdin: Mutex<Option<mpsc::Receiver<StdinMessage>>>,
    /// What a transfer moved.
    pub(crate) copy_report: OnceLock<CopyReport>,
}

impl HostState {
    /// Ends both streams, then publishes the outcome: a reader that sees the outcome
    /// can rely on the streams being complete.
    fn finish(&self, outcome: Outcome) {
        let _ = self.timing.finished.set(Instant::now());
        self.stdout.finish();
        self.stderr.finish();
        self.outcome.send_replace(Some(outcome));
        self.reached.send_replace(true);
    }

    fn connected(&self) {
        let _ = self.timing.connected.set(Instant::now());
        self.reached.send_replace(true);
    }

    /// Whether the host got an authenticated session (so far).
    pub(crate) fn was_connected(&self) -> bool {
        self.timing.connected.get().is_some()
    }

    fn is_done(&self) -> bool {
        self.outcome.borrow().is_some()
    }

    pub(crate) fn timing(&self) -> Option<Timing> {
        let started = *self.timing.started.get()?;
        let end = self
            .timing
            .finished
            .get()
            .copied()
            .unwrap_or_else(Instant::now);
        Some(Timing {
            connect: self.timing.connected.get().map(|at| *at - started),
            total: end - started,
        })
    }
}

async fn dispatch(
    context: Arc<RunContext>,
    states: Vec<Arc<HostState>>,
    pool: Arc<Semaphore>,
    mut cancelled: watch::Receiver<bool>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut hosts = states.into_iter();
    while let Some(state) = hosts.next() {
        let permit = tokio::select! {
            permit = pool.clone().acquire_owned() => permit.ok(),
            _ = cancelled.wait_for(|c| *c) => None,
            _ = stopped.wait_for(|s| *s) => None,
        };
        // A failing host under fail-fast stops the run before it frees its permit.
        let permit = permit.filter(|_| !*stopped.borrow() && !*cancelled.borrow());
        let Some(permit) = permit else {
            // Cancelled or stopped: every host not yet started ends here.
            for state in std::iter::once(state).chain(hosts) {
                state.finish(Err(Error::new(state.label.clone(), ErrorKind::Cancelled)));
                let _ = context.completed.send(state.index);
            }
            return;
        };
        let _ = state.timing.started.set(Instant::now());
        let context = context.clone();
        let mut cancelled = cancelled.clone();
        tokio::spawn(async move {
            // A panic in one host's work (a bug, or a peer that found one) becomes that
            // host's error: the other hosts, and the run, go on.
            let driven = std::panic::AssertUnwindSafe(drive_host(&context, &state)).catch_unwind();
            let outcome = tokio::select! {
                outcome = driven => outcome.unwrap_or_else(|panic| Err(ErrorKind::Internal {
                    message: panic_message(panic.as_ref()),
                })),
                _ = cancelled.wait_for(|c| *c) => Err(ErrorKind::Cancelled),
            };
            let failed = !matches!(outcome, Ok(ref status) if status.success());
            state.finish(outcome.map_err(|kind| Error::new(state.label.clone(), kind)));
            let _ = context.completed.send(state.index);
            if failed && context.fail_fast {
                context.stop.send_replace(true);
            }
            drop(permit);
        });
    }
}

/// The text a panic carried.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned());
    format!("this host's task panicked ({text}); please report it")
}

async fn drive_host(context: &RunContext, state: &HostState) -> Result<ExitStatus, ErrorKind> {
    let plan = state.plan.as_ref().map_err(Clone::clone)?;
    // A local failure (missing file) fails every host before it connects.
    let transfer = context
        .transfer
        .as_ref()
        .map(|transfer| transfer.as_ref().as_ref().map_err(Clone::clone))
        .transpose()?;
    let lease = context
        .sessions
        .lease(state.index, plan, &context.connector)
        .await?;
    state.connected();
    debug!(host = %state.label, "connected");
    let session = &lease.session;
    let result = if let Some(transfer) = transfer {
        crate::copy::transfer_within(
            &session.handle,
            &session.notes,
            transfer,
            &state.label,
            &context.moved,
            context.command_timeout,
        )
        .await
        .map(|report| {
            let _ = state.copy_report.set(report);
            ExitStatus::Code(0)
        })
    } else if context.connect_only {
        Ok(ExitStatus::Code(0))
    } else {
        let sinks = Sinks {
            stdout: state.stdout.clone(),
            stderr: state.stderr.clone(),
        };
        let setup = ChannelSetup {
            forward_agent: plan.forward_agent,
            ..context.setup.clone()
        };
        let stdin = state
            .stdin
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        run_command(
            &session.handle,
            &session.notes,
            state.command.as_deref(),
            &setup,
            stdin,
            &sinks,
            context.command_timeout,
        )
        .await
    };
    // The session stays for the next job unless its connection is gone.
    let lost = matches!(result, Err(ErrorKind::ConnectionLost { .. }));
    lease.finish(!lost);
    result
}

/// A running command over many hosts.
pub struct Run {
    outputs: Vec<HostOutput>,
    completions: Option<Completions>,
    joiner: Joiner,
}

impl Run {
    /// The per-host handles, in host order.
    pub fn outputs(&self) -> &[HostOutput] {
        &self.outputs
    }

    /// The per-host handles, mutably (reading output needs `&mut`).
    pub fn outputs_mut(&mut self) -> &mut [HostOutput] {
        &mut self.outputs
    }

    /// Splits the run into its handles and a [`Joiner`], so that handles can move to
    /// other tasks while the joiner still waits for all of them.
    pub fn into_parts(self) -> (Vec<HostOutput>, Joiner) {
        (self.outputs, self.joiner)
    }

    /// Waits for every host; see [`Joiner::join`].
    pub async fn join(&self, timeout: Option<Duration>) -> Result<(), JoinTimeout> {
        self.joiner.join(timeout).await
    }

    /// Stops the run; see [`Joiner::cancel`].
    pub fn cancel(&self) {
        self.joiner.cancel();
    }

    /// Host indexes as hosts finish (once per host, in completion order), without
    /// polling. Available once per run.
    pub fn completions(&mut self) -> Option<Completions> {
        self.completions.take()
    }

    /// Writes each command, newline-terminated, to every host's stdin (for
    /// [`ParallelClient::open_shells`]).
    pub async fn run_shell_commands<S: AsRef<str>>(
        &self,
        commands: &[S],
    ) -> Result<(), StdinClosed> {
        let mut text = String::new();
        for command in commands {
            text.push_str(command.as_ref());
            text.push('\n');
        }
        let data = Bytes::from(text);
        for host in &self.outputs {
            host.stdin.write(data.clone()).await?;
        }
        Ok(())
    }

    /// Closes every host's stdin, which ends their shells, and waits for all (see [`join`](Self::join)).
    pub async fn join_shells(&self, timeout: Option<Duration>) -> Result<(), JoinTimeout> {
        for host in &self.outputs {
            host.stdin.close().await;
        }
        self.join(timeout).await
    }

    /// The run's [`Joiner`].
    pub fn joiner(&self) -> &Joiner {
        &self.joiner
    }
}

/// Waits for or cancels every host of a run.
#[derive(Clone)]
pub struct Joiner {
    context: Arc<RunContext>,
    states: Vec<Arc<HostState>>,
    cancel: Arc<watch::Sender<bool>>,
    stop: Arc<watch::Sender<bool>>,
}

/// How far a run has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Hosts not started yet.
    pub pending: usize,
    /// Hosts connecting or running.
    pub running: usize,
    /// Hosts finished with exit status 0.
    pub succeeded: usize,
    /// Hosts finished otherwise (non-zero status, signal, error, cancelled).
    pub failed: usize,
    /// Bytes of file content moved so far (uploads and downloads).
    pub bytes: u64,
}

impl Joiner {
    /// Waits until every host has finished, or until `timeout` passes.
    ///
    /// Joining keeps all output: buffers stop applying flow control, so that the
    /// parallel-ssh pattern (join, then read) works for any output size. On timeout the
    /// hosts keep running, their output stays readable, and the error lists which hosts
    /// finished and which did not.
    pub async fn join(&self, timeout: Option<Duration>) -> Result<(), JoinTimeout> {
        for state in &self.states {
            state.stdout.unlimit();
            state.stderr.unlimit();
        }
        let all = async {
            for state in &self.states {
                let mut outcome = state.outcome.subscribe();
                let _ = outcome.wait_for(Option::is_some).await;
            }
        };
        let Some(limit) = timeout else {
            all.await;
            return Ok(());
        };
        if tokio::time::timeout(limit, all).await.is_ok() {
            return Ok(());
        }
        let (finished, unfinished): (Vec<&Arc<HostState>>, Vec<&Arc<HostState>>) =
            self.states.iter().partition(|state| state.is_done());
        let describe = |states: Vec<&Arc<HostState>>| {
            states
                .into_iter()
                .map(|state| (state.index, state.label.clone()))
                .collect()
        };
        Err(JoinTimeout {
            timeout: limit,
            finished: describe(finished),
            unfinished: describe(unfinished),
        })
    }

    /// Stops the run: hosts not yet started and hosts still running end with
    /// [`ErrorKind::Cancelled`]; output received so far stays readable.
    pub fn cancel(&self) {
        self.cancel.send_replace(true);
    }

    /// Starts no more hosts (they end with [`ErrorKind::Cancelled`]); hosts already
    /// running finish normally. For fail-fast runs.
    pub fn stop_pending(&self) {
        self.stop.send_replace(true);
    }

    /// Jump-host connections made so far (one per bastion, however many targets use it).
    pub fn jump_connections(&self) -> usize {
        self.context.connector.jumps.connections()
    }

    /// Counts hosts by state (a scan of every host: call it a few times a second, not per line).
    pub fn progress(&self) -> Progress {
        let mut progress = Progress {
            bytes: self
                .context
                .moved
                .load(std::sync::atomic::Ordering::Relaxed),
            ..Progress::default()
        };
        for state in &self.states {
            match &*state.outcome.borrow() {
                Some(Ok(status)) if status.success() => progress.succeeded += 1,
                Some(_) => progress.failed += 1,
                None if state.timing.started.get().is_some() => progress.running += 1,
                None => progress.pending += 1,
            }
        }
        progress
    }
}

/// A join that ran out of time, with the hosts that finished and those that did not.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} of {} hosts still running after {timeout:?}", unfinished.len(), finished.len() + unfinished.len())]
pub struct JoinTimeout {
    /// The join's time limit.
    pub timeout: Duration,
    /// `(index, label)` of hosts that finished.
    pub finished: Vec<(usize, String)>,
    /// `(index, label)` of hosts still running.
    pub unfinished: Vec<(usize, String)>,
}
