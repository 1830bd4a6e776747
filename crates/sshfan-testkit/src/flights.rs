//! Round trips, counted: how many times a client waited for its server.
//!
//! On a distant host, wall time is round trips × RTT, so the number of round trips per
//! host is what a fleet across regions pays. [`FlightTransport`] opens TCP like the
//! library's default transport and counts, per connection, the TCP connect plus every
//! time the client reads server data after having sent something since its last read (a
//! "flight": the client spoke, then had to hear back). Data the server sends unasked
//! adds no flight; nothing here depends on timing, so a test can assert the count.

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
    connections: Mutex<Vec<Arc<AtomicUsize>>>,
}

impl FlightTransport {
    /// A transport with no connections yet, shared with the client that uses it.
    pub fn new() -> Arc<FlightTransport> {
        Arc::new(FlightTransport::default())
    }

    /// Each connection's flights so far, in the order they were opened.
    pub fn flights(&self) -> Vec<usize> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|count| count.load(Ordering::Acquire))
            .collect()
    }
}

impl Transport for FlightTransport {
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> ConnectFuture<'a> {
        Box::pin(async move {
            let stream = TcpTransport.connect(host, port).await?;
            // The TCP handshake is the first flight.
            let flights = Arc::new(AtomicUsize::new(1));
            self.connections
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(flights.clone());
            let counted: BoxedStream = Box::new(Counted {
                inner: stream,
                spoke: false,
                flights,
            });
            Ok(counted)
        })
    }
}

struct Counted {
    inner: BoxedStream,
    /// The client wrote since it last received data.
    spoke: bool,
    flights: Arc<AtomicUsize>,
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
            self.flights.fetch_add(1, Ordering::AcqRel);
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
