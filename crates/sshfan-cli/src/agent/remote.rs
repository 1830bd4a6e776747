//! The CLI's side of a run through the agent: the same events a direct run gives the
//! renderer, read off the agent's socket.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context;
use bytes::Bytes;
use sshfan::{Host, RunOptions};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedReadHalf;
use tokio::sync::mpsc;

use super::socket;
use super::wire::{FleetSpec, JobSpec, Reply, Request, WireHost, read_frame, write_frame};
use crate::args::ConnectArgs;
use crate::ending::Ending;
use crate::files::{HostFile, HostFiles};
use crate::render::{Event, Stream};
use crate::runner::{LineSender, Work};

/// The hosts of a run through the agent, and the settings it connects with.
#[derive(Clone)]
pub struct RemoteFleet {
    socket: PathBuf,
    spec: Arc<FleetSpec>,
    labels: Vec<String>,
    /// Host keys the agent's runs recorded (accept-new), per known_hosts file.
    added: Arc<Mutex<Vec<(PathBuf, usize)>>>,
}

/// Stdin a run through the agent may carry: it travels in one frame, base64-encoded.
const MAX_STDIN: usize = super::wire::MAX_FRAME / 2;

/// Why a run connects directly instead.
pub type NotUsed = String;

impl RemoteFleet {
    /// The agent's fleet for these hosts, when an agent runs and may be used for them.
    pub async fn reach(connect: &ConnectArgs, hosts: &[Host]) -> Result<RemoteFleet, NotUsed> {
        if connect.ask_pass {
            return Err("a typed password is never given to the agent".to_owned());
        }
        if connect
            .identities
            .iter()
            .any(|key| sshfan::KeySource::file(key).needs_passphrase())
        {
            return Err("a key passphrase is never given to the agent".to_owned());
        }
        let Some(wire_hosts) = hosts
            .iter()
            .map(WireHost::from_host)
            .collect::<Option<Vec<_>>>()
        else {
            return Err("a host carries its own key or password".to_owned());
        };
        let socket = socket::path();
        let stream = UnixStream::connect(&socket)
            .await
            .map_err(|_| "no agent is running (start one with `sshfan agent start`)".to_owned())?;
        if let Some(uid) = socket::foreign_peer(&stream) {
            return Err(format!(
                "the agent socket `{}` is served by uid {uid}, not by you",
                socket.display()
            ));
        }
        drop(stream);
        let spec = FleetSpec {
            connect: absolute_paths(connect.clone()),
            hosts: wire_hosts,
        };
        Ok(RemoteFleet {
            socket,
            labels: hosts.iter().map(Host::label).collect(),
            spec: Arc::new(spec),
            added: Arc::default(),
        })
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The same settings over other hosts.
    pub fn with_hosts(&self, hosts: &[Host]) -> anyhow::Result<RemoteFleet> {
        let wire_hosts = hosts
            .iter()
            .map(WireHost::from_host)
            .collect::<Option<Vec<_>>>()
            .context("a host with its own key or password cannot go through the agent")?;
        Ok(self.over(wire_hosts, hosts.iter().map(Host::label).collect()))
    }

    /// Some of these hosts (positions in [`labels`](Self::labels)).
    pub fn only(&self, positions: &[usize]) -> RemoteFleet {
        let hosts = positions
            .iter()
            .filter_map(|&p| self.spec.hosts.get(p).cloned());
        let labels = positions
            .iter()
            .filter_map(|&p| self.labels.get(p).cloned());
        self.over(hosts.collect(), labels.collect())
    }

    /// The same agent and settings over `hosts`, labelled `labels`.
    fn over(&self, hosts: Vec<WireHost>, labels: Vec<String>) -> RemoteFleet {
        RemoteFleet {
            socket: self.socket.clone(),
            spec: Arc::new(FleetSpec {
                connect: self.spec.connect.clone(),
                hosts,
            }),
            labels,
            added: self.added.clone(),
        }
    }

    /// Host keys the agent recorded for this fleet's runs so far.
    pub fn added_host_keys(&self) -> Vec<(PathBuf, usize)> {
        self.added
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Starts `work` in the agent; returns once it has started (or failed to).
    pub async fn start(
        &self,
        work: &Work,
        options: &RunOptions,
        progress: bool,
    ) -> anyhow::Result<(AgentControl, AgentFeed)> {
        let mut stream = UnixStream::connect(&self.socket)
            .await
            .with_context(|| format!("reaching the agent at `{}`", self.socket.display()))?;
        if let Some(uid) = socket::foreign_peer(&stream) {
            anyhow::bail!("the agent socket is served by uid {uid}, not by you");
        }
        let stdin = options.stdin.as_ref().map_or(0, bytes::Bytes::len);
        if stdin > MAX_STDIN {
            return Err(crate::exit::UsageError(format!(
                "{} MiB of stdin is more than a run through the agent takes ({} MiB): run \
                 this one with --no-agent",
                stdin >> 20,
                MAX_STDIN >> 20
            ))
            .into());
        }
        let mut job = JobSpec::new(work, options);
        job.absolute_paths();
        let request = Request::Run {
            fleet: Box::new((*self.spec).clone()),
            job: Box::new(job),
            progress,
        };
        write_frame(&mut stream, &request).await?;
        let first = read_frame::<_, Reply>(&mut stream).await?;
        match first {
            Some(Reply::Started { .. }) => {}
            Some(Reply::Failed { message, usage }) if usage => {
                return Err(crate::exit::UsageError(message).into());
            }
            Some(Reply::Failed { message, .. }) => anyhow::bail!("{message}"),
            Some(Reply::Refused { reason }) => anyhow::bail!("the agent refused: {reason}"),
            Some(other) => anyhow::bail!("the agent answered {other:?} to a run"),
            None => anyhow::bail!("the agent closed the connection"),
        }
        let (input, mut output) = stream.into_split();
        let (requests, mut outgoing) = mpsc::unbounded_channel::<Request>();
        tokio::spawn(async move {
            while let Some(request) = outgoing.recv().await {
                if write_frame(&mut output, &request).await.is_err() {
                    break;
                }
            }
        });
        let control = AgentControl {
            requests: requests.clone(),
        };
        let feed = AgentFeed {
            input,
            requests,
            gate: options.rollout.as_ref().and_then(|r| r.gate.clone()),
            added: self.added.clone(),
            hosts: self.labels.len(),
        };
        Ok((control, feed))
    }
}

/// Ctrl-C and Ctrl-\\ for a run in the agent.
pub struct AgentControl {
    requests: mpsc::UnboundedSender<Request>,
}

impl AgentControl {
    pub fn cancel(&self) {
        let _ = self.requests.send(Request::Cancel);
    }

    /// Asks which hosts are running: the answer comes as an [`Event::Running`].
    pub fn ask_running(&self) {
        let _ = self.requests.send(Request::Running);
    }
}

/// A run's replies, turned into renderer events.
pub struct AgentFeed {
    input: OwnedReadHalf,
    requests: mpsc::UnboundedSender<Request>,
    gate: Option<sshfan::rollout::WaveGate>,
    added: Arc<Mutex<Vec<(PathBuf, usize)>>>,
    hosts: usize,
}

impl AgentFeed {
    /// Forwards every reply as events (writing `--outdir` files on the way) until the
    /// run is over.
    pub async fn forward(mut self, sender: LineSender, files: HostFiles) {
        let mut open: HashMap<(usize, Stream), HostFile> = HashMap::new();
        let mut done = vec![false; self.hosts];
        loop {
            let reply = match read_frame::<_, Reply>(&mut self.input).await {
                Ok(Some(reply)) => reply,
                Ok(None) | Err(_) => break,
            };
            match reply {
                Reply::Lines { host, stream, raw } => {
                    let stream = Stream::from(stream);
                    let file = match open.entry((host, stream)) {
                        std::collections::hash_map::Entry::Occupied(entry) => {
                            Some(entry.into_mut())
                        }
                        std::collections::hash_map::Entry::Vacant(entry) => {
                            files.open(host, stream).map(|file| entry.insert(file))
                        }
                    };
                    if let Some(file) = file {
                        raw.iter().for_each(|line| file.write(line));
                    }
                    let bytes = raw.iter().map(Bytes::len).sum();
                    let lines = raw
                        .into_iter()
                        .map(sshfan::output::split_line_end)
                        .collect();
                    sender.send_lines(host, stream, lines, bytes).await;
                }
                Reply::Done {
                    host,
                    ending,
                    timing,
                    copied,
                } => {
                    for stream in [Stream::Stdout, Stream::Stderr] {
                        let file = open
                            .remove(&(host, stream))
                            .or_else(|| files.open(host, stream));
                        if let Some(file) = file {
                            file.close(&sender.events, host).await;
                        }
                    }
                    if let Some(seen) = done.get_mut(host) {
                        *seen = true;
                    }
                    let _ = sender
                        .events
                        .send(Event::Done {
                            host,
                            ending: ending.into(),
                            timing: timing.map(Into::into),
                            copied: copied.map(Into::into),
                        })
                        .await;
                }
                Reply::Progress(progress) => {
                    let _ = sender.events.send(Event::Tick(progress.into())).await;
                }
                Reply::Running { running, progress } => {
                    let event = Event::Running {
                        running,
                        progress: progress.into(),
                    };
                    let _ = sender.events.send(event).await;
                }
                Reply::Gate(report) => {
                    let pass = match self.gate.clone() {
                        Some(gate) => {
                            let report = report.into();
                            tokio::task::spawn_blocking(move || gate(&report))
                                .await
                                .unwrap_or(false)
                        }
                        None => true,
                    };
                    let _ = self.requests.send(Request::GateVerdict { pass });
                }
                Reply::Finished { added_host_keys } => {
                    let mut added = self.added.lock().unwrap_or_else(PoisonError::into_inner);
                    for (file, count) in added_host_keys {
                        match added.iter_mut().find(|(known, _)| *known == file) {
                            Some((_, total)) => *total += count,
                            None => added.push((file, count)),
                        }
                    }
                    return;
                }
                Reply::Started { .. }
                | Reply::Failed { .. }
                | Reply::Status(_)
                | Reply::Stopping
                | Reply::Refused { .. } => {}
            }
        }
        // The agent went away mid-run: the hosts it did not report are lost, and say so.
        let _ = sender
            .events
            .send(Event::Note(
                "sshfan: the agent went away before the run finished".to_owned(),
            ))
            .await;
        for (host, _) in done.iter().enumerate().filter(|(_, seen)| !**seen) {
            let ending = Ending::Failed {
                code: sshfan::ErrorCode::ConnectionLost.as_str().to_owned(),
                message: "the agent running this host went away".to_owned(),
            };
            let event = Event::Done {
                host,
                ending,
                timing: None,
                copied: None,
            };
            let _ = sender.events.send(event).await;
        }
    }
}

/// The settings' file paths made absolute (the agent runs elsewhere).
fn absolute_paths(mut connect: ConnectArgs) -> ConnectArgs {
    connect.identities = connect.identities.iter().map(|p| absolute(p)).collect();
    connect.known_hosts = connect.known_hosts.iter().map(|p| absolute(p)).collect();
    connect.ssh_config = connect
        .ssh_config
        .map(|path| match path.as_os_str() == "none" {
            true => path,
            false => absolute(&path),
        });
    connect
}

pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}
