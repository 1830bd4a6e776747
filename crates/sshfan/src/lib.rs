//! sshfan: an asynchronous parallel SSH client.
//!
//! Run one command on hundreds to hundreds of thousands of hosts at once, stream each
//! host's output as it arrives, and collect exit codes, with minimal load on the client:
//! one Tokio task per host in flight, no thread or process per host.
//!
//! # Layout
//! - [`host`]: host specifications (`[user@]host[:port]`) and per-host overrides.
//! - [`nodeset`]: host-list expressions (`web[01-20]`), folding and set operations.
//! - [`config`]: client settings and the [`ClientBuilder`].
//! - [`parallel`]: [`ParallelClient`], [`Run`] and joins; each host's [`HostOutput`] (module `host_output`).
//! - [`output`]: bounded output buffers, [`OutputReader`], [`ExitStatus`].
//! - [`copy`]: SFTP (pipelined) and SCP uploads and downloads on every host.
//! - [`auth`]: the authentication chain (keys, agent, identities, password,
//!   keyboard-interactive).
//! - [`known_hosts`]: host-key verification (strict by default).
//! - [`ssh_config`]: `~/.ssh/config` parsing and per-host resolution.
//! - [`transport`]: how bytes reach a host (TCP, or any async byte stream).
//! - [`error`]: per-host [`Error`]s with an [`ErrorKind`].
//!
//! # Example
//! ```no_run
//! use std::time::Duration;
//! use sshfan::ParallelClient;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let client = ParallelClient::builder()
//!         .hosts(["web01", "web02", "deploy@db01:2222"])?
//!         .connect_timeout(Duration::from_secs(5))
//!         .build()?;
//!     let mut run = client.run("uptime");
//!     run.join(None).await?;
//!     for host in run.outputs_mut() {
//!         while let Some(line) = host.stdout.next_line().await {
//!             println!("{}: {}", host.label(), String::from_utf8_lossy(&line));
//!         }
//!         match host.outcome() {
//!             Some(Ok(status)) => println!("{}: {status}", host.label()),
//!             Some(Err(err)) => eprintln!("{err}"),
//!             None => unreachable!("joined"),
//!         }
//!     }
//!     Ok(())
//! }
//! ```
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod auth;
mod cleanup;
pub mod command;
pub mod config;
mod connect;
pub mod copy;
pub mod error;
mod exec;
mod handler;
pub mod host;
mod host_output;
mod host_state;
pub mod known_hosts;
mod limits;
pub mod nodeset;
pub mod outliers;
pub mod output;
pub mod parallel;
mod prepare;
mod proxy;
mod resolve;
pub mod rollout;
mod run;
mod run_options;
mod scheduler;
mod sessions;
mod spare;
pub mod ssh_config;
mod sudo;
pub mod transport;

pub use auth::{AgentSocket, AuthMethods, KeySource, Secret};
pub use config::{ClientBuilder, ClientConfig, RoundTripCuts, SshConfigSource};
pub use error::{ConfigError, ConnectStage, Error, ErrorCode, ErrorKind, UnknownErrorCode};
pub use host::Host;
pub use host_output::{Completions, HostOutput, HostStdin, StdinClosed};
pub use known_hosts::{HostKeyConfig, HostKeyPolicy};
pub use limits::{default_max_sessions, raise_open_file_limit};
pub use output::{ExitStatus, LineBatch, OutputReader, ReadTimeout};
pub use parallel::{JoinTimeout, Joiner, Outcome, ParallelClient, Progress, Run, Timing};
pub use run_options::{RunOptions, Sudo};
pub use transport::{
    BoxedStream, ByteStream, ConnectFuture, Ipv6TcpTransport, TcpTransport, Transport,
};
