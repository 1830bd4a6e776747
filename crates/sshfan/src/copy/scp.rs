//! The legacy SCP protocol over `exec scp -t` (send) and `scp -f` (receive), for servers
//! without SFTP. Messages: `C<mode> <size> <name>` then the bytes, `D<mode> 0 <name>` and
//! `E` around directories, `T<mtime> 0 <atime> 0` before an entry with `-p`; each answered
//! by a `\0` byte, or `\x01`/`\x02` and an error line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use russh::client::Handle;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::local::{self, Incoming, LocalMode};
use super::{CopyOptions, CopyReport, LocalEntry, LocalTree, Moved, TargetRule, count};
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

async fn send_line(io: &mut Idle<'_>, line: &str, path: &str) -> Result<(), ErrorKind> {
    io.write(line.as_bytes()).await?;
    io.ack(path).await
}

/// Sends a local tree: a file to `remote` (its path), a directory to `remote` (created).
pub(crate) async fn scp_send(
    session: &Handle<HostHandler>,
    tree: &LocalTree,
    remote: &str,
    options: &CopyOptions,
    moved: &Moved,
) -> Result<CopyReport, ErrorKind> {
    let into_dir = remote.ends_with('/');
    let remote = remote.trim_end_matches('/');
    let is_tree = matches!(tree.entries.first(), Some(LocalEntry::Dir { .. }));
    let (parent, name) = match remote.rsplit_once('/') {
        // `dir/`: the file goes into `dir` (made if missing) under its own name.
        _ if into_dir && !is_tree => (remote.to_owned(), tree.name.clone()),
        Some(("", name)) => ("/".to_owned(), name.to_owned()),
        Some((parent, name)) => (parent.to_owned(), name.to_owned()),
        None => (".".to_owned(), remote.to_owned()),
    };
    // A single file is sent under its own name: `scp -t` writes it to the target path,
    // or into the target when that is a directory (parallel-ssh's `scp_send` into a
    // directory).
    let flags = format!(
        "{}{}",
        if is_tree { " -r" } else { "" },
        if options.preserve { " -p" } else { "" }
    );
    let (made, target, name) = if is_tree && options.target_rule == TargetRule::Scp {
        // scp's own rule: into `remote` when it is a directory, else named `remote`.
        let made = if into_dir { remote.to_owned() } else { parent };
        (made, remote.to_owned(), tree.name.clone())
    } else if is_tree {
        (parent.clone(), parent, name)
    } else {
        (parent, remote.to_owned(), tree.name.clone())
    };
    // `dir/` names a directory: scp must not write a file called `dir` when it is missing.
    let target = match into_dir && !(is_tree && options.target_rule == TargetRule::ParallelSsh) {
        true => format!("{}/", target.trim_end_matches('/')),
        false => target,
    };
    let command = if options.make_parents {
        format!(
            "mkdir -p {} && scp{flags} -t {}",
            quote(&made),
            quote(&target)
        )
    } else {
        format!("scp{flags} -t {}", quote(&target))
    };
    let mut stream = start(session, &command).await?;
    let mut io = Idle {
        stream: &mut stream,
        after: options.idle_timeout,
    };
    io.ack(remote).await?;

    let mut report = CopyReport::default();
    let mut open_dirs: Vec<PathBuf> = Vec::new();
    for entry in &tree.entries {
        let relative = match entry {
            LocalEntry::Dir { relative, .. } | LocalEntry::File { relative, .. } => relative,
        };
        // Leave the directories this entry is not in (entries come in pre-order).
        if let Some(parent) = relative.parent() {
            while open_dirs.last().is_some_and(|top| top.as_path() != parent) {
                send_line(&mut io, "E\n", remote).await?;
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
                send_line(&mut io, &format!("D{mode:04o} 0 {entry_name}\n"), remote).await?;
                open_dirs.push(relative.clone());
            }
            LocalEntry::File {
                data, mode, mtime, ..
            } => {
                if options.preserve {
                    send_line(&mut io, &format!("T{mtime} 0 {mtime} 0\n"), remote).await?;
                }
                send_line(
                    &mut io,
                    &format!("C{mode:04o} {} {entry_name}\n", data.len()),
                    remote,
                )
                .await?;
                // SCP writes in place on the host: a cut leaves a short file, so say how short.
                let mut sent: usize = 0;
                for piece in data.chunks(256 * 1024) {
                    io.write(piece).await.map_err(|err| match err {
                        ErrorKind::ConnectionLost { .. } => failed(
                            remote,
                            format!(
                                "connection lost during SCP after {sent} of {} bytes of `{entry_name}`: the remote file is incomplete",
                                data.len()
                            ),
                        ),
                        other => other,
                    })?;
                    sent = sent.saturating_add(piece.len());
                    count(moved, piece.len());
                }
                io.ok().await?;
                io.ack(remote).await?;
                report.files = report.files.saturating_add(1);
                report.bytes = report.bytes.saturating_add(data.len() as u64);
            }
        }
    }
    for _ in open_dirs.drain(..) {
        send_line(&mut io, "E\n", remote).await?;
    }
    let _ = io.stream.get_mut().shutdown().await;
    Ok(report)
}

/// A stream whose every read and write must make progress within the idle timeout.
struct Idle<'a> {
    stream: &'a mut Stream,
    after: Duration,
}

impl Idle<'_> {
    async fn within<T>(
        after: Duration,
        work: impl std::future::Future<Output = std::io::Result<T>>,
    ) -> Result<T, ErrorKind> {
        match tokio::time::timeout(after, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(ErrorKind::ConnectionLost {
                message: format!("during SCP: {err}"),
            }),
            Err(_) => Err(ErrorKind::IdleTimeout { after }),
        }
    }

    /// One protocol line, at most [`MAX_LINE`] bytes (a header without end is an error).
    async fn line(&mut self, remote: &str) -> Result<Option<Vec<u8>>, ErrorKind> {
        let mut line = Vec::new();
        let after = self.after;
        let mut limited = (&mut *self.stream).take(MAX_LINE as u64);
        let n = Self::within(after, limited.read_until(b'\n', &mut line)).await?;
        if n == 0 {
            return Ok(None);
        }
        if line.last() != Some(&b'\n') {
            return Err(failed(
                remote,
                format!("the server sent an SCP header longer than {MAX_LINE} bytes"),
            ));
        }
        line.pop();
        Ok(Some(line))
    }

    async fn ok(&mut self) -> Result<(), ErrorKind> {
        self.write(&[0]).await
    }

    async fn write(&mut self, data: &[u8]) -> Result<(), ErrorKind> {
        let after = self.after;
        let stream = self.stream.get_mut();
        Self::within(after, async {
            stream.write_all(data).await?;
            stream.flush().await
        })
        .await
    }

    /// Reads one reply byte; `\x01`/`\x02` come with an error line.
    async fn ack(&mut self, remote: &str) -> Result<(), ErrorKind> {
        let mut byte = [0u8; 1];
        let after = self.after;
        match tokio::time::timeout(after, self.stream.read_exact(&mut byte)).await {
            Err(_) => return Err(ErrorKind::IdleTimeout { after }),
            Ok(Err(_)) => {
                return Err(failed(
                    remote,
                    "scp ended early (is scp installed on the host?)",
                ));
            }
            Ok(Ok(_)) => {}
        }
        match byte[0] {
            0 => Ok(()),
            _ => {
                let line = self.line(remote).await?.unwrap_or_default();
                Err(failed(remote, server_text(&line)))
            }
        }
    }
}

/// Longest SCP protocol line accepted from a server.
const MAX_LINE: usize = 8 * 1024;
/// Most files and directories one SCP download accepts.
const MAX_ENTRIES: usize = 1_000_000;

/// A server's error line, shown escaped (it goes to a terminal).
fn server_text(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.trim();
    text.strip_prefix("scp: ")
        .unwrap_or(text)
        .escape_debug()
        .to_string()
}

/// A `C`/`D` header: `<mode> <size> <name>`, every field checked.
fn parse_entry(rest: &str) -> Result<(u32, u64, &str), String> {
    let mut fields = rest.splitn(3, ' ');
    let mode = fields
        .next()
        .and_then(|m| u32::from_str_radix(m, 8).ok())
        .ok_or_else(|| format!("the server sent a bad SCP header {}", rest.escape_debug()))?;
    let size = fields
        .next()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| format!("the server sent a bad SCP size in {}", rest.escape_debug()))?;
    let name = local::safe_component(fields.next().unwrap_or_default())?;
    Ok((mode, size, name))
}

/// A `T` record: `<mtime> 0 <atime> 0`; a time that does not fit is an error.
fn parse_times(rest: &str) -> Result<u64, String> {
    rest.split_whitespace()
        .next()
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| i64::try_from(*t).is_ok())
        .ok_or_else(|| {
            format!(
                "the server sent a bad SCP time record {}",
                rest.escape_debug()
            )
        })
}

/// Receives `remote` (a file, or with `recursive` a directory) into `target`.
///
/// Everything the server sends is checked: names are one safe component
/// ([`local::safe_component`]), sizes are streamed into the file with a fixed buffer (and
/// checked against the free space), times must fit, modes keep only permission bits, a
/// directory needs `recursive`, and every read must make progress within the idle timeout.
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
    let mut io = Idle {
        stream: &mut stream,
        after: options.idle_timeout,
    };
    let fail = |message: String| failed(remote, message);
    let mut report = CopyReport::default();
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut times: Option<u64> = None;
    let mut entries = 0usize;
    let mut buffer = vec![0u8; 64 * 1024];
    io.ok().await?;
    while let Some(line) = io.line(remote).await? {
        let Some((&kind, rest)) = line.split_first() else {
            return Err(fail("the server sent an empty SCP line".to_owned()));
        };
        let rest = String::from_utf8_lossy(rest);
        match kind {
            1 | 2 => return Err(fail(server_text(rest.as_bytes()))),
            b'T' => times = Some(parse_times(&rest).map_err(fail)?),
            b'E' => {
                if dirs.pop().is_none() {
                    return Err(fail(
                        "the server ended a directory it never began".to_owned(),
                    ));
                }
            }
            b'D' | b'C' => {
                entries = entries.saturating_add(1);
                if entries > MAX_ENTRIES {
                    return Err(fail(format!(
                        "the server sends more than {MAX_ENTRIES} entries"
                    )));
                }
                let (mode, size, name) = parse_entry(&rest).map_err(fail)?;
                let path = match dirs.last() {
                    Some(dir) => local::child(dir, name).map_err(fail)?,
                    None if kind == b'D' && !options.recursive => {
                        return Err(fail(
                            "the server sent a directory for a copy that is not recursive"
                                .to_owned(),
                        ));
                    }
                    None => target.to_owned(),
                };
                let mode = LocalMode::from_server(options.preserve, Some(mode), times.take())
                    .map_err(fail)?;
                if kind == b'D' {
                    local::make_dir(&path)
                        .map_err(|err| fail(format!("cannot create {}: {err}", path.display())))?;
                    dirs.push(path);
                } else {
                    let mut incoming =
                        Incoming::create(&path, size, options.overwrite).map_err(fail)?;
                    io.ok().await?;
                    while incoming.remaining() > 0 {
                        let want = usize::try_from(incoming.remaining())
                            .unwrap_or(usize::MAX)
                            .min(buffer.len());
                        let piece = buffer.get_mut(..want).unwrap_or_default();
                        let after = io.after;
                        let n = Idle::within(after, io.stream.read(piece)).await?;
                        if n == 0 {
                            return Err(fail(format!(
                                "the connection ended after {} of {size} bytes of `{name}`",
                                incoming.received()
                            )));
                        }
                        incoming
                            .write(piece.get(..n).unwrap_or_default())
                            .map_err(fail)?;
                        count(moved, n);
                    }
                    io.ack(remote).await?;
                    incoming.commit(mode).map_err(fail)?;
                    report.files = report.files.saturating_add(1);
                    report.bytes = report.bytes.saturating_add(size);
                }
            }
            _ => {
                return Err(fail(format!(
                    "unexpected SCP message {}",
                    String::from_utf8_lossy(&line).escape_debug()
                )));
            }
        }
        io.ok().await?;
    }
    if report.files == 0 && dirs.is_empty() && !target.exists() {
        return Err(fail("nothing received".to_owned()));
    }
    Ok(report)
}
