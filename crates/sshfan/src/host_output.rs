//! What a caller holds for each host of a run: its output streams, its stdin, its
//! outcome and timings ([`HostOutput`]), and the stream of hosts as they finish
//! ([`Completions`]).

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use crate::command::CommandLine;
use crate::copy::CopyReport;
use crate::error::{Error, ErrorKind};
use crate::exec::StdinMessage;
use crate::host::Host;
use crate::host_state::{HostState, Timing};
use crate::output::OutputReader;
use crate::parallel::Outcome;

/// One host's output streams and outcome.
pub struct HostOutput {
    pub(crate) index: usize,
    pub(crate) label: Arc<str>,
    pub(crate) host: Arc<Host>,
    /// The command's standard output.
    pub stdout: OutputReader,
    /// The command's standard error.
    pub stderr: OutputReader,
    /// The command's standard input.
    pub stdin: HostStdin,
    pub(crate) outcome: watch::Receiver<Option<Outcome>>,
    pub(crate) state: Arc<HostState>,
    /// Keeps the run going while this handle lives (the run is cancelled when its joiner
    /// and every host handle are gone).
    pub(crate) _run: Arc<watch::Sender<bool>>,
}

impl HostOutput {
    /// What a successful transfer moved (uploads and downloads only).
    pub fn copy_report(&self) -> Option<CopyReport> {
        self.state.copy_report.get().copied()
    }

    /// How long the host took so far; `None` until it has started.
    pub fn timing(&self) -> Option<Timing> {
        self.state.timing()
    }

    /// Position of the host in the run (tells apart hosts with the same name).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The host's display name: its alias, or its name.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The host as given.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The command line as sent, after sudo and shell wrapping (parallel-ssh's
    /// `fully_qualified_command`); `None` for shells, copies and connects.
    pub fn command_line(&self) -> Option<&CommandLine> {
        self.state.command.as_ref()
    }

    /// The outcome if the host has finished, without waiting.
    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome.borrow().clone()
    }

    /// The exit code, once the command has exited normally.
    pub fn exit_code(&self) -> Option<u32> {
        match &*self.outcome.borrow() {
            Some(Ok(status)) => status.code(),
            _ => None,
        }
    }

    /// Waits until the host has an authenticated session (its command is then being
    /// started) or has failed without one; returns that connection error.
    ///
    /// For callers that, like parallel-ssh's `run_command`, report connection and
    /// authentication errors before reading output.
    pub async fn wait_connected(&self) -> Result<(), Error> {
        let mut reached = self.state.reached.subscribe();
        let _ = reached.wait_for(|reached| *reached).await;
        if self.state.was_connected() {
            return Ok(());
        }
        match self.outcome() {
            Some(Err(err)) => Err(err),
            _ => Ok(()),
        }
    }

    /// Stops this host alone, as [`Joiner::cancel`](crate::Joiner::cancel) stops a whole
    /// run: its channel is closed (or it never starts) and its outcome is
    /// [`ErrorKind::Cancelled`]; a host that has finished keeps its outcome. As for any
    /// job stopped midway, the host's session is dropped: a later job connects again.
    pub fn cancel(&self) {
        if !self.state.is_done() {
            self.state.cancel.notify_one();
        }
    }

    /// Waits until the host has finished and returns its outcome.
    ///
    /// Output streams are complete once this returns (they may still hold unread data).
    pub async fn wait(&self) -> Outcome {
        let mut outcome = self.outcome.clone();
        let result = outcome.wait_for(Option::is_some).await;
        match result.as_deref() {
            Ok(Some(outcome)) => outcome.clone(),
            // The sender lives in the run's shared state and publishes before it goes.
            _ => Err(Error::new(&*self.label, ErrorKind::Cancelled)),
        }
    }
}

impl std::fmt::Debug for HostOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostOutput")
            .field("index", &self.index)
            .field("label", &self.label)
            .field("outcome", &self.outcome())
            .finish()
    }
}

/// Writes to one host's stdin. Dropping it (with its [`HostOutput`]) closes stdin.
#[derive(Clone)]
pub struct HostStdin {
    pub(crate) sender: mpsc::Sender<StdinMessage>,
}

/// The host's stdin is closed (the command ended, or stdin was closed or broadcast).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stdin is closed")]
pub struct StdinClosed;

impl HostStdin {
    /// Queues `data` for the host's stdin (waits when 16 writes are queued).
    pub async fn write(&self, data: impl Into<Bytes>) -> Result<(), StdinClosed> {
        self.sender
            .send(StdinMessage::Data(data.into()))
            .await
            .map_err(|_| StdinClosed)
    }

    /// Closes the host's stdin (EOF) after what was written.
    pub async fn close(&self) {
        let _ = self.sender.send(StdinMessage::Eof).await;
    }
}

/// Host indexes in the order the hosts finish, for reacting to each as it completes.
pub struct Completions {
    pub(crate) receiver: mpsc::UnboundedReceiver<usize>,
    pub(crate) remaining: usize,
}

impl Completions {
    /// The next host to finish, or `None` when all have.
    pub async fn next(&mut self) -> Option<usize> {
        if self.remaining == 0 {
            return None;
        }
        let index = self.receiver.recv().await?;
        self.remaining -= 1;
        Some(index)
    }
}
