//! sshfan-testkit: SSH servers for sshfan's tests, benchmarks and demo.
//!
//! # Layout
//! - [`fleet`]: [`Fleet`], many virtual hosts served by russh from this process, over
//!   loopback TCP or in memory, with scripted [`Fault`]s.
//! - [`script`]: what fleet hosts do with commands (a built-in interpreter or `sh -c`).
//! - [`sshd`]: a real OpenSSH `sshd` on a loopback port, for interop tests.
//! - [`dropbear`]: a real Dropbear server on a loopback port, for interop tests.
//! - [`keys`]: throwaway keys and OpenSSH key files.
//! - [`agent`]: a real `ssh-agent` holding test keys.
//! - [`data`]: reproducible test data.
//! - [`delay`]: a relay that adds latency to a TCP link.
//! - [`kill`]: a stream wrapper whose connection can be cut (for mid-output drops).
//!
//! # Example
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use sshfan_testkit::Fleet;
//!
//! let fleet = Fleet::start(100).await?;
//! let client = fleet.client().build().unwrap();
//! let run = client.run("echo hello");
//! run.join(None).await.unwrap();
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod agent;
pub mod data;
pub mod delay;
pub mod dropbear;
pub mod fleet;
pub mod flights;
pub mod keys;
pub mod kill;
pub mod script;
mod server;
mod sftp;
pub mod sshd;

pub use agent::SshAgent;
pub use delay::{DelayRelay, Link};
pub use fleet::{Bind, FLEET_PASSWORD, FLEET_USER, Fleet, FleetBuilder};
pub use flights::FlightTransport;
pub use script::{Fault, SftpTrick};
pub use sshd::{Sshd, SshdOptions, SshdUnavailable};

/// Unwraps a test prerequisite, or skips the test with a clear reason.
///
/// Returns `None` (after printing `SKIPPED <test>: <reason>` to stderr) when the
/// prerequisite is missing; under `CI=true` a missing prerequisite fails the test instead,
/// so CI always runs what it claims to run.
#[allow(clippy::panic)]
pub fn require<T, E: std::fmt::Display>(test: &str, prerequisite: Result<T, E>) -> Option<T> {
    match prerequisite {
        Ok(value) => Some(value),
        Err(reason) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: prerequisite missing under CI=true: {reason}")
        }
        Err(reason) => {
            // Written to the stderr handle directly: the test harness captures only the
            // print macros, and a skip must be seen.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
            None
        }
    }
}

/// A loopback address where nothing listens, kept reserved while the returned socket
/// lives: connections to it are refused, and no other test can take the port meanwhile
/// (a port freed by dropping a listener can be taken by a fleet started in parallel).
pub fn refused_address() -> std::io::Result<(std::net::SocketAddr, tokio::net::TcpSocket)> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))?;
    Ok((socket.local_addr()?, socket))
}
