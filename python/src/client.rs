//! `Client`: one [`sshfan::ParallelClient`] built from Python keyword arguments.
//!
//! The Python layer (`sshfan/clients/*.py`) turns parallel-ssh's arguments into these
//! settings; this type only builds the client and starts runs on the shared runtime.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use sshfan::command::CommandLine;
use sshfan::copy::{CopyOptions, DownloadLayout, Protocol};
use sshfan::{
    AgentSocket, Host, HostKeyPolicy, KeySource, ParallelClient, RunOptions, SshConfigSource,
};

use crate::run::PyRun;
use crate::runtime::runtime;

/// Longest output line a Python program gets whole (longer ones come in pieces).
const PYTHON_MAX_LINE: usize = 16 << 20;

/// A private key: a file path, or the key file's contents.
#[derive(FromPyObject)]
pub enum KeyArg {
    /// Key text as bytes.
    Data(Vec<u8>),
    /// A key file.
    Path(PathBuf),
}

impl KeyArg {
    fn source(self, passphrase: Option<&str>) -> PyResult<KeySource> {
        let key = match self {
            KeyArg::Path(path) => KeySource::file(path),
            KeyArg::Data(data) => KeySource::memory(
                String::from_utf8(data)
                    .map_err(|_| PyValueError::new_err("private key data is not text"))?,
            ),
        };
        Ok(match passphrase {
            Some(passphrase) => key.with_passphrase(passphrase),
            None => key,
        })
    }
}

/// One host: `(name, port, user, alias, key, password)`, `None` for the client's default.
type HostArg = (
    String,
    Option<u16>,
    Option<String>,
    Option<String>,
    Option<KeyArg>,
    Option<String>,
);

fn seconds(value: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| PyValueError::new_err(format!("{what} must be a number of seconds >= 0")))
}

fn config_error(err: sshfan::ConfigError) -> PyErr {
    PyValueError::new_err(err.to_string())
}

/// A parallel client over a fixed list of hosts.
#[pyclass(module = "sshfan._native", frozen)]
pub struct Client {
    inner: std::sync::Arc<ParallelClient>,
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (
        hosts, *, user=None, port=None, password=None, keys=Vec::new(), certificates=Vec::new(),
        passphrase=None,
        agent=true, identities=true, password_auth=true, keyboard_interactive=true,
        host_key_policy=None, known_hosts=None, ssh_config=None, proxy_jump=None,
        proxy_command=None, forward_agent=None, keepalive=None, keepalive_max=3,
        compress=None, pool_size=100, max_handshakes=100, connect_timeout=None,
        command_timeout=None, retries=0, retry_delay=1.0, ipv6_only=false,
        output_buffer_limit=None, post_quantum_kex=false
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        hosts: Vec<HostArg>,
        user: Option<String>,
        port: Option<u16>,
        password: Option<String>,
        keys: Vec<KeyArg>,
        certificates: Vec<PathBuf>,
        passphrase: Option<String>,
        agent: bool,
        identities: bool,
        password_auth: bool,
        keyboard_interactive: bool,
        host_key_policy: Option<String>,
        known_hosts: Option<Vec<PathBuf>>,
        ssh_config: Option<PathBuf>,
        proxy_jump: Option<String>,
        proxy_command: Option<String>,
        forward_agent: Option<bool>,
        keepalive: Option<f64>,
        keepalive_max: usize,
        compress: Option<bool>,
        pool_size: usize,
        max_handshakes: usize,
        connect_timeout: Option<f64>,
        command_timeout: Option<f64>,
        retries: u32,
        retry_delay: f64,
        ipv6_only: bool,
        output_buffer_limit: Option<usize>,
        post_quantum_kex: bool,
    ) -> PyResult<Self> {
        let mut builder = ParallelClient::builder();
        for (name, port, user, alias, key, password) in hosts {
            let mut host = Host::new(name);
            host.port = port;
            host.user = user;
            host.alias = alias;
            if let Some(key) = key {
                host = host.with_key(key.source(passphrase.as_deref())?);
            }
            if let Some(password) = password {
                host = host.with_password(password);
            }
            builder = builder.host(host);
        }
        let mut config = sshfan::ClientConfig {
            user,
            port,
            ..Default::default()
        };
        config.auth.keys = keys
            .into_iter()
            .map(|key| key.source(passphrase.as_deref()))
            .collect::<PyResult<_>>()?;
        config.auth.certificate_files = certificates;
        config.auth.identity_passphrase = passphrase.map(sshfan::Secret::new);
        config.auth.password = password.map(sshfan::Secret::new);
        config.auth.agent = if agent {
            AgentSocket::FromEnv
        } else {
            AgentSocket::Off
        };
        config.auth.default_identities = identities;
        config.auth.password_auth = password_auth;
        config.auth.keyboard_interactive = keyboard_interactive;
        config.host_keys.policy = match host_key_policy.as_deref() {
            None => None,
            Some("strict") => Some(HostKeyPolicy::Strict),
            Some("accept-new") | Some("accept_new") => Some(HostKeyPolicy::AcceptNew),
            Some("off") => Some(HostKeyPolicy::Off),
            Some(other) => {
                return Err(PyValueError::new_err(format!(
                    "host_key_policy must be 'strict', 'accept-new' or 'off', not {other:?}"
                )));
            }
        };
        config.host_keys.files = known_hosts;
        config.ssh_config = match ssh_config {
            None => SshConfigSource::UserDefault,
            Some(path) if path.as_os_str().is_empty() => SshConfigSource::Off,
            Some(path) => SshConfigSource::File(path),
        };
        config.proxy_jump = proxy_jump;
        config.proxy_command = proxy_command;
        config.forward_agent = forward_agent;
        config.keepalive = keepalive
            .map(|interval| Ok::<_, PyErr>((seconds(interval, "keepalive")?, keepalive_max)))
            .transpose()?;
        config.compression = compress;
        config.pool_size = pool_size.max(1);
        config.max_handshakes = max_handshakes.max(1);
        config.connect_timeout = connect_timeout.map(|t| seconds(t, "timeout")).transpose()?;
        config.command_timeout = command_timeout
            .map(|t| seconds(t, "command timeout"))
            .transpose()?;
        config.retries = retries;
        config.post_quantum_kex = post_quantum_kex;
        config.retry_delay = seconds(retry_delay, "retry_delay")?;
        if let Some(limit) = output_buffer_limit {
            config.output_buffer_limit = limit;
        }
        // parallel-ssh yields whole lines, and programs parse long ones (JSON): keep lines
        // whole up to 16 MiB, bounded still against a host that never sends a newline.
        config.max_line_length = PYTHON_MAX_LINE;
        if ipv6_only {
            config.transport = Arc::new(sshfan::Ipv6TcpTransport);
        }
        let inner = builder.config(config).build().map_err(config_error)?;
        Ok(Client {
            inner: std::sync::Arc::new(inner),
        })
    }

    /// Starts one command line on every host (`command` a string), or one per host (a list).
    #[pyo3(signature = (
        command, *, pty=false, sudo=false, sudo_user=None, sudo_password=None, shell=None,
        read_timeout=None, env=Vec::new(), stdin=None, command_timeout=None, rollout=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        command: CommandArg,
        pty: bool,
        sudo: bool,
        sudo_user: Option<String>,
        sudo_password: Option<String>,
        shell: Option<String>,
        read_timeout: Option<f64>,
        env: Vec<(String, String)>,
        stdin: Option<Vec<u8>>,
        command_timeout: Option<f64>,
        rollout: Option<crate::rollout::RolloutArg>,
    ) -> PyResult<PyRun> {
        let mut options = RunOptions::default().pty(pty);
        if let Some(rollout) = rollout {
            options = options.rollout(rollout.into_rollout()?);
        }
        if let Some(timeout) = command_timeout {
            options = options.command_timeout(seconds(timeout, "timeout")?);
        }
        if sudo || sudo_user.is_some() {
            options = options.sudo(sudo_user.as_deref(), sudo_password.as_deref());
        }
        if let Some(shell) = shell {
            options = options.shell(shell);
        }
        if let Some(timeout) = read_timeout {
            options = options.read_timeout(seconds(timeout, "read_timeout")?);
        }
        for (name, value) in env {
            options = options.env(name, value);
        }
        if let Some(data) = stdin {
            options = options.stdin(data);
        }
        let _runtime = runtime().enter();
        let run = match command {
            CommandArg::One(command) => self.inner.run_with(command, options),
            CommandArg::PerHost(commands) => self
                .inner
                .run_commands(commands, options)
                .map_err(config_error)?,
        };
        Ok(PyRun::new(run))
    }

    /// A client for some of these hosts (positions), sharing this client's sessions.
    fn only(&self, hosts: Vec<usize>) -> PyResult<Client> {
        let inner = self.inner.only(&hosts).map_err(config_error)?;
        Ok(Client {
            inner: std::sync::Arc::new(inner),
        })
    }

    /// Closes every host's session (later calls connect again).
    fn disconnect(&self, py: Python<'_>) -> PyResult<()> {
        let inner = &self.inner;
        crate::runtime::wait(py, inner.disconnect())
    }

    /// [`disconnect`](Self::disconnect) for asyncio: an awaitable.
    fn disconnect_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        let work = async move { inner.disconnect().await };
        crate::aio::future(py, work, |py, ()| Ok(py.None()))
    }

    /// SSH connections this client holds open now.
    fn open_sessions(&self) -> usize {
        self.inner.open_sessions()
    }

    /// Opens an interactive shell on every host.
    #[pyo3(signature = (*, pty=false, read_timeout=None))]
    fn open_shells(&self, pty: bool, read_timeout: Option<f64>) -> PyResult<PyRun> {
        let mut options = RunOptions::default().pty(pty);
        if let Some(timeout) = read_timeout {
            options = options.read_timeout(seconds(timeout, "read_timeout")?);
        }
        let _runtime = runtime().enter();
        Ok(PyRun::new(self.inner.open_shells(options)))
    }

    /// Connects to and authenticates with every host, then disconnects.
    fn connect_auth(&self) -> PyRun {
        let _runtime = runtime().enter();
        PyRun::new(self.inner.connect_auth())
    }

    /// Uploads a local file or tree to `remote` on every host.
    #[pyo3(signature = (local, remote, *, recursive=false, scp=false, preserve=false, overwrite=true))]
    fn upload(
        &self,
        local: PathBuf,
        remote: &str,
        recursive: bool,
        scp: bool,
        preserve: bool,
        overwrite: bool,
    ) -> PyRun {
        let options = copy_options(recursive, scp, preserve, overwrite);
        let _runtime = runtime().enter();
        PyRun::new(self.inner.upload(local, remote, options))
    }

    /// Downloads `remote` from every host to `<local><separator><host>`, or to
    /// `<local>/<host>/<name>` when `per_host_dir`, or to `<local>` itself when `exact`
    /// (single-host clients).
    #[pyo3(signature = (remote, local, *, recursive=false, scp=false, preserve=false, overwrite=true, separator="_".to_owned(), per_host_dir=false, exact=false))]
    #[allow(clippy::too_many_arguments)]
    fn download(
        &self,
        remote: &str,
        local: PathBuf,
        recursive: bool,
        scp: bool,
        preserve: bool,
        overwrite: bool,
        separator: String,
        per_host_dir: bool,
        exact: bool,
    ) -> PyRun {
        let mut options = copy_options(recursive, scp, preserve, overwrite);
        options.layout = if exact {
            DownloadLayout::Exact
        } else if per_host_dir {
            DownloadLayout::PerHostDir
        } else {
            DownloadLayout::Suffix(separator)
        };
        let _runtime = runtime().enter();
        PyRun::new(self.inner.download(remote, local, options))
    }
}

/// One command for every host, or one per host.
#[derive(FromPyObject)]
pub enum CommandArg {
    /// The same command line everywhere.
    One(CommandText),
    /// One command line per host, in host order.
    PerHost(Vec<CommandText>),
}

/// A command line as `str` (sent as UTF-8) or as `bytes` (already encoded, sent as is:
/// parallel-ssh's `run_command(encoding=)`).
#[derive(FromPyObject)]
pub enum CommandText {
    /// Text.
    Text(String),
    /// Encoded bytes (read in place, not as a sequence of ints).
    Bytes(PyBackedBytes),
}

impl From<CommandText> for CommandLine {
    fn from(text: CommandText) -> Self {
        match text {
            CommandText::Text(text) => CommandLine::from(text),
            CommandText::Bytes(bytes) => CommandLine::from(&*bytes),
        }
    }
}

fn copy_options(recursive: bool, scp: bool, preserve: bool, overwrite: bool) -> CopyOptions {
    CopyOptions::new()
        .recursive(recursive)
        .preserve(preserve)
        .overwrite(overwrite)
        .protocol(if scp { Protocol::Scp } else { Protocol::Sftp })
}
