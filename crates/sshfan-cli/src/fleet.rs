//! Where a run's hosts are driven: by this process's own client, or by the agent
//! (`sshfan agent`), which keeps their sessions between invocations.

use std::path::PathBuf;

use sshfan::{Host, ParallelClient};

use crate::agent::remote::RemoteFleet;

/// The hosts of a run and who connects to them.
#[allow(clippy::large_enum_variant)] // one per run: its size does not matter
pub enum Fleet {
    /// This process connects.
    Local(ParallelClient),
    /// The agent does, reusing its sessions.
    Agent(RemoteFleet),
}

impl Fleet {
    /// The hosts' labels, in run order.
    pub fn labels(&self) -> Vec<String> {
        match self {
            Fleet::Local(client) => client.hosts().map(Host::label).collect(),
            Fleet::Agent(remote) => remote.labels().to_vec(),
        }
    }

    /// How many hosts.
    pub fn len(&self) -> usize {
        match self {
            Fleet::Local(client) => client.hosts().len(),
            Fleet::Agent(remote) => remote.labels().len(),
        }
    }

    /// Some of the hosts (positions in [`labels`](Self::labels)), sharing the sessions.
    pub fn only(&self, positions: &[usize]) -> anyhow::Result<Fleet> {
        Ok(match self {
            Fleet::Local(client) => Fleet::Local(
                client
                    .only(positions)
                    .map_err(|err| crate::exit::UsageError(err.to_string()))?,
            ),
            Fleet::Agent(remote) => Fleet::Agent(remote.only(positions)),
        })
    }

    /// Host keys recorded under the accept-new policy so far, per known_hosts file.
    pub fn added_host_keys(&self) -> Vec<(PathBuf, usize)> {
        match self {
            Fleet::Local(client) => client.added_host_keys(),
            Fleet::Agent(remote) => remote.added_host_keys(),
        }
    }

    /// Closes this process's connections cleanly; the agent keeps its own.
    pub async fn disconnect(&self) {
        if let Fleet::Local(client) = self {
            client.disconnect().await;
        }
    }
}
