//! A stream wrapper whose connection can be cut from outside, like a cable pulled.
//!
//! The fleet's "drop the connection mid-output" fault needs to end a session abruptly,
//! without an SSH disconnect message: once killed, reads and writes fail, russh's session
//! loop ends, and the underlying socket is closed.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Cuts a [`Killable`] stream.
#[derive(Default)]
pub struct KillSwitch {
    killed: AtomicBool,
    frozen: AtomicBool,
    /// Cut the connection once this many bytes have been read from the client.
    read_limit: std::sync::atomic::AtomicUsize,
    read_so_far: std::sync::atomic::AtomicUsize,
    reader: AtomicWaker,
    writer: AtomicWaker,
}

impl KillSwitch {
    /// Cuts the connection: pending and future reads and writes fail.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.reader.wake();
        self.writer.wake();
    }

    /// Cuts the connection after `bytes` more bytes arrive from the client (0: never).
    pub fn cut_after_reading(&self, bytes: usize) {
        self.read_limit.store(bytes, Ordering::SeqCst);
    }

    /// Freezes the connection: from now on nothing is read or written, and the socket
    /// stays open (a host that hangs hard, or a network that drops everything).
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }

    fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::SeqCst)
    }

    fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}

/// A stream that fails once its [`KillSwitch`] is thrown.
pub struct Killable<S> {
    inner: S,
    switch: Arc<KillSwitch>,
}

impl<S> Killable<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, switch: Arc<KillSwitch>) -> Self {
        Killable { inner, switch }
    }
}

fn cut() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "connection cut by the fleet",
    )
}

impl<S: AsyncRead + Unpin> AsyncRead for Killable<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.switch.reader.register(cx.waker());
        if this.switch.is_killed() {
            return Poll::Ready(Err(cut()));
        }
        if this.switch.is_frozen() {
            return Poll::Pending;
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        let limit = this.switch.read_limit.load(Ordering::SeqCst);
        if limit > 0 {
            let read = buf.filled().len() - before;
            if this.switch.read_so_far.fetch_add(read, Ordering::SeqCst) + read >= limit {
                this.switch.kill();
                return Poll::Ready(Err(cut()));
            }
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Killable<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.switch.writer.register(cx.waker());
        if this.switch.is_killed() {
            return Poll::Ready(Err(cut()));
        }
        if this.switch.is_frozen() {
            return Poll::Pending;
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.switch.is_killed() {
            return Poll::Ready(Err(cut()));
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
