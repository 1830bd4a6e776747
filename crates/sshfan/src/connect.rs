//! Connecting to one host: transport (direct, through jump hosts, or a proxy command),
//! SSH handshake and authentication under one connect timeout, with retries for
//! transient failures.
//!
//! russh has no connect timeout of its own, and a server that accepts TCP and never sends
//! its banner would hold a host forever: the whole setup runs under `tokio::time::timeout`,
//! and the error names the stage it interrupted. Handshakes take a permit from a separate
//! semaphore, so that a burst of new connections cannot starve sessions already running.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use russh::client::Handle;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::debug;

use crate::auth::{AgentSocket, Credentials, HostAuth};
use crate::error::{ConnectStage, ErrorKind};
use crate::handler::{HostHandler, Notes, read_notes};
use crate::known_hosts::{HostKeys, KeyFamily, KnownHosts};
use crate::proxy::{CommandStream, JumpPool, JumpSession};
use crate::resolve::{Hop, HostPlan, Proxy};
use crate::transport::{BoxedStream, Transport};

/// What every connection of a run shares.
pub(crate) struct Connector {
    pub transport: Arc<dyn Transport>,
    pub credentials: Credentials,
    pub handshakes: Arc<Semaphore>,
    pub retries: u32,
    pub retry_delay: Duration,
    pub jump_channel_opens: usize,
    /// known_hosts files read once per distinct list.
    pub known_hosts: HashMap<Vec<PathBuf>, Arc<KnownHosts>>,
    pub jumps: JumpPool,
    /// russh configs by keepalive setting and whether host certificates are wanted.
    ssh_configs: Mutex<HashMap<ConfigKey, Arc<russh::client::Config>>>,
    /// Protocol steps sent without waiting for the server.
    pub round_trip_cuts: crate::config::RoundTripCuts,
}

/// An authenticated session and the notes its handler keeps.
pub(crate) struct Connected {
    pub session: Handle<HostHandler>,
    pub notes: Notes,
}

/// The version string sshfan sends: servers log it (and some match on it).
pub(crate) const CLIENT_ID: &str = concat!("SSH-2.0-sshfan_", env!("CARGO_PKG_VERSION"));

/// What distinguishes one russh client config from another within a run: keepalive,
/// host certificates wanted, compression, legacy algorithms, post-quantum key exchange first.
/// The last element is the host-key families known for the host (first in the offer).
type ConfigKey = (Option<(Duration, usize)>, bool, bool, bool, bool, u8);

/// The key exchanges to offer, best first: russh's safe list with `curve25519-sha256`
/// ahead of `mlkem768x25519-sha256` unless post-quantum is preferred (see
/// [`crate::ClientConfig::post_quantum_kex`]). ML-KEM stays offered either way.
fn kex_order(safe: &[russh::kex::Name], post_quantum: bool) -> Vec<russh::kex::Name> {
    let mut kex = safe.to_vec();
    let mlkem = kex
        .iter()
        .position(|k| *k == russh::kex::MLKEM768X25519_SHA256);
    if let (false, Some(at)) = (post_quantum, mlkem) {
        let mlkem = kex.remove(at);
        let after = kex
            .iter()
            .position(|k| *k == russh::kex::CURVE25519_PRE_RFC_8731)
            .map_or(kex.len(), |i| i + 1);
        kex.insert(after, mlkem);
    }
    kex
}

/// Bytes read from a host's stream at once (see `handshake`).
const READ_BUFFER: usize = 2048;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Connector {
    pub(crate) fn new(
        transport: Arc<dyn Transport>,
        credentials: Credentials,
        known_hosts: HashMap<Vec<PathBuf>, Arc<KnownHosts>>,
        max_handshakes: usize,
        retries: u32,
        retry_delay: Duration,
        jump_channel_opens: usize,
    ) -> Self {
        Connector {
            transport,
            credentials,
            handshakes: Arc::new(Semaphore::new(max_handshakes)),
            retries,
            retry_delay,
            jump_channel_opens,
            known_hosts,
            jumps: JumpPool::default(),
            ssh_configs: Mutex::new(HashMap::new()),
            round_trip_cuts: crate::config::RoundTripCuts::default(),
        }
    }

    /// Connects and authenticates, retrying transient failures.
    pub(crate) async fn connect(&self, plan: &HostPlan) -> Result<Connected, ErrorKind> {
        self.credentials.preflight(plan.key.as_ref())?;
        let mut attempt = 0;
        loop {
            // The permit covers the transport too: a burst of sockets opened before their
            // handshakes can start would only wait and time out. (Jump-host connections,
            // made inside, take none: one per bastion, and a permit here could deadlock.)
            let permit = self.handshakes.acquire().await.ok();
            let deadline = Instant::now() + plan.connect_timeout;
            let result = match self.open_stream(plan, deadline).await {
                Ok(stream) => self.handshake(stream, plan, deadline).await,
                Err(err) => Err(err),
            };
            drop(permit);
            match result {
                Ok(connected) => return Ok(connected),
                Err(err) if err.is_transient() && attempt < self.retries => {
                    attempt += 1;
                    debug!(host = plan.name, attempt, "retrying after: {err}");
                    tokio::time::sleep(self.retry_delay).await;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// The byte stream to the host: direct, through jump hosts, or through a command.
    fn open_stream<'a>(
        &'a self,
        plan: &'a HostPlan,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<BoxedStream, ErrorKind>> {
        Box::pin(async move {
            let connect = async {
                match &plan.proxy {
                    Proxy::Direct => self.transport.connect(&plan.name, plan.port).await,
                    Proxy::Command(command) => {
                        Ok(Box::new(CommandStream::spawn(command)?) as BoxedStream)
                    }
                    Proxy::Jump(chain) => {
                        let (session, hop) = self.jump_session(chain, plan).await?;
                        session.open(hop, &plan.name, plan.port).await
                    }
                }
            };
            match tokio::time::timeout_at(deadline, connect).await {
                Ok(result) => result,
                Err(_) => Err(ErrorKind::ConnectTimeout {
                    after: plan.connect_timeout,
                    stage: ConnectStage::Transport,
                }),
            }
        })
    }

    /// The shared session to the last hop of `chain`, connecting it (through the hops
    /// before it) the first time.
    async fn jump_session<'a>(
        &'a self,
        chain: &'a [Hop],
        target: &HostPlan,
    ) -> Result<(Arc<JumpSession>, &'a Hop), ErrorKind> {
        let (Some(hop), Some(plan)) = (chain.last(), target.for_hop(chain)) else {
            return Err(ErrorKind::Proxy {
                hop: "(none)".to_owned(),
                message: "empty jump chain".to_owned(),
            });
        };
        let cell = self.jumps.cell(chain);
        let session = cell
            .get_or_init(|| async {
                let deadline = Instant::now() + plan.connect_timeout;
                let result = match self.open_stream(&plan, deadline).await {
                    Ok(stream) => self.handshake(stream, &plan, deadline).await,
                    Err(err) => Err(err),
                };
                debug!(hop = %hop.display(), ok = result.is_ok(), "jump host connection");
                result
                    .map(|connected| {
                        Arc::new(JumpSession::new(connected.session, self.jump_channel_opens))
                    })
                    .map_err(|err| match err {
                        ErrorKind::Proxy { .. } => err,
                        other => ErrorKind::Proxy {
                            hop: hop.display(),
                            message: other.to_string(),
                        },
                    })
            })
            .await
            .clone()?;
        Ok((session, hop))
    }

    fn ssh_config(
        &self,
        plan: &HostPlan,
        known_hosts: &KnownHosts,
        host_keys: &HostKeys,
    ) -> Arc<russh::client::Config> {
        let key = (
            plan.keepalive,
            known_hosts.has_cert_authorities(),
            plan.compression,
            plan.legacy_algorithms,
            plan.post_quantum_kex,
            host_keys.families(),
        );
        let mut configs = self
            .ssh_configs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        configs
            .entry(key)
            .or_insert_with(|| {
                let mut config = russh::client::Config {
                    nodelay: true,
                    client_id: russh::SshId::Standard(CLIENT_ID.into()),
                    kexinit_with_banner: self.round_trip_cuts.kexinit_with_banner,
                    auth_without_service_accept: self.round_trip_cuts.auth_without_service_accept,
                    guess_kex: self.round_trip_cuts.kex_guess,
                    newkeys_with_auth: self.round_trip_cuts.newkeys_with_auth,
                    close_answer_with_next_write: self.round_trip_cuts.close_answer_with_next_write,
                    ..Default::default()
                };
                // AES-GCM first: with AES-NI it is the fastest of the safe ciphers
                // (chacha20-poly1305 stays in the list, next).
                use russh::cipher::{
                    AES_128_CTR, AES_192_CTR, AES_256_CTR, AES_256_GCM, CHACHA20_POLY1305,
                };
                config.preferred.cipher = std::borrow::Cow::Borrowed(&[
                    AES_256_GCM,
                    CHACHA20_POLY1305,
                    AES_256_CTR,
                    AES_192_CTR,
                    AES_128_CTR,
                ]);
                if let Some((interval, max)) =
                    plan.keepalive.filter(|(interval, _)| !interval.is_zero())
                {
                    config.keepalive_interval = Some(interval);
                    config.keepalive_max = max;
                }
                // SHA-1 `ssh-rsa` host-key signatures only when legacy algorithms are asked for.
                let modern_keys: Vec<russh::keys::Algorithm> = config
                    .preferred
                    .key
                    .iter()
                    .filter(|a| !matches!(a, russh::keys::Algorithm::Rsa { hash: None }))
                    .cloned()
                    .collect();
                config.preferred.kex =
                    std::borrow::Cow::Owned(kex_order(&config.preferred.kex, key.4));
                if key.3 {
                    // Danger: SHA-1 key exchange and MACs, for servers too old for anything else.
                    let mut kex = config.preferred.kex.to_vec();
                    kex.push(russh::kex::DH_G14_SHA1);
                    config.preferred.kex = std::borrow::Cow::Owned(kex);
                    let mut macs = config.preferred.mac.to_vec();
                    macs.extend([russh::mac::HMAC_SHA1_ETM, russh::mac::HMAC_SHA1]);
                    config.preferred.mac = std::borrow::Cow::Owned(macs);
                } else {
                    config.preferred.key = std::borrow::Cow::Owned(modern_keys);
                }
                if key.5 != 0 {
                    // Ask first for a key type known for this host, as OpenSSH does: a host
                    // with Ed25519 and RSA keys, only RSA known, then shows the known one.
                    let mut keys = config.preferred.key.to_vec();
                    keys.sort_by_key(|a| KeyFamily::of_algorithm(a).bit() & key.5 == 0);
                    config.preferred.key = std::borrow::Cow::Owned(keys);
                }
                if key.2 {
                    use russh::compression::{NONE, ZLIB, ZLIB_LEGACY};
                    config.preferred.compression =
                        std::borrow::Cow::Borrowed(&[ZLIB_LEGACY, ZLIB, NONE]);
                }
                if key.1 {
                    // Ask servers for host certificates only when a CA could vouch for them.
                    config.preferred.host_key_certificates =
                        std::borrow::Cow::Owned(config.preferred.key.to_vec());
                }
                Arc::new(config)
            })
            .clone()
    }

    /// SSH handshake and authentication over `stream`, under the connect timeout.
    async fn handshake(
        &self,
        stream: BoxedStream,
        plan: &HostPlan,
        deadline: Instant,
    ) -> Result<Connected, ErrorKind> {
        let stage = AtomicU8::new(ConnectStage::Handshake as u8);
        let notes = Notes::default();
        let known_hosts = self
            .known_hosts
            .get(&plan.known_hosts_files)
            .cloned()
            .unwrap_or_else(|| KnownHosts::load(&plan.known_hosts_files));
        let agent = match &plan.agent {
            Some(AgentSocket::Off) => None,
            Some(AgentSocket::Path(path)) => Some(path.clone()),
            Some(AgentSocket::FromEnv) | None => self.credentials.agent_socket().map(PathBuf::from),
        };
        let host_keys = known_hosts.lookup(&plan.name, plan.port, plan.policy);
        let config = self.ssh_config(plan, &known_hosts, &host_keys);
        let handler = HostHandler::new(
            known_hosts.clone(),
            host_keys,
            notes.clone(),
            agent.clone().filter(|_| plan.forward_agent),
        );
        // russh reads each packet's length, then its body, as separate reads: a small
        // buffer turns the ~30 receive calls of a connection into a few.
        let stream = tokio::io::BufReader::with_capacity(READ_BUFFER, stream);
        let setup = async {
            let mut session = russh::client::connect_stream(config, stream, handler)
                .await
                .map_err(|err| handshake_error(&notes, err))?;
            stage.store(ConnectStage::Auth as u8, Ordering::Relaxed);
            let auth = HostAuth {
                key: plan.key.as_ref(),
                identity_files: &plan.identity_files,
                certificate_files: &plan.certificate_files,
                identities_only: plan.identities_only,
                password: plan.password.as_ref(),
                agent: agent.as_deref(),
            };
            self.credentials
                .authenticate(&mut session, &plan.user, &auth)
                .await?;
            Ok(session)
        };
        let after = plan.connect_timeout;
        let session = match tokio::time::timeout_at(deadline, setup).await {
            Ok(result) => result?,
            Err(_) => {
                let stage = match stage.load(Ordering::Relaxed) {
                    s if s == ConnectStage::Auth as u8 => ConnectStage::Auth,
                    _ => ConnectStage::Handshake,
                };
                return Err(ErrorKind::ConnectTimeout { after, stage });
            }
        };
        Ok(Connected { session, notes })
    }
}

fn handshake_error(notes: &Notes, err: russh::Error) -> ErrorKind {
    if let Some(host_key) = read_notes(notes, |n| n.host_key_error.take()) {
        return host_key;
    }
    match err {
        russh::Error::IO(io) => match ErrorKind::from_io(&io) {
            ErrorKind::Io { message } => ErrorKind::Handshake { message },
            other => other,
        },
        russh::Error::Disconnect | russh::Error::HUP => ErrorKind::Handshake {
            message: read_notes(notes, |n| n.disconnect.clone())
                .unwrap_or_else(|| "the server closed the connection".to_owned()),
        },
        other => ErrorKind::Handshake {
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::kex_order;
    use russh::kex::{CURVE25519, CURVE25519_PRE_RFC_8731, MLKEM768X25519_SHA256};

    /// Every session keeps three channels of `russh::client::Msg`, each holding a block of
    /// 32 slots: the vendored russh boxes the large variants (vendor/README.md). Unpatched,
    /// a slot is 552 bytes (17 KiB per block); an upgrade that loses the patch fails here.
    #[test]
    fn russh_session_messages_stay_small() {
        assert!(std::mem::size_of::<russh::client::Msg>() <= 96);
    }

    #[test]
    fn curve25519_first_unless_post_quantum_is_preferred() {
        let safe = russh::Preferred::DEFAULT.kex;
        let classic = kex_order(&safe, false);
        assert_eq!(
            &classic[..3],
            &[CURVE25519, CURVE25519_PRE_RFC_8731, MLKEM768X25519_SHA256]
        );
        assert_eq!(classic.len(), safe.len(), "nothing dropped");
        assert_eq!(kex_order(&safe, true)[0], MLKEM768X25519_SHA256);
    }
}
