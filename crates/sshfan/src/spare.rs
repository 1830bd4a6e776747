//! A spare channel on each kept session: one round trip less for the next job.
//!
//! On a warm session a command costs two round trips: the channel open, then the exec
//! request. With spare channels on ([`crate::ClientBuilder::spare_channels`]), each
//! command or shell opens the next job's channel ahead: the open is queued just before
//! the job's own request, so both leave in one write (a warm command costs two writes,
//! its exec and its close, instead of three), and the next job starts on it at once.
//! When no slot is free then, the session opens its spare once its jobs have ended. The
//! spare holds one of the host's channel slots while it waits, so the server never sees
//! more than `max_channels_per_host` channels (sshd's `MaxSessions`), and every job that
//! leases the session takes it along with that slot: a command or shell starts on it, a
//! transfer (which opens its own channels) closes it first. A job waiting for a slot
//! takes a spare that opens meanwhile, so a spare never keeps a job waiting.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::FutureExt;

use russh::client::{Handle, Msg};
use tokio::sync::{AcquireError, Notify, OwnedSemaphorePermit, Semaphore};

use crate::handler::HostHandler;

/// A session channel, opened and not yet used.
pub(crate) type OpenChannel = russh::Channel<Msg>;

/// Whether a spare channel is still open: nothing but window adjustments may have come
/// on it since it was opened; a server that closed it (OpenSSH's `ChannelTimeout`, say)
/// has sent EOF or CLOSE. Never waits.
pub(crate) fn still_open(channel: &mut OpenChannel) -> bool {
    loop {
        match channel.wait().now_or_never() {
            None => return true,
            Some(Some(russh::ChannelMsg::WindowAdjusted { .. })) => continue,
            Some(_) => return false,
        }
    }
}

/// The channel kept open ahead on one session, with the channel slot it holds.
#[derive(Default)]
pub(crate) struct Spare {
    state: Mutex<State>,
    /// Told whenever a spare is kept: a job waiting for a slot takes it instead.
    kept: Notify,
}

#[derive(Default)]
enum State {
    #[default]
    Empty,
    /// A spare's open is on its way (it holds a slot); no second one is started.
    Opening,
    Kept(OpenChannel, OwnedSemaphorePermit),
}

impl Spare {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The spare channel with its slot, or a free slot: whichever comes first. A spare
    /// opened while every slot is busy (its open holds the last one) would otherwise
    /// leave a job waiting for a slot beside an open channel.
    pub(crate) async fn take_or_wait(
        &self,
        slots: &Arc<Semaphore>,
    ) -> Result<(Option<OpenChannel>, OwnedSemaphorePermit), AcquireError> {
        if let Some((channel, slot)) = self.take() {
            return Ok((Some(channel), slot));
        }
        // A free slot now: no need to watch for a spare (the common case, and the only
        // one with spare channels off).
        if let Ok(slot) = slots.clone().try_acquire_owned() {
            return Ok((None, slot));
        }
        loop {
            let kept = self.kept.notified();
            tokio::pin!(kept);
            // Registered before looking, so a spare kept in between is not missed.
            kept.as_mut().enable();
            if let Some((channel, slot)) = self.take() {
                return Ok((Some(channel), slot));
            }
            tokio::select! {
                slot = slots.clone().acquire_owned() => return Ok((None, slot?)),
                () = &mut kept => {}
            }
        }
    }

    /// Takes the spare channel, if there is one open, with its slot.
    pub(crate) fn take(&self) -> Option<(OpenChannel, OwnedSemaphorePermit)> {
        let mut state = self.state();
        match std::mem::take(&mut *state) {
            State::Kept(channel, slot) => Some((channel, slot)),
            other => {
                *state = other;
                None
            }
        }
    }

    /// Keeps `channel` (holding `slot`) as the spare; gives it back when there is one
    /// already, or one opening.
    pub(crate) fn keep(
        &self,
        channel: OpenChannel,
        slot: OwnedSemaphorePermit,
    ) -> Option<OpenChannel> {
        let state = self.state();
        match *state {
            State::Empty => {
                self.store(state, channel, slot);
                None
            }
            _ => Some(channel),
        }
    }

    /// Makes `channel` the kept spare under the held `state`, and tells the jobs waiting
    /// for a slot.
    fn store(
        &self,
        mut state: MutexGuard<'_, State>,
        channel: OpenChannel,
        slot: OwnedSemaphorePermit,
    ) {
        *state = State::Kept(channel, slot);
        drop(state);
        self.kept.notify_waiters();
    }

    /// Whether a spare is kept or on its way.
    pub(crate) fn is_kept_or_opening(&self) -> bool {
        !matches!(*self.state(), State::Empty)
    }

    /// Opens a spare channel on `session` when there is none (kept or opening) and one
    /// of its channel `slots` is free (no job is waiting for one). Failing to open one is
    /// not an error: the next job opens its own channel.
    pub(crate) async fn refill(&self, session: &Handle<HostHandler>, slots: &Arc<Semaphore>) {
        let slot = {
            let mut state = self.state();
            if !matches!(*state, State::Empty) {
                return;
            }
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                return;
            };
            *state = State::Opening;
            slot
        };
        // Back to empty however this ends (a failed open, or this future dropped midway),
        // unless the channel is kept.
        let opening = Opening(self);
        if let Ok(channel) = session.channel_open_session().await {
            self.store(self.state(), channel, slot);
        }
        drop(opening);
    }
}

/// A spare's open in progress: dropped, it leaves the state empty unless the spare was
/// kept.
struct Opening<'a>(&'a Spare);

impl Drop for Opening<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state();
        if matches!(*state, State::Opening) {
            *state = State::Empty;
        }
    }
}
