//! Connecting to one host: transport, SSH handshake and authentication under one connect
//! timeout, with retries for transient failures.
//!
//! russh has no connect timeout of its own, and a server that accepts TCP and never sends
//! its banner would hold a host forever: the whole setup runs under `tokio::time::timeout`,
//! and the error names the stage it interrupted. Handshakes take a permit from a separate
//! semaphore, so that a burst of new connections cannot starve sessions already running.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use russh::client::Handle;
use tokio::sync::Semaphore;
use tracing::debug;

use crate::auth::{Credentials, KeySource, Secret};
use crate::error::{ConnectStage, ErrorKind};
use crate::handler::{HostHandler, Notes, read_notes};
use crate::known_hosts::KnownHosts;
use crate::transport::Transport;

/// What every connection of a run shares.
pub(crate) struct Connector {
    pub transport: Arc<dyn Transport>,
    pub ssh_config: Arc<russh::client::Config>,
    pub known_hosts: Arc<KnownHosts>,
    pub credentials: Credentials,
    pub handshakes: Arc<Semaphore>,
    pub connect_timeout: Option<Duration>,
    pub retries: u32,
    pub retry_delay: Duration,
}

/// One host's resolved connection settings.
pub(crate) struct Target<'a> {
    pub name: &'a str,
    pub port: u16,
    pub user: &'a str,
    pub key: Option<&'a KeySource>,
    pub password: Option<&'a Secret>,
}

/// An authenticated session and the notes its handler keeps.
pub(crate) struct Connected {
    pub session: Handle<HostHandler>,
    pub notes: Notes,
}

impl Connector {
    /// Connects and authenticates, retrying transient failures.
    pub(crate) async fn connect(&self, target: &Target<'_>) -> Result<Connected, ErrorKind> {
        self.credentials.preflight(target.key)?;
        let mut attempt = 0;
        loop {
            match self.connect_once(target).await {
                Ok(connected) => return Ok(connected),
                Err(err) if err.is_transient() && attempt < self.retries => {
                    attempt += 1;
                    debug!(host = target.name, attempt, "retrying after: {err}");
                    tokio::time::sleep(self.retry_delay).await;
                }
                Err(err) => return Err(err),
            }
        }
    }

    async fn connect_once(&self, target: &Target<'_>) -> Result<Connected, ErrorKind> {
        // A closed semaphore never happens (we own it); treat it as "no cap".
        let _permit = self.handshakes.acquire().await.ok();
        let stage = AtomicU8::new(ConnectStage::Transport as u8);
        let notes = Notes::default();
        let setup = async {
            let stream = self.transport.connect(target.name, target.port).await?;
            stage.store(ConnectStage::Handshake as u8, Ordering::Relaxed);
            let handler = HostHandler::new(
                self.known_hosts.clone(),
                target.name.to_owned(),
                target.port,
                notes.clone(),
            );
            let mut session =
                russh::client::connect_stream(self.ssh_config.clone(), stream, handler)
                    .await
                    .map_err(|err| handshake_error(&notes, err))?;
            stage.store(ConnectStage::Auth as u8, Ordering::Relaxed);
            self.credentials
                .authenticate(&mut session, target.user, target.key, target.password)
                .await?;
            Ok(session)
        };
        let session = match self.connect_timeout {
            None => setup.await?,
            Some(after) => match tokio::time::timeout(after, setup).await {
                Ok(result) => result?,
                Err(_) => {
                    let stage = match stage.load(Ordering::Relaxed) {
                        s if s == ConnectStage::Handshake as u8 => ConnectStage::Handshake,
                        s if s == ConnectStage::Auth as u8 => ConnectStage::Auth,
                        _ => ConnectStage::Transport,
                    };
                    return Err(ErrorKind::ConnectTimeout { after, stage });
                }
            },
        };
        Ok(Connected { session, notes })
    }
}

fn handshake_error(notes: &Notes, err: russh::Error) -> ErrorKind {
    if let Some(host_key) = read_notes(notes, |n| n.host_key_error.take()) {
        return host_key;
    }
    match err {
        russh::Error::IO(io) => match ErrorKind::from_io(&io) {
            ErrorKind::Io { message } => ErrorKind::Handshake { message },
            other => other,
        },
        russh::Error::Disconnect | russh::Error::HUP => ErrorKind::Handshake {
            message: read_notes(notes, |n| n.disconnect.clone())
                .unwrap_or_else(|| "the server closed the connection".to_owned()),
        },
        other => ErrorKind::Handshake {
            message: other.to_string(),
        },
    }
}
