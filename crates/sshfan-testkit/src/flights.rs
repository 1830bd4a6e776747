//! Round trips, counted: how many times a client waited for its server.
//!
//! On a distant host, wall time is round trips × RTT, so the number of round trips per
//! host is what a fleet across regions pays. [`FlightTransport`] opens TCP like the
//! library's default transport and counts, per connection, the TCP connect plus every
//! time the client reads server data after having sent something since its last read (a
//! "flight": the client spoke, then had to hear back). Data the server sends unasked
//! adds no flight; nothing here depends on timing, so a test can assert the count. It
//! also counts the client's writes: packets that go out together cost one system call
//! and one segment.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use sshfan::transport::{BoxedStream, ConnectFuture, TcpTransport, Transport};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// TCP, with each connection's flights counted (see the module docs).
#[derive(Default)]
pub struct FlightTransport {
    connections: Mutex<Vec<Arc<Counts>>>,
}

/// One connection's counts.
#[derive(Default)]
struct Counts {
    flights: AtomicUsize,
    writes: AtomicUsize,
}

impl FlightTransport {
    /// A transport with no connections yet, shared with the client that uses it.
    pub fn new() -> Arc<FlightTransport> {
        Arc::new(FlightTransport::default())
    }

    /// Each connection's flights so far, in the order they were opened.
    pub fn flights(&self) -> Vec<usize> {
        self.each(|counts| counts.flights.load(Ordering::Acquire))
    }

    /// Each connection's writes so far (each a `sendto`), in the order they were opened.
    pub fn writes(&self) -> Vec<usize> {
        self.each(|counts| counts.writes.load(Ordering::Acquire))
    }

    fn each(&self, count: impl Fn(&Counts) -> usize) -> Vec<usize> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|counts| count(counts))
            .collect()
    }
}

impl Transport for FlightTransport {
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> ConnectFuture<'a> {
        Box::pin(async move {
            let stream = TcpTransport.connect(host, port).await?;
            // The TCP handshake is the first flight.
            let counts = Arc::new(Counts {
                flights: AtomicUsize::new(1),
                writes: AtomicUsize::new(0),
            });
            self.connections
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(counts.clone());
            let counted: BoxedStream = Box::new(Counted {
                inner: stream,
                spoke: false,
                counts,
            });
            Ok(counted)
        })
    }
}

struct Counted {
    inner: BoxedStream,
    /// The client wrote since it last received data.
    spoke: bool,
    counts: Arc<Counts>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before && self.spoke {
            self.spoke = false;
            self.counts.flights.fetch_add(1, Ordering::AcqRel);
        }
        polled
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            self.spoke = true;
            self.counts.writes.fetch_add(1, Ordering::AcqRel);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
