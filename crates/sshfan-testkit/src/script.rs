//! What a fleet host does with a command: a small built-in interpreter, or a real `sh -c`.
//!
//! The interpreter makes runs fast and deterministic: no process per command, output sizes
//! and exit statuses exactly as asked. Statements are separated by `;` or newlines; the
//! status is the last statement's, as in `sh`. Words may be quoted with `'` or `"`; a
//! statement ending in `>&2` writes to stderr.
//!
//! | command | effect |
//! |---|---|
//! | `echo [-n] WORD…` | print the words |
//! | `hostname` | print the virtual host's name (`host17`) |
//! | `uname [-a\|-r\|-n]` | `Linux`; `-r` the kernel release (`5.15.0-91-generic`, or [`Fault::Release`]'s); `-n` the name; `-a` all in one line |
//! | `uptime` | `HH:MM:SS up N days,  load average: 0.00, 0.01, 0.05`: the time now, N from the host's name |
//! | `seq N` | print the lines `1` to `N` |
//! | `flood BYTES` | print BYTES bytes of 64-byte lines |
//! | `line BYTES` | print one line of BYTES `z` bytes (plus its newline) |
//! | `bytes BYTES` | print BYTES `z` bytes and no newline |
//! | `raw HEX` | print raw bytes, e.g. `raw ff fe 0a` (for non-UTF-8 output) |
//! | `trickle N MS` | print N lines, one every MS milliseconds |
//! | `cat` | copy stdin to stdout until EOF |
//! | `sleep SECS` | wait (fractions allowed) |
//! | `exit N` | stop with status N |
//! | `kill SIG` | stop as if killed by SIG (e.g. `TERM`) |
//! | `noexit` | close the channel without any exit status |
//! | `printenv NAME` | print a variable the client sent (`setenv`); status 1 if unset |
//! | `hang` | never finish |
//! | `drop` | cut the connection at once |
//! | `freeze` | stop reading and writing, keeping the connection open |
//! | `chanreq N` | send N `xon-xoff` channel requests on the command's channel |
//! | `globalreq N` | send N `tcpip-forward` global requests to the client and print how many it refused |
//! | `opench N` | open N channels to the client (x11, forwarded-tcpip, session) and print how many it accepted |
//!
//! `printenv SSHFAN_TEST_CLIENT_ID` prints the version string the client sent.
//!
//! Anything else prints `fleet-sh: NAME: command not found` to stderr with status 127.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use russh::server::Msg;
use russh::{Channel, ChannelMsg, Sig};
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::watch;

use crate::kill::KillSwitch;

/// A fault a fleet host shows, on top of normal operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Every authentication attempt is rejected.
    RejectAuth,
    /// TCP is accepted but the SSH banner is never sent.
    StallBeforeBanner,
    /// Authentication succeeds but session channels are never answered.
    StallAfterAuth,
    /// The connection is cut after this many bytes of command output.
    DropMidOutput {
        /// Output bytes sent before the cut.
        after_bytes: usize,
    },
    /// Commands are accepted and never produce output or finish.
    Hang,
    /// A session channel that has asked for nothing (no command, shell or subsystem)
    /// this long after it opened is closed by the host, as OpenSSH's `ChannelTimeout`
    /// closes inactive channels.
    CloseIdleChannels {
        /// How long an unused channel stays open.
        after: Duration,
    },
    /// The connection is cut after this many bytes arrive from the client (mid-upload).
    DropMidUpload {
        /// Bytes received before the cut.
        after_bytes: usize,
    },
    /// Output goes out one line at a time with this delay before each line.
    Trickle {
        /// Delay before each line.
        delay: Duration,
    },
    /// The host presents a host key that is not the one in the fleet's known_hosts.
    WrongHostKey,
    /// The host has a second host key, ECDSA P-256 (see [`crate::Fleet::second_host_key`]),
    /// besides the fleet's Ed25519 key: a client that knows only the second key must ask
    /// for it.
    SecondHostKey,
    /// The host sends an authentication banner of this many bytes (escape sequences
    /// included) before the login.
    HugeBanner(usize),
    /// The host refuses the SFTP subsystem (as an sshd without `Subsystem sftp` does).
    NoSftp,
    /// The host's SFTP server lies in this way (a hostile server).
    HostileSftp(SftpTrick),
    /// `uname -r` prints this kernel release instead of the fleet's (an outlier host).
    Release(String),
}

/// The kernel release `uname -r` prints on fleet hosts.
pub const FLEET_RELEASE: &str = "5.15.0-91-generic";

/// Who a host is, as its commands tell it.
pub(crate) struct Identity {
    /// What `hostname` prints.
    pub name: String,
    /// What `uname -r` prints.
    pub release: String,
}

impl Identity {
    pub fn new(name: &str, fault: Option<&Fault>) -> Identity {
        Identity {
            name: name.to_owned(),
            release: match fault {
                Some(Fault::Release(release)) => release.clone(),
                _ => FLEET_RELEASE.to_owned(),
            },
        }
    }
}

/// How a hostile SFTP server lies (see [`Fault::HostileSftp`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SftpTrick {
    /// Every directory lists these names (as regular files of 6 bytes); any path that
    /// does not exist reads as `pwned\n`.
    Names(Vec<String>),
    /// Every regular file announces this size, whatever it holds.
    Size(u64),
    /// No request after the handshake is ever answered.
    Stall,
    /// Directory listings never end: each READDIR brings 1,000 new names.
    EndlessReaddir,
    /// Every WRITE request is answered only after this long (a slow disk or link).
    SlowWrites(Duration),
}

/// How a command ended, as the channel will report it.
enum Ending {
    Status(u32),
    Signal(Sig),
    NoStatus,
    /// The connection was cut; nothing more can be sent.
    Cut,
}

/// Writes a command's output to its channel, applying output faults.
struct Terminal {
    channel: Channel<Msg>,
    session: russh::server::Handle,
    written: usize,
    fault: Option<Fault>,
    kill: Arc<KillSwitch>,
    cut: bool,
    /// The current statement ends in `>&2`: its stdout goes to stderr.
    redirect: bool,
}

impl Terminal {
    async fn write(&mut self, data: Bytes, stderr: bool) {
        if self.cut || data.is_empty() {
            return;
        }
        let stderr = stderr || self.redirect;
        if let Some(Fault::DropMidOutput { after_bytes }) = self.fault {
            let room = after_bytes.saturating_sub(self.written);
            if data.len() >= room {
                self.send(data.slice(..room), stderr).await;
                // Let the last bytes reach the socket, then pull the cable.
                tokio::time::sleep(Duration::from_millis(50)).await;
                self.kill.kill();
                self.cut = true;
                return;
            }
        }
        if let Some(Fault::Trickle { delay }) = self.fault {
            for line in data.split_inclusive(|&b| b == b'\n') {
                tokio::time::sleep(delay).await;
                self.send(data.slice_ref(line), stderr).await;
            }
            return;
        }
        self.send(data, stderr).await;
    }

    async fn send(&mut self, data: Bytes, stderr: bool) {
        self.written += data.len();
        let sent = if stderr {
            self.channel.extended_data_bytes(1, data).await
        } else {
            self.channel.data_bytes(data).await
        };
        if sent.is_err() {
            self.cut = true;
        }
    }

    async fn finish(self, ending: Ending) {
        if self.cut {
            return;
        }
        let channel = &self.channel;
        match ending {
            Ending::Status(code) => {
                let _ = channel.exit_status(code).await;
            }
            Ending::Signal(signal) => {
                let _ = self
                    .session
                    .exit_signal_request(channel.id(), signal, false, String::new(), String::new())
                    .await;
            }
            Ending::NoStatus | Ending::Cut => {}
        }
        let _ = channel.eof().await;
        let _ = channel.close().await;
    }
}

/// One command (or interactive shell) to run for a fleet host.
pub(crate) struct Job {
    /// The command line; `None` for an interactive shell reading commands from stdin.
    pub command: Option<String>,
    /// Variables the client sent (`setenv`).
    pub env: Vec<(String, String)>,
    pub identity: Identity,
    pub fault: Option<Fault>,
    pub kill: Arc<KillSwitch>,
    /// `Some(environment)`: run under a real `sh`.
    pub real_shell: Option<Arc<Vec<(String, String)>>>,
    /// Signals the client sent.
    pub signals: watch::Receiver<Option<Sig>>,
    /// Jobs in flight on this host (for tests that check a process is gone).
    pub running: Arc<AtomicUsize>,
    /// The host's root directory: the real shell's working directory.
    pub root: std::path::PathBuf,
}

/// Decrements the running count when a job ends, however it ends.
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs a job and reports its end on the channel.
pub(crate) async fn run_exec(channel: Channel<Msg>, session: russh::server::Handle, mut job: Job) {
    job.running.fetch_add(1, Ordering::SeqCst);
    let _running = Running(job.running.clone());
    if job.fault == Some(Fault::Hang) {
        // Never finish, but end like a real process when signalled or hung up.
        let _channel = channel;
        let _ = job.signals.wait_for(Option::is_some).await;
        return;
    }
    let mut terminal = Terminal {
        channel,
        session,
        written: 0,
        fault: job.fault.clone(),
        kill: job.kill.clone(),
        cut: false,
        redirect: false,
    };
    let ending = {
        let work = async {
            match (&job.real_shell, &job.command) {
                (Some(shell_env), command) => {
                    let env: Vec<(String, String)> =
                        shell_env.iter().chain(&job.env).cloned().collect();
                    let _ = std::fs::create_dir_all(&job.root);
                    run_shell(&mut terminal, command.as_deref(), &env, &job.root).await
                }
                (None, Some(command)) => {
                    match interpret(&mut terminal, command, &job.identity, &job.env).await {
                        Ok(status) => Ending::Status(status),
                        Err(ending) => ending,
                    }
                }
                (None, None) => interactive(&mut terminal, &job.identity, &job.env).await,
            }
        };
        let mut signals = job.signals.clone();
        tokio::select! {
            ending = work => ending,
            signal = signals.wait_for(Option::is_some) => match signal.ok().and_then(|s| s.clone()) {
                Some(signal) => Ending::Signal(signal),
                None => Ending::NoStatus,
            },
        }
    };
    terminal.finish(ending).await;
}

/// An interactive shell: each line on stdin is a command; EOF or `exit` ends it.
async fn interactive(
    terminal: &mut Terminal,
    hostname: &Identity,
    env: &[(String, String)],
) -> Ending {
    let mut pending: Vec<u8> = Vec::new();
    let mut status = 0;
    while let Some(message) = terminal.channel.wait().await {
        match message {
            ChannelMsg::Data { data } => {
                pending.extend_from_slice(&data);
                while let Some(at) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=at).collect();
                    let line = String::from_utf8_lossy(&line).into_owned();
                    match interpret(terminal, &line, hostname, env).await {
                        Ok(code) => status = code,
                        Err(ending) => return ending,
                    }
                }
            }
            ChannelMsg::Eof | ChannelMsg::Close => break,
            _ => {}
        }
    }
    Ending::Status(status)
}

/// Runs a command line's statements: `Ok(status)` of the last, or `Err(ending)` when one
/// ended the command (`exit`, `kill`, `drop`, …).
async fn interpret(
    terminal: &mut Terminal,
    command: &str,
    hostname: &Identity,
    env: &[(String, String)],
) -> Result<u32, Ending> {
    let mut status = 0;
    for statement in command.split([';', '\n']) {
        let mut words = split_words(statement);
        terminal.redirect = words.last().is_some_and(|w| w == ">&2");
        if terminal.redirect {
            words.pop();
        }
        let Some((name, args)) = words.split_first() else {
            continue;
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match run_builtin(terminal, name, &args, hostname, env).await {
            Step::Continue(code) => status = code,
            Step::Stop(ending) => return Err(ending),
        }
        if terminal.cut {
            return Err(Ending::Cut);
        }
    }
    Ok(status)
}

enum Step {
    Continue(u32),
    Stop(Ending),
}

async fn run_builtin(
    terminal: &mut Terminal,
    name: &str,
    args: &[&str],
    hostname: &Identity,
    env: &[(String, String)],
) -> Step {
    let number = |index: usize| args.get(index).and_then(|a| a.parse::<u64>().ok());
    match name {
        "echo" => {
            let (newline, args) = match args.split_first() {
                Some((&"-n", rest)) => (false, rest),
                _ => (true, args),
            };
            let mut text = args.join(" ");
            if newline {
                text.push('\n');
            }
            terminal.write(Bytes::from(text), false).await;
        }
        "hostname" => {
            terminal
                .write(Bytes::from(format!("{}\n", hostname.name)), false)
                .await
        }
        "uname" => {
            let Identity { name, release } = hostname;
            let text = match args.first().copied() {
                Some("-r") => format!("{release}\n"),
                Some("-n") => format!("{name}\n"),
                Some("-a") => format!("Linux {name} {release} #101-Ubuntu SMP x86_64 GNU/Linux\n"),
                _ => "Linux\n".to_owned(),
            };
            terminal.write(Bytes::from(text), false).await;
        }
        "uptime" => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            let days = hostname.name.bytes().fold(7u64, |hash, byte| {
                hash.wrapping_mul(31).wrapping_add(u64::from(byte))
            }) % 900
                + 1;
            let text = format!(
                " {:02}:{:02}:{:02} up {days} days,  load average: 0.00, 0.01, 0.05\n",
                now / 3600 % 24,
                now / 60 % 60,
                now % 60
            );
            terminal.write(Bytes::from(text), false).await;
        }
        "seq" => {
            let count = number(0).unwrap_or(0);
            let mut text = String::new();
            for i in 1..=count {
                text.push_str(&format!("{i}\n"));
                if text.len() > 16 * 1024 {
                    terminal
                        .write(Bytes::from(std::mem::take(&mut text)), false)
                        .await;
                }
            }
            terminal.write(Bytes::from(text), false).await;
        }
        "flood" => {
            let mut left = number(0).unwrap_or(0) as usize;
            let line = [b'y'; 63].iter().chain(b"\n").copied().collect::<Vec<u8>>();
            let block = Bytes::from(line.repeat(512));
            while left > 0 && !terminal.cut {
                let take = left.min(block.len());
                terminal.write(block.slice(..take), false).await;
                left -= take;
            }
        }
        "bytes" => {
            // One long line with no newline at all.
            let total = number(0).unwrap_or(0) as usize;
            let block = Bytes::from(vec![b'z'; 1 << 20]);
            let mut left = total;
            while left > 0 && !terminal.cut {
                let take = left.min(block.len());
                terminal.write(block.slice(..take), false).await;
                left -= take;
            }
        }
        "line" => {
            let mut line = vec![b'z'; number(0).unwrap_or(0) as usize];
            line.push(b'\n');
            terminal.write(Bytes::from(line), false).await;
        }
        "raw" => {
            let hex: String = args.concat();
            let bytes: Vec<u8> = (0..hex.len() / 2)
                .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
                .collect();
            terminal.write(Bytes::from(bytes), false).await;
        }
        "trickle" => {
            let delay = Duration::from_millis(number(1).unwrap_or(100));
            for i in 1..=number(0).unwrap_or(0) {
                tokio::time::sleep(delay).await;
                terminal.write(Bytes::from(format!("{i}\n")), false).await;
            }
        }
        "cat" => {
            while let Some(message) = terminal.channel.wait().await {
                match message {
                    ChannelMsg::Data { data } => terminal.write(data, false).await,
                    ChannelMsg::Eof | ChannelMsg::Close => break,
                    _ => {}
                }
            }
        }
        "sleep" => {
            let secs = args
                .first()
                .and_then(|a| a.parse::<f64>().ok())
                .unwrap_or(0.0);
            tokio::time::sleep(Duration::from_secs_f64(secs.max(0.0))).await;
        }
        "exit" => return Step::Stop(Ending::Status(number(0).unwrap_or(0) as u32)),
        "kill" => {
            return Step::Stop(Ending::Signal(signal_named(
                args.first().unwrap_or(&"TERM"),
            )));
        }
        "noexit" => return Step::Stop(Ending::NoStatus),
        "hang" => std::future::pending::<()>().await,
        "freeze" => {
            // Let what was written reach the client, then stop answering anything.
            tokio::time::sleep(Duration::from_millis(50)).await;
            terminal.kill.freeze();
            std::future::pending::<()>().await;
        }
        "drop" => {
            terminal.kill.kill();
            terminal.cut = true;
            return Step::Stop(Ending::Cut);
        }
        "printenv" => {
            let wanted = args.first().copied().unwrap_or_default();
            match env.iter().find(|(name, _)| name == wanted) {
                Some((_, value)) => {
                    terminal
                        .write(Bytes::from(format!("{value}\n")), false)
                        .await
                }
                None => return Step::Continue(1),
            }
        }
        // A hostile server: open N channels to the client it never asked for (x11,
        // forwarded-tcpip, session, in turn) and say how many the client accepted.
        "opench" => {
            let wanted = number(0).unwrap_or(1);
            let mut accepted = 0;
            for turn in 0..wanted {
                let opened = match turn % 3 {
                    0 => terminal.session.channel_open_x11("127.0.0.1", 6000).await,
                    1 => {
                        terminal
                            .session
                            .channel_open_forwarded_tcpip("127.0.0.1", 80, "127.0.0.1", 1)
                            .await
                    }
                    _ => terminal.session.channel_open_session().await,
                };
                accepted += u64::from(opened.is_ok());
            }
            terminal
                .write(
                    Bytes::from(format!("accepted {accepted} of {wanted}\n")),
                    false,
                )
                .await;
        }
        // A hostile server: send N channel requests (`xon-xoff`) the client never asked
        // for on the command's channel.
        "chanreq" => {
            let wanted = number(0).unwrap_or(1);
            let id = terminal.channel.id();
            for _ in 0..wanted {
                if terminal.session.xon_xoff_request(id, true).await.is_err() {
                    break;
                }
            }
        }
        // A hostile server: send N global requests (`tcpip-forward`) the client never
        // asked for, and say how many it refused.
        "globalreq" => {
            let wanted = number(0).unwrap_or(1);
            let mut refused = 0;
            for _ in 0..wanted {
                let answer = terminal.session.forward_tcpip("127.0.0.1".into(), 0).await;
                refused += u64::from(answer.is_err());
            }
            terminal
                .write(
                    Bytes::from(format!("refused {refused} of {wanted}\n")),
                    false,
                )
                .await;
        }
        "true" => return Step::Continue(0),
        "false" => return Step::Continue(1),
        other => {
            let message = format!("fleet-sh: {other}: command not found\n");
            terminal.write(Bytes::from(message), true).await;
            return Step::Continue(127);
        }
    }
    Step::Continue(0)
}

/// Splits a statement into words, honouring single and double quotes.
fn split_words(statement: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in statement.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

fn signal_named(name: &str) -> Sig {
    match name.trim_start_matches("SIG") {
        "ABRT" => Sig::ABRT,
        "ALRM" => Sig::ALRM,
        "FPE" => Sig::FPE,
        "HUP" => Sig::HUP,
        "ILL" => Sig::ILL,
        "INT" => Sig::INT,
        "KILL" => Sig::KILL,
        "PIPE" => Sig::PIPE,
        "QUIT" => Sig::QUIT,
        "SEGV" => Sig::SEGV,
        "TERM" => Sig::TERM,
        "USR1" => Sig::USR1,
        other => Sig::Custom(other.to_owned()),
    }
}

/// Runs the command under a real `sh -c` (or `sh` reading stdin, for an interactive
/// shell), forwarding its stdin, output and status. Dropping the future kills the shell.
async fn run_shell(
    terminal: &mut Terminal,
    command: Option<&str>,
    env: &[(String, String)],
    root: &std::path::Path,
) -> Ending {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    use tokio::io::AsyncReadExt;

    let mut shell = tokio::process::Command::new("sh");
    if let Some(command) = command {
        shell.arg("-c").arg(command);
    }
    let child = shell
        .current_dir(root)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(err) => {
            terminal
                .write(
                    Bytes::from(format!("fleet-sh: cannot start sh: {err}\n")),
                    true,
                )
                .await;
            return Ending::Status(127);
        }
    };
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Ending::Status(127);
    };
    // Client data goes to the child's stdin; EOF closes it (by dropping our end).
    let mut stdin = child.stdin.take();
    let (mut out_buf, mut err_buf) = (vec![0u8; 32 * 1024], vec![0u8; 32 * 1024]);
    let (mut out_open, mut err_open) = (true, true);
    while out_open || err_open {
        tokio::select! {
            message = terminal.channel.wait(), if stdin.is_some() => match message {
                Some(ChannelMsg::Data { data }) => {
                    use tokio::io::AsyncWriteExt;
                    if let Some(pipe) = &mut stdin
                        && pipe.write_all(&data).await.is_err()
                    {
                        stdin = None;
                    }
                }
                Some(ChannelMsg::Eof | ChannelMsg::Close) | None => stdin = None,
                Some(_) => {}
            },
            read = stdout.read(&mut out_buf), if out_open => match read {
                Ok(0) | Err(_) => out_open = false,
                Ok(n) => terminal.write(Bytes::copy_from_slice(&out_buf[..n]), false).await,
            },
            read = stderr.read(&mut err_buf), if err_open => match read {
                Ok(0) | Err(_) => err_open = false,
                Ok(n) => terminal.write(Bytes::copy_from_slice(&err_buf[..n]), true).await,
            },
        }
        if terminal.cut {
            return Ending::Cut;
        }
    }
    match child.wait().await {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => Ending::Status(code as u32),
            (None, Some(signal)) => Ending::Signal(signal_from_number(signal)),
            (None, None) => Ending::NoStatus,
        },
        Err(_) => Ending::NoStatus,
    }
}

fn signal_from_number(number: i32) -> Sig {
    match number {
        libc::SIGABRT => Sig::ABRT,
        libc::SIGALRM => Sig::ALRM,
        libc::SIGFPE => Sig::FPE,
        libc::SIGHUP => Sig::HUP,
        libc::SIGILL => Sig::ILL,
        libc::SIGINT => Sig::INT,
        libc::SIGKILL => Sig::KILL,
        libc::SIGPIPE => Sig::PIPE,
        libc::SIGQUIT => Sig::QUIT,
        libc::SIGSEGV => Sig::SEGV,
        libc::SIGTERM => Sig::TERM,
        libc::SIGUSR1 => Sig::USR1,
        other => Sig::Custom(format!("SIG{other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_quotes() {
        assert_eq!(
            split_words(" echo  a 'b c' \"d\"e "),
            ["echo", "a", "b c", "de"]
        );
        assert_eq!(split_words("echo ''"), ["echo", ""]);
        assert!(split_words("   ").is_empty());
    }
}
