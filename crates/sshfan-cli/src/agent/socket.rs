//! Where the agent listens, and who may talk to it.
//!
//! The socket is `$XDG_RUNTIME_DIR/sshfan/agent.sock` (else `/tmp/sshfan-UID/agent.sock`),
//! in a directory of mode 0700 that must belong to the user; the socket itself is 0600.
//! File modes are not the only guard: each side checks the other's uid with
//! `SO_PEERCRED`. The agent refuses a peer of another uid (root included), and the CLI
//! refuses an agent of another uid (one could plant a socket to read a run's sudo
//! password or output).

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::UnixStream;

/// The agent's socket.
pub fn path() -> PathBuf {
    directory().join("agent.sock")
}

/// The agent's log (refused peers, failures): beside the socket.
pub fn log_path() -> PathBuf {
    directory().join("agent.log")
}

fn directory() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("sshfan"),
        None => std::env::temp_dir().join(format!("sshfan-{}", my_uid())),
    }
}

pub fn my_uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

/// Makes the socket's directory (mode 0700), or checks the one there: a directory, not
/// a link, the user's own, and not open to others.
pub fn prepare_directory() -> std::io::Result<PathBuf> {
    let dir = directory();
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(err),
    }
    check_private(&dir)?;
    Ok(dir)
}

fn check_private(dir: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(dir)?;
    let refuse = |why: &str| {
        Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("`{}` {why}", dir.display()),
        ))
    };
    if !meta.is_dir() {
        return refuse("is not a directory");
    }
    if meta.uid() != my_uid() {
        return refuse(&format!("belongs to uid {}, not to you", meta.uid()));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return refuse("is open to other users (it must be mode 0700)");
    }
    Ok(())
}

/// Makes the socket file private once bound.
pub fn make_private(socket: &Path) -> std::io::Result<()> {
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
}

/// The uid at the other end, when it is not ours.
pub fn foreign_peer(stream: &UnixStream) -> Option<u32> {
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == my_uid() => None,
        Ok(cred) => Some(cred.uid()),
        // Unknown: treated as foreign.
        Err(_) => Some(u32::MAX),
    }
}
