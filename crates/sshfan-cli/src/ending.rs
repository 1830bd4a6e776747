//! How a host ended, as the CLI reports it.
//!
//! A run's [`Outcome`] carries a typed [`sshfan::Error`]; a shard's `--json` output read
//! back by `sshfan merge` carries only the error's code and message. Summaries, gathered
//! headers and exit codes are computed from this one type, so that a merged run reports
//! exactly what one run would have.

use sshfan::{ExitStatus as RemoteStatus, Outcome};

/// How one host ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The command ran and ended with this status.
    Remote(RemoteStatus),
    /// The host failed: [`sshfan::ErrorKind::code`] and the error's message.
    Failed { code: String, message: String },
}

impl From<&Outcome> for Ending {
    fn from(outcome: &Outcome) -> Ending {
        match outcome {
            Ok(status) => Ending::Remote(status.clone()),
            Err(err) => Ending::Failed {
                code: err.kind().code().to_owned(),
                message: err.kind().to_string(),
            },
        }
    }
}

impl Ending {
    /// Whether the host ran the command and it exited 0.
    pub fn success(&self) -> bool {
        matches!(self, Ending::Remote(status) if status.success())
    }

    /// Whether the host was cancelled (by `-k` or Ctrl-C) before it finished.
    pub fn cancelled(&self) -> bool {
        matches!(self, Ending::Failed { code, .. }
            if code.parse() == Ok(sshfan::ErrorCode::Cancelled))
    }

    /// Whether a halted rollout never started the host.
    pub fn not_run(&self) -> bool {
        matches!(self, Ending::Failed { code, .. }
            if code.parse() == Ok(sshfan::ErrorCode::NotRun))
    }

    /// The category shown in summaries and gather headers, e.g. `exit 3`.
    pub fn category(&self) -> String {
        match self {
            Ending::Remote(RemoteStatus::Code(0)) => "ok".to_owned(),
            Ending::Remote(RemoteStatus::Code(code)) => format!("exit {code}"),
            Ending::Remote(RemoteStatus::Signal { name, .. }) => format!("signal {name}"),
            Ending::Remote(RemoteStatus::NoStatus) => "no exit status".to_owned(),
            Ending::Failed { code, .. } => {
                use sshfan::ErrorCode as C;
                match code.parse::<C>() {
                    Ok(C::ConnectTimeout) => "connect timeout",
                    Ok(C::CommandTimeout) => "command timeout",
                    Ok(C::IdleTimeout) => "idle timeout",
                    Ok(C::Resolve | C::NoIpv6Address | C::Refused | C::Unreachable) => {
                        "unreachable"
                    }
                    Ok(C::Auth | C::Key) => "auth failed",
                    Ok(C::HostKey) => "host key",
                    Ok(C::ConnectionLost) => "connection lost",
                    Ok(C::Cancelled) => "cancelled",
                    Ok(C::NotRun) => "not run",
                    // Other codes, and a merged shard's `incomplete`.
                    _ => "error",
                }
                .to_owned()
            }
        }
    }

    /// The stable key of this outcome in `--json`'s summary: `ok`, `exit_N`,
    /// `signal_NAME`, `no_exit_status`, or the error's code (`refused`, `auth`,
    /// `connect_timeout`, …; see [`sshfan::ErrorCode`]).
    pub fn key(&self) -> String {
        match self {
            Ending::Remote(RemoteStatus::Code(0)) => "ok".to_owned(),
            Ending::Remote(RemoteStatus::Code(code)) => format!("exit_{code}"),
            Ending::Remote(RemoteStatus::Signal { name, .. }) => format!("signal_{name}"),
            Ending::Remote(RemoteStatus::NoStatus) => "no_exit_status".to_owned(),
            Ending::Failed { code, .. } => code.clone(),
        }
    }

    /// Whether the failure is a timeout (exit code 4 rather than 3).
    pub fn timed_out(&self) -> bool {
        matches!(self, Ending::Failed { code, .. }
            if code.parse::<sshfan::ErrorCode>().is_ok_and(sshfan::ErrorCode::is_timeout))
    }
}

#[cfg(test)]
mod tests {
    use sshfan::{Error, ErrorKind};

    use super::*;

    #[test]
    fn categories_from_outcomes() {
        let refused: Outcome = Err(Error::new("a", ErrorKind::Refused));
        let ending = Ending::from(&refused);
        assert_eq!(ending.category(), "unreachable");
        assert!(!ending.success() && !ending.cancelled() && !ending.timed_out());
        assert_eq!(
            Ending::from(&Ok(RemoteStatus::Code(2))).category(),
            "exit 2"
        );
        assert!(Ending::from(&Ok(RemoteStatus::Code(0))).success());
    }
}
