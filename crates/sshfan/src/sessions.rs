//! Sessions that outlive runs: one SSH connection per host for the client's life.
//!
//! parallel-ssh, asyncssh and OpenSSH's ControlMaster keep one connection per host and
//! open a channel per command; a client that runs ten commands should not pay ten
//! handshakes per host (17–32 ms of sshd CPU each). [`SessionPool`] holds one slot per
//! host of a [`crate::ParallelClient`]:
//! - the first job that needs a host connects it; later jobs (runs, copies, shells,
//!   `connect_auth`) open channels on the live connection;
//! - a connection found dead when a job needs it (closed by the server, failed
//!   keepalive) is reconnected by that job; a host that failed to connect is tried again
//!   by the next job, never poisoned;
//! - at most `max_channels_per_host` jobs use one connection at once (OpenSSH's
//!   `MaxSessions` default is 10); more wait their turn;
//! - at most `max_sessions` connections stay open: beyond it the least recently used idle
//!   one is closed, so a client over 100,000 hosts in a 20,000-descriptor process works;
//! - an idle timeout closes sessions unused that long; [`SessionPool::disconnect`] (and
//!   dropping the client) closes them all;
//! - with spare channels on, an idle session keeps one channel open ahead for the next
//!   job ([`crate::spare`]);
//! - a cancelled command closes its channel (after a TERM signal) and keeps the session;
//!   a job dropped midway (a panic, a lost connection, a cancelled connect or transfer,
//!   or a cancelled command that did not close within the grace period) discards its
//!   session, so a cancelled run still hangs up on its hosts.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use russh::client::Handle;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use tokio::sync::mpsc;

use crate::command::CommandLine;
use crate::connect::{Connected, Connector};
use crate::copy::{CopyReport, Moved, Transfer};
use crate::error::ErrorKind;
use crate::exec::{ChannelSetup, Sinks, StdinMessage};
use crate::handler::{HostHandler, Notes, read_notes};
use crate::output::ExitStatus;
use crate::resolve::HostPlan;
use crate::spare::{OpenChannel, Spare};

/// Default number of jobs sharing one connection at once (OpenSSH's `MaxSessions`).
pub const DEFAULT_CHANNELS_PER_HOST: usize = 10;

/// One live connection to one host.
pub(crate) struct LiveSession {
    pub handle: Handle<HostHandler>,
    pub notes: Notes,
    /// Channel slots: jobs on this connection at once.
    channels: Arc<Semaphore>,
    /// Jobs holding a lease now.
    in_use: AtomicUsize,
    /// When the last lease ended (for the idle timeout and eviction).
    released: Mutex<Instant>,
    /// Taken out of use: no new job gets it; closed when its last job ends.
    discarded: std::sync::atomic::AtomicBool,
    /// The channel opened ahead for the next job (spare channels on).
    spare: Spare,
}

impl LiveSession {
    fn is_usable(&self) -> bool {
        !self.handle.is_closed() && !self.discarded.load(Ordering::Acquire)
    }

    /// Opens a spare channel for the next job, when there is none and a slot is free.
    async fn refill_spare(&self) {
        if self.is_usable() {
            self.spare.refill(&self.handle, &self.channels).await;
        }
    }

    /// Starts opening the next job's spare channel now, while a job starts its command:
    /// the channel open is queued at once, so it leaves in the same write as the job's
    /// exec request (one `sendto` per warm command less than opening it once the job has
    /// ended), and its confirmation is awaited in the background.
    async fn open_spare_ahead(self: &Arc<Self>) {
        let session = self.clone();
        let mut opening = Box::pin(async move { session.refill_spare().await });
        // The first poll queues the open (or finds a spare kept, or no free slot).
        if futures::poll!(opening.as_mut()).is_pending() {
            tokio::spawn(opening);
        }
    }
}

/// A job's use of a host's session: a channel slot on it, and the session's spare
/// channel when it had one. Dropped without [`finish`](Lease::finish) (a cancelled or
/// failed job), it discards the session.
pub(crate) struct Lease {
    session: Arc<LiveSession>,
    pool: Arc<SessionPool>,
    index: usize,
    slot: Option<OwnedSemaphorePermit>,
    /// The spare channel this job took, until it starts on it.
    spare: Option<OpenChannel>,
    finished: bool,
}

impl Lease {
    /// Runs `command` (an interactive shell when `None`) on the spare channel or a new
    /// one, streaming its output into `sinks`, within `timeout`; `stop` closes the
    /// channel early (a cancel).
    pub(crate) async fn exec(
        &mut self,
        command: Option<&CommandLine>,
        setup: &ChannelSetup,
        stdin: Option<mpsc::Receiver<StdinMessage>>,
        sinks: &Sinks,
        timeout: Option<Duration>,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<ExitStatus, ErrorKind> {
        let spare = self.spare.take();
        if self.pool.settings.spare_channels {
            self.session.open_spare_ahead().await;
        }
        crate::exec::run_command(
            &self.session.handle,
            &self.session.notes,
            spare,
            command,
            setup,
            stdin,
            sinks,
            timeout,
            stop,
        )
        .await
    }

    /// Moves files on channels of their own (a spare channel is closed first, freeing
    /// its slot on the server).
    pub(crate) async fn transfer(
        &mut self,
        transfer: &Transfer,
        label: &str,
        moved: &Moved,
        timeout: Option<Duration>,
    ) -> Result<CopyReport, ErrorKind> {
        if let Some(spare) = self.spare.take() {
            let _ = spare.close().await;
        }
        let session = &self.session;
        crate::copy::transfer_within(
            &session.handle,
            &session.notes,
            transfer,
            label,
            moved,
            timeout,
        )
        .await
    }

    /// The job ended normally: the session stays for the next job (unless `keep` is
    /// false: its connection was lost).
    pub(crate) fn finish(mut self, keep: bool) {
        self.finished = keep;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let kept = self.finished && self.session.is_usable();
        // A spare channel the job did not use (`connect_auth`) stays the session's, unless
        // another job's spare is kept or opening meanwhile: then it is closed.
        if let (Some(channel), Some(slot), true) = (self.spare.take(), self.slot.take(), kept)
            && let Some(extra) = self.session.spare.keep(channel, slot)
        {
            tokio::spawn(async move {
                let _ = extra.close().await;
            });
        }
        drop(self.slot.take());
        let left = self.session.in_use.fetch_sub(1, Ordering::AcqRel) - 1;
        *self
            .session
            .released
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        if !kept {
            self.pool.discard(self.index, &self.session);
        }
        if left == 0 {
            if self.session.discarded.load(Ordering::Acquire) {
                self.pool.close(self.session.clone());
            } else {
                self.pool.became_idle(self.index);
                // Opened ahead while the job ran, unless no slot was free then.
                if self.pool.settings.spare_channels && !self.session.spare.is_kept_or_opening() {
                    let session = self.session.clone();
                    tokio::spawn(async move { session.refill_spare().await });
                }
            }
        }
    }
}

/// A connection counted in before it exists: counted out again unless kept (connecting
/// failed, or the job was cancelled while connecting).
struct Reservation<'a> {
    pool: &'a SessionPool,
    kept: bool,
}

impl Reservation<'_> {
    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.pool.open.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// One host's slot: its session, if connected. The async lock makes concurrent jobs on
/// one host connect once.
#[derive(Default)]
struct Slot {
    session: tokio::sync::Mutex<Option<Arc<LiveSession>>>,
}

/// How a [`SessionPool`] keeps its sessions.
pub(crate) struct PoolSettings {
    /// Jobs on one connection at once.
    pub channels_per_host: usize,
    /// Connections open at most (the least recently used idle ones are closed beyond).
    pub max_sessions: usize,
    /// Sessions unused this long are closed.
    pub idle_timeout: Option<Duration>,
    /// Idle sessions keep a channel open ahead ([`crate::spare`]).
    pub spare_channels: bool,
}

/// Every host's session, for one client.
pub(crate) struct SessionPool {
    slots: Vec<Slot>,
    settings: PoolSettings,
    /// Connections open now.
    open: AtomicUsize,
    /// Hosts whose session became idle, oldest first (may hold stale entries).
    idle: Mutex<VecDeque<usize>>,
    /// Discarded sessions being closed in the background.
    closing: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// The task that closes idle sessions (one per pool, started by the first idle one).
    sweeper: std::sync::OnceLock<tokio::task::AbortHandle>,
}

impl Drop for SessionPool {
    fn drop(&mut self) {
        if let Some(sweeper) = self.sweeper.get() {
            sweeper.abort();
        }
    }
}

/// Closes `pool`'s sessions idle for `after`, checking a few times per `after`, until the
/// pool is gone.
async fn sweep_idle(pool: std::sync::Weak<SessionPool>, after: Duration) {
    let tick = (after / 4).clamp(Duration::from_millis(20), Duration::from_secs(30));
    loop {
        tokio::time::sleep(tick).await;
        let Some(pool) = pool.upgrade() else {
            return;
        };
        pool.close_idle(after);
    }
}

impl SessionPool {
    pub(crate) fn new(hosts: usize, settings: PoolSettings) -> Arc<SessionPool> {
        Arc::new(SessionPool {
            slots: (0..hosts).map(|_| Slot::default()).collect(),
            settings: PoolSettings {
                channels_per_host: settings.channels_per_host.max(1),
                max_sessions: settings.max_sessions.max(1),
                idle_timeout: settings.idle_timeout.filter(|t| !t.is_zero()),
                spare_channels: settings.spare_channels,
            },
            open: AtomicUsize::new(0),
            idle: Mutex::new(VecDeque::new()),
            closing: Mutex::new(Vec::new()),
            sweeper: std::sync::OnceLock::new(),
        })
    }

    /// Connections open now.
    pub(crate) fn open_sessions(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// A lease on host `index`'s session, connecting it first when there is none (or it
    /// died). `connected` is called once a new connection is up.
    pub(crate) async fn lease(
        self: &Arc<Self>,
        index: usize,
        plan: &HostPlan,
        connector: &Connector,
    ) -> Result<Lease, ErrorKind> {
        let slot = self.slots.get(index).ok_or(ErrorKind::Cancelled)?;
        let session = {
            let mut held = slot.session.lock().await;
            match held.as_ref().filter(|s| s.is_usable()) {
                Some(live) => live.clone(),
                None => {
                    if let Some(stale) = held.take() {
                        self.open.fetch_sub(1, Ordering::AcqRel);
                        stale.discarded.store(true, Ordering::Release);
                    }
                    let reservation = self.reserve();
                    // Boxed: the handshake's state is needed only until the session is up.
                    let Connected { session, notes } = Box::pin(connector.connect(plan)).await?;
                    reservation.keep();
                    let live = Arc::new(LiveSession {
                        handle: session,
                        notes,
                        channels: Arc::new(Semaphore::new(self.settings.channels_per_host)),
                        in_use: AtomicUsize::new(0),
                        released: Mutex::new(Instant::now()),
                        discarded: Default::default(),
                        spare: Spare::default(),
                    });
                    *held = Some(live.clone());
                    live
                }
            }
        };
        session.in_use.fetch_add(1, Ordering::AcqRel);
        let mut lease = Lease {
            session: session.clone(),
            pool: self.clone(),
            index,
            slot: None,
            spare: None,
            // Dropped while it waits for a slot (the job was cancelled), the lease
            // leaves the session as it was.
            finished: true,
        };
        // The spare channel comes with its slot; without one, wait for a free slot or a
        // spare, whichever comes first.
        let (spare, slot) = session
            .spare
            .take_or_wait(&session.channels)
            .await
            .map_err(|_| ErrorKind::Cancelled)?;
        lease.spare = spare;
        lease.slot = Some(slot);
        // From here, only a job that finishes keeps the session.
        lease.finished = false;
        Ok(lease)
    }

    /// Counts a new connection in, first closing least recently used idle sessions while
    /// that would exceed the cap (when every session is busy, the cap is exceeded rather
    /// than a job failing). Undone by [`unreserve`](Self::unreserve) if connecting fails.
    fn reserve(&self) -> Reservation<'_> {
        let reservation = Reservation {
            pool: self,
            kept: false,
        };
        let after = self.open.fetch_add(1, Ordering::AcqRel) + 1;
        let mut excess = after.saturating_sub(self.settings.max_sessions);
        while excess > 0 {
            let Some(index) = self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front()
            else {
                break;
            };
            let Some(slot) = self.slots.get(index) else {
                continue;
            };
            // A slot busy connecting or in use is not idle: skip it.
            let Ok(mut held) = slot.session.try_lock() else {
                continue;
            };
            if held
                .as_ref()
                .is_some_and(|s| s.in_use.load(Ordering::Acquire) == 0)
                && let Some(session) = held.take()
            {
                self.open.fetch_sub(1, Ordering::AcqRel);
                session.discarded.store(true, Ordering::Release);
                self.close(session);
                excess -= 1;
            }
        }
        reservation
    }

    /// Takes `session` out of use (it is dead, or a job on it did not end normally) and
    /// out of host `index`'s slot when it is still there.
    fn discard(&self, index: usize, session: &Arc<LiveSession>) {
        if session.discarded.swap(true, Ordering::AcqRel) {
            return;
        }
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        // A busy slot (a job connecting or looking) finds it unusable and replaces it.
        if let Ok(mut held) = slot.session.try_lock()
            && held.as_ref().is_some_and(|s| Arc::ptr_eq(s, session))
        {
            held.take();
            self.open.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn became_idle(self: &Arc<Self>, index: usize) {
        {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            idle.push_back(index);
            // Stale entries (a host idle again since) are dropped now and then, keeping
            // each host's latest: the queue stays within a few entries per host however
            // many jobs run (an agent runs jobs for weeks).
            if idle.len() > 2 * self.slots.len() + 64 {
                let mut seen = vec![false; self.slots.len()];
                let mut kept: VecDeque<usize> = idle
                    .iter()
                    .rev()
                    .filter(|&&host| match seen.get_mut(host) {
                        Some(seen) => !std::mem::replace(seen, true),
                        None => false,
                    })
                    .copied()
                    .collect();
                kept.make_contiguous().reverse();
                *idle = kept;
            }
        }
        if let Some(after) = self.settings.idle_timeout {
            self.sweeper.get_or_init(|| {
                tokio::spawn(sweep_idle(Arc::downgrade(self), after)).abort_handle()
            });
        }
    }

    /// Closes the sessions unused for `after` (one pass).
    fn close_idle(&self, after: Duration) {
        for (index, slot) in self.slots.iter().enumerate() {
            // A slot busy connecting or in use is not idle: skip it.
            let Ok(held) = slot.session.try_lock() else {
                continue;
            };
            let expired = held.as_ref().is_some_and(|session| {
                session.in_use.load(Ordering::Acquire) == 0
                    && session
                        .released
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .elapsed()
                        >= after
            });
            let session = match expired {
                true => held.clone(),
                false => None,
            };
            drop(held);
            if let Some(session) = session {
                self.discard(index, &session);
                if session.in_use.load(Ordering::Acquire) == 0 {
                    self.close(session);
                }
            }
        }
    }

    /// Closes these hosts' sessions (jobs still running on one lose their connection).
    pub(crate) async fn disconnect(&self, hosts: &[usize]) {
        let mut closing = Vec::new();
        for slot in hosts.iter().filter_map(|&index| self.slots.get(index)) {
            if let Some(session) = slot.session.lock().await.take() {
                self.open.fetch_sub(1, Ordering::AcqRel);
                session.discarded.store(true, Ordering::Release);
                closing.push(session);
            }
        }
        if hosts.len() == self.slots.len() {
            // The idle list's entries are all stale now.
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        }
        futures::future::join_all(closing.iter().map(|session| hang_up(session))).await;
        // Sessions discarded by cancelled jobs are closing in the background: wait for
        // them too, so that their clean-up is done when this returns.
        let hanging_up =
            std::mem::take(&mut *self.closing.lock().unwrap_or_else(PoisonError::into_inner));
        for task in hanging_up {
            let _ = task.await;
        }
    }

    /// Closes a discarded session in the background ([`disconnect`](Self::disconnect)
    /// waits for it).
    fn close(&self, session: Arc<LiveSession>) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let task = runtime.spawn(async move { hang_up(&session).await });
            let mut closing = self.closing.lock().unwrap_or_else(PoisonError::into_inner);
            closing.retain(|task| !task.is_finished());
            closing.push(task);
        }
    }
}

/// Says goodbye to the server (SSH_MSG_DISCONNECT, as parallel-ssh and asyncssh do) once
/// the session's clean-up work is done. The connection closes either way once the last
/// reference to the session is gone.
async fn hang_up(session: &LiveSession) {
    let cleanups = read_notes(&session.notes, |n| n.cleanups.clone());
    cleanups.finished().await;
    let _ = session
        .handle
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
}
