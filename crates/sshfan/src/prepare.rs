//! Preparing a client's jobs, once for the client's life: each host's plan (its settings
//! merged from the builder, its host spec and ssh_config), the credentials (every key
//! file read and decrypted once), the known_hosts index (every file read once), the
//! connector, and the session pool that keeps connections between jobs.

use std::collections::HashMap;
use std::sync::Arc;

use tracing::warn;

use crate::auth::Credentials;
use crate::config::{ClientConfig, SshConfigSource};
use crate::connect::Connector;
use crate::error::ErrorKind;
use crate::host::Host;
use crate::known_hosts::{HostKeyPolicy, KnownHosts};
use crate::resolve::{HostPlan, Proxy, plan};
use crate::sessions::{PoolSettings, SessionPool};
use crate::ssh_config::SshConfig;

/// What every job of one client shares.
pub(crate) struct Prepared {
    /// How to reach each host, or why its settings do not work; shared by every job's
    /// host state rather than copied into it (a plan holds paths, names and secrets).
    pub plans: Vec<Result<Arc<HostPlan>, ErrorKind>>,
    pub connector: Arc<Connector>,
    pub sessions: Arc<SessionPool>,
}

impl Prepared {
    pub(crate) fn new(hosts: &[Arc<Host>], config: &ClientConfig) -> Prepared {
        // ssh_config is read once; each host's settings are merged once, up front, so that
        // every key file and known_hosts file the run needs is read once.
        let ssh_config = match &config.ssh_config {
            SshConfigSource::UserDefault => SshConfig::user_default(),
            SshConfigSource::File(path) => SshConfig::read(path),
            SshConfigSource::Off => Ok(SshConfig::default()),
        }
        .map(|ssh| ssh.with_command_line(&config.ssh_options));
        let plans: Vec<Result<Arc<HostPlan>, ErrorKind>> = hosts
            .iter()
            .map(|host| match &ssh_config {
                Ok(ssh) => plan(host, config, ssh)
                    .map(Arc::new)
                    .map_err(|err| ErrorKind::Config {
                        message: err.to_string(),
                    }),
                Err(err) => Err(ErrorKind::Config {
                    message: format!("ssh_config: {err}"),
                }),
            })
            .collect();
        let ok_plans = || plans.iter().filter_map(|p| p.as_ref().ok());
        let credentials = Credentials::prepare(
            &config.auth,
            ok_plans().filter_map(|plan| plan.key.as_ref()),
            ok_plans().flat_map(|plan| {
                let hops = match &plan.proxy {
                    Proxy::Jump(hops) => hops.as_slice(),
                    _ => &[],
                };
                plan.identity_files
                    .iter()
                    .chain(hops.iter().flat_map(|hop| &hop.identity_files))
            }),
            ok_plans().flat_map(|plan| &plan.certificate_files),
        );
        let mut known_hosts = HashMap::new();
        for plan in ok_plans() {
            if plan.policy == HostKeyPolicy::Off {
                warn!(host = %plan.name, "host-key verification is off: open to man-in-the-middle attacks");
            }
            known_hosts
                .entry(plan.known_hosts_files.clone())
                .or_insert_with(|| KnownHosts::load(&plan.known_hosts_files));
        }
        let mut connector = Connector::new(
            config.transport.clone(),
            credentials,
            known_hosts,
            config.max_handshakes,
            config.retries,
            config.retry_delay,
            config.jump_channel_opens,
        );
        connector.round_trip_cuts = config.round_trip_cuts;
        let sessions = SessionPool::new(
            hosts.len(),
            PoolSettings {
                channels_per_host: config.max_channels_per_host,
                max_sessions: config
                    .max_sessions
                    .unwrap_or_else(crate::limits::default_max_sessions),
                idle_timeout: config.idle_timeout,
                spare_channels: config.spare_channels,
            },
        );
        Prepared {
            plans,
            connector: Arc::new(connector),
            sessions,
        }
    }
}
