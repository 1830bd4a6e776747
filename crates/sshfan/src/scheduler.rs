//! Running a job over a run's hosts.
//!
//! One dispatcher task starts hosts as pool permits free up, so a run of 100,000 hosts
//! holds at most `pool_size` host tasks at a time; hosts not yet started cost only their
//! handle. Each host's task leases its session from the client's
//! [`SessionPool`](crate::sessions) (connecting it if needed), does the [`Job`]'s work
//! on it, and publishes its outcome. A failure (or a panic) is that host's outcome,
//! never the run's.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
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
use crate::rollout::{Rollout, WaveReport};
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
    /// Waves, a failure budget and a gate, when the run is a rollout.
    pub rollout: Option<RolloutState>,
}

pub(crate) async fn dispatch(
    context: Arc<RunContext>,
    states: Vec<Arc<HostState>>,
    pool: Arc<Semaphore>,
    mut cancelled: watch::Receiver<bool>,
    mut stopped: watch::Receiver<bool>,
) {
    let total = states.len();
    let plan = match &context.rollout {
        Some(rollout) => rollout.rollout.plan(total),
        None => vec![total],
    };
    let waves = plan.len();
    let spread = context
        .rollout
        .as_ref()
        .and_then(|r| r.rollout.spread.as_deref());
    let states = match spread {
        Some(groups) => {
            let mut slots: Vec<Option<Arc<HostState>>> = states.into_iter().map(Some).collect();
            crate::rollout::spread_order(groups, total)
                .into_iter()
                .filter_map(|index| slots.get_mut(index).and_then(Option::take))
                .collect()
        }
        None => states,
    };
    let mut hosts = states.into_iter();
    let mut failed_before = 0;
    for (number, size) in plan.into_iter().enumerate() {
        let wave: Vec<Arc<HostState>> = hosts.by_ref().take(size).collect();
        let started = start_wave(&context, &wave, &pool, &mut cancelled, &mut stopped).await;
        let Some(rollout) = context.rollout.as_ref().filter(|_| started) else {
            end_unstarted(&context, hosts);
            return;
        };
        if number + 1 == waves {
            return;
        }
        // The next wave starts only when this one has finished.
        for state in &wave {
            let mut outcome = state.outcome.subscribe();
            tokio::select! {
                _ = outcome.wait_for(Option::is_some) => {}
                _ = cancelled.wait_for(|c| *c) => {}
            }
        }
        if *cancelled.borrow() || *stopped.borrow() {
            end_unstarted(&context, hosts);
            return;
        }
        let failed_so_far = rollout.failures.load(Ordering::Acquire);
        if let Some(gate) = &rollout.rollout.gate {
            let failed = failed_so_far - failed_before;
            let report = WaveReport {
                wave: number + 1,
                waves,
                hosts: wave.iter().map(|state| state.index).collect(),
                succeeded: wave.len() - failed,
                failed,
                failed_so_far,
                total,
            };
            let gate = gate.clone();
            let go_on = tokio::task::spawn_blocking(move || gate(&report))
                .await
                .unwrap_or(false);
            if !go_on {
                context.halt(format!(
                    "the wave gate halted the rollout after wave {} of {waves}",
                    number + 1
                ));
                end_unstarted(&context, hosts);
                return;
            }
        }
        failed_before = failed_so_far;
        if let Some(pause) = rollout.rollout.pause {
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = cancelled.wait_for(|c| *c) => {}
            }
        }
    }
}

/// Hosts started in a row before the dispatcher yields to the runtime (tokio's own
/// budget per task poll is 128 operations).
const START_BATCH: usize = 128;

/// Starts a wave's hosts as pool permits free up; `false` when the run was cancelled or
/// stopped first (the wave's hosts not started then end at once).
async fn start_wave(
    context: &Arc<RunContext>,
    wave: &[Arc<HostState>],
    pool: &Arc<Semaphore>,
    cancelled: &mut watch::Receiver<bool>,
    stopped: &mut watch::Receiver<bool>,
) -> bool {
    let mut hosts = wave.iter();
    while let Some(state) = hosts.next() {
        // Starting a large pool's hosts in a row still lets the runtime run other tasks
        // now and then (a waiting acquire below yields by itself).
        let taken = wave.len() - hosts.len();
        if taken.is_multiple_of(START_BATCH) {
            tokio::task::yield_now().await;
        }
        // A free permit is taken at once (most hosts of a run within the pool size); only
        // a full pool waits, watching for a cancel or a stop meanwhile.
        let permit = match pool.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => tokio::select! {
                permit = pool.clone().acquire_owned() => permit.ok(),
                _ = cancelled.wait_for(|c| *c) => None,
                _ = stopped.wait_for(|s| *s) => None,
            },
        };
        // A failing host under fail-fast stops the run before it frees its permit.
        let permit = permit.filter(|_| !*stopped.borrow() && !*cancelled.borrow());
        let Some(permit) = permit else {
            end_unstarted(context, std::iter::once(state).chain(hosts).cloned());
            return false;
        };
        let _ = state.timing.started.set(Instant::now());
        let context = context.clone();
        let state = state.clone();
        let mut cancelled = cancelled.clone();
        let aborted = context.aborted();
        tokio::spawn(async move {
            // A panic in one host's work (a bug, or a peer that found one) becomes that
            // host's error: the other hosts, and the run, go on.
            let (stop, stopping) = watch::channel(false);
            let driven =
                std::panic::AssertUnwindSafe(drive_host(&context, &state, stopping)).catch_unwind();
            tokio::pin!(driven);
            let cancel = async {
                tokio::select! {
                    _ = cancelled.wait_for(|c| *c) => {}
                    () = state.cancel.notified() => {}
                    true = aborted => {}
                }
            };
            // Biased: the host's work is polled first (it is what wakes the task, nearly
            // always), and no random start is drawn per poll.
            let outcome = tokio::select! {
                biased;
                outcome = &mut driven => outcome,
                () = cancel => {
                    // A running command's channel is closed, its session kept; whatever
                    // does not stop within the grace period is dropped (its session with it).
                    stop.send_replace(true);
                    let _ = tokio::time::timeout(CANCEL_GRACE, &mut driven).await;
                    Ok(Err(ErrorKind::Cancelled))
                }
            };
            let outcome = outcome.unwrap_or_else(|panic| {
                Err(ErrorKind::Internal {
                    message: panic_message(panic.as_ref()),
                })
            });
            let failed = !matches!(outcome, Ok(ref status) if status.success());
            let counts = !matches!(outcome, Err(ErrorKind::Cancelled));
            state.finish(outcome.map_err(|kind| Error::new(&*state.label, kind)));
            let _ = context.completed.send(state.index);
            if failed && counts {
                context.count_failure();
            }
            if failed && context.fail_fast {
                context.stop.send_replace(true);
            }
            drop(permit);
        });
    }
    true
}

/// Hosts that never started: cancelled, or not run when a rollout halted.
fn end_unstarted(context: &RunContext, hosts: impl Iterator<Item = Arc<HostState>>) {
    let halted = context.rollout.as_ref().and_then(|rollout| {
        rollout
            .halted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    });
    for state in hosts {
        let kind = match &halted {
            Some(reason) => ErrorKind::NotRun {
                reason: reason.clone(),
            },
            None => ErrorKind::Cancelled,
        };
        state.finish(Err(Error::new(&*state.label, kind)));
        let _ = context.completed.send(state.index);
    }
}

/// A rollout's state in a run.
pub(crate) struct RolloutState {
    pub rollout: Rollout,
    /// Failed hosts tolerated.
    pub allowed: Option<usize>,
    /// Hosts failed so far (cancelled ones do not count).
    pub failures: AtomicUsize,
    /// Why the rollout halted, once it has.
    pub halted: Mutex<Option<String>>,
    /// Set with `abort_running` once halted: running hosts are cancelled.
    pub abort: watch::Sender<bool>,
}

impl RolloutState {
    pub(crate) fn new(rollout: Rollout, hosts: usize) -> RolloutState {
        RolloutState {
            allowed: rollout.allowed_failures(hosts),
            rollout,
            failures: AtomicUsize::new(0),
            halted: Mutex::new(None),
            abort: watch::channel(false).0,
        }
    }
}

impl RunContext {
    /// Counts a failed host; past the rollout's budget, halts it.
    fn count_failure(&self) {
        let Some(rollout) = &self.rollout else {
            return;
        };
        let failed = rollout.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if let Some(allowed) = rollout.allowed
            && failed > allowed
        {
            self.halt(format!(
                "the failure budget was exceeded ({failed} hosts failed, at most {allowed} allowed)"
            ));
        }
    }

    /// Stops starting hosts; the first reason given is the one reported.
    fn halt(&self, reason: String) {
        if let Some(rollout) = &self.rollout {
            rollout
                .halted
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert(reason);
            if rollout.rollout.abort_running {
                rollout.abort.send_replace(true);
            }
        }
        self.stop.send_replace(true);
    }

    /// Completes (with `true`) when a halted rollout cancels its running hosts; never
    /// for a run without a rollout.
    fn aborted(&self) -> impl std::future::Future<Output = bool> + Send + 'static {
        let abort = self
            .rollout
            .as_ref()
            .map(|rollout| rollout.abort.subscribe());
        async move {
            match abort {
                Some(mut abort) => abort.wait_for(|a| *a).await.is_ok(),
                None => std::future::pending().await,
            }
        }
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

/// How long a cancelled host's work may take to close its channel cleanly (keeping its
/// session) before it is dropped.
const CANCEL_GRACE: Duration = Duration::from_secs(2);

async fn drive_host(
    context: &RunContext,
    state: &HostState,
    mut stop: watch::Receiver<bool>,
) -> Result<ExitStatus, ErrorKind> {
    let plan = state.plan.as_ref().map_err(Clone::clone)?;
    // A local failure (missing file) fails every host before it connects.
    if let Job::Transfer(transfer) = &context.job {
        transfer.as_ref().as_ref().map_err(Clone::clone)?;
    }
    // Cancelled while connecting: the half-made connection is dropped.
    let lease = tokio::select! {
        biased;
        lease = context.sessions.lease(state.slot, plan, &context.connector) => lease?,
        _ = stop.wait_for(|stop| *stop) => return Err(ErrorKind::Cancelled),
    };
    state.connected();
    debug!(host = %state.label, "connected");
    let mut lease = lease;
    let result = match &context.job {
        Job::Transfer(transfer) => match transfer.as_ref() {
            Ok(transfer) => {
                let moving = lease.transfer(
                    transfer,
                    &state.label,
                    &context.moved,
                    context.command_timeout,
                );
                tokio::select! {
                    moved = moving => moved,
                    // No clean stop midway: the transfer is dropped, its session with it.
                    _ = stop.wait_for(|stop| *stop) => return Err(ErrorKind::Cancelled),
                }
            }
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
            lease
                .exec(
                    state.command.as_ref(),
                    &setup,
                    stdin,
                    &sinks,
                    context.command_timeout,
                    stop.clone(),
                )
                .await
        }
    };
    // The session stays for the next job unless its connection is gone.
    let lost = matches!(result, Err(ErrorKind::ConnectionLost { .. }));
    lease.finish(!lost);
    result
}
