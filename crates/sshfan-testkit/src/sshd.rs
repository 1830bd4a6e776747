//! A real OpenSSH `sshd` on a loopback port, for interop tests.
//!
//! Each [`Sshd`] gets its own temporary directory with a host key, an `authorized_keys`
//! file and an `sshd_config`, and runs in the foreground (`-D -e`) until dropped. Readiness
//! is read from sshd's own log line ("Server listening on"), not polled. sshd needs root
//! (privilege separation) and an absolute path; when either is missing, [`Sshd::start`]
//! says why, and [`crate::require`] turns that into a skip or, under `CI=true`, a failure.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use russh::keys::PrivateKey;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::keys;

/// Why a real sshd could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SshdUnavailable {
    /// No sshd binary.
    #[error("OpenSSH sshd not found (install it with `apt-get install -y openssh-server`)")]
    NotInstalled,
    /// Not running as root.
    #[error("sshd must run as root for these tests")]
    NotRoot,
    /// sshd failed to start.
    #[error("sshd did not start: {0}")]
    Failed(String),
}

/// Options for a test sshd.
#[derive(Debug, Clone, Default)]
pub struct SshdOptions {
    /// Route password and keyboard-interactive logins through PAM (needed for
    /// keyboard-interactive on Linux).
    pub use_pam: bool,
    /// Extra `sshd_config` lines (they take precedence over the defaults).
    pub extra_config: Vec<String>,
    /// Use an RSA host key instead of Ed25519 (for legacy `ssh-rsa` tests).
    pub rsa_host_key: bool,
    /// Also present a host certificate signed by this CA (principal `127.0.0.1`, valid
    /// for an hour).
    pub host_ca: Option<PrivateKey>,
}

/// A running OpenSSH server on `127.0.0.1`.
pub struct Sshd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    client_key: PrivateKey,
    known_hosts: PathBuf,
    log: PathBuf,
}

fn find_sshd() -> Option<PathBuf> {
    ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    std::env::var("USER").ok().as_deref() == Some("root")
        || std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .map(|l| l.split_whitespace().nth(1) == Some("0"))
            })
            .unwrap_or(false)
}

impl Sshd {
    /// Starts sshd with a fresh host key, accepting a fresh client key for the current user.
    pub async fn start(options: SshdOptions) -> Result<Sshd, SshdUnavailable> {
        let binary = find_sshd().ok_or(SshdUnavailable::NotInstalled)?;
        if !is_root() {
            return Err(SshdUnavailable::NotRoot);
        }
        let failed = |what: &str, err: &dyn std::fmt::Display| {
            SshdUnavailable::Failed(format!("{what}: {err}"))
        };
        std::fs::create_dir_all("/run/sshd").map_err(|e| failed("creating /run/sshd", &e))?;
        let dir = tempfile::tempdir().map_err(|e| failed("temp dir", &e))?;
        let host_key = if options.rsa_host_key {
            keys::rsa(2048)
        } else {
            keys::ed25519()
        };
        let client_key = keys::ed25519();
        let host_key_path = dir.path().join("host_ed25519");
        keys::write_private_key(&host_key_path, &host_key, None)
            .map_err(|e| failed("host key", &e))?;
        let authorized = dir.path().join("authorized_keys");
        std::fs::write(&authorized, format!("{}\n", keys::public_line(&client_key)))
            .map_err(|e| failed("authorized_keys", &e))?;

        // Ask the kernel for a free port; sshd binds it right after (a small, accepted race).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| failed("finding a free port", &e))?
            .port();
        let log = dir.path().join("sshd.log");
        // sshd takes the first value of each keyword: extra lines go first to override.
        let mut config = options.extra_config.clone();
        config.extend([
            format!("Port {port}"),
            "ListenAddress 127.0.0.1".to_owned(),
            format!("HostKey {}", host_key_path.display()),
            format!("PidFile {}", dir.path().join("sshd.pid").display()),
            format!("AuthorizedKeysFile {}", authorized.display()),
            format!("UsePAM {}", if options.use_pam { "yes" } else { "no" }),
            "StrictModes no".to_owned(),
            "PermitRootLogin yes".to_owned(),
            "PubkeyAuthentication yes".to_owned(),
            "PasswordAuthentication yes".to_owned(),
            "KbdInteractiveAuthentication yes".to_owned(),
            "MaxStartups 10000".to_owned(),
            "MaxSessions 1000".to_owned(),
            "UseDNS no".to_owned(),
            "LogLevel VERBOSE".to_owned(),
            "SetEnv SHLVL=1".to_owned(),
            "Subsystem sftp internal-sftp".to_owned(),
        ]);
        if let Some(ca) = &options.host_ca {
            let now = keys::unix_now();
            let cert = keys::host_certificate(&host_key, ca, &["127.0.0.1"], now - 60, now + 3600);
            let path = dir.path().join("host_ed25519-cert.pub");
            let text = cert
                .to_openssh()
                .map_err(|e| failed("host certificate", &e))?;
            std::fs::write(&path, text + "\n").map_err(|e| failed("host certificate", &e))?;
            config.push(format!("HostCertificate {}", path.display()));
        }
        let config_path = dir.path().join("sshd_config");
        std::fs::write(&config_path, config.join("\n") + "\n")
            .map_err(|e| failed("sshd_config", &e))?;

        let known_hosts = dir.path().join("known_hosts");
        std::fs::write(
            &known_hosts,
            format!("[127.0.0.1]:{port} {}\n", keys::public_line(&host_key)),
        )
        .map_err(|e| failed("known_hosts", &e))?;

        let mut child = Command::new(&binary)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| failed("spawning sshd", &e))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| SshdUnavailable::Failed("no stderr".to_owned()))?;
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        let ready = tokio::time::timeout(Duration::from_secs(10), async {
            while let Ok(Some(line)) = lines.next_line().await {
                let listening = line.contains("Server listening on");
                seen.push(line);
                if listening {
                    return true;
                }
            }
            false
        })
        .await;
        if ready != Ok(true) {
            return Err(SshdUnavailable::Failed(seen.join("\n")));
        }
        // Keep draining sshd's log into a file so it never blocks on a full pipe.
        let log_path = log.clone();
        let _ = std::fs::write(&log_path, seen.join("\n") + "\n");
        tokio::spawn(async move {
            // Appended line by line: a reader never sees the file emptied and rewritten.
            use std::io::Write;
            let Ok(mut file) = std::fs::OpenOptions::new().append(true).open(&log_path) else {
                return;
            };
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = file.write_all(format!("{line}\n").as_bytes());
            }
        });
        Ok(Sshd {
            child,
            port,
            dir,
            client_key,
            known_hosts,
            log,
        })
    }

    /// The port sshd listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn host_spec(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A key sshd accepts for any user.
    pub fn client_key(&self) -> &PrivateKey {
        &self.client_key
    }

    /// Writes the client key to a file in the server's directory and returns its path.
    pub fn client_key_file(&self, passphrase: Option<&str>) -> std::io::Result<PathBuf> {
        let name = if passphrase.is_some() {
            "id_client_enc"
        } else {
            "id_client"
        };
        let path = self.dir.path().join(name);
        keys::write_private_key(&path, &self.client_key, passphrase)?;
        Ok(path)
    }

    /// A known_hosts file with sshd's host key.
    pub fn known_hosts_path(&self) -> &Path {
        &self.known_hosts
    }

    /// sshd's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Makes sure a local user exists with this password (as root, through `useradd` and
/// `chpasswd`), for password-authentication tests against a real sshd.
pub fn ensure_user_with_password(user: &str, password: &str) -> Result<(), SshdUnavailable> {
    // Tests run in parallel: two `useradd`s for one name would race.
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !is_root() {
        return Err(SshdUnavailable::NotRoot);
    }
    let run = |command: &mut std::process::Command,
               input: Option<String>|
     -> Result<(), SshdUnavailable> {
        use std::io::Write;
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| SshdUnavailable::Failed(format!("{command:?}: {e}")))?;
        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            let _ = stdin.write_all(input.as_bytes());
        }
        let output = child
            .wait_with_output()
            .map_err(|e| SshdUnavailable::Failed(format!("{command:?}: {e}")))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(SshdUnavailable::Failed(format!(
                "{command:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            )))
        }
    };
    let exists = std::process::Command::new("id")
        .arg(user)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !exists {
        run(
            std::process::Command::new("useradd").args(["-m", "-s", "/bin/sh", user]),
            None,
        )?;
    }
    run(
        &mut std::process::Command::new("chpasswd"),
        Some(format!("{user}:{password}\n")),
    )
}
