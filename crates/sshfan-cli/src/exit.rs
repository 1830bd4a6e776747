//! Exit codes, defined in one place.
//!
//! 0: every host ran the command and it exited 0. 1: some remote command failed (non-zero
//! exit, signal, no status). 2: a usage error, or some host could not run the command
//! (connect, auth, host key, timeout, lost connection). 130: interrupted by Ctrl-C.
//! A host error outranks a remote failure.

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    Success,
    RemoteFailure,
    Error,
    Interrupted,
}

impl ExitStatus {
    pub fn of(outcome: &sshfan::Outcome) -> ExitStatus {
        match outcome {
            Ok(status) if status.success() => ExitStatus::Success,
            Ok(_) => ExitStatus::RemoteFailure,
            Err(_) => ExitStatus::Error,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(match status {
            ExitStatus::Success => 0,
            ExitStatus::RemoteFailure => 1,
            ExitStatus::Error => 2,
            ExitStatus::Interrupted => 130,
        })
    }
}
