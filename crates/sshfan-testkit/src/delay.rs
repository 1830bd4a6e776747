//! A TCP relay that holds every byte for a fixed time in each direction: a slow link.
//!
//! The kernels these tests run on may lack `tc netem` (no qdisc to delay packets), so the
//! latency of a distant host is made in user space: each chunk read on one side is
//! written to the other `delay` later, pipelined (many chunks in flight, order kept), so
//! the link has latency without losing bandwidth. Packet loss, which must happen below
//! TCP to mean anything, is added separately by the tests (nftables `numgen random` drop
//! rules in a network namespace of their own).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;

/// Chunks in flight per direction (the relay's window).
const IN_FLIGHT: usize = 1024;

/// A running relay; dropping it stops accepting (open connections run to their end).
pub struct DelayRelay {
    addr: SocketAddr,
    accept: AbortHandle,
}

/// How a relayed link behaves.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// Added to every chunk, each way (half the round trip).
    pub delay: Duration,
    /// Hold everything for one round trip when a connection opens, as TCP's handshake
    /// would take on a real link (the relay's own accept is instant).
    pub charge_connect: bool,
}

impl DelayRelay {
    /// Listens on `127.0.0.1` and relays each connection to `target`, `delay` each way.
    pub async fn start(target: SocketAddr, delay: Duration) -> io::Result<DelayRelay> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let link = Link {
            delay,
            charge_connect: false,
        };
        DelayRelay::serve(listener, target, link)
    }

    /// Relays each connection `listener` accepts to `target` over `link`.
    pub fn serve(listener: TcpListener, target: SocketAddr, link: Link) -> io::Result<DelayRelay> {
        let addr = listener.local_addr()?;
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                tokio::spawn(relay(inbound, target, link));
            }
        })
        .abort_handle();
        Ok(DelayRelay { addr, accept })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for DelayRelay {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn relay(inbound: TcpStream, target: SocketAddr, link: Link) {
    let opened = Instant::now();
    let Ok(outbound) = TcpStream::connect(target).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (in_read, in_write) = inbound.into_split();
    let (out_read, out_write) = outbound.into_split();
    let not_before = match link.charge_connect {
        true => opened + 2 * link.delay,
        false => opened,
    };
    tokio::join!(
        pipe(in_read, out_write, link.delay, not_before),
        pipe(out_read, in_write, link.delay, not_before)
    );
}

/// Copies `from` to `to`, each chunk written `delay` after it was read (or after
/// `not_before`, if later).
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    delay: Duration,
    not_before: Instant,
) {
    let (chunks, mut due) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT);
    let read = async move {
        loop {
            let mut buffer = vec![0; 16 * 1024];
            match from.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buffer.truncate(n);
                    let due = Instant::now().max(not_before) + delay;
                    if chunks.send((due, buffer)).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    let write = async move {
        while let Some((at, chunk)) = due.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(read, write);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bytes_arrive_in_order_after_the_delay() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = echo.accept().await.unwrap();
            let (mut read, mut write) = stream.split();
            tokio::io::copy(&mut read, &mut write).await.unwrap();
        });
        let relay = DelayRelay::start(target, Duration::from_millis(100))
            .await
            .unwrap();
        let mut client = TcpStream::connect(relay.addr()).await.unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let started = Instant::now();
        let (mut read, mut write) = client.split();
        let send = async {
            write.write_all(&data).await.unwrap();
            write.shutdown().await.unwrap();
        };
        let mut back = Vec::new();
        let receive = read.read_to_end(&mut back);
        let (_, received) = tokio::join!(send, receive);
        received.unwrap();
        assert_eq!(back, data);
        // There and back: at least two delays.
        assert!(started.elapsed() >= Duration::from_millis(200));
    }
}
