//! Client settings and their builder.
//!
//! Names follow parallel-ssh where it has one (`pool_size`, `num_retries` → `retries`,
//! `retry_delay`, `timeout` → `connect_timeout`). Defaults: port 22, pool size 100,
//! connect timeout 10 s, no command timeout, no retries, host keys checked strictly,
//! `~/.ssh/config` read. Settings left `None` here fall back to ssh_config, then to these
//! defaults; a setting given here (or in a host spec) beats ssh_config.

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
    /// Remote user for hosts that name none. Default: ssh_config's `User`, else `$USER`.
    pub user: Option<String>,
    /// Port for hosts that name none. Default: ssh_config's `Port`, else 22.
    pub port: Option<u16>,
    /// Which ssh_config to read. Default: `~/.ssh/config`.
    pub ssh_config: SshConfigSource,
    /// Options given as `ssh -o Key=Value`: for every host, ahead of the file's values.
    pub ssh_options: Vec<crate::ssh_config::SshOption>,
    /// Jump hosts (`ProxyJump` syntax: `[user@]host[:port]`, comma-separated, `none` for
    /// none). Default: ssh_config's `ProxyJump`.
    pub proxy_jump: Option<String>,
    /// A command whose stdin/stdout carry the connection (`%h`, `%p` substituted).
    /// Default: ssh_config's `ProxyCommand`.
    pub proxy_command: Option<String>,
    /// Forward the local ssh-agent to the hosts. Default: ssh_config's `ForwardAgent`, else off.
    pub forward_agent: Option<bool>,
    /// Keepalive interval and the number of unanswered keepalives before the connection is
    /// dropped. Default: ssh_config's `ServerAliveInterval`/`CountMax`, else none.
    pub keepalive: Option<(Duration, usize)>,
    /// Offer zlib compression (`zlib@openssh.com`, `zlib`) ahead of none. Default:
    /// ssh_config's `Compression`, else off.
    pub compression: Option<bool>,
    /// Most `direct-tcpip` channel opens in flight per jump host. Default: 64.
    pub jump_channel_opens: usize,
    /// Danger: also offer SHA-1 algorithms (`diffie-hellman-group14-sha1` key exchange,
    /// `ssh-rsa` host-key signatures, `hmac-sha1` MACs) for old servers. Off by default.
    pub legacy_algorithms: bool,
    /// Prefer the post-quantum hybrid key exchange `mlkem768x25519-sha256` over
    /// `curve25519-sha256`. Off by default: both are offered, curve25519 first, because
    /// the pure-Rust ML-KEM costs about 3x the client CPU of the rest of a connection
    /// (see BENCHMARKS.md); turn it on to protect recorded sessions against future
    /// quantum computers.
    pub post_quantum_kex: bool,
    /// Protocol steps sent without waiting for the server's answer: fewer round trips
    /// per connection (see [`RoundTripCuts`]). All on by default.
    pub round_trip_cuts: RoundTripCuts,
    /// Credentials to try.
    pub auth: AuthMethods,
    /// Host-key verification.
    pub host_keys: HostKeyConfig,
    /// Most hosts in flight at once (connecting or running). Default: 100.
    pub pool_size: usize,
    /// Most SSH handshakes in flight at once. Default: 100.
    pub max_handshakes: usize,
    /// Limit on transport connect + SSH handshake + authentication. Default: ssh_config's
    /// `ConnectTimeout`, else 10 s.
    pub connect_timeout: Option<Duration>,
    /// Limit on each host's command, from the moment it starts. Default: none.
    pub command_timeout: Option<Duration>,
    /// Extra connection attempts after a transient failure. Default: 0.
    pub retries: u32,
    /// Wait between attempts. Default: 1 s.
    pub retry_delay: Duration,
    /// Bytes buffered per host and stream before flow control slows the host. Default: 1 MiB.
    pub output_buffer_limit: usize,
    /// Longest output line returned whole; longer lines come in pieces. Default: 64 KiB.
    pub max_line_length: usize,
    /// Jobs sharing one host's connection at once (one channel each); more wait.
    /// Default: 10, OpenSSH's `MaxSessions`.
    pub max_channels_per_host: usize,
    /// Connections kept open at most; beyond it the least recently used idle one is
    /// closed. Default: the descriptor limit less a reserve.
    pub max_sessions: Option<usize>,
    /// Sessions unused this long are closed. Default: none (kept until `disconnect` or
    /// the client is dropped).
    pub idle_timeout: Option<Duration>,
    /// Keep one channel open ahead on each idle session, so that the next command costs
    /// one round trip instead of two. Default: off.
    pub spare_channels: bool,
    /// How bytes reach the hosts. Default: TCP.
    pub transport: Arc<dyn Transport>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            user: None,
            port: None,
            ssh_config: SshConfigSource::UserDefault,
            ssh_options: Vec::new(),
            proxy_jump: None,
            proxy_command: None,
            forward_agent: None,
            keepalive: None,
            compression: None,
            jump_channel_opens: 64,
            legacy_algorithms: false,
            round_trip_cuts: RoundTripCuts::default(),
            post_quantum_kex: false,
            auth: AuthMethods::default(),
            host_keys: HostKeyConfig::default(),
            pool_size: 100,
            max_handshakes: 100,
            connect_timeout: None,
            command_timeout: None,
            retries: 0,
            retry_delay: Duration::from_secs(1),
            output_buffer_limit: DEFAULT_BUFFER_LIMIT,
            max_line_length: crate::output::DEFAULT_MAX_LINE,
            max_channels_per_host: crate::sessions::DEFAULT_CHANNELS_PER_HOST,
            max_sessions: None,
            idle_timeout: None,
            spare_channels: false,
            transport: Arc::new(TcpTransport),
        }
    }
}

/// Which ssh_config file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshConfigSource {
    /// `~/.ssh/config`, if it exists.
    UserDefault,
    /// This file (it must exist).
    File(PathBuf),
    /// None.
    Off,
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
#[derive(Clone, Default)]
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
        self.config.user = Some(user.into());
        self
    }

    /// Default port.
    pub fn port(mut self, port: u16) -> Self {
        self.config.port = Some(port);
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

    /// Adds a user certificate (an OpenSSH `-cert.pub` file) to offer with the key it
    /// certifies, wherever that key comes from (see [`AuthMethods::certificate_files`]).
    pub fn certificate_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.auth.certificate_files.push(path.into());
        self
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
        self.config.host_keys.policy = Some(policy);
        self
    }

    /// Reads host keys from these files only (new keys go to the first).
    pub fn known_hosts_files(mut self, files: Vec<PathBuf>) -> Self {
        self.config.host_keys.files = Some(files);
        self
    }

    /// Which ssh_config to read (`~/.ssh/config` by default).
    pub fn ssh_config(mut self, source: SshConfigSource) -> Self {
        self.config.ssh_config = source;
        self
    }

    /// An ssh_config option for every host, as `ssh -o Key=Value` gives it: it wins over
    /// the file's value (explicit builder settings still win over both).
    pub fn ssh_option(mut self, option: crate::ssh_config::SshOption) -> Self {
        self.config.ssh_options.push(option);
        self
    }

    /// Jump hosts, as in `ssh -J`: `[user@]host[:port]`, comma-separated.
    pub fn proxy_jump(mut self, jumps: impl Into<String>) -> Self {
        self.config.proxy_jump = Some(jumps.into());
        self
    }

    /// A command that carries the connection on its stdin/stdout (`%h`, `%p`, `%r` substituted).
    pub fn proxy_command(mut self, command: impl Into<String>) -> Self {
        self.config.proxy_command = Some(command.into());
        self
    }

    /// Forwards the local ssh-agent to the hosts.
    pub fn forward_agent(mut self, on: bool) -> Self {
        self.config.forward_agent = Some(on);
        self
    }

    /// Sends a keepalive after `interval` of silence; drops the connection after `max`
    /// unanswered ones. A zero interval turns keepalives off, whatever ssh_config says.
    pub fn keepalive(mut self, interval: Duration, max: usize) -> Self {
        self.config.keepalive = Some((interval, max));
        self
    }

    /// Offers compression (worth it on slow links, not on fast ones).
    pub fn compression(mut self, on: bool) -> Self {
        self.config.compression = Some(on);
        self
    }

    /// Prefers the post-quantum hybrid key exchange (see [`ClientConfig::post_quantum_kex`]).
    pub fn post_quantum_kex(mut self, on: bool) -> Self {
        self.config.post_quantum_kex = on;
        self
    }

    /// Which protocol steps go out without waiting for the server (see [`RoundTripCuts`]).
    pub fn round_trip_cuts(mut self, cuts: RoundTripCuts) -> Self {
        self.config.round_trip_cuts = cuts;
        self
    }

    /// Danger: also offers SHA-1 algorithms for old servers (see
    /// [`ClientConfig::legacy_algorithms`]).
    pub fn legacy_algorithms(mut self, on: bool) -> Self {
        self.config.legacy_algorithms = on;
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

    /// Longest output line returned whole (default 64 KiB): a line without a newline
    /// past it is returned in pieces, so no host can grow a line without bound.
    pub fn max_line_length(mut self, bytes: usize) -> Self {
        self.config.max_line_length = bytes;
        self
    }

    /// Jobs sharing one host's connection at once (default 10, OpenSSH's `MaxSessions`).
    pub fn max_channels_per_host(mut self, channels: usize) -> Self {
        self.config.max_channels_per_host = channels;
        self
    }

    /// Keeps one channel open ahead on each kept session (default off): each command or
    /// shell opens the next job's channel in the same write as its own request, and the
    /// next command, shell or copy on the host starts on it. A command on a warm session
    /// then costs one round trip instead of two (channel open, then exec), which counts on
    /// a distant fleet, and two writes instead of three. The spare takes one of the
    /// host's `max_channels_per_host` slots while it waits, so the server never sees more
    /// channels than that; each idle session holds one channel on its server.
    pub fn spare_channels(mut self, on: bool) -> Self {
        self.config.spare_channels = on;
        self
    }

    /// Connections kept open at most (default: the descriptor limit less a reserve).
    pub fn max_sessions(mut self, sessions: usize) -> Self {
        self.config.max_sessions = Some(sessions);
        self
    }

    /// Closes sessions unused for this long (default: kept until `disconnect`).
    pub fn idle_timeout(mut self, after: Duration) -> Self {
        self.config.idle_timeout = Some(after);
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
        if self.config.port == Some(0) {
            return Err(invalid("port", "must be from 1 to 65535"));
        }
        if self.config.jump_channel_opens == 0 {
            return Err(invalid("jump_channel_opens", "must be at least 1"));
        }
        Ok(ParallelClient::new(self.hosts, self.config))
    }
}

/// Protocol steps sshfan takes without waiting for the server, each one round trip less
/// per connection (on a host 100 ms away, 100 ms each), each with a switch for a server
/// that would not cope. All on by default; the interop tests run them against OpenSSH
/// (current and legacy) and Dropbear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundTripCuts {
    /// Send the key exchange's first packet (KEXINIT) with the version banner, before
    /// the server's banner has arrived.
    pub kexinit_with_banner: bool,
    /// Send the first authentication request right behind the `ssh-userauth` service
    /// request, without waiting for the server to accept the service.
    pub auth_without_service_accept: bool,
    /// Send the key exchange's last packet (NEWKEYS) in the same write as the service and
    /// authentication requests that follow it: not a round trip, but one write and one
    /// segment less per connection, for the client and for the server.
    pub newkeys_with_auth: bool,
    /// Guess the key exchange: the first key exchange packet of sshfan's first choice
    /// (`curve25519-sha256`, or ML-KEM with post-quantum key exchange on) goes out with
    /// KEXINIT (`first_kex_packet_follows`, RFC 4253 §7.1). A server whose first choices
    /// are the same uses it (OpenSSH 6.5 to 8.9, Dropbear); any other discards it, as the
    /// RFC says, and the same packet goes again if the server agrees on that key exchange
    /// all the same (OpenSSH 9.x lists `sntrup761x25519-sha512` first).
    pub kex_guess: bool,
    /// Send the close that answers the server's at the end of a command with the next
    /// write on the connection (the next command's, on a kept session), or after at most
    /// 100 ms: not a round trip, but one write and one wake-up of the server less per
    /// command.
    pub close_answer_with_next_write: bool,
}

impl Default for RoundTripCuts {
    fn default() -> Self {
        RoundTripCuts {
            kexinit_with_banner: true,
            auth_without_service_accept: true,
            newkeys_with_auth: true,
            kex_guess: true,
            close_answer_with_next_write: true,
        }
    }
}

impl RoundTripCuts {
    /// Every step waits for the server, as OpenSSH and upstream russh do.
    pub const NONE: RoundTripCuts = RoundTripCuts {
        kexinit_with_banner: false,
        auth_without_service_accept: false,
        newkeys_with_auth: false,
        kex_guess: false,
        close_answer_with_next_write: false,
    };
}
