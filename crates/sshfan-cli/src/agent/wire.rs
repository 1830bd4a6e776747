//! What the CLI and the agent say to each other over the agent's socket.
//!
//! Frames are a 4-byte big-endian length, then that many bytes of JSON (one
//! [`Request`] or [`Reply`]). A run is one connection: the CLI sends [`Request::Run`],
//! the agent answers [`Reply::Started`], then the run's events (the same lines, endings
//! and progress the renderer consumes in a direct run) until [`Reply::Finished`];
//! meanwhile the CLI may send [`Request::Cancel`] (Ctrl-C), [`Request::Running`]
//! (Ctrl-\\) and answers to [`Reply::Gate`]. Output bytes travel as base64, raw (with
//! their line terminators), so that `--outdir` files are byte-exact.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::args::ConnectArgs;
use crate::render::Stream;

/// Largest frame either side accepts.
pub const MAX_FRAME: usize = 64 << 20;

/// From the CLI to the agent.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Run one piece of work on these hosts.
    Run {
        fleet: Box<FleetSpec>,
        job: Box<JobSpec>,
        /// Send [`Reply::Progress`] periodically.
        progress: bool,
    },
    /// Ctrl-C: cancel the run's pending hosts and running channels (not the sessions).
    Cancel,
    /// Ctrl-\\: which hosts are still running?
    Running,
    /// The local gate's verdict on the last [`Reply::Gate`].
    GateVerdict { pass: bool },
    /// What the agent holds.
    Status,
    /// Close every session and exit.
    Stop,
}

/// From the agent to the CLI.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// The run started on these hosts (in run order).
    Started { labels: Vec<String> },
    /// Lines of one host's stream, each as received.
    Lines {
        host: usize,
        stream: WireStream,
        #[serde(with = "base64_lines")]
        raw: Vec<Bytes>,
    },
    /// A host finished.
    Done {
        host: usize,
        ending: WireEnding,
        timing: Option<WireTiming>,
        copied: Option<WireCopy>,
    },
    /// Progress counts.
    Progress(WireProgress),
    /// The hosts still running (the answer to [`Request::Running`]).
    Running {
        running: Vec<String>,
        progress: WireProgress,
    },
    /// A rollout's wave ended: the CLI runs its `--gate` and answers
    /// [`Request::GateVerdict`].
    Gate(WireWaveReport),
    /// The run is over.
    Finished {
        /// Host keys recorded by this run (accept-new), per known_hosts file.
        added_host_keys: Vec<(PathBuf, usize)>,
    },
    /// The run could not start (a local mistake in its settings, say).
    Failed { message: String, usage: bool },
    /// The answer to [`Request::Status`].
    Status(AgentStatus),
    /// The answer to [`Request::Stop`].
    Stopping,
    /// This peer is not the agent's user.
    Refused { reason: String },
}

/// The hosts and how to reach them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetSpec {
    /// Connection settings, paths absolute; secrets are never in them (runs that need a
    /// typed password or passphrase connect directly).
    pub connect: ConnectArgs,
    pub hosts: Vec<WireHost>,
}

/// One host, as the CLI selected it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WireHost {
    pub name: String,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub alias: Option<String>,
}

impl WireHost {
    /// The host, or `None` when it carries its own key or password (never sent).
    pub fn from_host(host: &sshfan::Host) -> Option<WireHost> {
        if host.key.is_some() || host.password.is_some() {
            return None;
        }
        Some(WireHost {
            name: host.name.clone(),
            user: host.user.clone(),
            port: host.port,
            alias: host.alias.clone(),
        })
    }

    pub fn to_host(&self) -> sshfan::Host {
        sshfan::Host {
            name: self.name.clone(),
            user: self.user.clone(),
            port: self.port,
            key: None,
            password: None,
            alias: self.alias.clone(),
        }
    }
}

/// What to do on each host, and the per-run options.
#[derive(Debug, Serialize, Deserialize)]
pub struct JobSpec {
    pub work: WireWork,
    #[serde(with = "base64_bytes")]
    pub stdin: Vec<u8>,
    pub fail_fast: bool,
    pub pty: bool,
    pub env: Vec<(String, String)>,
    pub sudo: Option<WireSudo>,
    pub shell: Option<String>,
    pub read_timeout: Option<Duration>,
    pub command_timeout: Option<Duration>,
    pub pool_size: Option<usize>,
    pub rollout: Option<WireRollout>,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum WireWork {
    Command(String),
    Upload {
        local: PathBuf,
        remote: String,
        options: WireCopyOptions,
    },
    Download {
        remote: String,
        local: PathBuf,
        options: WireCopyOptions,
    },
}

/// `sshfan::copy::CopyOptions`, field for field.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireCopyOptions {
    pub recursive: bool,
    pub preserve: bool,
    pub overwrite: bool,
    pub scp: bool,
    pub layout: WireLayout,
    pub idle_timeout: Duration,
    pub follow_symlinks: bool,
    /// scp's target rule (else parallel-ssh's).
    pub scp_rule: bool,
    pub make_parents: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum WireLayout {
    Suffix(String),
    PerHostDir,
    Exact,
}

/// Sudo for this run only: its password is used by this run and dropped with it.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireSudo {
    pub user: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WireRollout {
    pub waves: Vec<WireWave>,
    pub max_fail: Option<WireWave>,
    pub abort_running: bool,
    /// The gate runs in the CLI (see [`Reply::Gate`]).
    pub gate: bool,
    pub pause: Option<Duration>,
    pub spread: Option<Vec<usize>>,
}

/// A wave size or failure budget (`Rest` only for waves).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub enum WireWave {
    Count(usize),
    Percent(f64),
    Rest,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub enum WireStream {
    Stdout,
    Stderr,
}

impl From<Stream> for WireStream {
    fn from(stream: Stream) -> WireStream {
        match stream {
            Stream::Stdout => WireStream::Stdout,
            Stream::Stderr => WireStream::Stderr,
        }
    }
}

impl From<WireStream> for Stream {
    fn from(stream: WireStream) -> Stream {
        match stream {
            WireStream::Stdout => Stream::Stdout,
            WireStream::Stderr => Stream::Stderr,
        }
    }
}

/// How a host ended (see `ending::Ending`), the signal's message included.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WireEnding {
    Exited(u32),
    Signal {
        name: String,
        core_dumped: bool,
        message: String,
    },
    NoStatus,
    Failed {
        code: String,
        message: String,
    },
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct WireTiming {
    pub connect: Option<Duration>,
    pub total: Duration,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct WireCopy {
    pub files: u64,
    pub bytes: u64,
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct WireProgress {
    pub pending: usize,
    pub running: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireWaveReport {
    pub wave: usize,
    pub waves: usize,
    pub hosts: Vec<usize>,
    pub succeeded: usize,
    pub failed: usize,
    pub failed_so_far: usize,
    pub total: usize,
}

/// What `sshfan agent status` shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentStatus {
    pub pid: u32,
    pub uptime: Duration,
    /// Sessions open now, all credentials together.
    pub sessions: usize,
    /// Runs going on now.
    pub runs: usize,
    /// Distinct connection settings (user, keys, options…) with sessions kept.
    pub settings: usize,
    /// Resident memory, in bytes.
    pub memory: u64,
    pub max_sessions: usize,
    pub idle: Duration,
}

/// Writes one frame.
pub async fn write_frame<W, T>(out: &mut W, message: &T) -> std::io::Result<()>
where
    W: tokio::io::AsyncWrite + Unpin,
    T: Serialize,
{
    let body = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    let length = u32::try_from(body.len()).map_err(std::io::Error::other)?;
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(&body);
    out.write_all(&frame).await
}

/// Reads one frame; `None` at end of stream.
pub async fn read_frame<R, T>(input: &mut R) -> std::io::Result<Option<T>>
where
    R: tokio::io::AsyncRead + Unpin,
    T: for<'de> Deserialize<'de>,
{
    let mut length = [0u8; 4];
    match input.read_exact(&mut length).await {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(err) => return Err(err),
    }
    let length = u32::from_be_bytes(length) as usize;
    if length > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a frame of {length} bytes (at most {MAX_FRAME})"),
        ));
    }
    let mut body = vec![0u8; length];
    input.read_exact(&mut body).await?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))
}

mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], out: S) -> Result<S::Ok, S::Error> {
        out.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(input)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

mod base64_lines {
    use base64::Engine;
    use bytes::Bytes;
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(lines: &[Bytes], out: S) -> Result<S::Ok, S::Error> {
        let mut seq = out.serialize_seq(Some(lines.len()))?;
        for line in lines {
            seq.serialize_element(&base64::engine::general_purpose::STANDARD.encode(line))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Vec<Bytes>, D::Error> {
        let texts = Vec::<String>::deserialize(input)?;
        texts
            .into_iter()
            .map(|text| {
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map(Bytes::from)
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}
