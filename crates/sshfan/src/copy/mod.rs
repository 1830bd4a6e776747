//! File transfer: parallel-ssh's `copy_file` / `copy_remote_file` / `scp_send` /
//! `scp_recv`, over SFTP (pipelined) or SCP, on every host of a run.
//!
//! Uploads read the local file or tree **once**, into shared buffers, whatever the number
//! of hosts. Files are written under a temporary name (`.NAME.sshfan-tmp`) and renamed when
//! complete, so an interrupted transfer never leaves a file that looks complete; a
//! download likewise writes `NAME.sshfan-tmp` locally and renames it. Downloads go to
//! `<local>_<host>` (parallel-ssh's suffix rule; separator configurable) or, with
//! [`DownloadLayout::PerHostDir`], to `<local>/<host>/<name>`.

#![deny(clippy::arithmetic_side_effects)]

mod local;
mod scp;
mod sftp;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use russh::client::Handle;

use crate::error::ErrorKind;
use crate::handler::{HostHandler, Notes, read_notes};

pub(crate) use scp::{scp_receive, scp_send};
pub(crate) use sftp::{sftp_download, sftp_upload};

/// Which protocol moves the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// SFTP, pipelined (the default).
    #[default]
    Sftp,
    /// The legacy SCP protocol (`scp -t` / `scp -f` on the host), for servers without SFTP.
    Scp,
}

/// Where downloads from many hosts go, so that they never collide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadLayout {
    /// `<local><separator><host>`: parallel-ssh's rule (separator `_` by default).
    Suffix(String),
    /// `<local>/<host>/<remote name>`.
    PerHostDir,
    /// `<local>` itself: for single-host downloads only (hosts would overwrite each other).
    Exact,
}

impl Default for DownloadLayout {
    fn default() -> Self {
        DownloadLayout::Suffix("_".to_owned())
    }
}

/// What an upload's remote path names, when it is an existing directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetRule {
    /// parallel-ssh's: a file copied to an existing directory (or a path ending in `/`)
    /// goes into it under its own name; a directory's contents go into the remote path.
    #[default]
    ParallelSsh,
    /// scp's and pdcp's: a file *or directory* copied to an existing directory (or a path
    /// ending in `/`) goes into it under its own name; otherwise the remote path is the
    /// copy's new name.
    Scp,
}

/// How long a transfer may go without a byte or an answer from the server, by default.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How to copy.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Copy directories and everything in them.
    pub recursive: bool,
    /// Keep permission bits and modification times.
    pub preserve: bool,
    /// Replace existing files (otherwise an existing target is an error).
    pub overwrite: bool,
    /// SFTP or SCP.
    pub protocol: Protocol,
    /// Download naming.
    pub layout: DownloadLayout,
    /// A transfer that hears nothing from the server for this long fails with
    /// [`ErrorKind::IdleTimeout`] (the client's command timeout bounds it as a whole).
    pub idle_timeout: Duration,
    /// Follow remote symlinks in recursive SFTP downloads (off: they are skipped, so a
    /// link cannot pull files from elsewhere on the host into the download).
    pub follow_symlinks: bool,
    /// What an upload's remote path names (see [`TargetRule`]).
    pub target_rule: TargetRule,
    /// Create the missing directories above an upload's target (on by default, as
    /// parallel-ssh does); off, a missing directory fails the host's copy.
    pub make_parents: bool,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            recursive: false,
            preserve: false,
            overwrite: false,
            protocol: Protocol::default(),
            layout: DownloadLayout::default(),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            follow_symlinks: false,
            target_rule: TargetRule::default(),
            make_parents: true,
        }
    }
}

impl CopyOptions {
    /// Overwriting, not recursive, SFTP, `_` suffixes: parallel-ssh's defaults.
    pub fn new() -> Self {
        CopyOptions {
            overwrite: true,
            ..Default::default()
        }
    }

    /// Copies directories recursively.
    pub fn recursive(mut self, on: bool) -> Self {
        self.recursive = on;
        self
    }

    /// Keeps modes and modification times.
    pub fn preserve(mut self, on: bool) -> Self {
        self.preserve = on;
        self
    }

    /// Replaces existing files or not.
    pub fn overwrite(mut self, on: bool) -> Self {
        self.overwrite = on;
        self
    }

    /// Uses SCP instead of SFTP.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Download naming.
    pub fn layout(mut self, layout: DownloadLayout) -> Self {
        self.layout = layout;
        self
    }

    /// Follows remote symlinks in recursive SFTP downloads (off by default).
    pub fn follow_symlinks(mut self, on: bool) -> Self {
        self.follow_symlinks = on;
        self
    }

    /// What an upload's remote path names (default [`TargetRule::ParallelSsh`]).
    pub fn target_rule(mut self, rule: TargetRule) -> Self {
        self.target_rule = rule;
        self
    }

    /// Creates missing directories above an upload's target (on by default).
    pub fn make_parents(mut self, on: bool) -> Self {
        self.make_parents = on;
        self
    }

    /// How long a transfer may hear nothing from the server (default
    /// [`DEFAULT_IDLE_TIMEOUT`]).
    pub fn idle_timeout(mut self, after: Duration) -> Self {
        self.idle_timeout = after;
        self
    }
}

/// What one host's transfer moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CopyReport {
    /// Files written.
    pub files: u64,
    /// Bytes of file content moved.
    pub bytes: u64,
    /// Time from connected to done.
    pub elapsed: Duration,
}

/// Bytes of file content moved so far by every host of a run (for progress displays).
pub(crate) type Moved = std::sync::atomic::AtomicU64;

/// Adds `bytes` to a run's byte counter.
pub(crate) fn count(moved: &Moved, bytes: usize) {
    moved.fetch_add(bytes as u64, std::sync::atomic::Ordering::Relaxed);
}

/// One entry of a local tree, read once for all hosts.
#[derive(Debug, Clone)]
pub(crate) enum LocalEntry {
    Dir {
        relative: PathBuf,
        mode: u32,
    },
    File {
        relative: PathBuf,
        data: Bytes,
        mode: u32,
        mtime: u64,
    },
}

/// A local file or directory tree, read into memory once per upload.
#[derive(Debug)]
pub(crate) struct LocalTree {
    pub entries: Vec<LocalEntry>,
    /// The local file's (or directory's) own name: a file copied into a remote
    /// directory keeps it.
    pub name: String,
}

impl LocalTree {
    /// Reads `path`: a file, or with `recursive` a directory and everything below it.
    pub(crate) fn read(path: &Path, recursive: bool) -> Result<LocalTree, ErrorKind> {
        let fail = |message: String| ErrorKind::Transfer {
            path: path.display().to_string(),
            message,
        };
        let meta = std::fs::metadata(path)
            .map_err(|err| fail(format!("cannot read the local file: {err}")))?;
        let mut entries = Vec::new();
        if meta.is_dir() {
            if !recursive {
                return Err(fail("is a directory (copy it recursively)".to_owned()));
            }
            walk(path, Path::new(""), &mut entries)
                .map_err(|err| fail(format!("cannot read: {err}")))?;
        } else {
            entries.push(
                file_entry(path, PathBuf::new(), &meta)
                    .map_err(|err| fail(format!("cannot read: {err}")))?,
            );
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "upload".to_owned());
        Ok(LocalTree { entries, name })
    }
}

fn file_entry(
    path: &Path,
    relative: PathBuf,
    meta: &std::fs::Metadata,
) -> std::io::Result<LocalEntry> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    Ok(LocalEntry::File {
        relative,
        data: Bytes::from(std::fs::read(path)?),
        mode: meta.permissions().mode() & 0o7777,
        mtime: meta.mtime().max(0) as u64,
    })
}

fn walk(dir: &Path, relative: &Path, entries: &mut Vec<LocalEntry>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(dir)?;
    entries.push(LocalEntry::Dir {
        relative: relative.to_owned(),
        mode: meta.permissions().mode() & 0o7777,
    });
    let mut children: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    children.sort_by_key(|entry| entry.file_name());
    for child in children {
        let path = child.path();
        let meta = std::fs::metadata(&path)?;
        let relative = relative.join(child.file_name());
        if meta.is_dir() {
            walk(&path, &relative, entries)?;
        } else if meta.is_file() {
            entries.push(file_entry(&path, relative, &meta)?);
        }
    }
    Ok(())
}

/// What a host's task does, besides running commands.
#[derive(Debug, Clone)]
pub(crate) enum Transfer {
    Upload {
        tree: std::sync::Arc<LocalTree>,
        remote: String,
        options: CopyOptions,
    },
    Download {
        remote: String,
        local: PathBuf,
        options: CopyOptions,
    },
}

/// The local target of a download from the host labelled `label`.
pub(crate) fn download_target(
    local: &Path,
    label: &str,
    layout: &DownloadLayout,
    remote: &str,
) -> PathBuf {
    let safe: String = label
        .chars()
        .map(|c| if c == '/' { '_' } else { c })
        .collect();
    match layout {
        DownloadLayout::Suffix(separator) => {
            let mut name = local.as_os_str().to_owned();
            name.push(format!("{separator}{safe}"));
            PathBuf::from(name)
        }
        DownloadLayout::PerHostDir => local.join(safe).join(remote_base_name(remote)),
        // An existing directory, or a path ending in `/`: into it, under the remote name
        // (as parallel-ssh's single-host copies do).
        DownloadLayout::Exact
            if local.is_dir() || local.as_os_str().to_string_lossy().ends_with('/') =>
        {
            local.join(remote_base_name(remote))
        }
        DownloadLayout::Exact => local.to_owned(),
    }
}

/// The local name for what remote path `remote` names: its last component, or for a
/// path without one (`/`, `..`, `~/`) the fixed name `download`, never the path itself.
pub fn remote_base_name(remote: &str) -> String {
    match remote.trim_end_matches('/').rsplit('/').next() {
        Some(name) if local::safe_component(name).is_ok() && name != "~" => name.to_owned(),
        _ => "download".to_owned(),
    }
}

/// Runs one host's transfer on a connected session, within the command timeout.
pub(crate) async fn transfer_within(
    session: &Handle<HostHandler>,
    notes: &Notes,
    transfer: &Transfer,
    label: &str,
    moved: &Moved,
    timeout: Option<Duration>,
) -> Result<CopyReport, ErrorKind> {
    let work = self::transfer(session, notes, transfer, label, moved);
    match timeout {
        None => work.await,
        Some(after) => tokio::time::timeout(after, work)
            .await
            .unwrap_or(Err(ErrorKind::CommandTimeout { after })),
    }
}

/// Runs one host's transfer on a connected session.
pub(crate) async fn transfer(
    session: &Handle<HostHandler>,
    notes: &Notes,
    transfer: &Transfer,
    label: &str,
    moved: &Moved,
) -> Result<CopyReport, ErrorKind> {
    let closed = read_notes(notes, |n| n.closed.clone());
    tokio::select! {
        result = run_transfer(session, notes, transfer, label, moved) => result,
        () = closed.notified() => Err(ErrorKind::ConnectionLost {
            message: read_notes(notes, |n| n.disconnect.clone())
                .unwrap_or_else(|| "the connection closed during the transfer".to_owned()),
        }),
    }
}

async fn run_transfer(
    session: &Handle<HostHandler>,
    notes: &Notes,
    transfer: &Transfer,
    label: &str,
    moved: &Moved,
) -> Result<CopyReport, ErrorKind> {
    let started = Instant::now();
    let mut report = match transfer {
        Transfer::Upload {
            tree,
            remote,
            options,
        } => match options.protocol {
            Protocol::Sftp => {
                let cleanups = read_notes(notes, |n| n.cleanups.clone());
                sftp_upload(session, tree, remote, options, moved, &cleanups).await?
            }
            Protocol::Scp => scp_send(session, tree, remote, options, moved).await?,
        },
        Transfer::Download {
            remote,
            local,
            options,
        } => {
            let target = download_target(local, label, &options.layout, remote);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|err| ErrorKind::Transfer {
                    path: parent.display().to_string(),
                    message: format!("cannot create the local directory: {err}"),
                })?;
            }
            match options.protocol {
                Protocol::Sftp => sftp_download(session, remote, &target, options, moved).await?,
                Protocol::Scp => scp_receive(session, remote, &target, options, moved).await?,
            }
        }
    };
    report.elapsed = started.elapsed();
    Ok(report)
}

/// A fresh session channel for a transfer, with `protocol` naming it in errors.
pub(crate) async fn open_channel(
    session: &Handle<HostHandler>,
    protocol: &str,
) -> Result<russh::Channel<russh::client::Msg>, ErrorKind> {
    crate::exec::open_session_channel(session)
        .await
        .map_err(|err| ErrorKind::Channel {
            message: format!("cannot open a channel for {protocol}: {err}"),
        })
}

/// The temporary name a file is written under before it is renamed into place:
/// `.NAME.TOKEN.sshfan-tmp`, with a random token per write, so that hosts sharing one
/// directory (NFS) or two clients writing one path never write the same temporary file.
pub(crate) fn temporary_name(path: &str) -> String {
    let token = unique_token();
    match path.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/.{name}.{token:016x}.sshfan-tmp"),
        None => format!(".{path}.{token:016x}.sshfan-tmp"),
    }
}

/// 64 random bits (from the kernel; should it fail, the process id, a counter and the
/// clock, which still differ between writes).
fn unique_token() -> u64 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut bytes = [0u8; 8];
    if matches!(
        rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty()),
        Ok(8)
    ) {
        return u64::from_ne_bytes(bytes);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    (u64::from(std::process::id()) << 40) ^ (count << 20) ^ nanos
}

/// Joins a remote directory and a relative path with `/`.
pub(crate) fn remote_join(base: &str, relative: &Path) -> String {
    let relative = relative.to_string_lossy();
    match (base.trim_end_matches('/'), relative.as_ref()) {
        (base, "") => base.to_owned(),
        ("", rel) => format!("/{rel}"),
        (base, rel) => format!("{base}/{rel}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_never_collide() {
        let suffix = DownloadLayout::default();
        assert_eq!(
            download_target(Path::new("/tmp/log"), "web1", &suffix, "/var/log/syslog"),
            PathBuf::from("/tmp/log_web1")
        );
        assert_eq!(
            download_target(
                Path::new("out"),
                "10.0.0.1:22",
                &DownloadLayout::PerHostDir,
                "/etc/hosts"
            ),
            PathBuf::from("out/10.0.0.1:22/hosts")
        );
        for (remote, name) in [
            ("/", "download"),
            ("/srv/", "srv"),
            ("..", "download"),
            ("~", "download"),
            ("a/..", "download"),
        ] {
            assert_eq!(
                download_target(Path::new("out"), "h", &DownloadLayout::PerHostDir, remote),
                PathBuf::from("out/h").join(name),
                "{remote}"
            );
        }
        let dash = DownloadLayout::Suffix(".".to_owned());
        assert_eq!(
            download_target(Path::new("f"), "a/b", &dash, "x"),
            PathBuf::from("f.a_b")
        );
    }

    #[test]
    fn temporary_and_joined_names() {
        let name = temporary_name("/srv/app.bin");
        let token = name
            .strip_prefix("/srv/.app.bin.")
            .and_then(|rest| rest.strip_suffix(".sshfan-tmp"))
            .unwrap_or_else(|| panic!("{name}"));
        assert!(token.len() == 16 && token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(temporary_name("app.bin").starts_with(".app.bin."));
        assert_ne!(
            temporary_name("app.bin"),
            temporary_name("app.bin"),
            "unique per write"
        );
        assert_eq!(remote_join("/srv/", Path::new("a/b")), "/srv/a/b");
        assert_eq!(remote_join("/srv", Path::new("")), "/srv");
        assert_eq!(remote_join("rel", Path::new("x")), "rel/x");
    }

    #[test]
    fn local_trees_are_read_once_with_modes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/f"), "data").unwrap();
        std::fs::set_permissions(
            dir.path().join("a/b/f"),
            std::fs::Permissions::from_mode(0o750),
        )
        .unwrap();
        let tree = LocalTree::read(dir.path(), true).unwrap();
        let files: Vec<_> = tree
            .entries
            .iter()
            .filter_map(|e| match e {
                LocalEntry::File {
                    relative,
                    data,
                    mode,
                    ..
                } => Some((relative.clone(), data.len(), *mode)),
                LocalEntry::Dir { .. } => None,
            })
            .collect();
        assert_eq!(files, [(PathBuf::from("a/b/f"), 4, 0o750)]);
        assert!(
            LocalTree::read(dir.path(), false)
                .unwrap_err()
                .to_string()
                .contains("is a directory")
        );
        assert!(
            LocalTree::read(&dir.path().join("missing"), false)
                .unwrap_err()
                .to_string()
                .contains("cannot read")
        );
    }
}
