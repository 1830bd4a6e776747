//! A run in progress: its per-host handles ([`Run`]), waiting for and cancelling its
//! hosts ([`Joiner`]), how far it got ([`Progress`]), and a join that ran out of time
//! ([`JoinTimeout`]).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

use crate::host_output::{Completions, HostOutput, StdinClosed};
use crate::host_state::HostState;
use crate::scheduler::RunContext;

/// A running command over many hosts.
pub struct Run {
    pub(crate) outputs: Vec<HostOutput>,
    pub(crate) completions: Option<Completions>,
    pub(crate) joiner: Joiner,
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
    pub(crate) context: Arc<RunContext>,
    pub(crate) states: Vec<Arc<HostState>>,
    pub(crate) cancel: Arc<watch::Sender<bool>>,
    pub(crate) stop: Arc<watch::Sender<bool>>,
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
                .map(|state| (state.index, state.label.to_string()))
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

    /// Hosts connecting or running now, as `(index, label)` (what clush prints when
    /// asked mid-run). A scan of every host.
    pub fn running(&self) -> Vec<(usize, String)> {
        self.states
            .iter()
            .filter(|state| state.timing.started.get().is_some() && !state.is_done())
            .map(|state| (state.index, state.label.to_string()))
            .collect()
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
