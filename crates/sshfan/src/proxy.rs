//! Reaching hosts through jump hosts (`ProxyJump`) and proxy commands (`ProxyCommand`).
//!
//! Jump hosts are shared: every target behind the same chain of bastions uses one SSH
//! connection per bastion, and each target gets a `direct-tcpip` channel on it (OpenSSH's
//! `ssh -J` and parallel-ssh open one bastion connection per target instead). Channel
//! opens in flight per bastion are capped (`jump_channel_opens`). Note that sshd's
//! `MaxStartups` (default `10:30:100`) limits concurrent *unauthenticated connections*,
//! which sharing keeps at one per bastion, and `MaxSessions` (default 10) limits session
//! channels, which `direct-tcpip` channels are not. A bastion that cannot be reached fails
//! its targets with [`ErrorKind::Proxy`] naming the hop; the failure is remembered, so
//! 1000 targets behind a dead bastion cost one attempt, not 1000.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use russh::client::Handle;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OnceCell, Semaphore};

use crate::error::ErrorKind;
use crate::handler::HostHandler;
use crate::resolve::Hop;
use crate::transport::BoxedStream;

/// A connection to a jump host and the cap on channel opens through it.
pub(crate) struct JumpSession {
    pub handle: Handle<HostHandler>,
    opens: Semaphore,
}

impl JumpSession {
    pub(crate) fn new(handle: Handle<HostHandler>, max_opens: usize) -> Self {
        JumpSession {
            handle,
            opens: Semaphore::new(max_opens),
        }
    }

    /// Opens a `direct-tcpip` channel to `host`:`port` and returns it as a byte stream.
    pub(crate) async fn open(
        &self,
        hop: &Hop,
        host: &str,
        port: u16,
    ) -> Result<BoxedStream, ErrorKind> {
        let _permit = self.opens.acquire().await.ok();
        let channel = self
            .handle
            .channel_open_direct_tcpip(host, u32::from(port), "127.0.0.1", 0)
            .await
            .map_err(|err| ErrorKind::Proxy {
                hop: hop.display(),
                message: format!("cannot open a channel to {host}:{port}: {err}"),
            })?;
        Ok(Box::new(channel.into_stream()))
    }
}

type SessionCell = Arc<OnceCell<Result<Arc<JumpSession>, ErrorKind>>>;

/// The run's jump-host connections, one per chain prefix.
#[derive(Default)]
pub(crate) struct JumpPool {
    sessions: Mutex<HashMap<Vec<Hop>, SessionCell>>,
}

impl JumpPool {
    /// The shared cell for the connection to the last hop of `chain`.
    pub(crate) fn cell(&self, chain: &[Hop]) -> SessionCell {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        sessions.entry(chain.to_vec()).or_default().clone()
    }

    /// Number of jump-host connections made (for tests and logs).
    pub(crate) fn connections(&self) -> usize {
        let sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        sessions
            .values()
            .filter(|cell| matches!(cell.get(), Some(Ok(_))))
            .count()
    }
}

/// A `ProxyCommand`'s stdout and stdin as one stream; the command is killed when the
/// stream is dropped.
pub(crate) struct CommandStream {
    io: tokio::io::Join<tokio::process::ChildStdout, tokio::process::ChildStdin>,
    _child: tokio::process::Child,
}

impl CommandStream {
    /// Starts `command` under `sh -c`.
    pub(crate) fn spawn(command: &str) -> Result<CommandStream, ErrorKind> {
        let fail = |message: String| ErrorKind::Proxy {
            hop: format!("ProxyCommand `{command}`"),
            message,
        };
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| match ErrorKind::from_io(&err) {
                ErrorKind::TooManyOpenFiles => ErrorKind::TooManyOpenFiles,
                _ => fail(format!("cannot start it: {err}")),
            })?;
        let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
            return Err(fail("no pipes to the command".to_owned()));
        };
        Ok(CommandStream {
            io: tokio::io::join(stdout, stdin),
            _child: child,
        })
    }
}

impl AsyncRead for CommandStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for CommandStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
