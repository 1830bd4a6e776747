//! A fleet of virtual SSH hosts served from this process.
//!
//! Each host listens on its own loopback port (bound before anything is spawned, so the
//! addresses are ready when `start` returns), or is reached in memory through
//! [`Fleet::memory_transport`] with no socket at all. All hosts share one host key (except
//! hosts with [`Fault::WrongHostKey`]), one user, one password and the authorized client
//! keys. The fleet writes a `known_hosts` file and the client key to a temporary directory
//! that lives as long as the fleet.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use russh::keys::{PrivateKey, PublicKey};
use sshfan::{AgentSocket, ClientBuilder, ErrorKind, ParallelClient, Transport};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::AbortHandle;
use tracing::debug;

use crate::keys;

use crate::kill::{KillSwitch, Killable};
use crate::script::Fault;
use crate::server::{Credentials, FleetSession, VirtualHost};

/// The user fleet hosts accept.
pub const FLEET_USER: &str = "fleet";
/// The password fleet hosts accept.
pub const FLEET_PASSWORD: &str = "fleet-password";

/// Configures a [`Fleet`].
pub struct FleetBuilder {
    hosts: usize,
    faults: HashMap<usize, Fault>,
    authorized: Vec<PublicKey>,
    real_shell: bool,
    shell_env: Vec<(String, String)>,
    bind: Bind,
    certificate: Option<CertificateSpec>,
    user_cas: Vec<PublicKey>,
    named_by_address: bool,
    kex_first: Option<russh::kex::Name>,
}

/// A host certificate every host presents.
struct CertificateSpec {
    ca: PrivateKey,
    principals: Vec<String>,
    valid_after: u64,
    valid_before: u64,
}

/// Where fleet hosts listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bind {
    /// `127.0.0.1`, a port per host (the default).
    Ports,
    /// One port for all, a loopback address per host: `127.1.0.1`, `127.1.0.2`, … (so host
    /// lists like `127.1.0.[1-20]` work).
    Addresses,
    /// `::1`, a port per host.
    Ipv6,
    /// No sockets: only [`Fleet::memory_transport`].
    Memory,
}

impl FleetBuilder {
    /// Sets an environment variable for commands run with [`real_shell`](Self::real_shell)
    /// (e.g. a `PATH` with test doubles first).
    pub fn shell_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.shell_env.push((name.into(), value.into()));
        self
    }

    /// Gives host `index` a fault.
    pub fn fault(mut self, index: usize, fault: Fault) -> Self {
        self.faults.insert(index, fault);
        self
    }

    /// Also accepts this client key.
    pub fn authorize(mut self, key: PublicKey) -> Self {
        self.authorized.push(key);
        self
    }

    /// Also accepts user certificates signed by this CA (for the fleet user).
    pub fn trust_user_ca(mut self, ca: PublicKey) -> Self {
        self.user_cas.push(ca);
        self
    }

    /// Runs commands with a real `sh -c` instead of the built-in interpreter.
    pub fn real_shell(mut self, on: bool) -> Self {
        self.real_shell = on;
        self
    }

    /// Serves hosts only in memory (no listening sockets), through
    /// [`Fleet::memory_transport`].
    pub fn in_memory(self) -> Self {
        self.bind(Bind::Memory)
    }

    /// Every host also presents a host certificate for its key, signed by `ca`, for these
    /// principals (empty: any host), valid between these Unix times.
    pub fn host_certificate(
        mut self,
        ca: PrivateKey,
        principals: &[&str],
        valid_after: u64,
        valid_before: u64,
    ) -> Self {
        self.certificate = Some(CertificateSpec {
            ca,
            principals: principals.iter().map(|p| p.to_string()).collect(),
            valid_after,
            valid_before,
        });
        self
    }

    /// Names each host (what `hostname` and `uname -n` print there) by its address as
    /// [`Fleet::host_specs`] gives it (without the port under [`Bind::Addresses`]), as a
    /// real host's name is what one dials; the default is `host0`, `host1`, ….
    pub fn named_by_address(mut self) -> Self {
        self.named_by_address = true;
        self
    }

    /// The key exchange the hosts list first. russh's default, like OpenSSH 9.9 and
    /// later, lists ML-KEM (`mlkem768x25519-sha256`) first; OpenSSH 6.5 to 8.9 and
    /// Dropbear list `curve25519-sha256` first. What a server lists first decides whether
    /// a client's key exchange guess (`first_kex_packet_follows`) is used.
    pub fn kex_first(mut self, kex: russh::kex::Name) -> Self {
        self.kex_first = Some(kex);
        self
    }

    /// Chooses where hosts listen.
    pub fn bind(mut self, bind: Bind) -> Self {
        self.bind = bind;
        self
    }

    /// Generates keys, binds the hosts' listeners and starts serving.
    pub async fn start(mut self) -> std::io::Result<Fleet> {
        let dir = tempfile::tempdir()?;
        let host_key = keys::ed25519();
        let wrong_key = keys::ed25519();
        let second_key = keys::ecdsa();
        let client_key = keys::ed25519();
        let client_key_path = dir.path().join("id_fleet");
        keys::write_private_key(&client_key_path, &client_key, None)?;
        self.authorized.push(client_key.public_key().clone());

        let credentials = Arc::new(Credentials {
            user: FLEET_USER.to_owned(),
            password: FLEET_PASSWORD.to_owned(),
            authorized: std::mem::take(&mut self.authorized),
            user_cas: std::mem::take(&mut self.user_cas),
        });
        let certificates: Vec<_> = self
            .certificate
            .iter()
            .map(|spec| {
                let principals: Vec<&str> = spec.principals.iter().map(String::as_str).collect();
                keys::host_certificate(
                    &host_key,
                    &spec.ca,
                    &principals,
                    spec.valid_after,
                    spec.valid_before,
                )
            })
            .collect();
        let kex_first = self.kex_first;
        let configs = ServerConfigs {
            normal: server_config(vec![host_key.clone()], certificates, kex_first),
            wrong_key: server_config(vec![wrong_key], Vec::new(), kex_first),
            two_keys: server_config(
                vec![host_key.clone(), second_key.clone()],
                Vec::new(),
                kex_first,
            ),
        };
        let listeners = bind_listeners(self.bind, self.hosts).await?;
        let addrs = listeners
            .iter()
            .map(TcpListener::local_addr)
            .collect::<std::io::Result<Vec<_>>>()?;
        let mut hosts = Vec::with_capacity(self.hosts);
        for index in 0..self.hosts {
            // Made when first used (by SFTP, a real shell or a test): a fleet of 100,000
            // hosts that only run commands makes no directories.
            let root = dir.path().join("host-roots").join(format!("host{index}"));
            let name = match addrs.get(index) {
                // One port for all: the address alone names the host.
                Some(addr) if self.named_by_address && self.bind == Bind::Addresses => {
                    addr.ip().to_string()
                }
                Some(addr) if self.named_by_address => addr.to_string(),
                _ => format!("host{index}"),
            };
            hosts.push(Arc::new(VirtualHost {
                root,
                name,
                fault: self.faults.remove(&index),
                connections: Default::default(),
                open: Default::default(),
                execs: Default::default(),
                opened_channels: Default::default(),
                closed_channels: Default::default(),
                forwards: Default::default(),
                running: Default::default(),
            }));
        }
        let shared = Arc::new(Shared {
            credentials,
            configs,
            real_shell: self
                .real_shell
                .then(|| Arc::new(std::mem::take(&mut self.shell_env))),
            hosts,
        });

        let known_hosts_path = dir.path().join("known_hosts");
        let host_line = keys::public_line(&host_key);
        let mut known = String::new();
        for (index, host) in shared.hosts.iter().enumerate() {
            known.push_str(&format!("{} {host_line}\n", host.name));
            if let Some(addr) = addrs.get(index) {
                known.push_str(&format!("[{}]:{} {host_line}\n", addr.ip(), addr.port()));
            }
        }
        std::fs::write(&known_hosts_path, known)?;

        let mut tasks = Vec::new();
        for (index, listener) in listeners.into_iter().enumerate() {
            let shared = shared.clone();
            tasks.push(tokio::spawn(accept_loop(listener, shared, index)).abort_handle());
        }
        debug!(hosts = self.hosts, "fleet started");
        Ok(Fleet {
            host_key_line: host_line,
            second_key_line: keys::public_line(&second_key),
            shared,
            addrs,
            dir,
            client_key,
            client_key_path,
            known_hosts_path,
            tasks,
        })
    }
}

/// Binds one listener per host, before anything is served.
async fn bind_listeners(bind: Bind, hosts: usize) -> std::io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::with_capacity(hosts);
    match bind {
        Bind::Memory => {}
        Bind::Ports | Bind::Ipv6 => {
            let ip = if bind == Bind::Ipv6 {
                "[::1]:0"
            } else {
                "127.0.0.1:0"
            };
            for _ in 0..hosts {
                listeners.push(TcpListener::bind(ip).await?);
            }
        }
        Bind::Addresses => {
            // A port free on the first address may be taken on another: try a few.
            let mut last_error = None;
            for _ in 0..10 {
                let first = TcpListener::bind("127.1.0.1:0").await?;
                let port = first.local_addr()?.port();
                listeners = vec![first];
                let mut complete = true;
                for index in 1..hosts {
                    let ip = std::net::Ipv4Addr::new(
                        127,
                        1,
                        (index / 254) as u8,
                        (1 + index % 254) as u8,
                    );
                    match TcpListener::bind((ip, port)).await {
                        Ok(listener) => listeners.push(listener),
                        Err(err) => {
                            last_error = Some(err);
                            complete = false;
                            break;
                        }
                    }
                }
                if complete {
                    return Ok(listeners);
                }
            }
            return Err(last_error.unwrap_or_else(|| std::io::Error::other("no common port found")));
        }
    }
    Ok(listeners)
}

struct ServerConfigs {
    normal: Arc<russh::server::Config>,
    wrong_key: Arc<russh::server::Config>,
    /// The fleet's key and an ECDSA key ([`Fault::SecondHostKey`]).
    two_keys: Arc<russh::server::Config>,
}

fn server_config(
    keys: Vec<PrivateKey>,
    certificates: Vec<russh::keys::Certificate>,
    kex_first: Option<russh::kex::Name>,
) -> Arc<russh::server::Config> {
    let mut preferred = russh::Preferred::default();
    if let Some(first) = kex_first {
        let mut kex = preferred.kex.to_vec();
        kex.retain(|name| *name != first);
        kex.insert(0, first);
        preferred.kex = kex.into();
    }
    Arc::new(russh::server::Config {
        keys,
        certificates,
        preferred,
        auth_rejection_time: Duration::ZERO,
        auth_rejection_time_initial: Some(Duration::ZERO),
        inactivity_timeout: Some(Duration::from_secs(600)),
        nodelay: true,
        ..Default::default()
    })
}

/// What every connection of the fleet shares.
struct Shared {
    credentials: Arc<Credentials>,
    configs: ServerConfigs,
    /// `Some(environment)` when commands run under a real `sh -c`.
    real_shell: Option<Arc<Vec<(String, String)>>>,
    hosts: Vec<Arc<VirtualHost>>,
}

impl Shared {
    /// Serves one connection to host `index` until it ends.
    async fn serve<S>(self: Arc<Self>, stream: S, index: usize)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Some(host) = self.hosts.get(index).cloned() else {
            return;
        };
        if host.fault == Some(Fault::StallBeforeBanner) {
            // Hold the connection open and silent until the client gives up.
            let _stream = stream;
            std::future::pending::<()>().await;
            return;
        }
        host.connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _open = OpenConnection::new(host.open.clone());
        let config = match host.fault {
            Some(Fault::WrongHostKey) => self.configs.wrong_key.clone(),
            Some(Fault::SecondHostKey) => self.configs.two_keys.clone(),
            _ => self.configs.normal.clone(),
        };
        let kill = Arc::new(KillSwitch::default());
        if let Some(Fault::DropMidUpload { after_bytes }) = host.fault {
            kill.cut_after_reading(after_bytes);
        }
        let handler = FleetSession {
            host,
            credentials: self.credentials.clone(),
            real_shell: self.real_shell.clone(),
            kill: kill.clone(),
            channels: HashMap::new(),
            env: HashMap::new(),
            signals: HashMap::new(),
            stalled: Vec::new(),
            unused: Default::default(),
        };
        match russh::server::run_stream(config, Killable::new(stream, kill), handler).await {
            Ok(session) => {
                if let Err(err) = session.await {
                    debug!("fleet session ended: {err}");
                }
            }
            Err(err) => debug!("fleet handshake failed: {err}"),
        }
    }
}

/// Counts a connection as open while it lives.
struct OpenConnection(Arc<std::sync::atomic::AtomicUsize>);

impl OpenConnection {
    fn new(open: Arc<std::sync::atomic::AtomicUsize>) -> Self {
        open.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        OpenConnection(open)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Accepts connections for one host. Accept errors (EMFILE under load, say) are logged and
/// the loop goes on: one failed accept must not take the host down.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, index: usize) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(shared.clone().serve(stream, index));
            }
            Err(err) => {
                debug!("fleet accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// A running fleet. Dropping it stops the listeners.
pub struct Fleet {
    host_key_line: String,
    second_key_line: String,
    shared: Arc<Shared>,
    addrs: Vec<SocketAddr>,
    dir: tempfile::TempDir,
    client_key: PrivateKey,
    client_key_path: PathBuf,
    known_hosts_path: PathBuf,
    tasks: Vec<AbortHandle>,
}

impl Fleet {
    /// A fleet of `hosts` hosts, served over TCP on loopback.
    pub fn builder(hosts: usize) -> FleetBuilder {
        FleetBuilder {
            hosts,
            faults: HashMap::new(),
            authorized: Vec::new(),
            real_shell: false,
            shell_env: Vec::new(),
            bind: Bind::Ports,
            certificate: None,
            user_cas: Vec::new(),
            named_by_address: false,
            kex_first: None,
        }
    }

    /// Starts `hosts` plain hosts over TCP.
    pub async fn start(hosts: usize) -> std::io::Result<Fleet> {
        Fleet::builder(hosts).start().await
    }

    /// Number of hosts.
    pub fn len(&self) -> usize {
        self.shared.hosts.len()
    }

    /// Whether the fleet has no hosts.
    pub fn is_empty(&self) -> bool {
        self.shared.hosts.is_empty()
    }

    /// The hosts' TCP addresses (empty for an in-memory fleet).
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// `127.0.0.1:PORT` (or `[::1]:PORT`) for each TCP host, in order.
    pub fn host_specs(&self) -> Vec<String> {
        self.addrs.iter().map(SocketAddr::to_string).collect()
    }

    /// The port all hosts share under [`Bind::Addresses`] (the first host's port otherwise).
    pub fn port(&self) -> Option<u16> {
        self.addrs.first().map(SocketAddr::port)
    }

    /// `host0`, `host1`, … : the names the in-memory transport knows.
    pub fn host_names(&self) -> Vec<String> {
        self.shared.hosts.iter().map(|h| h.name.clone()).collect()
    }

    /// SSH connections host `index` has open now.
    pub fn open_connections(&self, index: usize) -> usize {
        self.shared
            .hosts
            .get(index)
            .map_or(0, |h| h.open.load(std::sync::atomic::Ordering::Acquire))
    }

    /// SSH connections open now, all hosts together.
    pub fn open_connections_total(&self) -> usize {
        (0..self.len()).map(|i| self.open_connections(i)).sum()
    }

    /// SSH connections host `index` has served so far.
    pub fn connections(&self, index: usize) -> usize {
        self.shared.hosts.get(index).map_or(0, |h| {
            h.connections.load(std::sync::atomic::Ordering::Relaxed)
        })
    }

    /// Commands host `index` has started so far.
    pub fn execs(&self, index: usize) -> usize {
        self.shared
            .hosts
            .get(index)
            .map_or(0, |h| h.execs.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Session channels host `index` has opened so far.
    pub fn opened_channels(&self, index: usize) -> usize {
        self.shared.hosts.get(index).map_or(0, |h| {
            h.opened_channels.load(std::sync::atomic::Ordering::Relaxed)
        })
    }

    /// Channels host `index` has seen closed from both sides so far: once a command is
    /// over, its channel is, and the server has forgotten it.
    pub fn closed_channels(&self, index: usize) -> usize {
        self.shared.hosts.get(index).map_or(0, |h| {
            h.closed_channels.load(std::sync::atomic::Ordering::Relaxed)
        })
    }

    /// Host `index`'s own directory: its SFTP root and its real shell's working directory.
    pub fn host_root(&self, index: usize) -> std::path::PathBuf {
        let root = self
            .dir
            .path()
            .join("host-roots")
            .join(format!("host{index}"));
        let _ = std::fs::create_dir_all(&root);
        root
    }

    /// Commands and shells running on host `index` now.
    pub fn running(&self, index: usize) -> usize {
        self.shared
            .hosts
            .get(index)
            .map_or(0, |h| h.running.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// `direct-tcpip` channels host `index` has opened as a jump host.
    pub fn forwards(&self, index: usize) -> usize {
        self.shared
            .hosts
            .get(index)
            .map_or(0, |h| h.forwards.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// The fleet's host key (shared by all hosts but those with [`Fault::WrongHostKey`]).
    pub fn host_public_key(&self) -> String {
        self.host_key_line.clone()
    }

    /// The second host key of hosts with [`Fault::SecondHostKey`], as a known_hosts key
    /// (`ecdsa-sha2-nistp256 AAAA…`).
    pub fn second_host_key(&self) -> String {
        self.second_key_line.clone()
    }

    /// The virtual host name of host `index` (what `hostname` prints there).
    pub fn host_name(&self, index: usize) -> String {
        format!("host{index}")
    }

    /// A known_hosts file listing every host's key (under its name and its address).
    pub fn known_hosts_path(&self) -> &Path {
        &self.known_hosts_path
    }

    /// An unencrypted Ed25519 key the fleet accepts.
    pub fn client_key_path(&self) -> &Path {
        &self.client_key_path
    }

    /// The same client key in memory.
    pub fn client_key(&self) -> &PrivateKey {
        &self.client_key
    }

    /// A directory for the test's own files, removed with the fleet.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A client builder set up for this fleet: its TCP hosts, user, known_hosts file, and no
    /// credentials at all (no key, agent, default identities or password): tests add the
    /// ones they exercise.
    pub fn bare_client(&self) -> ClientBuilder {
        let specs = self.host_specs();
        self.client_settings()
            .hosts(specs)
            .unwrap_or_else(|_| self.client_settings())
    }

    /// [`bare_client`](Self::bare_client) without any hosts: the user and known_hosts file
    /// only, for tests that add hosts with their own settings.
    pub fn client_settings(&self) -> ClientBuilder {
        ParallelClient::builder()
            .user(FLEET_USER)
            .ssh_config(sshfan::SshConfigSource::Off)
            .known_hosts_files(vec![self.known_hosts_path.clone()])
            .agent(AgentSocket::Off)
            .default_identities(false)
    }

    /// [`bare_client`](Self::bare_client) plus the fleet's client key.
    pub fn client(&self) -> ClientBuilder {
        self.bare_client().key_file(&self.client_key_path)
    }

    /// A client builder for an in-memory fleet: its host names (`host0` …), the fleet's key
    /// and known_hosts, and [`memory_transport`](Self::memory_transport).
    pub fn memory_client(&self) -> ClientBuilder {
        let names = self.host_names();
        self.client_settings()
            .key_file(&self.client_key_path)
            .transport(self.memory_transport())
            .hosts(names)
            .unwrap_or_else(|_| self.client_settings())
    }

    /// A transport that serves the fleet's hosts in memory, by name (`host0` …), with no
    /// sockets or file descriptors.
    pub fn memory_transport(&self) -> Arc<dyn Transport> {
        Arc::new(MemoryTransport {
            shared: self.shared.clone(),
        })
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Connects to fleet hosts through in-memory pipes.
struct MemoryTransport {
    shared: Arc<Shared>,
}

/// Bytes in flight per direction of an in-memory connection.
const MEMORY_PIPE_BYTES: usize = 256 * 1024;

impl Transport for MemoryTransport {
    fn connect<'a>(&'a self, host: &'a str, _port: u16) -> sshfan::ConnectFuture<'a> {
        Box::pin(async move {
            let index = host
                .strip_prefix("host")
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|&n| n < self.shared.hosts.len())
                .ok_or_else(|| ErrorKind::Resolve {
                    message: format!("no fleet host named `{host}`"),
                })?;
            let (client, server) = tokio::io::duplex(MEMORY_PIPE_BYTES);
            tokio::spawn(self.shared.clone().serve(server, index));
            Ok(Box::new(client) as sshfan::BoxedStream)
        })
    }
}
