//! parallel-ssh's `ipv6_only`: connect over IPv6 addresses only.

use sshfan::ErrorKind;
use sshfan::transport::{BoxedStream, ConnectFuture, Transport};

/// The message of the resolve error when a name has no IPv6 address; the Python layer
/// turns it into `NoIPv6AddressFoundError`.
pub const NO_IPV6: &str = "no IPv6 address found";

/// TCP to the host's IPv6 addresses only.
pub struct Ipv6OnlyTransport;

impl Transport for Ipv6OnlyTransport {
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> ConnectFuture<'a> {
        Box::pin(async move {
            let addrs: Vec<std::net::SocketAddr> = match host.parse::<std::net::IpAddr>() {
                Ok(ip) => vec![(ip, port).into()],
                Err(_) => tokio::net::lookup_host((host, port))
                    .await
                    .map_err(|err| ErrorKind::Resolve {
                        message: err.to_string(),
                    })?
                    .collect(),
            };
            let mut last = ErrorKind::Resolve {
                message: format!("{NO_IPV6} for {host}"),
            };
            for addr in addrs.into_iter().filter(std::net::SocketAddr::is_ipv6) {
                match tokio::net::TcpStream::connect(addr).await {
                    Ok(stream) => {
                        let _ = stream.set_nodelay(true);
                        return Ok(Box::new(stream) as BoxedStream);
                    }
                    Err(err) => last = ErrorKind::from_io(&err),
                }
            }
            Err(last)
        })
    }
}
