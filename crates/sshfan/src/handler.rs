//! The russh client handler for one host: host-key check and disconnect bookkeeping.
//!
//! russh calls [`HostHandler::check_server_key`] during the handshake; a refused key ends
//! the handshake with a generic error, so the handler keeps the precise reason (unknown or
//! changed key, with fingerprint) in a slot the connector reads afterwards. Likewise the
//! reason a connection dropped is kept so that "connection lost" can say why.

use std::sync::{Arc, Mutex, PoisonError};

use russh::client::{DisconnectReason, Handler};
use russh::keys::PublicKeyOrCertificate;

use crate::error::ErrorKind;
use std::path::PathBuf;

use tracing::debug;

use crate::known_hosts::{HostKeys, KnownHosts, Offered};

/// Facts the handler learns that the caller reads after russh returns.
#[derive(Default)]
pub(crate) struct SessionNotes {
    /// Why the host key was refused.
    pub host_key_error: Option<ErrorKind>,
    /// Why the session ended, when the server or transport ended it.
    pub disconnect: Option<String>,
    /// Signalled when the session is gone (its handler is dropped with it), so that work
    /// waiting on the session (an SFTP request, say) does not wait for its own timeout.
    pub closed: Arc<tokio::sync::Notify>,
    /// Clean-up work (an upload's temporary file to remove) to finish before closing.
    pub cleanups: crate::cleanup::Cleanups,
}

/// Shared slot for [`SessionNotes`].
pub(crate) type Notes = Arc<Mutex<SessionNotes>>;

pub(crate) fn read_notes<T>(notes: &Notes, read: impl FnOnce(&mut SessionNotes) -> T) -> T {
    read(&mut notes.lock().unwrap_or_else(PoisonError::into_inner))
}

/// russh handler for one host session.
pub struct HostHandler {
    known_hosts: Arc<KnownHosts>,
    /// What `known_hosts` says of this host, looked up before the handshake.
    host_keys: HostKeys,
    notes: Notes,
    /// Where forwarded agent channels go, when agent forwarding is on.
    agent: Option<PathBuf>,
}

impl HostHandler {
    pub(crate) fn new(
        known_hosts: Arc<KnownHosts>,
        host_keys: HostKeys,
        notes: Notes,
        agent: Option<PathBuf>,
    ) -> Self {
        HostHandler {
            known_hosts,
            host_keys,
            notes,
            agent,
        }
    }
}

impl Drop for HostHandler {
    fn drop(&mut self) {
        read_notes(&self.notes, |notes| notes.closed.clone()).notify_one();
    }
}

impl Handler for HostHandler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let offered = match server_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => Offered::Key(key.key_data()),
            PublicKeyOrCertificate::Certificate(cert) => Offered::Certificate(cert),
        };
        match self.known_hosts.verify_known(&self.host_keys, offered) {
            Ok(()) => Ok(true),
            Err(err) => {
                read_notes(&self.notes, |notes| notes.host_key_error = Some(err));
                Ok(false)
            }
        }
    }

    /// A command on the host opened a channel to the forwarded agent: connect it to the
    /// local agent and copy both ways until either side closes.
    async fn server_channel_open_agent_forward(
        &mut self,
        channel: russh::Channel<russh::client::Msg>,
        reply: russh::client::ChannelOpenHandle,
        _session: &mut russh::client::Session,
    ) -> Result<(), Self::Error> {
        // Dropping the reply refuses the channel.
        let Some(socket) = self.agent.clone() else {
            return Ok(());
        };
        reply.accept().await;
        tokio::spawn(async move {
            match tokio::net::UnixStream::connect(&socket).await {
                Ok(mut agent) => {
                    let mut stream = channel.into_stream();
                    let _ = tokio::io::copy_bidirectional(&mut stream, &mut agent).await;
                }
                Err(err) => debug!(
                    "cannot reach the local agent at {}: {err}",
                    socket.display()
                ),
            }
        });
        Ok(())
    }

    // Channels the client never asked for are refused (dropping the reply refuses):
    // russh's defaults accept them, and a server could open thousands.
    // (The trait has one method per channel type; each only logs the refusal.)

    async fn server_channel_open_session(
        &mut self,
        _channel: russh::Channel<russh::client::Msg>,
        _reply: russh::client::ChannelOpenHandle,
        _session: &mut russh::client::Session,
    ) -> Result<(), Self::Error> {
        debug!(host = %self.host_keys.host(), "refused a session channel the server opened");
        Ok(())
    }

    async fn server_channel_open_x11(
        &mut self,
        _channel: russh::Channel<russh::client::Msg>,
        _originator_address: &str,
        _originator_port: u32,
        _reply: russh::client::ChannelOpenHandle,
        _session: &mut russh::client::Session,
    ) -> Result<(), Self::Error> {
        debug!(host = %self.host_keys.host(), "refused an X11 channel (no X11 forwarding asked for)");
        Ok(())
    }

    async fn server_channel_open_forwarded_tcpip(
        &mut self,
        _channel: russh::Channel<russh::client::Msg>,
        _connected_address: &str,
        _connected_port: u32,
        _originator_address: &str,
        _originator_port: u32,
        _reply: russh::client::ChannelOpenHandle,
        _session: &mut russh::client::Session,
    ) -> Result<(), Self::Error> {
        debug!(host = %self.host_keys.host(), "refused a forwarded-tcpip channel (no forwarding asked for)");
        Ok(())
    }

    async fn server_channel_open_forwarded_streamlocal(
        &mut self,
        _channel: russh::Channel<russh::client::Msg>,
        _socket_path: &str,
        _reply: russh::client::ChannelOpenHandle,
        _session: &mut russh::client::Session,
    ) -> Result<(), Self::Error> {
        debug!(host = %self.host_keys.host(), "refused a forwarded-streamlocal channel");
        Ok(())
    }

    async fn server_channel_open_direct_tcpip(
        &mut self,
        _channel: russh::Channel<russh::client::Msg>,
        _host_to_connect: &str,
        _port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        _reply: russh::client::ChannelOpenHandle,
        _session: &mut russh::client::Session,
    ) -> Result<(), Self::Error> {
        debug!(host = %self.host_keys.host(), "refused a direct-tcpip channel the server opened");
        Ok(())
    }

    async fn server_channel_open_direct_streamlocal(
        &mut self,
        _channel: russh::Channel<russh::client::Msg>,
        _socket_path: &str,
        _reply: russh::client::ChannelOpenHandle,
        _session: &mut russh::client::Session,
    ) -> Result<(), Self::Error> {
        debug!(host = %self.host_keys.host(), "refused a direct-streamlocal channel the server opened");
        Ok(())
    }

    async fn disconnected(
        &mut self,
        reason: DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        let text = match &reason {
            // The description is the server's text: shown escaped, and cut short.
            DisconnectReason::ReceivedDisconnect(info) => {
                let message: String = info.message.chars().take(512).collect();
                format!(
                    "server disconnected ({:?}): {}",
                    info.reason_code,
                    message.escape_debug()
                )
            }
            DisconnectReason::Error(err) => err.to_string(),
        };
        read_notes(&self.notes, |notes| {
            notes.disconnect.get_or_insert(text);
        });
        match reason {
            DisconnectReason::ReceivedDisconnect(_) => Ok(()),
            DisconnectReason::Error(err) => Err(err),
        }
    }
}
