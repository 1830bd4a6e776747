//! SFTP transfers, pipelined: up to [`IN_FLIGHT`] read or write requests of the largest
//! size the server allows (OpenSSH's `limits@openssh.com`, else 32 KiB) are outstanding at
//! once, so throughput is not bound by round trips.

use std::path::Path;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use russh::client::Handle;
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, StatusCode};

use super::local::{self, Incoming, LocalMode};
use super::{
    CopyOptions, CopyReport, LocalEntry, LocalTree, Moved, TargetRule, count, remote_join,
    temporary_name,
};
use crate::cleanup::{CleanupToken, Cleanups};
use crate::error::ErrorKind;
use crate::handler::HostHandler;

/// Renames tried when writers that share a directory keep replacing the file.
const RENAME_ATTEMPTS: u32 = 5;
/// Requests outstanding at once per file.
const IN_FLIGHT: usize = 64;
/// Chunk size when the server does not say.
const DEFAULT_CHUNK: u64 = 32 * 1024;
/// Largest chunk used even if the server allows more.
const MAX_CHUNK: u64 = 255 * 1024;

fn failed(path: &str, err: SftpError) -> ErrorKind {
    if matches!(err, SftpError::Timeout) {
        // The duration is filled in by `with_idle_timeout`, which knows it.
        return ErrorKind::IdleTimeout {
            after: std::time::Duration::ZERO,
        };
    }
    let message = match &err {
        SftpError::Status(status) => match status.status_code {
            StatusCode::NoSuchFile => "no such file or directory".to_owned(),
            StatusCode::PermissionDenied => "permission denied".to_owned(),
            _ if !status.error_message.is_empty() => {
                status.error_message.escape_debug().to_string()
            }
            code => code.to_string(),
        },
        other => other.to_string().escape_debug().to_string(),
    };
    ErrorKind::Transfer {
        path: path.to_owned(),
        message,
    }
}

/// Names the idle timeout in the error of a request that timed out.
fn with_idle_timeout<T>(
    result: Result<T, ErrorKind>,
    options: &CopyOptions,
) -> Result<T, ErrorKind> {
    result.map_err(|err| match err {
        ErrorKind::IdleTimeout { .. } => ErrorKind::IdleTimeout {
            after: options.idle_timeout,
        },
        other => other,
    })
}

/// An SFTP session on a fresh channel, with the chunk size to use.
async fn open(
    session: &Handle<HostHandler>,
    options: &CopyOptions,
) -> Result<(Arc<RawSftpSession>, u64), ErrorKind> {
    let mut channel = super::open_channel(session, "SFTP").await?;
    let no_sftp = || ErrorKind::Channel {
        message: "the server has no SFTP subsystem (copy with SCP instead: --scp)".to_owned(),
    };
    channel
        .request_subsystem(true, "sftp")
        .await
        .map_err(|_| no_sftp())?;
    // Wait for the server's answer: a refusal would otherwise only show as an SFTP
    // handshake that never answers (until the idle timeout).
    let answer = tokio::time::timeout(options.idle_timeout, async {
        loop {
            match channel.wait().await {
                Some(russh::ChannelMsg::Success) => return true,
                Some(russh::ChannelMsg::Failure) | None => return false,
                Some(_) => {}
            }
        }
    })
    .await;
    match answer {
        Ok(true) => {}
        Ok(false) => return Err(no_sftp()),
        Err(_) => {
            return Err(ErrorKind::IdleTimeout {
                after: options.idle_timeout,
            });
        }
    }
    let sftp = Arc::new(RawSftpSession::new(channel.into_stream()));
    // Every request is bounded by the idle timeout: a stalled server ends the transfer.
    sftp.set_timeout(options.idle_timeout.as_secs().max(1));
    sftp.init().await.map_err(|err| ErrorKind::Channel {
        message: format!("SFTP did not start (no SFTP subsystem?): {err}"),
    })?;
    let chunk = match sftp.limits().await {
        Ok(limits) if limits.max_write_len > 0 => limits
            .max_write_len
            .min(limits.max_read_len.max(1))
            .min(MAX_CHUNK),
        _ => DEFAULT_CHUNK,
    };
    Ok((sftp, chunk))
}

fn is_dir(attrs: &FileAttributes) -> bool {
    attrs
        .permissions
        .is_some_and(|mode| mode & 0o170000 == 0o040000)
}

/// `mkdir -p`: creates each missing directory of `path`.
async fn make_dirs(sftp: &RawSftpSession, path: &str, mode: Option<u32>) -> Result<(), ErrorKind> {
    let mut current = String::new();
    for part in path.split('/') {
        if part.is_empty() {
            if current.is_empty() && path.starts_with('/') {
                current.push('/');
            }
            continue;
        }
        if !current.is_empty() && !current.ends_with('/') {
            current.push('/');
        }
        current.push_str(part);
        match sftp.stat(current.as_str()).await {
            Ok(attrs) if is_dir(&attrs.attrs) => continue,
            Ok(_) => {
                return Err(ErrorKind::Transfer {
                    path: current,
                    message: "exists and is not a directory".to_owned(),
                });
            }
            Err(_) => {
                let attrs = FileAttributes {
                    permissions: mode.or(Some(0o755)),
                    ..FileAttributes::empty()
                };
                if let Err(err) = sftp.mkdir(current.as_str(), attrs).await {
                    // Another writer may have made it meanwhile.
                    if !sftp
                        .stat(current.as_str())
                        .await
                        .is_ok_and(|a| is_dir(&a.attrs))
                    {
                        return Err(failed(&current, err));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Uploads a local tree: a file to `remote` (its path), or a directory's contents into
/// `remote` (a directory, created).
pub(crate) async fn sftp_upload(
    session: &Handle<HostHandler>,
    tree: &LocalTree,
    remote: &str,
    options: &CopyOptions,
    moved: &Moved,
    cleanups: &Cleanups,
) -> Result<CopyReport, ErrorKind> {
    with_idle_timeout(
        upload(session, tree, remote, options, moved, cleanups).await,
        options,
    )
}

async fn upload(
    session: &Handle<HostHandler>,
    tree: &LocalTree,
    remote: &str,
    options: &CopyOptions,
    moved: &Moved,
    cleanups: &Cleanups,
) -> Result<CopyReport, ErrorKind> {
    let (sftp, chunk) = open(session, options).await?;
    let uploading = Uploading {
        sftp: &sftp,
        options,
        chunk,
        moved,
        cleanups,
    };
    let mut report = CopyReport::default();
    // A single file to an existing directory, or to a path ending in `/`, goes into it
    // under its own name (as parallel-ssh's copies do).
    // With scp's rule a directory does too.
    let is_file = matches!(tree.entries.first(), Some(LocalEntry::File { .. }));
    let into_dir = (is_file || options.target_rule == TargetRule::Scp)
        && (remote.ends_with('/')
            || sftp
                .stat(remote)
                .await
                .is_ok_and(|attrs| is_dir(&attrs.attrs)));
    let joined;
    let remote = if into_dir {
        joined = format!("{}/{}", remote.trim_end_matches('/'), tree.name);
        joined.as_str()
    } else {
        remote
    };
    if let Some((parent, _)) = remote.trim_end_matches('/').rsplit_once('/')
        && !parent.is_empty()
    {
        if options.make_parents {
            make_dirs(&sftp, parent, None).await?;
        } else if !sftp.stat(parent).await.is_ok_and(|a| is_dir(&a.attrs)) {
            return Err(ErrorKind::Transfer {
                path: parent.to_owned(),
                message: "no such directory".to_owned(),
            });
        }
    }
    for entry in &tree.entries {
        match entry {
            LocalEntry::Dir { relative, mode } => {
                let path = remote_join(remote, relative);
                make_dirs(&sftp, &path, options.preserve.then_some(*mode)).await?;
            }
            LocalEntry::File {
                relative,
                data,
                mode,
                mtime,
            } => {
                let path = remote_join(remote, relative);
                upload_file(&uploading, &path, data, *mode, *mtime).await?;
                report.files = report.files.saturating_add(1);
                report.bytes = report.bytes.saturating_add(data.len() as u64);
            }
        }
    }
    let _ = sftp.close_session();
    Ok(report)
}

/// What every file of one upload shares.
struct Uploading<'a> {
    sftp: &'a Arc<RawSftpSession>,
    options: &'a CopyOptions,
    chunk: u64,
    moved: &'a Moved,
    cleanups: &'a Cleanups,
}

async fn upload_file(
    uploading: &Uploading<'_>,
    path: &str,
    data: &bytes::Bytes,
    mode: u32,
    mtime: u64,
) -> Result<(), ErrorKind> {
    let Uploading {
        sftp,
        options,
        chunk,
        moved,
        cleanups,
    } = *uploading;
    let existing = sftp.stat(path).await.ok();
    if let Some(attrs) = &existing {
        if is_dir(&attrs.attrs) {
            return Err(ErrorKind::Transfer {
                path: path.to_owned(),
                message: "is a directory".to_owned(),
            });
        }
        if !options.overwrite {
            return Err(ErrorKind::Transfer {
                path: path.to_owned(),
                message: "already exists (overwrite is off)".to_owned(),
            });
        }
    }
    let temporary = temporary_name(path);
    let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE;
    let attrs = FileAttributes {
        permissions: Some(if options.preserve { mode } else { 0o644 }),
        ..FileAttributes::empty()
    };
    let handle = sftp
        .open(temporary.as_str(), flags, attrs)
        .await
        .map_err(|err| failed(path, err))?
        .handle;
    // From here on the temporary file exists on the host: it goes unless renamed.
    let guard = RemoteTemporary {
        sftp: sftp.clone(),
        path: Some(temporary.clone()),
        token: Some(cleanups.token()),
    };
    let offsets: Vec<u64> = (0..data.len() as u64)
        .step_by(chunk.max(1) as usize)
        .collect();
    let written = futures::stream::iter(offsets)
        .map(|offset| {
            let end = offset.saturating_add(chunk).min(data.len() as u64) as usize;
            let piece = data.slice(offset as usize..end).to_vec();
            let len = piece.len();
            let handle = handle.as_str();
            async move {
                sftp.write(handle, offset, piece).await?;
                count(moved, len);
                Ok::<_, SftpError>(())
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_for_each(|()| async { Ok(()) })
        .await;
    let closed = sftp.close(handle.as_str()).await;
    let finished = async {
        written.and(closed).map_err(|err| failed(path, err))?;
        if options.preserve {
            let times = FileAttributes {
                atime: Some(mtime as u32),
                mtime: Some(mtime as u32),
                permissions: Some(mode),
                ..FileAttributes::empty()
            };
            sftp.setstat(temporary.as_str(), times)
                .await
                .map_err(|err| failed(path, err))?;
        }
        // SFTP v3 rename does not replace: remove first (the new file is complete
        // already). Hosts sharing the directory (NFS) race here: when the rename fails
        // and our temporary file is still there, another writer's file took the name in
        // between: remove it and rename again (the last writer wins, as
        // with a POSIX rename).
        let mut replace = existing.is_some();
        for attempt in 1..=RENAME_ATTEMPTS {
            if replace {
                // Already gone (another writer removed it) is fine.
                let _ = sftp.remove(path).await;
            }
            match sftp.rename(temporary.as_str(), path).await {
                Ok(_) => return Ok(()),
                Err(err) => {
                    // Ours is still there: the name was taken again in between.
                    let ours = sftp.stat(temporary.as_str()).await.is_ok();
                    if !ours || attempt == RENAME_ATTEMPTS {
                        return Err(failed(path, err));
                    }
                    replace = true;
                }
            }
        }
        Ok(())
    }
    .await;
    if finished.is_err() {
        // A failure (not a cancel): remove the temporary file before reporting it.
        let _ = sftp.remove(temporary.as_str()).await;
    }
    // Renamed or removed: nothing left for the guard, which is for cancels and timeouts.
    guard.renamed();
    finished.map(|_| ())
}

/// A temporary file an upload wrote on the host: removed in the background unless it was
/// renamed into place, whether the upload failed, was cancelled or timed out (as long as
/// the session still answers).
struct RemoteTemporary {
    sftp: Arc<RawSftpSession>,
    path: Option<String>,
    /// Keeps the session open until the file is removed.
    token: Option<CleanupToken>,
}

impl RemoteTemporary {
    fn renamed(mut self) {
        self.path = None;
    }
}

impl Drop for RemoteTemporary {
    fn drop(&mut self) {
        let Some(path) = self.path.take() else {
            return;
        };
        let sftp = self.sftp.clone();
        let token = self.token.take();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            // Bounded by the session's request timeout (the idle timeout); it is answered
            // after the writes still queued on the host. The session is closed after it.
            runtime.spawn(async move {
                let _ = sftp.remove(path).await;
                drop(token);
            });
        }
    }
}

/// Downloads `remote` (a file, or with `recursive` a directory) to `target`.
pub(crate) async fn sftp_download(
    session: &Handle<HostHandler>,
    remote: &str,
    target: &Path,
    options: &CopyOptions,
    moved: &Moved,
) -> Result<CopyReport, ErrorKind> {
    with_idle_timeout(
        download(session, remote, target, options, moved).await,
        options,
    )
}

async fn download(
    session: &Handle<HostHandler>,
    remote: &str,
    target: &Path,
    options: &CopyOptions,
    moved: &Moved,
) -> Result<CopyReport, ErrorKind> {
    let (sftp, chunk) = open(session, options).await?;
    let mut report = CopyReport::default();
    let attrs = sftp
        .stat(remote)
        .await
        .map_err(|err| failed(remote, err))?
        .attrs;
    let mut download = Download {
        sftp: &sftp,
        options,
        chunk,
        moved,
        report: &mut report,
        entries: 0,
    };
    if is_dir(&attrs) {
        if !options.recursive {
            return Err(ErrorKind::Transfer {
                path: remote.to_owned(),
                message: "is a directory (copy it recursively)".to_owned(),
            });
        }
        download.dir(remote, target).await?;
    } else {
        download.file(remote, target, &attrs).await?;
    }
    let _ = sftp.close_session();
    Ok(report)
}

fn local_error(path: &Path, err: std::io::Error) -> ErrorKind {
    ErrorKind::Transfer {
        path: path.display().to_string(),
        message: format!("cannot write locally: {err}"),
    }
}

/// Most entries one remote directory may list (a server listing without end is an error,
/// not a memory leak).
pub(crate) const MAX_DIR_ENTRIES: usize = 100_000;
/// Most entries (files and directories) one recursive download may list in all.
pub(crate) const MAX_TOTAL_ENTRIES: usize = 1_000_000;

/// One host's download in progress.
struct Download<'a> {
    sftp: &'a RawSftpSession,
    options: &'a CopyOptions,
    chunk: u64,
    moved: &'a Moved,
    report: &'a mut CopyReport,
    /// Entries listed so far, all directories together.
    entries: usize,
}

impl Download<'_> {
    /// The entries of remote directory `remote`, bounded in number.
    async fn list(&mut self, remote: &str) -> Result<Vec<russh_sftp::protocol::File>, ErrorKind> {
        let handle = self
            .sftp
            .opendir(remote)
            .await
            .map_err(|err| failed(remote, err))?
            .handle;
        let mut entries = Vec::new();
        let listed = loop {
            match self.sftp.readdir(handle.as_str()).await {
                Ok(names) => {
                    self.entries = self.entries.saturating_add(names.files.len());
                    entries.extend(names.files);
                    if entries.len() > MAX_DIR_ENTRIES || self.entries > MAX_TOTAL_ENTRIES {
                        break Err(ErrorKind::Transfer {
                            path: remote.to_owned(),
                            message: format!(
                                "the server lists more than {MAX_DIR_ENTRIES} entries in a \
                                 directory or {MAX_TOTAL_ENTRIES} in all"
                            ),
                        });
                    }
                }
                Err(SftpError::Status(status)) if status.status_code == StatusCode::Eof => {
                    break Ok(());
                }
                Err(err) => break Err(failed(remote, err)),
            }
        };
        let _ = self.sftp.close(handle.as_str()).await;
        listed?;
        entries.retain(|entry| entry.filename != "." && entry.filename != "..");
        entries.sort_by(|a, b| a.filename.cmp(&b.filename));
        Ok(entries)
    }

    async fn dir(&mut self, remote: &str, target: &Path) -> Result<(), ErrorKind> {
        local::make_dir(target).map_err(|err| local_error(target, err))?;
        for entry in self.list(remote).await? {
            let local_path =
                local::child(target, &entry.filename).map_err(|message| ErrorKind::Transfer {
                    path: remote.to_owned(),
                    message,
                })?;
            let remote_path = format!("{}/{}", remote.trim_end_matches('/'), entry.filename);
            // READDIR reports symlinks unfollowed: followed only when asked (what they
            // point to is then judged as any entry; loops end at the entry caps).
            let attrs = if is_symlink(&entry.attrs) && self.options.follow_symlinks {
                match self.sftp.stat(remote_path.as_str()).await {
                    Ok(target) => target.attrs,
                    Err(_) => continue, // a dangling link
                }
            } else {
                entry.attrs
            };
            if is_dir(&attrs) {
                Box::pin(self.dir(&remote_path, &local_path)).await?;
            } else if is_regular(&attrs) {
                self.file(&remote_path, &local_path, &attrs).await?;
            }
            // Symlinks not followed, devices, sockets: not copied.
        }
        Ok(())
    }

    /// Streams one remote file into `target`: pieces are read `IN_FLIGHT` at a time and
    /// written in order as they arrive, so memory stays bounded whatever the size.
    async fn file(
        &mut self,
        remote: &str,
        target: &Path,
        attrs: &FileAttributes,
    ) -> Result<(), ErrorKind> {
        let fail = |message: String| ErrorKind::Transfer {
            path: remote.to_owned(),
            message,
        };
        let size = attrs.size.unwrap_or(0);
        let mode = LocalMode::from_server(
            self.options.preserve,
            attrs.permissions,
            attrs.mtime.map(u64::from),
        )
        .map_err(fail)?;
        let mut incoming = Incoming::create(target, size, self.options.overwrite).map_err(fail)?;
        let handle = self
            .sftp
            .open(remote, OpenFlags::READ, FileAttributes::empty())
            .await
            .map_err(|err| failed(remote, err))?
            .handle;
        let chunk = self.chunk.max(1);
        let offsets = (0..size.div_ceil(chunk)).map(|piece| piece.saturating_mul(chunk));
        let sftp = self.sftp;
        let moved = self.moved;
        let mut pieces = futures::stream::iter(offsets)
            .map(|offset| {
                let len = u32::try_from(size.saturating_sub(offset).min(chunk)).unwrap_or(u32::MAX);
                let handle = handle.as_str();
                async move { read_fully(sftp, handle, offset, len).await }
            })
            .buffered(IN_FLIGHT);
        let mut streamed = Ok(());
        while let Some(piece) = pieces.next().await {
            let piece = match piece {
                Ok(piece) => piece,
                Err(err) => {
                    streamed = Err(failed(remote, err));
                    break;
                }
            };
            let short = (piece.len() as u64) < chunk.min(incoming.remaining());
            count(moved, piece.len());
            if let Err(message) = incoming.write(&piece) {
                streamed = Err(fail(message));
                break;
            }
            if short {
                // The file ended before its announced size.
                break;
            }
        }
        drop(pieces);
        let _ = sftp.close(handle.as_str()).await;
        streamed?;
        let received = incoming.received();
        incoming.commit(mode).map_err(|message| {
            fail(if received < size {
                format!("{message} (the file changed, or the server lied about its size)")
            } else {
                message
            })
        })?;
        self.report.files = self.report.files.saturating_add(1);
        self.report.bytes = self.report.bytes.saturating_add(size);
        Ok(())
    }
}

fn is_symlink(attrs: &FileAttributes) -> bool {
    attrs
        .permissions
        .is_some_and(|mode| mode & 0o170000 == 0o120000)
}

fn is_regular(attrs: &FileAttributes) -> bool {
    // A server that sends no type is taken to mean a file, as OpenSSH's sftp does.
    attrs
        .permissions
        .is_none_or(|mode| mode & 0o170000 == 0o100000 || mode & 0o170000 == 0)
}

/// Reads `len` bytes at `offset`, issuing follow-up reads if the server returns less.
async fn read_fully(
    sftp: &RawSftpSession,
    handle: &str,
    offset: u64,
    len: u32,
) -> Result<Vec<u8>, SftpError> {
    let mut data = Vec::with_capacity(len as usize);
    while (data.len() as u32) < len {
        let got = sftp
            .read(
                handle,
                offset.saturating_add(data.len() as u64),
                len.saturating_sub(data.len() as u32),
            )
            .await;
        match got {
            Ok(piece) if piece.data.is_empty() => break,
            Ok(piece) if piece.data.len() > (len as usize).saturating_sub(data.len()) => {
                return Err(SftpError::UnexpectedBehavior(
                    "the server sent more bytes than asked for".to_owned(),
                ));
            }
            Ok(piece) => data.extend_from_slice(&piece.data),
            Err(SftpError::Status(status)) if status.status_code == StatusCode::Eof => break,
            Err(err) => return Err(err),
        }
    }
    Ok(data)
}
