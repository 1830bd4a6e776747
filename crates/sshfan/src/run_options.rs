//! What a run asks for besides its command line: stdin, PTY, environment, sudo, a custom
//! shell, read timeouts, fail-fast.

use std::time::Duration;

use bytes::Bytes;

use crate::auth::Secret;
use crate::command::CommandLine;

/// Run a command through sudo (see [`RunOptions::sudo`]).
#[derive(Debug, Clone, Default)]
pub struct Sudo {
    /// Run as this user (`sudo -u`); root when `None`.
    pub user: Option<String>,
    /// Written on stdin when sudo prompts for it (`sudo -S`), and only then: a sudo that
    /// needs no password (NOPASSWD, cached, root) never sees it. Never echoed or logged.
    pub password: Option<Secret>,
}

/// Options for [`crate::ParallelClient::run_with`] and friends.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Bytes written to every host's stdin (the same bytes, read once), then EOF. When
    /// `None`, each host's stdin is open for [`crate::HostStdin`] until closed.
    pub stdin: Option<Bytes>,
    /// Start no more hosts once one has failed (see [`crate::Joiner::stop_pending`]).
    pub fail_fast: bool,
    /// Ask for a pseudo-terminal (parallel-ssh's `use_pty`): stdout and stderr then arrive
    /// merged on stdout, and a command timeout or cancel hangs up the terminal, which ends
    /// the remote process.
    pub pty: bool,
    /// Environment variables sent with the request; OpenSSH accepts only names its
    /// `AcceptEnv` lists (none by default) and ignores the rest.
    pub env: Vec<(String, String)>,
    /// Run through `sudo` (as a user, with a password).
    pub sudo: Option<Sudo>,
    /// Run under this shell instead of the login shell's own parsing: `bash -c` runs
    /// `bash -c '<command>'`.
    pub shell: Option<String>,
    /// A reader waiting longer than this for output gets [`crate::output::ReadTimeout`].
    pub read_timeout: Option<Duration>,
    /// This job's command timeout, instead of the client's (`None`: the client's).
    pub command_timeout: Option<Duration>,
    /// Hosts in flight at once for this job, instead of the client's `pool_size`.
    pub pool_size: Option<usize>,
    /// Run the hosts in waves, with a failure budget and a gate (see [`crate::rollout`]).
    pub rollout: Option<crate::rollout::Rollout>,
}

impl RunOptions {
    /// Sends `data` to every host's stdin, then closes it.
    pub fn stdin(mut self, data: impl Into<Bytes>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    /// Asks for a pseudo-terminal.
    pub fn pty(mut self, on: bool) -> Self {
        self.pty = on;
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Runs through sudo as `user` (root when `None`), feeding `password` if given.
    pub fn sudo(mut self, user: Option<&str>, password: Option<&str>) -> Self {
        self.sudo = Some(Sudo {
            user: user.map(str::to_owned),
            password: password.map(Secret::new),
        });
        self
    }

    /// Runs under `shell` (e.g. `bash -c`).
    pub fn shell(mut self, shell: impl Into<String>) -> Self {
        self.shell = Some(shell.into());
        self
    }

    /// Gives readers a timeout.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = Some(timeout);
        self
    }

    /// Runs the hosts in waves with a failure budget (see [`crate::rollout`]).
    pub fn rollout(mut self, rollout: crate::rollout::Rollout) -> Self {
        self.rollout = Some(rollout);
        self
    }

    /// Starts no more hosts after the first failure.
    pub fn fail_fast(mut self, on: bool) -> Self {
        self.fail_fast = on;
        self
    }

    /// This job's command timeout, instead of the client's: a per-call timeout never needs
    /// another client (or other connections).
    pub fn command_timeout(mut self, after: Duration) -> Self {
        self.command_timeout = Some(after);
        self
    }

    /// This job's fanout, instead of the client's `pool_size`: another fanout never
    /// needs another client (or other connections).
    pub fn pool_size(mut self, hosts: usize) -> Self {
        self.pool_size = Some(hosts);
        self
    }

    /// The command line as sent: wrapped in the shell and sudo as asked.
    pub(crate) fn wrap(&self, command: &CommandLine) -> CommandLine {
        match (&self.sudo, &self.shell) {
            // With a password: written only when sudo asks for it (see `crate::sudo`).
            (Some(sudo), shell) if sudo.password.is_some() => {
                crate::sudo::gated_command(command, sudo.user.as_deref(), shell.as_deref())
            }
            (Some(sudo), shell) => {
                crate::command::with_sudo(command, sudo.user.as_deref(), shell.as_deref())
            }
            (None, Some(shell)) => crate::command::with_shell(shell, command),
            (None, None) => command.clone(),
        }
    }

    /// The sudo password, written when sudo prompts for it.
    pub(crate) fn sudo_password(&self) -> Option<Secret> {
        self.sudo.as_ref()?.password.clone()
    }
}
