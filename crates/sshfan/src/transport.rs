//! Transports: how a session's bytes reach its host.
//!
//! SSH runs over any ordered byte stream. TCP is the default ([`TcpTransport`]); the
//! testkit serves sessions in memory (no sockets, no file descriptors), and jump hosts and
//! ProxyCommand will provide a `direct-tcpip` channel or a subprocess's stdio. A transport
//! only opens the stream; timeouts, retries and the SSH layer stay in the connector.

use std::future::Future;
use std::io;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::ErrorKind;

/// A bidirectional byte stream a session can run over.
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> ByteStream for T {}

/// A boxed [`ByteStream`].
pub type BoxedStream = Box<dyn ByteStream>;

/// A boxed future returned by [`Transport::connect`].
pub type ConnectFuture<'a> =
    Pin<Box<dyn Future<Output = Result<BoxedStream, ErrorKind>> + Send + 'a>>;

/// Opens byte streams to hosts.
///
/// Return [`ErrorKind::Resolve`], [`ErrorKind::Refused`], [`ErrorKind::Unreachable`] or
/// [`ErrorKind::Io`] so that failures are reported (and retried) like TCP's.
pub trait Transport: Send + Sync + 'static {
    /// Opens a stream to `host` (a name or address, without brackets) on `port`.
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> ConnectFuture<'a>;
}

/// TCP with `TCP_NODELAY`, trying each resolved address in turn.
#[derive(Debug, Default, Clone, Copy)]
pub struct TcpTransport;

impl Transport for TcpTransport {
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> ConnectFuture<'a> {
        Box::pin(connect_tcp(host, port, false))
    }
}

/// [`TcpTransport`] over IPv6 addresses only (parallel-ssh's `ipv6_only`). A name without
/// one fails with [`ErrorKind::NoIpv6Address`].
#[derive(Debug, Default, Clone, Copy)]
pub struct Ipv6TcpTransport;

/// The text of [`ErrorKind::NoIpv6Address`].
pub const NO_IPV6_ADDRESS: &str = "no IPv6 address found";

impl Transport for Ipv6TcpTransport {
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> ConnectFuture<'a> {
        Box::pin(connect_tcp(host, port, true))
    }
}

async fn connect_tcp(host: &str, port: u16, ipv6_only: bool) -> Result<BoxedStream, ErrorKind> {
    let addrs: Vec<std::net::SocketAddr> = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![(ip, port).into()],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|err| resolve_error(&err))?
            .collect(),
    };
    let mut last = if ipv6_only {
        ErrorKind::NoIpv6Address {
            host: host.to_owned(),
        }
    } else {
        ErrorKind::Resolve {
            message: "no addresses found".to_owned(),
        }
    };
    for addr in addrs
        .into_iter()
        .filter(|addr| !ipv6_only || addr.is_ipv6())
    {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(stream) => {
                // Interactive latency matters more than packet count here.
                let _ = stream.set_nodelay(true);
                return Ok(Box::new(stream) as BoxedStream);
            }
            Err(err) => last = ErrorKind::from_io(&err),
        }
    }
    Err(last)
}

fn resolve_error(err: &io::Error) -> ErrorKind {
    match ErrorKind::from_io(err) {
        ErrorKind::TooManyOpenFiles => ErrorKind::TooManyOpenFiles,
        _ => ErrorKind::Resolve {
            message: err.to_string(),
        },
    }
}
