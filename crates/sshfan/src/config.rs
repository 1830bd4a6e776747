//! Client settings and their builder.
//!
//! Names follow parallel-ssh where it has one (`pool_size`, `num_retries` → `retries`,
//! `retry_delay`, `timeout` → `connect_timeout`). Defaults: port 22, pool size 100,
//! connect timeout 10 s, no command timeout, no retries, host keys checked strictly.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::{AgentSocket, AuthMethods, KeySource, Secret};
use crate::error::ConfigError;
use crate::host::Host;
use crate::known_hosts::{HostKeyConfig, HostKeyPolicy};
use crate::output::DEFAULT_BUFFER_LIMIT;
use crate::parallel::ParallelClient;
use crate::transport::{TcpTransport, Transport};

/// Everything a [`ParallelClient`] needs besides its hosts.
#[derive(Clone)]
pub struct ClientConfig {
    /// Remote user for hosts that name none. Default: `$USER`, else `root`.
    pub user: String,
    /// Port for hosts that name none. Default: 22.
    pub port: u16,
    /// Credentials to try.
    pub auth: AuthMethods,
    /// Host-key verification.
    pub host_keys: HostKeyConfig,
    /// Most hosts in flight at once (connecting or running). Default: 100.
    pub pool_size: usize,
    /// Most SSH handshakes in flight at once. Default: 100.
    pub max_handshakes: usize,
    /// Limit on transport connect + SSH handshake + authentication. Default: 10 s.
    pub connect_timeout: Option<Duration>,
    /// Limit on each host's command, from the moment it starts. Default: none.
    pub command_timeout: Option<Duration>,
    /// Extra connection attempts after a transient failure. Default: 0.
    pub retries: u32,
    /// Wait between attempts. Default: 1 s.
    pub retry_delay: Duration,
    /// Bytes buffered per host and stream before flow control slows the host. Default: 1 MiB.
    pub output_buffer_limit: usize,
    /// How bytes reach the hosts. Default: TCP.
    pub transport: Arc<dyn Transport>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            user: default_user(),
            port: 22,
            auth: AuthMethods::default(),
            host_keys: HostKeyConfig::default(),
            pool_size: 100,
            max_handshakes: 100,
            connect_timeout: Some(Duration::from_secs(10)),
            command_timeout: None,
            retries: 0,
            retry_delay: Duration::from_secs(1),
            output_buffer_limit: DEFAULT_BUFFER_LIMIT,
            transport: Arc::new(TcpTransport),
        }
    }
}

fn default_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "root".to_owned())
}

/// Builds a [`ParallelClient`].
///
/// ```no_run
/// use std::time::Duration;
/// use sshfan::ParallelClient;
///
/// # fn main() -> Result<(), sshfan::ConfigError> {
/// let client = ParallelClient::builder()
///     .hosts(["web1", "web2:2222", "admin@[::1]"])?
///     .user("deploy")
///     .key_file("~/.ssh/id_ed25519")
///     .pool_size(200)
///     .connect_timeout(Duration::from_secs(5))
///     .command_timeout(Duration::from_secs(60))
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct ClientBuilder {
    hosts: Vec<Host>,
    config: ClientConfig,
}

impl ClientBuilder {
    /// Adds hosts parsed from `[user@]host[:port]` specifications.
    pub fn hosts<I, S>(mut self, specs: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for spec in specs {
            self.hosts.push(Host::parse(spec.as_ref())?);
        }
        Ok(self)
    }

    /// Adds a host with its own settings.
    pub fn host(mut self, host: Host) -> Self {
        self.hosts.push(host);
        self
    }

    /// Default remote user.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.config.user = user.into();
        self
    }

    /// Default port.
    pub fn port(mut self, port: u16) -> Self {
        self.config.port = port;
        self
    }

    /// Adds a private key to try (file or in-memory, with or without passphrase).
    pub fn key(mut self, key: KeySource) -> Self {
        self.config.auth.keys.push(key);
        self
    }

    /// Adds an unencrypted private key file to try.
    pub fn key_file(self, path: impl Into<PathBuf>) -> Self {
        self.key(KeySource::file(path))
    }

    /// Password for password and keyboard-interactive authentication.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.config.auth.password = Some(Secret::new(password));
        self
    }

    /// Which ssh-agent to use, or none.
    pub fn agent(mut self, agent: AgentSocket) -> Self {
        self.config.auth.agent = agent;
        self
    }

    /// Whether to try `~/.ssh/id_*` keys.
    pub fn default_identities(mut self, on: bool) -> Self {
        self.config.auth.default_identities = on;
        self
    }

    /// Looks for default identities in `dir` instead of `~/.ssh`.
    pub fn identity_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.auth.identity_dir = Some(dir.into());
        self
    }

    /// Whether to try password authentication.
    pub fn password_auth(mut self, on: bool) -> Self {
        self.config.auth.password_auth = on;
        self
    }

    /// Whether to try keyboard-interactive authentication.
    pub fn keyboard_interactive(mut self, on: bool) -> Self {
        self.config.auth.keyboard_interactive = on;
        self
    }

    /// Host-key policy (strict by default).
    pub fn host_key_policy(mut self, policy: HostKeyPolicy) -> Self {
        self.config.host_keys.policy = policy;
        self
    }

    /// Reads host keys from these files only (new keys go to the first).
    pub fn known_hosts_files(mut self, files: Vec<PathBuf>) -> Self {
        self.config.host_keys.files = files;
        self
    }

    /// Most hosts in flight at once.
    pub fn pool_size(mut self, size: usize) -> Self {
        self.config.pool_size = size;
        self
    }

    /// Most SSH handshakes in flight at once.
    pub fn max_handshakes(mut self, count: usize) -> Self {
        self.config.max_handshakes = count;
        self
    }

    /// Limit on connect + handshake + authentication.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = Some(timeout);
        self
    }

    /// Limit on each host's command.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.config.command_timeout = Some(timeout);
        self
    }

    /// Extra attempts after transient connection failures, and the wait between them.
    pub fn retries(mut self, retries: u32, delay: Duration) -> Self {
        self.config.retries = retries;
        self.config.retry_delay = delay;
        self
    }

    /// Bytes buffered per host and stream before flow control.
    pub fn output_buffer_limit(mut self, bytes: usize) -> Self {
        self.config.output_buffer_limit = bytes;
        self
    }

    /// How to reach hosts (TCP by default).
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.config.transport = transport;
        self
    }

    /// Replaces all settings at once.
    pub fn config(mut self, config: ClientConfig) -> Self {
        self.config = config;
        self
    }

    /// Checks the settings and builds the client.
    pub fn build(self) -> Result<ParallelClient, ConfigError> {
        let invalid = |name, reason: &str| ConfigError::InvalidSetting {
            name,
            reason: reason.to_owned(),
        };
        if self.config.pool_size == 0 {
            return Err(invalid("pool_size", "must be at least 1"));
        }
        if self.config.max_handshakes == 0 {
            return Err(invalid("max_handshakes", "must be at least 1"));
        }
        if self.config.port == 0 {
            return Err(invalid("port", "must be from 1 to 65535"));
        }
        Ok(ParallelClient::new(self.hosts, self.config))
    }
}
