//! `sshfan-bench-russh`: a warm command with the vendored russh alone, no sshfan around it.
//!
//! Issue 15's target is 0.05 ms of client CPU per host for a command on a kept session.
//! sshfan's warm command is russh's session task (decrypt, dispatch, encrypt, write)
//! plus sshfan's own layer (the per-host task, the session pool, output buffers, the
//! completion stream). This program measures the first part alone: it connects to every
//! host of a host file with russh as sshfan configures it (AES-256-GCM, no Nagle, the
//! held close answer), then runs `echo hello` on every session, `--rounds` times, each
//! command in a task of its own that opens a channel (or takes the one opened ahead,
//! `--spare`), execs and reads the channel to its end, as the leanest library program
//! on russh would. Client CPU is measured with `getrusage` around the rounds only.
//!
//! What it prints (one JSON object): user and system CPU per host per command, ms. The
//! gap between this and `sshfan-bench --runs 21` minus `--runs 1` is sshfan's layer; this
//! figure itself is what russh's design costs before sshfan adds anything.

#[path = "cpu.rs"]
mod cpu;
#[path = "runtime.rs"]
mod runtime;

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Parser;
use cpu::cpu_seconds;
use russh::client::{self, Handle, Msg};
use russh::keys::{PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{Channel, ChannelMsg};

#[derive(Parser)]
struct Args {
    /// One `address:port` per line (the fleet's `hosts` file).
    #[arg(long)]
    hosts_file: PathBuf,
    #[arg(long)]
    user: String,
    #[arg(long)]
    key: PathBuf,
    #[arg(long)]
    known_hosts: PathBuf,
    /// Commands per session, measured (one more before, not measured).
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    /// Keep a channel opened ahead on each session, as sshfan's `spare_channels`.
    #[arg(long)]
    spare: bool,
    /// Every protocol step waits for the server, as upstream russh (sshfan's
    /// `RoundTripCuts::NONE`).
    #[arg(long)]
    no_round_trip_cuts: bool,
    /// Tokio worker threads (0: a current-thread runtime; default: one per core).
    #[arg(long)]
    worker_threads: Option<usize>,
}

/// Accepts only a host key the known_hosts file lists (read once, not per host: the
/// check is not what is measured).
struct KnownHostsOnly {
    known: Arc<HashSet<String>>,
}

impl client::Handler for KnownHostsOnly {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            return Ok(false);
        };
        Ok(key
            .to_openssh()
            .is_ok_and(|line| self.known.contains(&line)))
    }
}

/// The `type base64` keys of a known_hosts file.
fn known_keys(path: &Path) -> anyhow::Result<HashSet<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace().skip(1);
            Some(format!("{} {}", fields.next()?, fields.next()?))
        })
        .collect())
}

/// One kept session, and the channel opened ahead of its next command (`--spare`).
struct Session {
    handle: Arc<Handle<KnownHostsOnly>>,
    ahead: Option<Channel<Msg>>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    runtime::build(args.worker_threads)?.block_on(bench(args))
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.hosts_file)
        .with_context(|| format!("reading {}", args.hosts_file.display()))?;
    let key = Arc::new(russh::keys::load_secret_key(&args.key, None)?);
    // As sshfan configures russh, round-trip cuts included (`RoundTripCuts`).
    let cuts = !args.no_round_trip_cuts;
    let mut config = client::Config {
        nodelay: true,
        kexinit_with_banner: cuts,
        auth_without_service_accept: cuts,
        guess_kex: cuts,
        newkeys_with_auth: cuts,
        close_answer_with_next_write: cuts,
        ..Default::default()
    };
    config.preferred.cipher = std::borrow::Cow::Borrowed(&[russh::cipher::AES_256_GCM]);
    // curve25519-sha256 first, ML-KEM after it, as sshfan orders them by default.
    let mut kex = config.preferred.kex.to_vec();
    kex.retain(|name| *name != russh::kex::MLKEM768X25519_SHA256);
    kex.insert(1, russh::kex::MLKEM768X25519_SHA256);
    config.preferred.kex = std::borrow::Cow::Owned(kex);
    let config = Arc::new(config);
    let known = Arc::new(known_keys(&args.known_hosts)?);
    let connecting_cpu = cpu_seconds();
    let connecting: Vec<_> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let handler = KnownHostsOnly {
                known: known.clone(),
            };
            let (config, key, user) = (config.clone(), key.clone(), args.user.clone());
            let target = line.trim().to_owned();
            Ok(tokio::spawn(async move {
                // Buffered as sshfan buffers it: one `recvfrom` for a burst of packets.
                let stream =
                    tokio::io::BufReader::new(tokio::net::TcpStream::connect(&target).await?);
                let mut handle = client::connect_stream(config, stream, handler).await?;
                let auth = handle
                    .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key, None))
                    .await?;
                if !auth.success() {
                    bail!("{target}: public key refused");
                }
                anyhow::Ok(Session {
                    handle: Arc::new(handle),
                    ahead: None,
                })
            }))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut sessions = Vec::new();
    for task in connecting {
        sessions.push(task.await??);
    }
    let hosts = sessions.len();
    // One round before measuring: the first channel of each session, and the spares.
    sessions = round(sessions, args.spare).await?;
    let before = cpu_seconds();
    let cold = before.0 + before.1 - connecting_cpu.0 - connecting_cpu.1;
    for _ in 0..args.rounds {
        sessions = round(sessions, args.spare).await?;
    }
    let after = cpu_seconds();
    let per_command = |seconds: f64| seconds * 1000.0 / (hosts * args.rounds) as f64;
    let result = serde_json::json!({
        "hosts": hosts,
        "rounds": args.rounds,
        "spare": args.spare,
        "user_ms": per_command(after.0 - before.0),
        "system_ms": per_command(after.1 - before.1),
        "cpu_ms": per_command(after.0 + after.1 - before.0 - before.1),
        // Connecting, authenticating and the first command, per host.
        "cold_cpu_ms": cold * 1000.0 / hosts as f64,
    });
    writeln!(std::io::stdout().lock(), "{result}")?;
    Ok(())
}

/// Runs `echo hello` once on every session, a task per session; returns the sessions.
async fn round(sessions: Vec<Session>, spare: bool) -> anyhow::Result<Vec<Session>> {
    let tasks: Vec<_> = sessions
        .into_iter()
        .map(|session| tokio::spawn(command(session, spare)))
        .collect();
    let mut kept = Vec::with_capacity(tasks.len());
    for task in tasks {
        kept.push(task.await??);
    }
    Ok(kept)
}

/// One command on a kept session: the channel opened ahead or a new one, exec, read to
/// the end; with `spare`, the next command's channel is opened meanwhile.
async fn command(mut session: Session, spare: bool) -> anyhow::Result<Session> {
    let mut channel = match session.ahead.take() {
        Some(channel) => channel,
        None => session.handle.channel_open_session().await?,
    };
    let next = spare.then(|| {
        let handle = session.handle.clone();
        tokio::spawn(async move { handle.channel_open_session().await })
    });
    channel.exec(true, "echo hello").await?;
    let (mut bytes, mut status) = (0, None);
    while let Some(message) = channel.wait().await {
        match message {
            ChannelMsg::Data { data } => bytes += data.len(),
            ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
            _ => {}
        }
    }
    if bytes != 6 || status != Some(0) {
        bail!("unexpected output: {bytes} bytes, exit status {status:?}");
    }
    if let Some(next) = next {
        session.ahead = Some(next.await??);
    }
    Ok(session)
}
