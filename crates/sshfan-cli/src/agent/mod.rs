//! `sshfan agent`: a per-user process that keeps SSH sessions open between invocations,
//! as OpenSSH's ControlMaster does for one host, for a whole fleet.
//!
//! `sshfan agent start` runs [`server`] in the background; a run with `--agent` (or
//! `SSHFAN_AGENT=auto`) hands its hosts and job to it over a private Unix socket
//! ([`socket`], [`wire`]) and renders what comes back ([`remote`]) exactly as a direct
//! run renders its own events. The agent keeps one client per set of connection
//! settings ([`cache`]); a second invocation over the same hosts opens channels on the
//! sessions the first one made. Secrets typed at a prompt never reach the agent: runs
//! that need them connect directly, with a note.

mod cache;
mod convert;
mod memory;
pub mod remote;
mod server;
mod socket;
pub mod wire;

use std::io::Write;
use std::time::Duration;

use std::os::unix::fs::OpenOptionsExt;

use anyhow::Context;
use tokio::net::UnixStream;

use crate::args::{AgentAction, AgentArgs, AgentServeArgs};
use crate::exit::{ExitStatus, UsageError};
use wire::{Reply, Request, read_frame, write_frame};

/// How long `agent start` waits for the new agent to answer.
const START_WAIT: Duration = Duration::from_secs(10);

/// `sshfan agent start|stop|status`.
pub async fn agent(args: AgentArgs) -> anyhow::Result<ExitStatus> {
    match args.action {
        AgentAction::Serve(serve) => {
            server::serve(limits(serve)?).await?;
            Ok(ExitStatus::Success)
        }
        AgentAction::Start(serve) => start(serve).await,
        AgentAction::Stop => stop().await,
        AgentAction::Status => status().await,
    }
}

fn limits(args: AgentServeArgs) -> anyhow::Result<cache::Limits> {
    let idle = Duration::try_from_secs_f64(args.idle)
        .ok()
        .filter(|idle| !idle.is_zero())
        .ok_or_else(|| UsageError(format!("--idle takes seconds, not {}", args.idle)))?;
    Ok(cache::Limits {
        max_sessions: args
            .max_sessions
            .unwrap_or_else(sshfan::default_max_sessions)
            .max(1),
        idle,
        spare_channels: args.spare_channels,
    })
}

/// Asks the running agent one thing; `None` when none runs.
async fn ask(request: &Request) -> anyhow::Result<Option<Reply>> {
    let path = socket::path();
    let Ok(mut stream) = UnixStream::connect(&path).await else {
        return Ok(None);
    };
    if let Some(uid) = socket::foreign_peer(&stream) {
        anyhow::bail!(
            "the agent socket `{}` is served by uid {uid}, not by you",
            path.display()
        );
    }
    write_frame(&mut stream, request).await?;
    Ok(read_frame::<_, Reply>(&mut stream).await?)
}

async fn start(args: AgentServeArgs) -> anyhow::Result<ExitStatus> {
    limits(args)?;
    if let Some(Reply::Status(status)) = ask(&Request::Status).await? {
        say(&format!(
            "sshfan: the agent is already running (pid {})",
            status.pid
        ));
        return Ok(ExitStatus::Success);
    }
    socket::prepare_directory().context("making the agent's directory")?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(socket::log_path())
        .context("opening the agent's log")?;
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command
        .args(["agent", "serve", "--idle", &args.idle.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log);
    if let Some(max) = args.max_sessions {
        command.args(["--max-sessions", &max.to_string()]);
    }
    if args.spare_channels {
        command.arg("--spare-channels");
    }
    // Its own process group: the terminal's Ctrl-C is not the agent's (nor, see
    // `server::serve`, its hang-up).
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    let mut child = command.spawn().context("starting the agent")?;
    let deadline = tokio::time::Instant::now() + START_WAIT;
    while tokio::time::Instant::now() < deadline {
        if let Some(Reply::Status(status)) = ask(&Request::Status).await? {
            say(&format!(
                "sshfan: agent started (pid {}, socket {}); runs use it with --agent or \
                 SSHFAN_AGENT=auto",
                status.pid,
                socket::path().display()
            ));
            return Ok(ExitStatus::Success);
        }
        if let Some(exit) = child.try_wait()? {
            anyhow::bail!(
                "the agent exited at once ({exit}); see `{}`",
                socket::log_path().display()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::bail!("the agent did not answer within {START_WAIT:?}")
}

async fn stop() -> anyhow::Result<ExitStatus> {
    match ask(&Request::Stop).await? {
        Some(Reply::Stopping) => {
            let deadline = tokio::time::Instant::now() + START_WAIT;
            while socket::path().exists() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            say("sshfan: agent stopped");
            Ok(ExitStatus::Success)
        }
        Some(other) => anyhow::bail!("the agent answered {other:?}"),
        None => {
            say("sshfan: no agent is running");
            Ok(ExitStatus::Success)
        }
    }
}

async fn status() -> anyhow::Result<ExitStatus> {
    match ask(&Request::Status).await? {
        Some(Reply::Status(status)) => {
            let text = format!(
                "agent: running (pid {pid}, up {uptime})\n\
                 sessions: {sessions} open ({idle} idle), at most {max}; closed after {idle_for} unused\n\
                 settings: {settings} (user, keys, options…)\n\
                 runs: {runs} in progress\n\
                 memory: {memory:.1} MiB resident\n\
                 socket: {socket}\n",
                pid = status.pid,
                uptime = human(status.uptime),
                sessions = status.sessions,
                idle = if status.runs == 0 { status.sessions } else { 0 },
                max = status.max_sessions,
                idle_for = human(status.idle),
                settings = status.settings,
                runs = status.runs,
                memory = status.memory as f64 / f64::from(1 << 20),
                socket = socket::path().display(),
            );
            std::io::stdout().write_all(text.as_bytes())?;
            Ok(ExitStatus::Success)
        }
        Some(other) => anyhow::bail!("the agent answered {other:?}"),
        None => {
            say("sshfan: no agent is running (start one with `sshfan agent start`)");
            // As `pgrep` finding nothing.
            Ok(ExitStatus::RemoteFailure)
        }
    }
}

fn human(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}
