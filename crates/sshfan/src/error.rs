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
    /// Opening the channel and starting the command on a connected session: the
    /// connect timeout covers everything until the remote command has started.
    Start,
}

impl fmt::Display for ConnectStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectStage::Transport => "connecting",
            ConnectStage::Handshake => "during the SSH handshake",
            ConnectStage::Auth => "during authentication",
            ConnectStage::Start => "while starting the command",
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
    /// Only IPv6 was asked for ([`crate::Ipv6TcpTransport`]) and the name has no IPv6
    /// address.
    #[error("{}: {host}", crate::transport::NO_IPV6_ADDRESS)]
    NoIpv6Address {
        /// The host name.
        host: String,
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
    /// A rollout halted before this host's wave (or before this host) started: see
    /// [`crate::rollout`].
    #[error("not run: {reason}")]
    NotRun {
        /// Why the rollout halted.
        reason: String,
    },
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

    /// A short stable identifier for the kind, for logs and machine-readable output
    /// (`ErrorKind::error_code().as_str()`).
    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }

    /// The kind as a value, without its details: for summaries, exit codes and bindings.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            ErrorKind::Resolve { .. } => ErrorCode::Resolve,
            ErrorKind::NoIpv6Address { .. } => ErrorCode::NoIpv6Address,
            ErrorKind::Refused => ErrorCode::Refused,
            ErrorKind::Unreachable { .. } => ErrorCode::Unreachable,
            ErrorKind::ConnectTimeout { .. } => ErrorCode::ConnectTimeout,
            ErrorKind::Handshake { .. } => ErrorCode::Handshake,
            ErrorKind::Proxy { .. } => ErrorCode::Proxy,
            ErrorKind::Config { .. } => ErrorCode::Config,
            ErrorKind::Transfer { .. } => ErrorCode::Transfer,
            ErrorKind::HostKey { .. } => ErrorCode::HostKey,
            ErrorKind::Auth { .. } => ErrorCode::Auth,
            ErrorKind::Key { .. } => ErrorCode::Key,
            ErrorKind::CommandTimeout { .. } => ErrorCode::CommandTimeout,
            ErrorKind::IdleTimeout { .. } => ErrorCode::IdleTimeout,
            ErrorKind::Internal { .. } => ErrorCode::Internal,
            ErrorKind::ConnectionLost { .. } => ErrorCode::ConnectionLost,
            ErrorKind::Channel { .. } => ErrorCode::Channel,
            ErrorKind::TooManyOpenFiles => ErrorCode::TooManyOpenFiles,
            ErrorKind::Io { .. } => ErrorCode::Io,
            ErrorKind::Cancelled => ErrorCode::Cancelled,
            ErrorKind::NotRun { .. } => ErrorCode::NotRun,
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

/// The kind of a failure as a value: [`ErrorKind::error_code`]. Its text form
/// ([`as_str`](ErrorCode::as_str), [`FromStr`](std::str::FromStr)) is the stable code of
/// `--json` output and the Python bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `resolve`
    Resolve,
    /// `no_ipv6`
    NoIpv6Address,
    /// `refused`
    Refused,
    /// `unreachable`
    Unreachable,
    /// `connect_timeout`
    ConnectTimeout,
    /// `handshake`
    Handshake,
    /// `proxy`
    Proxy,
    /// `config`
    Config,
    /// `transfer`
    Transfer,
    /// `host_key`
    HostKey,
    /// `auth`
    Auth,
    /// `key`
    Key,
    /// `command_timeout`
    CommandTimeout,
    /// `idle_timeout`
    IdleTimeout,
    /// `internal`
    Internal,
    /// `connection_lost`
    ConnectionLost,
    /// `channel`
    Channel,
    /// `too_many_open_files`
    TooManyOpenFiles,
    /// `io`
    Io,
    /// `cancelled`
    Cancelled,
    /// `not_run`
    NotRun,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 21] = [
        ErrorCode::Resolve,
        ErrorCode::NoIpv6Address,
        ErrorCode::Refused,
        ErrorCode::Unreachable,
        ErrorCode::ConnectTimeout,
        ErrorCode::Handshake,
        ErrorCode::Proxy,
        ErrorCode::Config,
        ErrorCode::Transfer,
        ErrorCode::HostKey,
        ErrorCode::Auth,
        ErrorCode::Key,
        ErrorCode::CommandTimeout,
        ErrorCode::IdleTimeout,
        ErrorCode::Internal,
        ErrorCode::ConnectionLost,
        ErrorCode::Channel,
        ErrorCode::TooManyOpenFiles,
        ErrorCode::Io,
        ErrorCode::Cancelled,
        ErrorCode::NotRun,
    ];

    /// The stable text form.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Resolve => "resolve",
            ErrorCode::NoIpv6Address => "no_ipv6",
            ErrorCode::Refused => "refused",
            ErrorCode::Unreachable => "unreachable",
            ErrorCode::ConnectTimeout => "connect_timeout",
            ErrorCode::Handshake => "handshake",
            ErrorCode::Proxy => "proxy",
            ErrorCode::Config => "config",
            ErrorCode::Transfer => "transfer",
            ErrorCode::HostKey => "host_key",
            ErrorCode::Auth => "auth",
            ErrorCode::Key => "key",
            ErrorCode::CommandTimeout => "command_timeout",
            ErrorCode::IdleTimeout => "idle_timeout",
            ErrorCode::Internal => "internal",
            ErrorCode::ConnectionLost => "connection_lost",
            ErrorCode::Channel => "channel",
            ErrorCode::TooManyOpenFiles => "too_many_open_files",
            ErrorCode::Io => "io",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::NotRun => "not_run",
        }
    }

    /// Whether the failure is a timeout (connecting, the command, or a stalled transfer).
    pub fn is_timeout(self) -> bool {
        matches!(
            self,
            ErrorCode::ConnectTimeout | ErrorCode::CommandTimeout | ErrorCode::IdleTimeout
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that is not one of [`ErrorCode`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code `{0}`")]
pub struct UnknownErrorCode(pub String);

impl std::str::FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ErrorCode::ALL
            .into_iter()
            .find(|code| code.as_str() == text)
            .ok_or_else(|| UnknownErrorCode(text.to_owned()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_round_trip_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
            assert!(seen.insert(code.as_str()), "{code} twice");
        }
        assert!("incomplete".parse::<ErrorCode>().is_err());
        assert!(ErrorCode::IdleTimeout.is_timeout() && !ErrorCode::Refused.is_timeout());
        let kind = ErrorKind::NoIpv6Address {
            host: "web1".into(),
        };
        assert_eq!(kind.code(), "no_ipv6");
        assert_eq!(kind.to_string(), "no IPv6 address found: web1");
    }
}
