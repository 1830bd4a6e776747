//! Running a job over a run's hosts.
//!
//! One dispatcher task starts hosts as pool permits free up, so a run of 100,000 hosts
//! holds at most `pool_size` host tasks at a time; hosts not yet started cost only their
//! handle. Each host's task leases its session from the client's
//! [`SessionPool`](crate::sessions) (connecting it if needed), does the [`Job`]'s work
//! on it, and publishes its outcome. A failure (or a panic) is that host's outcome,
//! never the run's.

use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio::sync::{Semaphore, mpsc, watch};
use tracing::debug;

use crate::connect::Connector;
use crate::copy::Transfer;
use crate::error::{Error, ErrorKind};
use crate::exec::{ChannelSetup, Sinks};
use crate::host_state::HostState;
use crate::output::ExitStatus;
use crate::sessions::SessionPool;

/// What a job does on each host.
pub(crate) enum Job {
    /// Run the host's command line (kept in its state).
    Command,
    /// Open an interactive shell fed from the host's stdin.
    Shell,
    /// Move files (`Err`: the local side failed, for every host alike).
    Transfer(Arc<Result<Transfer, ErrorKind>>),
    /// Connect and authenticate only; the session stays for later jobs.
    Connect,
}

/// What one run holds for every host task.
pub(crate) struct RunContext {
    pub job: Job,
    /// Bytes moved so far by transfers, all hosts together.
    pub moved: crate::copy::Moved,
    pub setup: ChannelSetup,
    /// Host indexes, sent as hosts finish.
    pub completed: mpsc::UnboundedSender<usize>,
    pub fail_fast: bool,
    pub stop: Arc<watch::Sender<bool>>,
    pub connector: Arc<Connector>,
    pub sessions: Arc<SessionPool>,
    pub command_timeout: Option<Duration>,
}

pub(crate) async fn dispatch(
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
                () = state.cancel.notified() => Err(ErrorKind::Cancelled),
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
    if let Job::Transfer(transfer) = &context.job {
        transfer.as_ref().as_ref().map_err(Clone::clone)?;
    }
    let lease = context
        .sessions
        .lease(state.slot, plan, &context.connector)
        .await?;
    state.connected();
    debug!(host = %state.label, "connected");
    let session = &lease.session;
    let result = match &context.job {
        Job::Transfer(transfer) => match transfer.as_ref() {
            Ok(transfer) => session
                .transfer(
                    transfer,
                    &state.label,
                    &context.moved,
                    context.command_timeout,
                )
                .await
                .map(|report| {
                    let _ = state.copy_report.set(report);
                    ExitStatus::Code(0)
                }),
            Err(err) => Err(err.clone()),
        },
        Job::Connect => Ok(ExitStatus::Code(0)),
        Job::Command | Job::Shell => {
            let sinks = Sinks {
                stdout: state.stdout.clone(),
                stderr: state.stderr.clone(),
            };
            let setup = ChannelSetup {
                forward_agent: plan.forward_agent,
                start_timeout: Some(plan.connect_timeout),
                ..context.setup.clone()
            };
            let stdin = state
                .stdin
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            session
                .exec(
                    state.command.as_ref(),
                    &setup,
                    stdin,
                    &sinks,
                    context.command_timeout,
                )
                .await
        }
    };
    // The session stays for the next job unless its connection is gone.
    let lost = matches!(result, Err(ErrorKind::ConnectionLost { .. }));
    lease.finish(!lost);
    result
}
