//! A real OpenSSH `ssh-agent` holding test keys, for agent and agent-forwarding tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running `ssh-agent`; stopped when dropped.
pub struct SshAgent {
    child: Child,
    socket: PathBuf,
}

impl SshAgent {
    /// Starts an agent with its socket in `dir` and adds these key files.
    pub fn start(dir: &Path, keys: &[&Path]) -> Result<SshAgent, String> {
        let socket = dir.join(format!("agent-{}.sock", std::process::id()));
        let mut child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| {
                format!("ssh-agent not available ({e}); apt-get install -y openssh-client")
            })?;
        // The agent prints its environment lines once the socket is bound.
        let mut banner = String::new();
        if let Some(stdout) = child.stdout.take() {
            BufReader::new(stdout)
                .read_line(&mut banner)
                .map_err(|e| format!("reading ssh-agent: {e}"))?;
        }
        let agent = SshAgent { child, socket };
        for key in keys {
            let added = Command::new("ssh-add")
                .arg(key)
                .env("SSH_AUTH_SOCK", &agent.socket)
                .output()
                .map_err(|e| format!("ssh-add: {e}"))?;
            if !added.status.success() {
                return Err(format!(
                    "ssh-add failed: {}",
                    String::from_utf8_lossy(&added.stderr)
                ));
            }
        }
        Ok(agent)
    }

    /// The agent's socket (`SSH_AUTH_SOCK`).
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for SshAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
