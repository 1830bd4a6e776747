//! Running one command on one connected session.
//!
//! The channel is drained continuously (an undrained russh channel stalls the whole
//! session): stdout and stderr go to the host's buffers, whose limit is the only
//! back-pressure. The exit status may arrive after EOF, so the loop reads until the
//! channel is gone. A channel that ends without `Close` means the connection dropped.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use russh::client::Handle;
use russh::{ChannelMsg, ChannelReadHalf};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::auth::Secret;
use crate::command::CommandLine;
use crate::error::{ConnectStage, ErrorKind};
use crate::handler::{HostHandler, Notes, read_notes};
use crate::output::{ExitStatus, StreamBuffer};
use crate::spare::OpenChannel;
use crate::sudo::{Gate, Signal};

/// Where one host's output goes.
pub(crate) struct Sinks {
    pub stdout: Arc<StreamBuffer>,
    pub stderr: Arc<StreamBuffer>,
}

/// SSH extended-data type code for stderr.
const STDERR: u32 = 1;

/// What to ask of the channel besides the command line.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChannelSetup {
    /// Ask for a pseudo-terminal first.
    pub pty: bool,
    /// Environment variables (`setenv`; servers accept only what `AcceptEnv` lists).
    pub env: Vec<(String, String)>,
    /// The sudo password: written only when sudo prompts for it (see [`crate::sudo`]);
    /// the command line must then be [`crate::sudo::gated_command`]'s.
    pub sudo_password: Option<Secret>,
    /// Bytes sent to every host's stdin, then EOF. `None`: each host's stdin is fed from
    /// its [`crate::HostStdin`] until that is closed or dropped.
    pub stdin: Option<Bytes>,
    /// Ask for agent forwarding.
    pub forward_agent: bool,
    /// Longest wait for the channel to open and the command to start (the host's
    /// connect timeout): a server that authenticates but never starts the command fails
    /// with [`ErrorKind::ConnectTimeout`] instead of waiting for the command timeout.
    pub start_timeout: Option<Duration>,
}

/// One message for a host's stdin.
#[derive(Debug)]
pub(crate) enum StdinMessage {
    Data(Bytes),
    Eof,
}

/// Runs `command` (or an interactive shell when `None`) on `opened` (a spare channel,
/// [`crate::spare`]) or a new channel, streaming its output into `sinks`, and returns how
/// it ended. A spare channel that fails to start the command (the server closed it) is
/// given up for a new one.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_command(
    session: &Handle<HostHandler>,
    notes: &Notes,
    opened: Option<OpenChannel>,
    command: Option<&CommandLine>,
    setup: &ChannelSetup,
    stdin: Option<mpsc::Receiver<StdinMessage>>,
    sinks: &Sinks,
    command_timeout: Option<Duration>,
    mut stop: watch::Receiver<bool>,
) -> Result<ExitStatus, ErrorKind> {
    let now = Instant::now();
    let deadline = command_timeout.map(|after| (now + after, after));
    // Starting ends at whichever comes first: the connect timeout or the command timeout.
    let start_deadline = [
        setup.start_timeout.map(|after| {
            (
                now + after,
                ErrorKind::ConnectTimeout {
                    after,
                    stage: ConnectStage::Start,
                },
            )
        }),
        deadline.map(|(at, after)| (at, ErrorKind::CommandTimeout { after })),
    ]
    .into_iter()
    .flatten()
    .min_by_key(|(at, _)| *at);
    let start_on = |opened: Option<OpenChannel>| async move {
        let channel = match opened {
            Some(channel) => channel,
            None => open_session_channel(session)
                .await
                .map_err(|err| channel_error(notes, "cannot open a session channel", &err))?,
        };
        let refused =
            |what: &'static str| move |err: russh::Error| channel_error(notes, what, &err);
        if setup.pty {
            channel
                .request_pty(false, "xterm", 80, 24, 0, 0, &[])
                .await
                .map_err(refused("cannot ask for a pseudo-terminal"))?;
        }
        for (name, value) in &setup.env {
            channel
                .set_env(false, name.as_str(), value.as_str())
                .await
                .map_err(refused("cannot send environment variables"))?;
        }
        if setup.forward_agent {
            // Servers that refuse forwarding still run the command.
            channel
                .agent_forward(false)
                .await
                .map_err(refused("cannot ask for agent forwarding"))?;
        }
        match command {
            Some(command) => channel.exec(true, command.as_bytes()).await,
            None => channel.request_shell(true).await,
        }
        .map_err(refused("cannot send the command"))?;
        Ok::<_, ErrorKind>(channel)
    };
    let opened = opened.and_then(|mut spare| crate::spare::still_open(&mut spare).then_some(spare));
    let start = async {
        match opened {
            Some(spare) => match start_on(Some(spare)).await {
                Ok(channel) => Ok(channel),
                Err(_) if !session.is_closed() => start_on(None).await,
                Err(err) => Err(err),
            },
            None => start_on(None).await,
        }
    };
    // A server that never answers the channel open or the exec request.
    let channel = match start_deadline {
        None => start.await?,
        Some((at, timed_out)) => tokio::time::timeout_at(at, start)
            .await
            .map_err(|_| timed_out)??,
    };
    let (mut reader, writer) = channel.split();
    // sudo's prompt and the gate's marker come on stderr, or on the terminal (stdout)
    // with a PTY.
    // Only a sudo command has a prompt to watch for.
    let (mut gate, signalled) = match &setup.sudo_password {
        Some(password) => {
            let (signals, signalled) = mpsc::unbounded_channel::<Signal>();
            let gate = GatedStream {
                gate: Gate::default(),
                on_stdout: setup.pty,
                signals,
            };
            (Some(gate), Some((password, signalled)))
        }
        None => (None, None),
    };

    // Stdin is fed while output is drained: a command may fill its output window
    // before it reads all of its input.
    let feed = async {
        if let Some((password, mut signalled)) = signalled {
            let mut prompted = false;
            loop {
                match signalled.recv().await {
                    Some(Signal::Prompt) if !prompted => {
                        prompted = true;
                        let line = format!("{}\n", password.expose());
                        if writer.data(line.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                    // A second prompt: the password was wrong. End of file makes sudo
                    // give up now instead of waiting for another try.
                    Some(Signal::Prompt) => {
                        let _ = writer.eof().await;
                        return;
                    }
                    Some(Signal::Open) => break,
                    None => return,
                }
            }
        }
        if let Some(data) = &setup.stdin {
            if writer.data(&data[..]).await.is_ok() {
                let _ = writer.eof().await;
            }
            return;
        }
        let Some(mut stdin) = stdin else {
            let _ = writer.eof().await;
            return;
        };
        while let Some(message) = stdin.recv().await {
            match message {
                StdinMessage::Data(data) => {
                    if writer.data(&data[..]).await.is_err() {
                        return;
                    }
                }
                StdinMessage::Eof => break,
            }
        }
        let _ = writer.eof().await;
    };
    let drain = async {
        let timed_out = async {
            match deadline {
                Some((at, after)) => {
                    tokio::time::sleep_until(at).await;
                    after
                }
                None => std::future::pending().await,
            }
        };
        // Biased: the channel first (output that came with the deadline is kept).
        let ended = tokio::select! {
            biased;
            result = drain_channel(&mut reader, sinks, notes, gate.as_mut()) => return result,
            after = timed_out => ErrorKind::CommandTimeout { after },
            // Cancelled: this channel closes, the session stays for the next job.
            _ = stop.wait_for(|stop| *stop) => ErrorKind::Cancelled,
        };
        // Ask the command to stop, then close the channel. With a PTY, sshd hangs up the
        // terminal and the process gets SIGHUP; without one, OpenSSH 7.9+ delivers the
        // signal, older servers ignore it and the command only notices when it next
        // writes.
        let _ = writer.signal(russh::Sig::TERM).await;
        let _ = writer.close().await;
        Err(ended)
    };
    // The command's end ends the run, even while stdin is still open.
    tokio::pin!(feed);
    tokio::pin!(drain);
    let mut fed = false;
    loop {
        tokio::select! {
            biased;
            result = &mut drain => return result,
            () = &mut feed, if !fed => fed = true,
        }
    }
}

/// The output stream that carries sudo's prompt, watched by a [`Gate`].
struct GatedStream {
    gate: Gate,
    on_stdout: bool,
    signals: mpsc::UnboundedSender<Signal>,
}

impl GatedStream {
    /// `data` as it should be kept: unchanged on the other stream or once open.
    fn filter(&mut self, data: Bytes, stdout: bool) -> Bytes {
        if stdout != self.on_stdout || self.gate.is_open() {
            return data;
        }
        let (passed, seen) = self.gate.scan(&data);
        for signal in seen {
            let _ = self.signals.send(signal);
        }
        passed
    }
}

/// How often a refused channel open is tried again, and the first wait between tries.
const CHANNEL_OPEN_TRIES: u32 = 8;
const CHANNEL_OPEN_WAIT: Duration = Duration::from_millis(20);

/// Opens a session channel. A refusal is tried again a few times (about 2.5 s in all):
/// when jobs share a connection, the server may still count a channel the previous job
/// just closed (sshd's `MaxSessions`), and a job must wait its turn rather than fail.
pub(crate) async fn open_session_channel(
    session: &Handle<HostHandler>,
) -> Result<russh::Channel<russh::client::Msg>, russh::Error> {
    let mut wait = CHANNEL_OPEN_WAIT;
    for _ in 1..CHANNEL_OPEN_TRIES {
        match session.channel_open_session().await {
            Err(russh::Error::ChannelOpenFailure(_)) if !session.is_closed() => {
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2).min(Duration::from_millis(640));
            }
            other => return other,
        }
    }
    session.channel_open_session().await
}

/// Reads the channel to its end: output into `sinks`, then the exit status.
async fn drain_channel(
    reader: &mut ChannelReadHalf,
    sinks: &Sinks,
    notes: &Notes,
    mut gate: Option<&mut GatedStream>,
) -> Result<ExitStatus, ErrorKind> {
    let mut status = None;
    let mut closed = false;
    let filter = |gate: &mut Option<&mut GatedStream>, data: Bytes, stdout: bool| match gate {
        Some(gate) => gate.filter(data, stdout),
        None => data,
    };
    while let Some(message) = reader.wait().await {
        match message {
            ChannelMsg::Data { data } => sinks.stdout.push(filter(&mut gate, data, true)).await,
            ChannelMsg::ExtendedData { data, ext } if ext == STDERR => {
                sinks.stderr.push(filter(&mut gate, data, false)).await
            }
            ChannelMsg::ExitStatus { exit_status } => {
                status.get_or_insert(ExitStatus::Code(exit_status));
            }
            ChannelMsg::ExitSignal {
                signal_name,
                core_dumped,
                error_message,
                ..
            } => {
                status.get_or_insert(ExitStatus::Signal {
                    name: signal_name_of(&signal_name),
                    core_dumped,
                    message: error_message,
                });
            }
            ChannelMsg::Failure => {
                return Err(ErrorKind::Channel {
                    message: "the server refused to run the command".to_owned(),
                });
            }
            ChannelMsg::Close => closed = true,
            _ => {}
        }
    }
    if let Some(gated) = gate {
        // Held back as a possible prompt, but the output ended: it was output.
        let rest = gated.gate.rest();
        let sink = if gated.on_stdout {
            &sinks.stdout
        } else {
            &sinks.stderr
        };
        sink.push(rest).await;
    }
    if !closed {
        let why = read_notes(notes, |n| n.disconnect.clone())
            .unwrap_or_else(|| "the connection closed before the command finished".to_owned());
        return Err(ErrorKind::ConnectionLost { message: why });
    }
    Ok(status.unwrap_or(ExitStatus::NoStatus))
}

fn channel_error(notes: &Notes, what: &str, err: &russh::Error) -> ErrorKind {
    match err {
        russh::Error::ChannelOpenFailure(reason) => ErrorKind::Channel {
            message: format!("{what}: {reason:?}"),
        },
        _ => {
            let why =
                read_notes(notes, |n| n.disconnect.clone()).unwrap_or_else(|| err.to_string());
            ErrorKind::ConnectionLost {
                message: format!("{what}: {why}"),
            }
        }
    }
}

/// `Sig`'s name, without a `SIG` prefix whatever the server sent.
fn signal_name_of(signal: &russh::Sig) -> String {
    let text = format!("{signal:?}");
    let name = match text.strip_prefix("Custom(\"") {
        Some(rest) => rest.trim_end_matches("\")").to_owned(),
        None => text,
    };
    name.strip_prefix("SIG").map(str::to_owned).unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_have_no_prefix() {
        assert_eq!(signal_name_of(&russh::Sig::TERM), "TERM");
        assert_eq!(
            signal_name_of(&russh::Sig::Custom("SIGWINCH".into())),
            "WINCH"
        );
        assert_eq!(signal_name_of(&russh::Sig::Custom("USR2".into())), "USR2");
    }
}
