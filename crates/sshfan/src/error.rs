//! Errors: every per-host failure is a value naming its host and its kind.
//!
//! A parallel run never aborts because one host failed: each host's outcome is a
//! `Result<ExitStatus, Error>`, and [`ErrorKind`] tells callers (and the CLI's exit code)
//! what went wrong without parsing messages. Errors are `Clone` so that one outcome can
//! be read by several waiters (a join and a reader, say).

use std::fmt;
use std::time::Duration;

/// A failure on one host: which host, and what happened.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{host}: {kind}")]
pub struct Error {
    /// The host's label (its alias, or the host name as given).
    pub host: String,
    /// What went wrong.
    pub kind: ErrorKind,
}

impl Error {
    /// Builds an error for `host`.
    pub fn new(host: impl Into<String>, kind: ErrorKind) -> Self {
        Error {
            host: host.into(),
            kind,
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

/// The stage of connection setup that a connect timeout interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectStage {
    /// Resolving the name and opening the TCP (or other transport) connection.
    Transport,
    /// SSH version exchange and key exchange.
    Handshake,
    /// User authentication.
    Auth,
}

impl fmt::Display for ConnectStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectStage::Transport => "connecting",
            ConnectStage::Handshake => "during the SSH handshake",
            ConnectStage::Auth => "during authentication",
        })
    }
}

/// What went wrong on one host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The host name did not resolve to an address.
    #[error("failed to resolve host name: {message}")]
    Resolve {
        /// The resolver's message.
        message: String,
    },
    /// The host actively refused the connection (nothing listens on the port).
    #[error("connection refused")]
    Refused,
    /// No route to the host or network.
    #[error("host unreachable: {message}")]
    Unreachable {
        /// The system's message.
        message: String,
    },
    /// Connection setup (transport, handshake and authentication) took longer than allowed.
    #[error("connect timed out after {after:?} {stage}")]
    ConnectTimeout {
        /// The configured connect timeout.
        after: Duration,
        /// What was under way when time ran out.
        stage: ConnectStage,
    },
    /// The SSH handshake failed (protocol error, no common algorithm, ...).
    #[error("SSH handshake failed: {message}")]
    Handshake {
        /// Details from the SSH layer.
        message: String,
    },
    /// The server's host key was not accepted by the host-key policy.
    #[error("{message}")]
    HostKey {
        /// Why the key was refused, with its SHA256 fingerprint.
        message: String,
    },
    /// Authentication failed with every method tried.
    #[error("failed to authenticate `{user}`: {message}")]
    Auth {
        /// The remote user name.
        user: String,
        /// Which methods were tried and what the server offered.
        message: String,
    },
    /// A private key could not be loaded (missing file, wrong passphrase, bad format).
    #[error("failed to load key {source_name}: {message}")]
    Key {
        /// The key's file path, or `<in-memory key>`.
        source_name: String,
        /// What was wrong with it.
        message: String,
    },
    /// The host's settings cannot work (a bad ssh_config, a malformed jump host).
    #[error("bad settings: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
    /// A jump host or proxy command on the way to the host failed.
    #[error("via {hop}: {message}")]
    Proxy {
        /// The hop: `user@host:port` of a jump host, or the proxy command.
        hop: String,
        /// What went wrong there.
        message: String,
    },
    /// A file transfer failed (local or remote file missing, permission denied, disk full,
    /// a directory where a file was expected, …).
    #[error("{path}: {message}")]
    Transfer {
        /// The file concerned.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The command ran longer than the command timeout; its channel was closed.
    #[error("command timed out after {after:?}")]
    CommandTimeout {
        /// The configured command timeout.
        after: Duration,
    },
    /// A transfer saw nothing from the server for longer than its idle timeout.
    #[error("the server sent nothing for {after:?} (idle timeout)")]
    IdleTimeout {
        /// The idle timeout.
        after: Duration,
    },
    /// A host's task failed in an unexpected way (a bug in sshfan, caught so that the
    /// other hosts go on).
    #[error("internal error: {message}")]
    Internal {
        /// What went wrong.
        message: String,
    },
    /// The connection dropped while the command was running.
    #[error("connection lost: {message}")]
    ConnectionLost {
        /// What the transport or SSH layer reported.
        message: String,
    },
    /// The server refused to open a session channel or to run the command.
    #[error("channel request failed: {message}")]
    Channel {
        /// What was refused.
        message: String,
    },
    /// The client ran out of file descriptors for this host.
    #[error("too many open files on the client (raise `ulimit -n` or lower the pool size)")]
    TooManyOpenFiles,
    /// Any other I/O failure.
    #[error("I/O error: {message}")]
    Io {
        /// The system's message.
        message: String,
    },
    /// The run was cancelled (or stopped early) before this host finished.
    #[error("cancelled")]
    Cancelled,
}

impl ErrorKind {
    /// Whether a new connection attempt may succeed (used for retries).
    ///
    /// Connection-level failures are transient; authentication, host-key and key-loading
    /// failures are not, and retrying them only delays the error (or locks accounts).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ErrorKind::Refused
                | ErrorKind::Unreachable { .. }
                | ErrorKind::ConnectTimeout { .. }
                | ErrorKind::Handshake { .. }
                | ErrorKind::TooManyOpenFiles
                | ErrorKind::Io { .. }
        )
    }

    /// Whether the failure happened while connecting (as opposed to while running the command).
    pub fn is_connect_error(&self) -> bool {
        !matches!(
            self,
            ErrorKind::CommandTimeout { .. }
                | ErrorKind::IdleTimeout { .. }
                | ErrorKind::Internal { .. }
                | ErrorKind::ConnectionLost { .. }
                | ErrorKind::Channel { .. }
                | ErrorKind::Transfer { .. }
        )
    }

    /// A short stable identifier for the kind, for logs and machine-readable output.
    pub fn code(&self) -> &'static str {
        match self {
            ErrorKind::Resolve { .. } => "resolve",
            ErrorKind::Refused => "refused",
            ErrorKind::Unreachable { .. } => "unreachable",
            ErrorKind::ConnectTimeout { .. } => "connect_timeout",
            ErrorKind::Handshake { .. } => "handshake",
            ErrorKind::Proxy { .. } => "proxy",
            ErrorKind::Config { .. } => "config",
            ErrorKind::Transfer { .. } => "transfer",
            ErrorKind::HostKey { .. } => "host_key",
            ErrorKind::Auth { .. } => "auth",
            ErrorKind::Key { .. } => "key",
            ErrorKind::CommandTimeout { .. } => "command_timeout",
            ErrorKind::IdleTimeout { .. } => "idle_timeout",
            ErrorKind::Internal { .. } => "internal",
            ErrorKind::ConnectionLost { .. } => "connection_lost",
            ErrorKind::Channel { .. } => "channel",
            ErrorKind::TooManyOpenFiles => "too_many_open_files",
            ErrorKind::Io { .. } => "io",
            ErrorKind::Cancelled => "cancelled",
        }
    }

    /// Classifies an I/O error from connecting or talking to a host.
    pub(crate) fn from_io(err: &std::io::Error) -> ErrorKind {
        use std::io::ErrorKind as Io;
        if err.raw_os_error() == Some(libc::EMFILE) || err.raw_os_error() == Some(libc::ENFILE) {
            return ErrorKind::TooManyOpenFiles;
        }
        match err.kind() {
            Io::ConnectionRefused => ErrorKind::Refused,
            Io::HostUnreachable | Io::NetworkUnreachable | Io::AddrNotAvailable => {
                ErrorKind::Unreachable {
                    message: err.to_string(),
                }
            }
            _ => ErrorKind::Io {
                message: err.to_string(),
            },
        }
    }
}

/// An invalid argument to the client builder or a host specification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A host specification could not be parsed.
    #[error("invalid host `{spec}`: {reason}")]
    InvalidHost {
        /// The text that was given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting has a value that cannot work (a pool size of zero, say).
    #[error("invalid setting `{name}`: {reason}")]
    InvalidSetting {
        /// The setting's name.
        name: &'static str,
        /// Why the value cannot work.
        reason: String,
    },
}
