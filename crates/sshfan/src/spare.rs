//! A spare channel on each kept session: one round trip less for the next job.
//!
//! On a warm session a command costs two round trips: the channel open, then the exec
//! request. With spare channels on ([`crate::ClientBuilder::spare_channels`]), a session
//! whose jobs have all ended opens one channel ahead, in the background, and the next job
//! starts on it at once. The spare holds one of the host's channel slots while it waits,
//! so the server never sees more than `max_channels_per_host` channels (sshd's
//! `MaxSessions`), and every job that leases the session takes it along with that slot: a
//! command or shell starts on it, a transfer (which opens its own channels) closes it
//! first. So a spare never keeps a job waiting for a slot.

use std::sync::{Arc, Mutex, PoisonError};

use futures::FutureExt;

use russh::client::{Handle, Msg};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
pub(crate) struct Spare(Mutex<Option<(OpenChannel, OwnedSemaphorePermit)>>);

impl Spare {
    /// Takes the spare channel, if there is one, with its slot.
    pub(crate) fn take(&self) -> Option<(OpenChannel, OwnedSemaphorePermit)> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    /// Keeps `channel` (holding `slot`) as the spare; gives it back when there is one
    /// already.
    pub(crate) fn keep(
        &self,
        channel: OpenChannel,
        slot: OwnedSemaphorePermit,
    ) -> Option<OpenChannel> {
        let mut spare = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match *spare {
            Some(_) => Some(channel),
            None => {
                *spare = Some((channel, slot));
                None
            }
        }
    }

    fn is_kept(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Opens a spare channel on `session` when there is none and one of its channel
    /// `slots` is free (no job is waiting for one). Failing to open one is not an error:
    /// the next job opens its own channel.
    pub(crate) async fn refill(&self, session: &Handle<HostHandler>, slots: &Arc<Semaphore>) {
        if self.is_kept() {
            return;
        }
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            return;
        };
        let Ok(channel) = session.channel_open_session().await else {
            return;
        };
        if let Some(extra) = self.keep(channel, slot) {
            let _ = extra.close().await;
        }
    }
}
