//! Clean-up work a session must finish before it is closed.
//!
//! An upload cancelled mid-way (Ctrl-C, a command timeout) leaves a temporary file on the
//! host; its removal is a request on the same session that the cancel is about to hang
//! up. Each such piece of work holds a [`CleanupToken`]; closing a session first waits
//! (briefly, see [`CLEANUP_GRACE`]) until no token is left, so the host is left clean.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// Longest a closing session waits for its clean-up work.
pub(crate) const CLEANUP_GRACE: Duration = Duration::from_secs(5);

/// The clean-up work pending on one session.
#[derive(Clone)]
pub(crate) struct Cleanups(Arc<watch::Sender<usize>>);

impl Default for Cleanups {
    fn default() -> Self {
        Cleanups(Arc::new(watch::Sender::new(0)))
    }
}

impl Cleanups {
    /// A token held for as long as some clean-up work is pending.
    pub(crate) fn token(&self) -> CleanupToken {
        self.0
            .send_modify(|pending| *pending = pending.saturating_add(1));
        CleanupToken(self.0.clone())
    }

    /// Waits until no work is pending, at most [`CLEANUP_GRACE`].
    pub(crate) async fn finished(&self) {
        let mut pending = self.0.subscribe();
        let _ = tokio::time::timeout(CLEANUP_GRACE, pending.wait_for(|n| *n == 0)).await;
    }
}

/// Pending clean-up work: dropped when it is done (or no longer needed).
pub(crate) struct CleanupToken(Arc<watch::Sender<usize>>);

impl Drop for CleanupToken {
    fn drop(&mut self) {
        self.0
            .send_modify(|pending| *pending = pending.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn closing_waits_for_tokens_but_not_forever() {
        let cleanups = Cleanups::default();
        cleanups.finished().await;
        let token = cleanups.token();
        let started = tokio::time::Instant::now();
        let waiting = tokio::spawn({
            let cleanups = cleanups.clone();
            async move { cleanups.finished().await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiting.is_finished());
        drop(token);
        waiting.await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(1));
        let _stuck = cleanups.token();
        let started = tokio::time::Instant::now();
        cleanups.finished().await;
        assert_eq!(started.elapsed(), CLEANUP_GRACE);
    }
}
