//! Drives one run: a task per host turns its output into line events (and per-host
//! files), the writer thread renders them, and this loop watches for Ctrl-C (the first
//! cancels pending hosts and closes running channels, then the summary is printed; a
//! second exits at once) and for Ctrl-\ (SIGQUIT: prints which hosts are still running).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use sshfan::copy::CopyOptions;
use sshfan::{HostOutput, Joiner, ParallelClient, RunOptions};
use tokio::sync::mpsc;

use crate::agent::remote::{AgentControl, AgentFeed};
use crate::exit::ExitStatus;
use crate::files::HostFiles;
use crate::fleet::Fleet;
use crate::keypress::KeyWatch;
use crate::render::{Event, RenderConfig, Renderer, Stream};

/// What a run does on each host.
pub enum Work {
    Command(String),
    Upload {
        local: PathBuf,
        remote: String,
        options: CopyOptions,
    },
    Download {
        remote: String,
        local: PathBuf,
        options: CopyOptions,
    },
}

impl Work {
    /// Starts this work on every host of `client` (in this process, or in the agent).
    pub fn start_on(&self, client: &ParallelClient, options: RunOptions) -> sshfan::Run {
        match self {
            Work::Command(command) => client.run_with(command.clone(), options),
            Work::Upload {
                local,
                remote,
                options,
            } => client.upload(local, remote, options.clone()),
            Work::Download {
                remote,
                local,
                options,
            } => client.download(remote, local, options.clone()),
        }
    }
}

/// What to run and how.
pub struct Plan {
    pub work: Work,
    /// Stdin, sudo, fail-fast…: stdin is always given (empty by default), so that remote
    /// commands see EOF instead of waiting on an open stdin, as with pdsh.
    pub options: RunOptions,
    pub outdir: Option<PathBuf>,
    pub errdir: Option<PathBuf>,
    pub render: RenderConfig,
    pub largest_remote_exit: bool,
    /// A key on the terminal prints the hosts still running (off in interactive mode,
    /// whose prompt owns the terminal).
    pub watch_keys: bool,
    /// Where each host's outcome is recorded as it happens (see `journal`).
    pub journal: Option<SharedJournal>,
    /// An outlier gather's normalizer (`-B`).
    pub outliers: Option<Arc<sshfan::outliers::Normalizer>>,
}

/// A run's journal, written by the writer thread of each piece of work in turn.
pub type SharedJournal = Arc<std::sync::Mutex<crate::journal::Journal>>;

/// Events in flight to the writer thread.
const QUEUE: usize = 4096;
/// Bytes of output lines in flight to the writer thread, all hosts together: a host that
/// floods (long lines, or lines faster than the terminal takes them) waits here, and SSH
/// flow control then slows it down; client memory stays bounded whatever the line length.
const QUEUE_BYTES: usize = 32 << 20;
/// How often the progress counts are refreshed.
const TICK: Duration = Duration::from_millis(200);

/// Runs the plan and returns the exit status.
pub async fn execute(
    fleet: &Fleet,
    plan: Plan,
) -> anyhow::Result<(ExitStatus, crate::summary::Summary)> {
    for dir in plan.outdir.iter().chain(&plan.errdir) {
        // A local mistake: reported once, before any host is touched.
        std::fs::create_dir_all(dir).map_err(|err| {
            crate::exit::UsageError(format!("cannot create `{}`: {err}", dir.display()))
        })?;
    }
    let mut options = plan.options.clone();
    options.stdin.get_or_insert_with(Bytes::new);
    let labels: Arc<[String]> = fleet.labels().into();
    let files = HostFiles::new(plan.outdir.clone(), plan.errdir.clone(), &labels);
    let started = start(fleet, &plan.work, options, plan.render.progress).await?;

    let (events, mut receiver) = mpsc::channel::<Event>(QUEUE);
    let render = plan.render;
    let writer_labels = labels.clone();
    let (finished_tx, finished_rx) = std::sync::mpsc::channel::<bool>();
    let journal = plan.journal.clone();
    let outliers = plan.outliers.clone();
    let writer = std::thread::spawn(move || -> std::io::Result<crate::summary::Summary> {
        let mut renderer = Renderer::new(render, writer_labels).with_outliers(outliers);
        let mut journal = journal.as_ref().map(|journal| {
            journal
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        });
        while let Some(event) = receiver.blocking_recv() {
            // Take what is already queued, then write it out in one go.
            let mut next = Some(event);
            while let Some(event) = next {
                if let Some(journal) = journal.as_deref_mut() {
                    journal.record(&event);
                }
                renderer.handle(event)?;
                next = receiver.try_recv().ok();
            }
            renderer.flush()?;
            if let Some(journal) = journal.as_deref_mut() {
                journal.flush();
            }
        }
        let interrupted = finished_rx.recv().unwrap_or(false);
        let summary = renderer.finish(interrupted)?;
        if let Some(journal) = journal.as_deref_mut() {
            journal.finish(&summary, interrupted);
        }
        Ok(summary)
    });

    let mut tasks = tokio::task::JoinSet::new();
    let budget = Arc::new(tokio::sync::Semaphore::new(QUEUE_BYTES));
    let sender = |events: &mpsc::Sender<Event>| LineSender {
        events: events.clone(),
        budget: budget.clone(),
    };
    let (control, ticker) = match started {
        Started::Local(outputs, joiner) => {
            for host in outputs {
                tasks.spawn(stream_host(host, sender(&events), files.clone()));
            }
            let ticker = render.progress.then(|| {
                let joiner = joiner.clone();
                let events = events.clone();
                tokio::spawn(async move {
                    let mut interval = tokio::time::interval(TICK);
                    loop {
                        interval.tick().await;
                        if events.send(Event::Tick(joiner.progress())).await.is_err() {
                            break;
                        }
                    }
                })
            });
            (Control::Local(joiner), ticker)
        }
        Started::Agent(control, feed) => {
            tasks.spawn(feed.forward(sender(&events), files.clone()));
            (Control::Agent(control), None)
        }
    };
    let events_for_status = events;

    let mut interrupted = false;
    // After the first Ctrl-C, a second exits at once (until this run is over: interactive
    // mode goes on with its next line).
    let mut second_ctrl_c = None;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    // Ctrl-\ (SIGQUIT) asks which hosts are still running, as a keypress does in clush.
    let mut quit = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::quit()).ok();
    // So does any key on a terminal.
    let (keys, mut pressed) = mpsc::unbounded_channel();
    let _watch = plan.watch_keys.then(|| KeyWatch::start(keys)).flatten();
    loop {
        tokio::select! {
            Some(()) = async { match quit.as_mut() { Some(quit) => quit.recv().await, None => None } } => {
                control.ask_running(&events_for_status).await;
            }
            Some(()) = pressed.recv() => {
                control.ask_running(&events_for_status).await;
            }
            finished = tasks.join_next() => {
                if finished.is_none() {
                    break;
                }
            }
            _ = &mut ctrl_c, if !interrupted => {
                interrupted = true;
                control.cancel();
                second_ctrl_c = Some(tokio::spawn(async {
                    if tokio::signal::ctrl_c().await.is_ok() {
                        crate::keypress::restore_terminal();
                        std::process::exit(130);
                    }
                }));
            }
        }
    }
    drop(events_for_status);
    if let Some(ticker) = ticker {
        ticker.abort();
        let _ = ticker.await;
    }
    let _ = finished_tx.send(interrupted);
    let summary = writer
        .join()
        .map_err(|_| anyhow::anyhow!("the output thread panicked"))?
        .context("writing output")?;
    if let Some(waiting) = second_ctrl_c {
        waiting.abort();
    }
    let status = summary.exit_status(interrupted, plan.largest_remote_exit);
    Ok((status, summary))
}

/// A run just started, in this process or in the agent.
enum Started {
    Local(Vec<HostOutput>, Joiner),
    Agent(AgentControl, AgentFeed),
}

async fn start(
    fleet: &Fleet,
    work: &Work,
    options: RunOptions,
    progress: bool,
) -> anyhow::Result<Started> {
    let client = match fleet {
        Fleet::Local(client) => client,
        Fleet::Agent(remote) => {
            let (control, feed) = remote.start(work, &options, progress).await?;
            return Ok(Started::Agent(control, feed));
        }
    };
    let run = work.start_on(client, options);
    let (outputs, joiner) = run.into_parts();
    Ok(Started::Local(outputs, joiner))
}

/// Ctrl-C and Ctrl-\\ reach the run through this.
enum Control {
    Local(Joiner),
    Agent(AgentControl),
}

impl Control {
    fn cancel(&self) {
        match self {
            Control::Local(joiner) => joiner.cancel(),
            Control::Agent(control) => control.cancel(),
        }
    }

    /// Which hosts are still running, as an event (the agent sends its answer itself).
    async fn ask_running(&self, events: &mpsc::Sender<Event>) {
        match self {
            Control::Local(joiner) => {
                let running = joiner
                    .running()
                    .into_iter()
                    .map(|(_, label)| label)
                    .collect();
                let progress = joiner.progress();
                let _ = events.send(Event::Running { running, progress }).await;
            }
            Control::Agent(control) => control.ask_running(),
        }
    }
}

/// Sends one host's lines and outcome to the writer, and writes its per-host files.
async fn stream_host(mut host: HostOutput, sender: LineSender, files: HostFiles) {
    let index = host.index();
    let mut stdout_file = files.open(index, Stream::Stdout);
    let mut stderr_file = files.open(index, Stream::Stderr);
    let stdout = async {
        while let Some(batch) = host
            .stdout
            .next_lines(LINES_PER_EVENT, BYTES_PER_EVENT)
            .await
        {
            if let Some(file) = &mut stdout_file {
                batch.raw().for_each(|raw| file.write(&raw));
            }
            sender.send(index, Stream::Stdout, batch).await;
        }
    };
    let stderr = async {
        while let Some(batch) = host
            .stderr
            .next_lines(LINES_PER_EVENT, BYTES_PER_EVENT)
            .await
        {
            if let Some(file) = &mut stderr_file {
                batch.raw().for_each(|raw| file.write(&raw));
            }
            sender.send(index, Stream::Stderr, batch).await;
        }
    };
    tokio::join!(stdout, stderr);
    let events = sender.events;
    for file in [stdout_file, stderr_file].into_iter().flatten() {
        file.close(&events, index).await;
    }
    let outcome = host.wait().await;
    let _ = events
        .send(Event::Done {
            host: index,
            ending: crate::ending::Ending::from(&outcome),
            timing: host.timing(),
            copied: host.copy_report(),
        })
        .await;
}

/// Lines taken from a stream per event at most, when more are already buffered.
const LINES_PER_EVENT: usize = 256;
/// Bytes of lines per event at most (a single longer line still makes one event).
const BYTES_PER_EVENT: usize = 256 * 1024;

/// Sends batches of lines to the writer, each holding its bytes of the shared budget
/// until the writer has handled it.
pub struct LineSender {
    pub events: mpsc::Sender<Event>,
    budget: Arc<tokio::sync::Semaphore>,
}

impl LineSender {
    async fn send(&self, host: usize, stream: Stream, batch: sshfan::LineBatch) {
        let lines = batch.lines().collect();
        self.send_lines(host, stream, lines, batch.bytes()).await;
    }

    /// Sends `lines` (`(line, eol)`, `bytes` long in all) once the budget has room.
    pub async fn send_lines(
        &self,
        host: usize,
        stream: Stream,
        lines: Vec<(Bytes, bool)>,
        bytes: usize,
    ) {
        let share = u32::try_from(bytes.clamp(1, QUEUE_BYTES)).unwrap_or(u32::MAX);
        let Ok(held) = self.budget.clone().acquire_many_owned(share).await else {
            return;
        };
        let _ = self
            .events
            .send(Event::Lines {
                host,
                stream,
                lines,
                held: Some(held),
            })
            .await;
    }
}
