//! Per-host settings: the host spec, the client's explicit settings and ssh_config,
//! merged with one precedence rule: host spec, then explicit settings, then ssh_config,
//! then defaults.

use std::path::PathBuf;
use std::time::Duration;

use crate::auth::{AgentSocket, KeySource, Secret};
use crate::config::ClientConfig;
use crate::error::ConfigError;
use crate::host::Host;
use crate::known_hosts::{HostKeyPolicy, default_files};
use crate::ssh_config::{HostOptions, SshConfig};

/// Default connect timeout when neither the client nor ssh_config sets one.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How a host is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Proxy {
    Direct,
    /// Through these jump hosts, first to last.
    Jump(Vec<Hop>),
    /// Through this command's stdin/stdout (tokens already substituted).
    Command(String),
}

/// One jump host, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Hop {
    pub name: String,
    pub port: u16,
    pub user: String,
    pub identity_files: Vec<PathBuf>,
}

impl Hop {
    /// `user@host:port`, naming the hop in errors.
    pub fn display(&self) -> String {
        format!(
            "{}@{}",
            self.user,
            Host::new(self.name.clone()).with_port(self.port)
        )
    }
}

/// Everything needed to connect to one host.
#[derive(Debug, Clone)]
pub(crate) struct HostPlan {
    /// Address to connect to (ssh_config `HostName`, else the name as given).
    pub name: String,
    pub port: u16,
    pub user: String,
    pub key: Option<KeySource>,
    pub identity_files: Vec<PathBuf>,
    /// ssh_config `CertificateFile`s.
    pub certificate_files: Vec<PathBuf>,
    pub identities_only: bool,
    pub agent: Option<AgentSocket>,
    pub password: Option<Secret>,
    pub proxy: Proxy,
    pub connect_timeout: Duration,
    pub keepalive: Option<(Duration, usize)>,
    pub known_hosts_files: Vec<PathBuf>,
    pub policy: HostKeyPolicy,
    pub forward_agent: bool,
    pub compression: bool,
    pub legacy_algorithms: bool,
    pub post_quantum_kex: bool,
}

impl HostPlan {
    /// The plan for the last hop of `chain` on the way to this host: the hop's own
    /// address, user and identity files, reached through the hops before it; the
    /// client-wide settings (timeouts, keepalive, host-key files and policy, password,
    /// algorithms) are this host's. The target's own key and agent forwarding never
    /// reach a bastion.
    pub(crate) fn for_hop(&self, chain: &[Hop]) -> Option<HostPlan> {
        let (hop, before) = chain.split_last()?;
        Some(HostPlan {
            name: hop.name.clone(),
            port: hop.port,
            user: hop.user.clone(),
            key: None,
            identity_files: hop.identity_files.clone(),
            certificate_files: self.certificate_files.clone(),
            identities_only: self.identities_only,
            agent: self.agent.clone(),
            password: self.password.clone(),
            proxy: if before.is_empty() {
                Proxy::Direct
            } else {
                Proxy::Jump(before.to_vec())
            },
            connect_timeout: self.connect_timeout,
            keepalive: self.keepalive,
            known_hosts_files: self.known_hosts_files.clone(),
            policy: self.policy,
            forward_agent: false,
            compression: self.compression,
            legacy_algorithms: self.legacy_algorithms,
            post_quantum_kex: self.post_quantum_kex,
        })
    }
}

fn local_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "root".to_owned())
}

fn policy_named(value: &str) -> Option<HostKeyPolicy> {
    match value {
        "yes" | "ask" => Some(HostKeyPolicy::Strict),
        "accept-new" => Some(HostKeyPolicy::AcceptNew),
        "no" | "off" => Some(HostKeyPolicy::Off),
        _ => None,
    }
}

/// Merges the host spec, the client config and ssh_config for `host`.
pub(crate) fn plan(
    host: &Host,
    config: &ClientConfig,
    ssh: &SshConfig,
) -> Result<HostPlan, ConfigError> {
    let explicit_user = host.user.as_deref().or(config.user.as_deref());
    let options: HostOptions = ssh.resolve(&host.name, explicit_user);
    let user = explicit_user
        .map(str::to_owned)
        .or_else(|| options.user.clone())
        .unwrap_or_else(local_user);
    let port = host.port.or(config.port).or(options.port).unwrap_or(22);
    let name = options
        .hostname
        .clone()
        .unwrap_or_else(|| host.name.clone());
    let agent = match options.identity_agent.as_deref() {
        Some("none") => Some(AgentSocket::Off),
        Some("SSH_AUTH_SOCK") | None => None,
        Some(path) => Some(AgentSocket::Path(PathBuf::from(path))),
    };
    let proxy = match (&config.proxy_jump, &config.proxy_command) {
        (Some(jumps), _) => jump_proxy(jumps, ssh)?,
        (None, Some(command)) => command_proxy(command, &name, &host.name, port, &user)?,
        (None, None) => match (&options.proxy_jump, &options.proxy_command) {
            (Some(jumps), _) => jump_proxy(jumps, ssh)?,
            (None, Some(command)) => command_proxy(command, &name, &host.name, port, &user)?,
            (None, None) => Proxy::Direct,
        },
    };
    let mut known_hosts_files = options.user_known_hosts_files.clone();
    known_hosts_files.extend(options.global_known_hosts_files.iter().cloned());
    let known_hosts_files = match &config.host_keys.files {
        Some(files) => files.clone(),
        None if known_hosts_files.is_empty() => default_files(),
        None => known_hosts_files,
    };
    let policy = config
        .host_keys
        .policy
        .or_else(|| {
            options
                .strict_host_key_checking
                .as_deref()
                .and_then(policy_named)
        })
        .unwrap_or_default();
    let keepalive = config.keepalive.or_else(|| {
        options
            .server_alive_interval
            .map(|interval| (interval, options.server_alive_count_max.unwrap_or(3)))
    });
    Ok(HostPlan {
        name,
        port,
        user,
        key: host.key.clone(),
        identity_files: options.identity_files.clone(),
        certificate_files: options.certificate_files.clone(),
        identities_only: options.identities_only.unwrap_or(false),
        agent,
        password: host.password.clone(),
        proxy,
        connect_timeout: config
            .connect_timeout
            .or(options.connect_timeout)
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        keepalive,
        known_hosts_files,
        policy,
        forward_agent: config
            .forward_agent
            .or(options.forward_agent)
            .unwrap_or(false),
        compression: config.compression.or(options.compression).unwrap_or(false),
        legacy_algorithms: config.legacy_algorithms,
        post_quantum_kex: config.post_quantum_kex,
    })
}

/// Characters a host or user name may not contain when a proxy command substitutes it
/// into `sh -c` (OpenSSH 9.6's `valid_hostname`/`valid_ruser`, plus glob characters).
const SHELL_SPECIAL: &[char] = &[
    '\'', '`', '"', '$', '\\', ';', '&', '<', '>', '|', '(', ')', '{', '}', '*', '?', '[', ']',
    '~', '#', '!',
];

/// Refuses a name that a shell would read as more than one plain word.
fn check_shell_word(what: &str, value: &str) -> Result<(), ConfigError> {
    let bad = value.starts_with('-')
        || value
            .chars()
            .any(|c| SHELL_SPECIAL.contains(&c) || c.is_whitespace() || c.is_control());
    if bad {
        return Err(ConfigError::InvalidHost {
            spec: value.escape_debug().to_string(),
            reason: format!(
                "the {what} has characters a proxy command's shell would interpret; refused"
            ),
        });
    }
    Ok(())
}

/// Expands a `ProxyCommand`'s tokens; names substituted into it must be plain words.
fn command_proxy(
    command: &str,
    host: &str,
    original: &str,
    port: u16,
    user: &str,
) -> Result<Proxy, ConfigError> {
    if command == "none" {
        return Ok(Proxy::Direct);
    }
    let tokens = command.replace("%%", "");
    if tokens.contains("%h") {
        check_shell_word("host name", host)?;
    }
    if tokens.contains("%n") {
        check_shell_word("host name", original)?;
    }
    if tokens.contains("%r") {
        check_shell_word("user name", user)?;
    }
    let text = command
        .replace("%%", "\u{0}")
        .replace("%h", host)
        .replace("%n", original)
        .replace("%p", &port.to_string())
        .replace("%r", user)
        .replace('\u{0}', "%");
    Ok(Proxy::Command(text))
}

/// Parses `ProxyJump` (`[user@]host[:port]`, comma-separated); each hop takes its own
/// `HostName`, `User`, `Port` and `IdentityFile` from ssh_config.
fn jump_proxy(jumps: &str, ssh: &SshConfig) -> Result<Proxy, ConfigError> {
    if jumps == "none" {
        return Ok(Proxy::Direct);
    }
    let mut hops = Vec::new();
    for spec in jumps.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let spec = spec.strip_prefix("ssh://").unwrap_or(spec);
        let host = Host::parse(spec)?;
        let options = ssh.resolve(&host.name, host.user.as_deref());
        hops.push(Hop {
            name: options
                .hostname
                .clone()
                .unwrap_or_else(|| host.name.clone()),
            port: host.port.or(options.port).unwrap_or(22),
            user: host
                .user
                .clone()
                .or(options.user.clone())
                .unwrap_or_else(local_user),
            identity_files: options.identity_files,
        });
    }
    Ok(if hops.is_empty() {
        Proxy::Direct
    } else {
        Proxy::Jump(hops)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ClientConfig {
        ClientConfig {
            ssh_config: crate::config::SshConfigSource::Off,
            ..Default::default()
        }
    }

    #[test]
    fn explicit_settings_beat_ssh_config() {
        let ssh = SshConfig::parse(
            "Host web1\n  HostName 10.0.0.1\n  User cfg\n  Port 2200\n  ConnectTimeout 3\n  StrictHostKeyChecking no\n",
        )
        .unwrap();
        let from_file = plan(&Host::parse("web1").unwrap(), &config(), &ssh).unwrap();
        assert_eq!(
            (
                from_file.name.as_str(),
                from_file.user.as_str(),
                from_file.port
            ),
            ("10.0.0.1", "cfg", 2200)
        );
        assert_eq!(from_file.connect_timeout, Duration::from_secs(3));
        assert_eq!(from_file.policy, HostKeyPolicy::Off);

        let mut explicit = config();
        explicit.user = Some("cli".into());
        explicit.port = Some(22);
        explicit.connect_timeout = Some(Duration::from_secs(9));
        explicit.host_keys.policy = Some(HostKeyPolicy::Strict);
        let overridden = plan(&Host::parse("web1").unwrap(), &explicit, &ssh).unwrap();
        assert_eq!((overridden.user.as_str(), overridden.port), ("cli", 22));
        assert_eq!(overridden.connect_timeout, Duration::from_secs(9));
        assert_eq!(overridden.policy, HostKeyPolicy::Strict);
        // The host spec beats both.
        let spec = plan(&Host::parse("root@web1:2022").unwrap(), &explicit, &ssh).unwrap();
        assert_eq!((spec.user.as_str(), spec.port), ("root", 2022));
    }

    #[test]
    fn jumps_and_proxy_commands() {
        let ssh = SshConfig::parse(
            "Host bastion\n  HostName 192.0.2.10\n  User jump\n\
             Host *.inner\n  ProxyJump bastion,ops@hop2:2222\n\
             Host *.cmd\n  ProxyCommand nc -q0 %h %p\n",
        )
        .unwrap();
        let inner = plan(&Host::parse("a.inner").unwrap(), &config(), &ssh).unwrap();
        let Proxy::Jump(hops) = inner.proxy else {
            panic!("{:?}", inner.proxy)
        };
        assert_eq!(hops[0].display(), "jump@192.0.2.10:22");
        assert_eq!(hops[1].display(), "ops@hop2:2222");
        let cmd = plan(&Host::parse("b.cmd:2200").unwrap(), &config(), &ssh).unwrap();
        assert_eq!(cmd.proxy, Proxy::Command("nc -q0 b.cmd 2200".into()));
        let mut none = config();
        none.proxy_jump = Some("none".into());
        assert_eq!(
            plan(&Host::parse("a.inner").unwrap(), &none, &ssh)
                .unwrap()
                .proxy,
            Proxy::Direct
        );
    }

    #[test]
    fn proxy_commands_refuse_names_a_shell_would_interpret() {
        let mut proxied = config();
        proxied.proxy_command = Some("nc %h %p".into());
        for name in [
            "a;touch${IFS}x;",
            "a`id`",
            "$(id)",
            "a|b",
            "-oProxyCommand=x",
            "a b",
        ] {
            let host = Host {
                name: name.to_owned(),
                ..Host::parse("placeholder").unwrap()
            };
            let err = plan(&host, &proxied, &SshConfig::default()).unwrap_err();
            assert!(err.to_string().contains("refused"), "{name}: {err}");
        }
        let mut by_user = config();
        by_user.proxy_command = Some("ssh -l %r bastion -W %h:%p".into());
        by_user.user = Some("x;touch y;".into());
        assert!(
            plan(
                &Host::parse("web1").unwrap(),
                &by_user,
                &SshConfig::default()
            )
            .is_err()
        );
        // Names the command does not use are not its business; plain names pass.
        by_user.proxy_command = Some("nc %h %p".into());
        assert!(
            plan(
                &Host::parse("web1").unwrap(),
                &by_user,
                &SshConfig::default()
            )
            .is_ok()
        );
        let ok = plan(
            &Host::parse("[::1]:2222").unwrap(),
            &proxied,
            &SshConfig::default(),
        )
        .unwrap();
        assert_eq!(ok.proxy, Proxy::Command("nc ::1 2222".into()));
    }

    #[test]
    fn a_hop_plan_takes_the_hops_own_address_user_and_keys() {
        let ssh = SshConfig::parse(
            "Host bastion\n  HostName 192.0.2.10\n  User jump\n  IdentityFile /keys/jump\n",
        )
        .unwrap();
        let mut config = config();
        config.proxy_jump = Some("ops@hop1:2201,bastion".into());
        config.forward_agent = Some(true);
        let mut target = plan(&Host::parse("root@web1").unwrap(), &config, &ssh).unwrap();
        target.key = Some(KeySource::file("/keys/target"));
        let Proxy::Jump(chain) = target.proxy.clone() else {
            panic!("{:?}", target.proxy)
        };
        let last = target.for_hop(&chain).unwrap();
        assert_eq!(
            (last.name.as_str(), last.port, last.user.as_str()),
            ("192.0.2.10", 22, "jump")
        );
        assert_eq!(last.identity_files, [PathBuf::from("/keys/jump")]);
        assert!(
            last.key.is_none() && !last.forward_agent,
            "the target's key and agent stay"
        );
        assert_eq!(last.proxy, Proxy::Jump(chain[..1].to_vec()));
        let first = target.for_hop(&chain[..1]).unwrap();
        assert_eq!(
            (first.user.as_str(), first.port, &first.proxy),
            ("ops", 2201, &Proxy::Direct)
        );
        assert!(target.for_hop(&[]).is_none());
    }
}
