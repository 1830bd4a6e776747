//! A real Dropbear SSH server on a loopback port, for interop tests beyond OpenSSH.
//!
//! Dropbear reads `~/.ssh/authorized_keys` of the login user and has no option to point
//! elsewhere, so tests log in as the throwaway user [`crate::sshd::ensure_user_with_password`]
//! creates, whose files the test may write. Dropbear prints no readiness line; the start
//! waits for its port to accept connections (the one poll here: the process is not ours).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::sshd::SshdUnavailable;

/// A running `dropbear` on `127.0.0.1`; stopped when dropped.
pub struct Dropbear {
    child: Child,
    port: u16,
    known_hosts: PathBuf,
    _dir: tempfile::TempDir,
}

impl Dropbear {
    /// Starts Dropbear with a fresh Ed25519 host key.
    pub async fn start() -> Result<Dropbear, SshdUnavailable> {
        let binary = ["/usr/sbin/dropbear", "/usr/local/sbin/dropbear"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .ok_or_else(|| {
                SshdUnavailable::Failed(
                    "dropbear not found (apt-get install -y dropbear-bin)".to_owned(),
                )
            })?;
        let failed = |what: &str, err: &dyn std::fmt::Display| {
            SshdUnavailable::Failed(format!("{what}: {err}"))
        };
        let dir = tempfile::tempdir().map_err(|e| failed("temp dir", &e))?;
        let key = dir.path().join("host_ed25519");
        let made = Command::new("dropbearkey")
            .args(["-t", "ed25519", "-f"])
            .arg(&key)
            .output()
            .map_err(|e| failed("dropbearkey", &e))?;
        if !made.status.success() {
            return Err(failed(
                "dropbearkey",
                &String::from_utf8_lossy(&made.stderr),
            ));
        }
        let public = Command::new("dropbearkey")
            .args(["-y", "-f"])
            .arg(&key)
            .output()
            .map_err(|e| failed("dropbearkey -y", &e))?;
        let public = String::from_utf8_lossy(&public.stdout)
            .lines()
            .find(|l| l.starts_with("ssh-"))
            .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
            .ok_or_else(|| SshdUnavailable::Failed("no public key from dropbearkey".to_owned()))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| failed("free port", &e))?
            .port();
        let known_hosts = dir.path().join("known_hosts");
        std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {public}\n"))
            .map_err(|e| failed("known_hosts", &e))?;
        let child = Command::new(binary)
            .args(["-F", "-E", "-p", &format!("127.0.0.1:{port}"), "-r"])
            .arg(&key)
            .arg("-P")
            .arg(dir.path().join("dropbear.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| failed("spawning dropbear", &e))?;
        let server = Dropbear {
            child,
            port,
            known_hosts,
            _dir: dir,
        };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err(SshdUnavailable::Failed(
            "dropbear did not start listening".to_owned(),
        ))
    }

    /// `127.0.0.1:PORT`.
    pub fn host_spec(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A known_hosts file with Dropbear's host key.
    pub fn known_hosts_path(&self) -> &Path {
        &self.known_hosts
    }
}

impl Drop for Dropbear {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Authorizes `public_line` (`ssh-ed25519 AAAA…`) for the local `user`, in that user's
/// own `~/.ssh/authorized_keys` (a throwaway test user's).
pub fn authorize_for_user(user: &str, public_line: &str) -> Result<(), SshdUnavailable> {
    let failed =
        |what: &str, err: &dyn std::fmt::Display| SshdUnavailable::Failed(format!("{what}: {err}"));
    let home = PathBuf::from(format!("/home/{user}"));
    let ssh = home.join(".ssh");
    std::fs::create_dir_all(&ssh).map_err(|e| failed("creating ~/.ssh", &e))?;
    std::fs::write(ssh.join("authorized_keys"), format!("{public_line}\n"))
        .map_err(|e| failed("authorized_keys", &e))?;
    let owned = Command::new("chown")
        .args(["-R", &format!("{user}:{user}")])
        .arg(&home)
        .status()
        .map_err(|e| failed("chown", &e))?;
    if !owned.success() {
        return Err(SshdUnavailable::Failed("chown failed".to_owned()));
    }
    Ok(())
}
