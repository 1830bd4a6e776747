//! SFTP transfers, pipelined: up to [`IN_FLIGHT`] read or write requests of the largest
//! size the server allows (OpenSSH's `limits@openssh.com`, else 32 KiB) are outstanding at
//! once, so throughput is not bound by round trips.

use std::path::Path;

use futures::{StreamExt, TryStreamExt};
use russh::client::Handle;
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, StatusCode};

use super::{
    CopyOptions, CopyReport, LocalEntry, LocalTree, Moved, count, remote_join, temporary_name,
    write_local,
};
use crate::error::ErrorKind;
use crate::handler::HostHandler;

/// Requests outstanding at once per file.
const IN_FLIGHT: usize = 64;
/// Chunk size when the server does not say.
const DEFAULT_CHUNK: u64 = 32 * 1024;
/// Largest chunk used even if the server allows more.
const MAX_CHUNK: u64 = 255 * 1024;
/// Seconds a single SFTP request may take.
const REQUEST_TIMEOUT_SECS: u64 = 120;

fn failed(path: &str, err: SftpError) -> ErrorKind {
    let message = match &err {
        SftpError::Status(status) => match status.status_code {
            StatusCode::NoSuchFile => "no such file or directory".to_owned(),
            StatusCode::PermissionDenied => "permission denied".to_owned(),
            _ if !status.error_message.is_empty() => status.error_message.clone(),
            code => code.to_string(),
        },
        other => other.to_string(),
    };
    ErrorKind::Transfer {
        path: path.to_owned(),
        message,
    }
}

/// An SFTP session on a fresh channel, with the chunk size to use.
async fn open(session: &Handle<HostHandler>) -> Result<(RawSftpSession, u64), ErrorKind> {
    let channel = super::open_channel(session, "SFTP").await?;
    channel
        .request_subsystem(true, "sftp")
        .await
        .map_err(|err| ErrorKind::Channel {
            message: format!("the server has no SFTP subsystem: {err}"),
        })?;
    let sftp = RawSftpSession::new(channel.into_stream());
    sftp.set_timeout(REQUEST_TIMEOUT_SECS);
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
) -> Result<CopyReport, ErrorKind> {
    let (sftp, chunk) = open(session).await?;
    let mut report = CopyReport::default();
    if let Some((parent, _)) = remote.trim_end_matches('/').rsplit_once('/')
        && !parent.is_empty()
    {
        make_dirs(&sftp, parent, None).await?;
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
                upload_file(&sftp, &path, data, *mode, *mtime, options, chunk, moved).await?;
                report.files += 1;
                report.bytes += data.len() as u64;
            }
        }
    }
    let _ = sftp.close_session();
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn upload_file(
    sftp: &RawSftpSession,
    path: &str,
    data: &bytes::Bytes,
    mode: u32,
    mtime: u64,
    options: &CopyOptions,
    chunk: u64,
    moved: &Moved,
) -> Result<(), ErrorKind> {
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
    let offsets: Vec<u64> = (0..data.len() as u64)
        .step_by(chunk.max(1) as usize)
        .collect();
    let written = futures::stream::iter(offsets)
        .map(|offset| {
            let end = (offset + chunk).min(data.len() as u64) as usize;
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
    if existing.is_some() {
        // SFTP v3 rename does not replace: remove first (the new file is complete already).
        sftp.remove(path).await.map_err(|err| failed(path, err))?;
    }
    sftp.rename(temporary.as_str(), path)
        .await
        .map_err(|err| failed(path, err))?;
    Ok(())
}

/// Downloads `remote` (a file, or with `recursive` a directory) to `target`.
pub(crate) async fn sftp_download(
    session: &Handle<HostHandler>,
    remote: &str,
    target: &Path,
    options: &CopyOptions,
    moved: &Moved,
) -> Result<CopyReport, ErrorKind> {
    let (sftp, chunk) = open(session).await?;
    let mut report = CopyReport::default();
    let attrs = sftp
        .stat(remote)
        .await
        .map_err(|err| failed(remote, err))?
        .attrs;
    if is_dir(&attrs) {
        if !options.recursive {
            return Err(ErrorKind::Transfer {
                path: remote.to_owned(),
                message: "is a directory (copy it recursively)".to_owned(),
            });
        }
        download_dir(&sftp, remote, target, options, chunk, &mut report, moved).await?;
    } else {
        download_file(&sftp, remote, target, &attrs, options, chunk, moved).await?;
        report.files += 1;
        report.bytes += attrs.size.unwrap_or(0);
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

#[allow(clippy::too_many_arguments)]
async fn download_dir(
    sftp: &RawSftpSession,
    remote: &str,
    target: &Path,
    options: &CopyOptions,
    chunk: u64,
    report: &mut CopyReport,
    moved: &Moved,
) -> Result<(), ErrorKind> {
    std::fs::create_dir_all(target).map_err(|err| local_error(target, err))?;
    let handle = sftp
        .opendir(remote)
        .await
        .map_err(|err| failed(remote, err))?
        .handle;
    let mut entries = Vec::new();
    loop {
        match sftp.readdir(handle.as_str()).await {
            Ok(names) => entries.extend(names.files),
            Err(SftpError::Status(status)) if status.status_code == StatusCode::Eof => break,
            Err(err) => return Err(failed(remote, err)),
        }
    }
    let _ = sftp.close(handle.as_str()).await;
    entries.retain(|entry| entry.filename != "." && entry.filename != "..");
    entries.sort_by(|a, b| a.filename.cmp(&b.filename));
    for entry in entries {
        let remote_path = format!("{}/{}", remote.trim_end_matches('/'), entry.filename);
        let local_path = target.join(&entry.filename);
        if is_dir(&entry.attrs) {
            Box::pin(download_dir(
                sftp,
                &remote_path,
                &local_path,
                options,
                chunk,
                report,
                moved,
            ))
            .await?;
        } else {
            download_file(
                sftp,
                &remote_path,
                &local_path,
                &entry.attrs,
                options,
                chunk,
                moved,
            )
            .await?;
            report.files += 1;
            report.bytes += entry.attrs.size.unwrap_or(0);
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn download_file(
    sftp: &RawSftpSession,
    remote: &str,
    target: &Path,
    attrs: &FileAttributes,
    options: &CopyOptions,
    chunk: u64,
    moved: &Moved,
) -> Result<(), ErrorKind> {
    if target.exists() && !options.overwrite {
        return Err(ErrorKind::Transfer {
            path: target.display().to_string(),
            message: "already exists locally (overwrite is off)".to_owned(),
        });
    }
    let size = attrs.size.unwrap_or(0);
    let handle = sftp
        .open(remote, OpenFlags::READ, FileAttributes::empty())
        .await
        .map_err(|err| failed(remote, err))?
        .handle;
    let offsets: Vec<u64> = (0..size).step_by(chunk.max(1) as usize).collect();
    let pieces: Result<Vec<Vec<u8>>, SftpError> = futures::stream::iter(offsets)
        .map(|offset| {
            let len = (size - offset).min(chunk) as u32;
            let sftp = &sftp;
            let handle = handle.as_str();
            async move {
                let piece = read_fully(sftp, handle, offset, len).await?;
                count(moved, piece.len());
                Ok::<_, SftpError>(piece)
            }
        })
        .buffered(IN_FLIGHT)
        .try_collect()
        .await;
    let _ = sftp.close(handle.as_str()).await;
    let pieces = pieces.map_err(|err| failed(remote, err))?;
    let data = pieces.concat();
    if data.len() as u64 != size {
        return Err(ErrorKind::Transfer {
            path: remote.to_owned(),
            message: format!("got {} of {size} bytes (the file changed?)", data.len()),
        });
    }
    let mode = options
        .preserve
        .then(|| attrs.permissions.unwrap_or(0o644) & 0o7777);
    let mtime = options
        .preserve
        .then(|| u64::from(attrs.mtime.unwrap_or(0)));
    write_local(target, &data, mode, mtime).map_err(|err| local_error(target, err))
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
            .read(handle, offset + data.len() as u64, len - data.len() as u32)
            .await;
        match got {
            Ok(piece) if piece.data.is_empty() => break,
            Ok(piece) => data.extend_from_slice(&piece.data),
            Err(SftpError::Status(status)) if status.status_code == StatusCode::Eof => break,
            Err(err) => return Err(err),
        }
    }
    Ok(data)
}
