//! Exit codes, defined in one place (documented in `--help` and the README).
//!
//! 0: every host ran the command and it exited 0. 1: some remote command failed
//! (non-zero exit, signal, no status). 2: usage error. 3: some host could not run the
//! command (unreachable, refused, DNS, host key, auth, lost connection, …). 4: some host
//! timed out. 5: a rollout halted (failure budget or gate). 130: interrupted. The highest applicable code wins.
//! With `-S`, the largest remote exit code instead (pdsh/clush): 128+N for signal N and
//! 255 for a host that could not run the command.

use std::process::ExitCode;

use sshfan::ExitStatus as RemoteStatus;

use crate::ending::Ending;

/// A mistake in how sshfan was called: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    Success,
    RemoteFailure,
    Usage,
    HostError,
    Timeout,
    /// A rollout stopped early (its failure budget or its gate): exit code 5.
    Halted,
    Interrupted,
    /// `-S`: the largest remote exit code.
    Remote(u8),
}

impl ExitStatus {
    /// The status one host's outcome calls for. Hosts cancelled by `-k` or Ctrl-C do not
    /// count: the failure or interruption that cancelled them does.
    pub fn of(ending: &Ending) -> ExitStatus {
        match ending {
            Ending::Remote(status) if status.success() => ExitStatus::Success,
            Ending::Remote(_) => ExitStatus::RemoteFailure,
            failed if failed.timed_out() => ExitStatus::Timeout,
            failed if failed.not_run() => ExitStatus::Halted,
            failed if failed.cancelled() => ExitStatus::Success,
            Ending::Failed { .. } => ExitStatus::HostError,
        }
    }

    /// `-S`: the host's remote exit code, or `None` for hosts that do not count.
    pub fn remote_code(ending: &Ending) -> Option<u8> {
        match ending {
            Ending::Remote(RemoteStatus::Code(code)) => Some((*code).min(255) as u8),
            Ending::Remote(RemoteStatus::Signal { name, .. }) => {
                Some(128u8.saturating_add(signal_number(name)))
            }
            Ending::Remote(RemoteStatus::NoStatus) => Some(255),
            failed if failed.cancelled() || failed.not_run() => None,
            Ending::Failed { .. } => Some(255),
        }
    }
}

fn signal_number(name: &str) -> u8 {
    match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "ABRT" => 6,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        _ => 0,
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(match status {
            ExitStatus::Success => 0,
            ExitStatus::RemoteFailure => 1,
            ExitStatus::Usage => 2,
            ExitStatus::HostError => 3,
            ExitStatus::Timeout => 4,
            ExitStatus::Halted => 5,
            ExitStatus::Interrupted => 130,
            ExitStatus::Remote(code) => code,
        })
    }
}
