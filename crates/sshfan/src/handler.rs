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
use crate::known_hosts::{KnownHosts, Offered};

/// Facts the handler learns that the caller reads after russh returns.
#[derive(Default)]
pub(crate) struct SessionNotes {
    /// Why the host key was refused.
    pub host_key_error: Option<ErrorKind>,
    /// Why the session ended, when the server or transport ended it.
    pub disconnect: Option<String>,
}

/// Shared slot for [`SessionNotes`].
pub(crate) type Notes = Arc<Mutex<SessionNotes>>;

pub(crate) fn read_notes<T>(notes: &Notes, read: impl FnOnce(&mut SessionNotes) -> T) -> T {
    read(&mut notes.lock().unwrap_or_else(PoisonError::into_inner))
}

/// russh handler for one host session.
pub struct HostHandler {
    known_hosts: Arc<KnownHosts>,
    host: String,
    port: u16,
    notes: Notes,
}

impl HostHandler {
    pub(crate) fn new(known_hosts: Arc<KnownHosts>, host: String, port: u16, notes: Notes) -> Self {
        HostHandler {
            known_hosts,
            host,
            port,
            notes,
        }
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
        match self.known_hosts.verify(&self.host, self.port, offered) {
            Ok(()) => Ok(true),
            Err(err) => {
                read_notes(&self.notes, |notes| notes.host_key_error = Some(err));
                Ok(false)
            }
        }
    }

    async fn disconnected(
        &mut self,
        reason: DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        let text = match &reason {
            DisconnectReason::ReceivedDisconnect(info) => {
                format!(
                    "server disconnected ({:?}): {}",
                    info.reason_code, info.message
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
