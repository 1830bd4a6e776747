//! The agent process: a thin server over [`sshfan::ParallelClient`] sessions.
//!
//! Each connection on the socket is one request. A run builds (or reuses, see
//! [`cache`](super::cache)) a client, starts the job on it exactly as a direct run
//! would, and streams each host's raw output lines, its ending and progress back; the
//! CLI renders them. A run whose CLI goes away (its terminal closed, a second Ctrl-C)
//! is cancelled: its channels close, the sessions stay.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use sshfan::{HostOutput, Joiner, ParallelClient};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::cache::{Cache, Limits};
use super::socket;
use super::wire::{
    AgentStatus, FleetSpec, JobSpec, Reply, Request, WireProgress, read_frame, write_frame,
};
use crate::ending::Ending;
use crate::render::Stream;

/// How often progress is sent when asked for (as the CLI's own ticker).
const TICK: Duration = Duration::from_millis(200);
/// Replies in flight to one CLI: a slow terminal slows the hosts down (SSH flow control),
/// it does not grow the agent's memory.
const QUEUE: usize = 256;
/// Lines per reply at most.
const LINES_PER_REPLY: usize = 256;
/// Bytes of lines per reply at most.
const BYTES_PER_REPLY: usize = 256 * 1024;
/// Keepalive interval and misses before a session counts as dead.
const KEEPALIVE: (Duration, usize) = (Duration::from_secs(30), 3);

/// What every connection shares.
struct Agent {
    cache: Mutex<Cache>,
    limits: Limits,
    started: Instant,
    stop: tokio::sync::Notify,
}

/// Serves on the socket until stopped.
pub async fn serve(limits: Limits) -> anyhow::Result<()> {
    super::memory::return_freed_pages_at_once();
    let path = socket::path();
    socket::prepare_directory()?;
    if UnixStream::connect(&path).await.is_ok() {
        anyhow::bail!("an agent is already listening on `{}`", path.display());
    }
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    socket::make_private(&path)?;
    let agent = Arc::new(Agent {
        cache: Mutex::new(Cache::new(limits)),
        limits,
        started: Instant::now(),
        stop: tokio::sync::Notify::new(),
    });
    // Started from a terminal that then closes: the hang-up is not a reason to stop.
    let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
    let trimmer = {
        let agent = agent.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_secs(5));
            loop {
                interval.tick().await;
                agent.cache().trim();
            }
        })
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let agent = agent.clone();
                tokio::spawn(async move { agent.handle(stream).await });
            }
            () = agent.stop.notified() => break,
        }
    }
    trimmer.abort();
    drop(hangups);
    let _ = std::fs::remove_file(&path);
    let mut cache = std::mem::replace(&mut *agent.cache(), Cache::new(limits));
    cache.close_all().await;
    Ok(())
}

impl Agent {
    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn handle(self: Arc<Self>, mut stream: UnixStream) {
        if let Some(uid) = socket::foreign_peer(&stream) {
            tracing::warn!("refused a connection from uid {uid}");
            let reason = format!(
                "this agent serves uid {} only, not uid {uid}",
                socket::my_uid()
            );
            let _ = write_frame(&mut stream, &Reply::Refused { reason }).await;
            return;
        }
        let request = match read_frame::<_, Request>(&mut stream).await {
            Ok(Some(request)) => request,
            _ => return,
        };
        match request {
            Request::Status => {
                let status = self.status();
                let _ = write_frame(&mut stream, &Reply::Status(status)).await;
            }
            Request::Stop => {
                let _ = write_frame(&mut stream, &Reply::Stopping).await;
                self.stop.notify_one();
            }
            Request::Run {
                fleet,
                job,
                progress,
            } => self.run(stream, *fleet, *job, progress).await,
            Request::Cancel | Request::Running | Request::GateVerdict { .. } => {}
        }
    }

    fn status(&self) -> AgentStatus {
        let cache = self.cache();
        AgentStatus {
            pid: std::process::id(),
            uptime: self.started.elapsed(),
            sessions: cache.sessions(),
            runs: cache.runs(),
            settings: cache.settings(),
            memory: resident_memory(),
            max_sessions: self.limits.max_sessions,
            idle: self.limits.idle,
        }
    }

    async fn run(&self, stream: UnixStream, fleet: FleetSpec, job: JobSpec, progress: bool) {
        let (mut input, mut output) = stream.into_split();
        let (replies, mut outgoing) = mpsc::channel::<Reply>(QUEUE);
        let writer = tokio::spawn(async move {
            while let Some(reply) = outgoing.recv().await {
                if write_frame(&mut output, &reply).await.is_err() {
                    break;
                }
            }
        });
        let limits = self.limits;
        let lent = self
            .cache()
            .lend(&fleet, |hosts| build_client(&fleet, hosts, limits));
        let lent = match lent {
            Ok(lent) => lent,
            Err(err) => {
                let usage = err.downcast_ref::<crate::exit::UsageError>().is_some();
                let message = format!("{err:#}");
                let _ = replies.send(Reply::Failed { message, usage }).await;
                drop(replies);
                let _ = writer.await;
                return;
            }
        };
        let (verdicts, verdict) = std::sync::mpsc::channel::<bool>();
        let gate = gate_asking(replies.clone(), verdict);
        let (work, options) = job.into_parts(Some(gate));
        let before = lent.client.added_host_keys();
        let run = work.start_on(&lent.client, options);
        let (outputs, joiner) = run.into_parts();
        let labels = outputs.iter().map(|h| h.label().to_owned()).collect();
        let _ = replies.send(Reply::Started { labels }).await;
        let mut hosts = tokio::task::JoinSet::new();
        for host in outputs {
            hosts.spawn(stream_host(host, replies.clone()));
        }
        let ticker = progress.then(|| {
            let joiner = joiner.clone();
            let replies = replies.clone();
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(TICK);
                loop {
                    interval.tick().await;
                    let counts = WireProgress::from(joiner.progress());
                    if replies.send(Reply::Progress(counts)).await.is_err() {
                        break;
                    }
                }
            })
        });
        let mut cli_gone = false;
        loop {
            tokio::select! {
                finished = hosts.join_next() => {
                    if finished.is_none() {
                        break;
                    }
                }
                request = read_frame::<_, Request>(&mut input), if !cli_gone => {
                    match request {
                        Ok(Some(Request::Cancel)) => joiner.cancel(),
                        Ok(Some(Request::Running)) => {
                            let _ = replies.send(running(&joiner)).await;
                        }
                        Ok(Some(Request::GateVerdict { pass })) => {
                            let _ = verdicts.send(pass);
                        }
                        Ok(Some(_)) => {}
                        // The CLI is gone: the run is cancelled, the sessions stay.
                        Ok(None) | Err(_) => {
                            cli_gone = true;
                            joiner.cancel();
                            let _ = verdicts.send(false);
                        }
                    }
                }
            }
        }
        if let Some(ticker) = ticker {
            ticker.abort();
        }
        let added_host_keys = newly_added(before, lent.client.added_host_keys());
        let _ = replies.send(Reply::Finished { added_host_keys }).await;
        drop(replies);
        let _ = writer.await;
        self.cache().give_back(lent);
    }
}

/// A client over `hosts` with the spec's settings, its sessions kept for later runs.
fn build_client(
    fleet: &FleetSpec,
    hosts: Vec<sshfan::Host>,
    limits: Limits,
) -> anyhow::Result<ParallelClient> {
    let template = crate::settings::client_template(&fleet.connect)?
        .max_sessions(limits.max_sessions)
        .idle_timeout(limits.idle)
        .spare_channels(limits.spare_channels)
        .keepalive(KEEPALIVE.0, KEEPALIVE.1);
    let builder = hosts
        .into_iter()
        .fold(template, |builder, host| builder.host(host));
    Ok(builder
        .build()
        .map_err(|err| crate::exit::UsageError(err.to_string()))?)
}

/// A gate that asks the CLI (which runs its `--gate` command) and waits for the answer;
/// no answer (the CLI went away) halts the rollout.
fn gate_asking(
    replies: mpsc::Sender<Reply>,
    verdict: std::sync::mpsc::Receiver<bool>,
) -> sshfan::rollout::WaveGate {
    let verdict = Mutex::new(verdict);
    Arc::new(move |report: &sshfan::rollout::WaveReport| {
        if replies.blocking_send(Reply::Gate(report.into())).is_err() {
            return false;
        }
        verdict
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv()
            .unwrap_or(false)
    })
}

fn running(joiner: &Joiner) -> Reply {
    Reply::Running {
        running: joiner
            .running()
            .into_iter()
            .map(|(_, label)| label)
            .collect(),
        progress: joiner.progress().into(),
    }
}

/// Sends one host's lines as received, then its ending.
async fn stream_host(mut host: HostOutput, replies: mpsc::Sender<Reply>) {
    let index = host.index();
    let stdout = forward(&mut host.stdout, index, Stream::Stdout, &replies);
    let stderr = forward(&mut host.stderr, index, Stream::Stderr, &replies);
    tokio::join!(stdout, stderr);
    let outcome = host.wait().await;
    let _ = replies
        .send(Reply::Done {
            host: index,
            ending: (&Ending::from(&outcome)).into(),
            timing: host.timing().map(Into::into),
            copied: host.copy_report().map(Into::into),
        })
        .await;
}

async fn forward(
    reader: &mut sshfan::OutputReader,
    host: usize,
    stream: Stream,
    replies: &mpsc::Sender<Reply>,
) {
    while let Some(batch) = reader.next_lines(LINES_PER_REPLY, BYTES_PER_REPLY).await {
        let raw: Vec<Bytes> = batch.raw().collect();
        let reply = Reply::Lines {
            host,
            stream: stream.into(),
            raw,
        };
        if replies.send(reply).await.is_err() {
            return;
        }
    }
}

type AddedKeys = Vec<(std::path::PathBuf, usize)>;

/// Host keys added between two counts.
fn newly_added(before: AddedKeys, after: AddedKeys) -> AddedKeys {
    after
        .into_iter()
        .filter_map(|(file, count)| {
            let earlier = before
                .iter()
                .find(|(known, _)| *known == file)
                .map_or(0, |(_, n)| *n);
            (count > earlier).then(|| (file, count - earlier))
        })
        .collect()
}

/// This process's resident memory, from `/proc/self/statm`.
fn resident_memory() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|text| text.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    pages * 4096
}
