//! The legacy SCP protocol over `exec scp -t` (send) and `scp -f` (receive), for servers
//! without SFTP. Messages: `C<mode> <size> <name>` then the bytes, `D<mode> 0 <name>` and
//! `E` around directories, `T<mtime> 0 <atime> 0` before an entry with `-p`; each answered
//! by a `\0` byte, or `\x01`/`\x02` and an error line.

use std::path::{Path, PathBuf};

use russh::client::Handle;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::{CopyOptions, CopyReport, LocalEntry, LocalTree, Moved, count, write_local};
use crate::command::quote;
use crate::error::ErrorKind;
use crate::handler::HostHandler;

type Stream = BufReader<russh::ChannelStream<russh::client::Msg>>;

fn failed(path: &str, message: impl Into<String>) -> ErrorKind {
    ErrorKind::Transfer {
        path: path.to_owned(),
        message: message.into(),
    }
}

async fn start(session: &Handle<HostHandler>, command: &str) -> Result<Stream, ErrorKind> {
    let channel = super::open_channel(session, "SCP").await?;
    channel
        .exec(true, command)
        .await
        .map_err(|err| ErrorKind::Channel {
            message: format!("cannot start scp: {err}"),
        })?;
    Ok(BufReader::new(channel.into_stream()))
}

/// Reads one reply byte; `\x01`/`\x02` come with an error line.
async fn ack(stream: &mut Stream, path: &str) -> Result<(), ErrorKind> {
    let mut byte = [0u8; 1];
    stream
        .read_exact(&mut byte)
        .await
        .map_err(|_| failed(path, "scp ended early (is scp installed on the host?)"))?;
    match byte[0] {
        0 => Ok(()),
        _ => {
            let mut line = String::new();
            let _ = stream.read_line(&mut line).await;
            Err(failed(
                path,
                line.trim().trim_start_matches("scp: ").to_owned(),
            ))
        }
    }
}

async fn send_line(stream: &mut Stream, line: &str, path: &str) -> Result<(), ErrorKind> {
    let lost = |_| failed(path, "connection lost during SCP");
    stream
        .get_mut()
        .write_all(line.as_bytes())
        .await
        .map_err(lost)?;
    stream.get_mut().flush().await.map_err(lost)?;
    ack(stream, path).await
}

/// Sends a local tree: a file to `remote` (its path), a directory to `remote` (created).
pub(crate) async fn scp_send(
    session: &Handle<HostHandler>,
    tree: &LocalTree,
    remote: &str,
    options: &CopyOptions,
    moved: &Moved,
) -> Result<CopyReport, ErrorKind> {
    let remote = remote.trim_end_matches('/');
    let (parent, name) = match remote.rsplit_once('/') {
        Some(("", name)) => ("/".to_owned(), name.to_owned()),
        Some((parent, name)) => (parent.to_owned(), name.to_owned()),
        None => (".".to_owned(), remote.to_owned()),
    };
    let is_tree = matches!(tree.entries.first(), Some(LocalEntry::Dir { .. }));
    let flags = format!(
        "{}{}",
        if is_tree { " -r" } else { "" },
        if options.preserve { " -p" } else { "" }
    );
    let target = if is_tree { &parent } else { &remote.to_owned() };
    let command = format!(
        "mkdir -p {} && scp{flags} -t {}",
        quote(&parent),
        quote(target)
    );
    let mut stream = start(session, &command).await?;
    ack(&mut stream, remote).await?;

    let mut report = CopyReport::default();
    let mut open_dirs: Vec<PathBuf> = Vec::new();
    for entry in &tree.entries {
        let relative = match entry {
            LocalEntry::Dir { relative, .. } | LocalEntry::File { relative, .. } => relative,
        };
        // Leave the directories this entry is not in (entries come in pre-order).
        if let Some(parent) = relative.parent() {
            while open_dirs.last().is_some_and(|top| top.as_path() != parent) {
                send_line(&mut stream, "E\n", remote).await?;
                open_dirs.pop();
            }
        }
        let entry_name = if relative.as_os_str().is_empty() {
            name.clone()
        } else {
            relative
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        if entry_name.contains('\n') {
            return Err(failed(
                remote,
                format!("cannot send a name with a newline: {entry_name:?}"),
            ));
        }
        match entry {
            LocalEntry::Dir { mode, .. } => {
                send_line(
                    &mut stream,
                    &format!("D{mode:04o} 0 {entry_name}\n"),
                    remote,
                )
                .await?;
                open_dirs.push(relative.clone());
            }
            LocalEntry::File {
                data, mode, mtime, ..
            } => {
                if options.preserve {
                    send_line(&mut stream, &format!("T{mtime} 0 {mtime} 0\n"), remote).await?;
                }
                send_line(
                    &mut stream,
                    &format!("C{mode:04o} {} {entry_name}\n", data.len()),
                    remote,
                )
                .await?;
                // SCP writes in place on the host: a cut leaves a short file, so say how short.
                let mut sent = 0;
                for piece in data.chunks(256 * 1024) {
                    stream.get_mut().write_all(piece).await.map_err(|_| {
                        failed(
                            remote,
                            format!(
                                "connection lost during SCP after {sent} of {} bytes of `{entry_name}`: the remote file is incomplete",
                                data.len()
                            ),
                        )
                    })?;
                    sent += piece.len();
                    count(moved, piece.len());
                }
                let lost = |_| failed(remote, "connection lost during SCP");
                stream.get_mut().write_all(&[0]).await.map_err(lost)?;
                stream.get_mut().flush().await.map_err(lost)?;
                ack(&mut stream, remote).await?;
                report.files += 1;
                report.bytes += data.len() as u64;
            }
        }
    }
    for _ in open_dirs.drain(..) {
        send_line(&mut stream, "E\n", remote).await?;
    }
    let _ = stream.get_mut().shutdown().await;
    Ok(report)
}

/// Receives `remote` (a file, or with `recursive` a directory) into `target`.
pub(crate) async fn scp_receive(
    session: &Handle<HostHandler>,
    remote: &str,
    target: &Path,
    options: &CopyOptions,
    moved: &Moved,
) -> Result<CopyReport, ErrorKind> {
    let flags = format!(
        "{}{}",
        if options.recursive { " -r" } else { "" },
        if options.preserve { " -p" } else { "" }
    );
    let mut stream = start(session, &format!("scp{flags} -f {}", quote(remote))).await?;
    let lost = |_| failed(remote, "connection lost during SCP");
    let mut report = CopyReport::default();
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut times: Option<u64> = None;
    stream.get_mut().write_all(&[0]).await.map_err(lost)?;
    stream.get_mut().flush().await.map_err(lost)?;
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await.map_err(lost)? == 0 {
            break;
        }
        let (kind, rest) = line.split_at(1.min(line.len()));
        let rest = rest.trim_end_matches('\n');
        match kind {
            "\x01" | "\x02" => {
                return Err(failed(remote, rest.trim_start_matches("scp: ").to_owned()));
            }
            "T" => times = rest.split_whitespace().next().and_then(|t| t.parse().ok()),
            "E" => {
                dirs.pop();
            }
            "D" | "C" => {
                let mut fields = rest.splitn(3, ' ');
                let mode = fields.next().and_then(|m| u32::from_str_radix(m, 8).ok());
                let size: u64 = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
                let name = fields.next().unwrap_or_default();
                if name.contains('/') || name == ".." || name == "." || name.is_empty() {
                    return Err(failed(
                        remote,
                        format!("the server sent an unsafe name {name:?}"),
                    ));
                }
                let path = match dirs.last() {
                    Some(dir) => dir.join(name),
                    None => target.to_owned(),
                };
                if kind == "D" {
                    std::fs::create_dir_all(&path).map_err(|err| {
                        failed(remote, format!("cannot create {}: {err}", path.display()))
                    })?;
                    dirs.push(path);
                } else {
                    stream.get_mut().write_all(&[0]).await.map_err(lost)?;
                    stream.get_mut().flush().await.map_err(lost)?;
                    let mut data = vec![0u8; size as usize];
                    stream.read_exact(&mut data).await.map_err(lost)?;
                    count(moved, data.len());
                    ack(&mut stream, remote).await?;
                    if path.exists() && !options.overwrite {
                        return Err(failed(
                            remote,
                            format!("{} already exists locally", path.display()),
                        ));
                    }
                    let mode = mode.filter(|_| options.preserve);
                    write_local(
                        &path,
                        &data,
                        mode,
                        times.take().filter(|_| options.preserve),
                    )
                    .map_err(|err| {
                        failed(remote, format!("cannot write {}: {err}", path.display()))
                    })?;
                    report.files += 1;
                    report.bytes += size;
                }
            }
            _ => return Err(failed(remote, format!("unexpected SCP message {line:?}"))),
        }
        stream.get_mut().write_all(&[0]).await.map_err(lost)?;
        stream.get_mut().flush().await.map_err(lost)?;
    }
    if report.files == 0 && dirs.is_empty() && !target.exists() {
        return Err(failed(remote, "nothing received"));
    }
    Ok(report)
}
