//! One host's state within a run: written by the host's task, read through its
//! [`crate::HostOutput`] and by the run's [`crate::Joiner`].

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::command::CommandLine;
use crate::copy::CopyReport;
use crate::error::ErrorKind;
use crate::exec::StdinMessage;
use crate::output::StreamBuffer;
use crate::parallel::Outcome;
use crate::resolve::HostPlan;

/// When a host started, connected and finished.
#[derive(Default)]
pub(crate) struct HostTiming {
    pub(crate) started: OnceLock<Instant>,
    pub(crate) connected: OnceLock<Instant>,
    pub(crate) finished: OnceLock<Instant>,
}

/// How long a host took, as far as it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// From the host's start to an authenticated session.
    pub connect: Option<Duration>,
    /// From the host's start to its outcome (or to now, if still running).
    pub total: Duration,
}

/// One host's shared state: written by its task, read through its [`HostOutput`].
pub(crate) struct HostState {
    /// Position in the run.
    pub(crate) index: usize,
    /// Position in the client's host list: the host's session slot.
    pub(crate) slot: usize,
    pub(crate) label: Arc<str>,
    pub(crate) stdout: Arc<StreamBuffer>,
    pub(crate) stderr: Arc<StreamBuffer>,
    pub(crate) outcome: watch::Sender<Option<Outcome>>,
    /// Set once the host has an authenticated session, or has finished without one.
    pub(crate) reached: watch::Sender<bool>,
    pub(crate) timing: HostTiming,
    /// How to reach the host, or why its settings do not work.
    pub(crate) plan: Result<Arc<HostPlan>, ErrorKind>,
    /// The command line; `None` for an interactive shell.
    pub(crate) command: Option<CommandLine>,
    /// The host's stdin, taken by its task when it starts.
    pub(crate) stdin: Mutex<Option<mpsc::Receiver<StdinMessage>>>,
    /// What a transfer moved.
    pub(crate) copy_report: OnceLock<CopyReport>,
    /// Signalled to stop this host alone ([`crate::HostOutput::cancel`]); a host not yet
    /// started keeps the signal and stops as it starts.
    pub(crate) cancel: tokio::sync::Notify,
}

impl HostState {
    /// Ends both streams, then publishes the outcome: a reader that sees the outcome
    /// can rely on the streams being complete.
    pub(crate) fn finish(&self, outcome: Outcome) {
        let _ = self.timing.finished.set(Instant::now());
        self.stdout.finish();
        self.stderr.finish();
        self.outcome.send_replace(Some(outcome));
        self.reached.send_replace(true);
    }

    pub(crate) fn connected(&self) {
        let _ = self.timing.connected.set(Instant::now());
        self.reached.send_replace(true);
    }

    /// Whether the host got an authenticated session (so far).
    pub(crate) fn was_connected(&self) -> bool {
        self.timing.connected.get().is_some()
    }

    pub(crate) fn is_done(&self) -> bool {
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
