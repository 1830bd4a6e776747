//! The agent's clients, one per set of connection settings, and which to reuse.
//!
//! A session may be reused only by a run that would have made the same connection:
//! the key is every connection setting the CLI was given (user, port, `-i` keys, `-o`
//! options, jump hosts, proxy command, host-key policy, known_hosts files, algorithms,
//! connect timeout and retries; not the fanout or command timeout, which are per run),
//! plus the identity of the files they name (device, inode, size,
//! modification time of keys, ssh_config and known_hosts): a key file replaced, or a
//! known_hosts edited by hand, means new connections. Within one key, a client's hosts
//! are fixed (the library's session slots): a run over some of them uses
//! [`ParallelClient::only`]; a run over others gets a new client over all of them, and
//! the clients it covers are closed.
//!
//! Beyond the session cap, whole clients are closed, least recently used first; a
//! client whose sessions have all gone idle and closed is dropped.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sshfan::ParallelClient;
use tokio::time::Instant;

use super::wire::{FleetSpec, WireHost};

/// The agent's settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_sessions: usize,
    pub idle: Duration,
    /// Idle sessions keep a channel open ahead (`sshfan::ClientBuilder::spare_channels`).
    pub spare_channels: bool,
}

/// One client and the hosts it holds slots for.
struct Entry {
    id: u64,
    key: String,
    files: Vec<FileIdentity>,
    positions: HashMap<WireHost, usize>,
    client: Arc<ParallelClient>,
    last_used: Instant,
    runs: usize,
}

/// What identifies a file's contents without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileIdentity {
    path: PathBuf,
    stamp: Option<(u64, u64, u64, i64, i64)>,
}

impl FileIdentity {
    fn of(path: PathBuf) -> FileIdentity {
        let stamp = std::fs::metadata(&path).ok().map(|meta| {
            (
                meta.dev(),
                meta.ino(),
                meta.size(),
                meta.mtime(),
                meta.mtime_nsec(),
            )
        });
        FileIdentity { path, stamp }
    }
}

/// The clients the agent keeps.
pub struct Cache {
    entries: Vec<Entry>,
    limits: Limits,
    next_id: u64,
}

/// A client lent to one run; give it back with [`Cache::give_back`].
pub struct Lent {
    pub client: ParallelClient,
    entry: u64,
}

impl Cache {
    pub fn new(limits: Limits) -> Cache {
        Cache {
            entries: Vec::new(),
            limits,
            next_id: 0,
        }
    }

    /// A client for the spec's hosts, reusing the sessions of an earlier run where the
    /// settings allow.
    pub fn lend(
        &mut self,
        spec: &FleetSpec,
        build: impl FnOnce(Vec<sshfan::Host>) -> anyhow::Result<ParallelClient>,
    ) -> anyhow::Result<Lent> {
        let key = session_key(&spec.connect)?;
        let files: Vec<FileIdentity> = files_of(spec).into_iter().map(FileIdentity::of).collect();
        // Settings files changed: the clients made with the old ones go.
        let (stale, kept): (Vec<Entry>, Vec<Entry>) = self
            .entries
            .drain(..)
            .partition(|entry| entry.key == key && entry.files != files && entry.runs == 0);
        self.entries = kept;
        stale
            .into_iter()
            .for_each(|entry| close_later(entry.client));
        let now = Instant::now();
        let found = self.entries.iter_mut().find(|entry| {
            entry.key == key
                && entry.files == files
                && spec
                    .hosts
                    .iter()
                    .all(|host| entry.positions.contains_key(host))
        });
        if let Some(entry) = found {
            let positions: Vec<usize> = spec
                .hosts
                .iter()
                .filter_map(|host| entry.positions.get(host).copied())
                .collect();
            entry.last_used = now;
            entry.runs += 1;
            return Ok(Lent {
                client: entry.client.only(&positions)?,
                entry: entry.id,
            });
        }
        let client = Arc::new(build(spec.hosts.iter().map(WireHost::to_host).collect())?);
        let positions: HashMap<WireHost, usize> = spec
            .hosts
            .iter()
            .enumerate()
            .map(|(position, host)| (host.clone(), position))
            .collect();
        // Clients over fewer of these hosts with the same settings are replaced.
        let covered: Vec<usize> = (self.entries.iter().enumerate())
            .filter(|(_, entry)| {
                entry.key == key
                    && entry.runs == 0
                    && entry
                        .positions
                        .keys()
                        .all(|host| positions.contains_key(host))
            })
            .map(|(index, _)| index)
            .collect();
        for index in covered.into_iter().rev() {
            let entry = self.entries.remove(index);
            close_later(entry.client);
        }
        let all: Vec<usize> = (0..spec.hosts.len()).collect();
        let lent = client.only(&all)?;
        self.next_id += 1;
        self.entries.push(Entry {
            id: self.next_id,
            key,
            files,
            positions,
            client,
            last_used: now,
            runs: 1,
        });
        Ok(Lent {
            client: lent,
            entry: self.next_id,
        })
    }

    /// The run is over: its client's sessions stay for the next run; the cap and idle
    /// timeout are applied.
    pub fn give_back(&mut self, lent: Lent) {
        if let Some(entry) = self.entries.iter_mut().find(|entry| entry.id == lent.entry) {
            entry.runs = entry.runs.saturating_sub(1);
            entry.last_used = Instant::now();
            // What the run itself wrote (accept-new host keys) is not a change of settings.
            for file in &mut entry.files {
                *file = FileIdentity::of(file.path.clone());
            }
        }
        self.trim();
    }

    /// Closes clients past the session cap (least recently used first) and those whose
    /// sessions have all closed after the idle timeout.
    pub fn trim(&mut self) {
        let idle = self.limits.idle;
        let mut kept = Vec::with_capacity(self.entries.len());
        for entry in self.entries.drain(..) {
            let unused = entry.runs == 0 && entry.last_used.elapsed() >= idle;
            if unused && entry.client.open_sessions() == 0 {
                continue;
            }
            kept.push(entry);
        }
        self.entries = kept;
        self.entries
            .sort_by_key(|entry| std::cmp::Reverse(entry.last_used));
        while self.sessions() > self.limits.max_sessions {
            let Some(position) = self.entries.iter().rposition(|entry| entry.runs == 0) else {
                break;
            };
            let entry = self.entries.remove(position);
            close_later(entry.client);
        }
    }

    /// Sessions open now, all clients together.
    pub fn sessions(&self) -> usize {
        self.entries
            .iter()
            .map(|entry| entry.client.open_sessions())
            .sum()
    }

    /// Runs going on now.
    pub fn runs(&self) -> usize {
        self.entries.iter().map(|entry| entry.runs).sum()
    }

    /// Distinct settings with a client.
    pub fn settings(&self) -> usize {
        let mut keys: Vec<&str> = self.entries.iter().map(|e| e.key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.len()
    }

    /// Closes every session.
    pub async fn close_all(&mut self) {
        for entry in self.entries.drain(..) {
            entry.client.disconnect().await;
        }
    }
}

/// Says goodbye to a client's hosts without holding up the caller.
fn close_later(client: Arc<ParallelClient>) {
    tokio::spawn(async move { client.disconnect().await });
}

/// What sessions are keyed by: the connection settings without those that apply per
/// run (fanout, command timeout, fail-fast), so that `-f 1000` then `-f 10` reuse the
/// same sessions.
fn session_key(connect: &crate::args::ConnectArgs) -> anyhow::Result<String> {
    let mut connect = connect.clone();
    connect.fanout = 0;
    connect.command_timeout = None;
    connect.fail_fast = false;
    Ok(serde_json::to_string(&connect)?)
}

/// The files a spec's connections depend on: keys, ssh_config, known_hosts (the given
/// ones, or the user's and the system's).
fn files_of(spec: &FleetSpec) -> Vec<PathBuf> {
    let connect = &spec.connect;
    let mut files = connect.identities.clone();
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    match &connect.ssh_config {
        Some(path) => files.push(path.clone()),
        None => files.push(home.join(".ssh/config")),
    }
    if connect.known_hosts.is_empty() {
        files.push(home.join(".ssh/known_hosts"));
        files.push(PathBuf::from("/etc/ssh/ssh_known_hosts"));
    } else {
        files.extend(connect.known_hosts.iter().cloned());
    }
    files
}
