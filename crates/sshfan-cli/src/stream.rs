//! Runs a command and streams every host's output as `host: line`, as it arrives.

use std::time::{Duration, Instant};

use sshfan::{HostOutput, Outcome, ParallelClient};
use tokio::sync::mpsc;

use crate::exit::ExitStatus;
use crate::printer::{Message, Printer, prefixed};

/// What a run came to.
pub struct Summary {
    pub hosts: usize,
    pub ok: usize,
    pub remote_failures: usize,
    pub errors: usize,
    pub elapsed: Duration,
    pub status: ExitStatus,
}

/// Which hosts' output to print.
pub enum Show {
    All {
        prefix: bool,
    },
    /// Print only the first `n` hosts (by index); count the rest.
    First(usize),
}

/// Runs `command` on every host of `client`, printing through `printer`.
pub async fn run(client: &ParallelClient, command: &str, show: Show, printer: &Printer) -> Summary {
    let started = Instant::now();
    let run = client.run(command);
    let (outputs, joiner) = run.into_parts();
    let hosts = outputs.len();
    let mut tasks = tokio::task::JoinSet::new();
    for host in outputs {
        let print = match show {
            Show::All { prefix } => Some(prefix),
            Show::First(n) => (host.index() < n).then_some(true),
        };
        tasks.spawn(stream_host(host, print, printer.sender()));
    }
    let interrupted = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let mut summary = Summary {
        hosts,
        ok: 0,
        remote_failures: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        status: ExitStatus::Success,
    };
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            finished = tasks.join_next() => {
                let Some(finished) = finished else { break };
                let status = match finished {
                    Ok(outcome) => ExitStatus::of(&outcome),
                    Err(_) => ExitStatus::Error,
                };
                match status {
                    ExitStatus::Success => summary.ok += 1,
                    ExitStatus::RemoteFailure => summary.remote_failures += 1,
                    _ => summary.errors += 1,
                }
                summary.status = summary.status.max(status);
            }
            () = &mut interrupted => {
                joiner.cancel();
                summary.status = ExitStatus::Interrupted;
                // Hosts now end as cancelled; keep draining so their output is printed.
                while tasks.join_next().await.is_some() {}
                break;
            }
        }
    }
    summary.elapsed = started.elapsed();
    summary
}

/// Prints one host's lines (when `prefix` is `Some`), then its error if any.
async fn stream_host(
    mut host: HostOutput,
    prefix: Option<bool>,
    out: mpsc::Sender<Message>,
) -> Outcome {
    let label = host.label().to_owned();
    let tag = match prefix {
        Some(true) => Some(label.as_str()),
        _ => None,
    };
    let stdout = async {
        while let Some(line) = host.stdout.next_line().await {
            if prefix.is_some() {
                let _ = out.send(Message::Stdout(prefixed(tag, &line))).await;
            }
        }
    };
    let stderr = async {
        while let Some(line) = host.stderr.next_line().await {
            if prefix.is_some() {
                let _ = out.send(Message::Stderr(prefixed(tag, &line))).await;
            }
        }
    };
    tokio::join!(stdout, stderr);
    let outcome = host.wait().await;
    match &outcome {
        Err(err) => {
            let line = format!("sshfan: {err}\n");
            let _ = out.send(Message::Stderr(line.into_bytes())).await;
        }
        Ok(status) if !status.success() && prefix.is_some() => {
            let line = format!("sshfan: {label}: {status}\n");
            let _ = out.send(Message::Stderr(line.into_bytes())).await;
        }
        Ok(_) => {}
    }
    outcome
}
