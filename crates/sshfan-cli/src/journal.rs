//! The run journal: every run and copy writes what it set out to do and how each host
//! ended, as it happens, so that a run can be listed, shown again and rerun on the hosts
//! that failed or never ran, even after the client was killed (`kill -9`, a crash).
//!
//! A journal is one file of JSON lines, `journal.jsonl`, in a directory of its own named
//! by the run's id (`20261204-213000-4242`: start time in UTC, then the process id) under
//! `$XDG_STATE_HOME/sshfan/runs/` (`~/.local/state/sshfan/runs/`), or `--journal DIR`.
//! The first line is the [`Plan`] (the arguments, the command and every host's label);
//! then come the same `line`, `exit` and `error` events `--json` prints, and the
//! `summary` last. So `sshfan merge` reads journals as it reads `--json` output, and the
//! journals of shards run on several machines merge into one run's report.
//!
//! Each batch of events is written out as the writer thread handles it (a killed process
//! loses nothing already written), and forced to disk at most once a second
//! ([`SYNC_EVERY`]) and at the end, so a machine crash loses at most the last second.
//! The directory is private (mode 0700; the journal holds commands and their output). At
//! most [`KEEP`] runs are kept: the oldest are removed when a new run starts.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::args::ReportArgs;
use crate::render::json::{self, Plan};
use crate::render::{Event, Stream};
use crate::summary::Summary;

/// The journal file's name in a run's directory.
pub const FILE_NAME: &str = "journal.jsonl";
/// Longest time between two forced writes to disk while a run goes on.
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// Most runs kept in the journal directory.
const KEEP: usize = 100;
/// Most bytes of output lines one run's journal keeps by default (outcomes are always
/// kept): a run that prints gigabytes does not fill the disk a second time.
/// `SSHFAN_JOURNAL_OUTPUT_MIB` sets another limit.
const OUTPUT_LIMIT: usize = 64 << 20;

/// [`OUTPUT_LIMIT`], or `SSHFAN_JOURNAL_OUTPUT_MIB` MiB.
fn output_limit() -> usize {
    std::env::var("SSHFAN_JOURNAL_OUTPUT_MIB")
        .ok()
        .and_then(|mib| mib.trim().parse::<usize>().ok())
        .map_or(OUTPUT_LIMIT, |mib| mib.saturating_mul(1 << 20))
}

/// Where a run's journal goes and what its plan says, known before the hosts are.
#[derive(Debug, Clone)]
pub struct JournalSetup {
    root: PathBuf,
    argv: Vec<String>,
    command: Option<String>,
}

impl JournalSetup {
    /// The journal `args` ask for (none with `--no-journal`, or when there is no home
    /// directory), for a run given `argv`.
    pub fn from_args(
        args: &ReportArgs,
        argv: Vec<String>,
        command: Option<String>,
    ) -> Option<JournalSetup> {
        if args.no_journal {
            return None;
        }
        let root = runs_root(args.journal.as_deref())?;
        Some(JournalSetup {
            root,
            argv,
            command,
        })
    }
}

impl JournalSetup {
    /// Where the run directories go.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// `DIR` of `--journal DIR`, else `$XDG_STATE_HOME/sshfan/runs`, else
/// `~/.local/state/sshfan/runs`.
pub fn runs_root(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(dir) = explicit {
        return Some(dir.to_owned());
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state"))
        })?;
    Some(state.join("sshfan").join("runs"))
}

/// A journal being written.
pub struct Journal {
    file: BufWriter<File>,
    labels: Arc<[String]>,
    started: Instant,
    last_sync: Instant,
    /// The first write error, after which the journal is left as it is.
    broken: bool,
    /// Bytes of output lines kept so far, and at most (see [`OUTPUT_LIMIT`]).
    output: usize,
    output_limit: usize,
}

impl Journal {
    /// Creates the run's directory and writes its plan (forced to disk: a run killed at
    /// once still has one).
    pub fn create(setup: &JournalSetup, labels: Arc<[String]>) -> io::Result<Journal> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&setup.root)?;
        prune(&setup.root);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let (dir, id) = new_run_dir(&setup.root, now)?;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dir.join(FILE_NAME))?;
        let mut file = BufWriter::with_capacity(64 * 1024, file);
        let plan = Plan {
            id,
            started_ms: u64::try_from(now.as_millis()).unwrap_or(u64::MAX),
            argv: setup.argv.clone(),
            command: setup.command.clone(),
            hosts: labels.to_vec(),
        };
        file.write_all(json::plan(&plan).as_bytes())?;
        file.flush()?;
        file.get_ref().sync_data()?;
        Ok(Journal {
            file,
            labels,
            started: Instant::now(),
            last_sync: Instant::now(),
            broken: false,
            output: 0,
            output_limit: output_limit(),
        })
    }

    fn label(&self, host: usize) -> &str {
        self.labels.get(host).map_or("?", String::as_str)
    }

    /// Adds what an event says about a host (output lines and outcomes; progress and notes
    /// are not kept).
    pub fn record(&mut self, event: &Event) {
        let bytes = match event {
            Event::Line { line, .. } => line.len(),
            Event::Lines { lines, .. } => lines.iter().map(|(line, _)| line.len()).sum(),
            _ => 0,
        };
        if bytes > 0 {
            let before = self.output;
            self.output = before.saturating_add(bytes);
            if self.output > self.output_limit {
                if before <= self.output_limit {
                    let note = format!(
                        "the journal kept the first {} MiB of output; outcomes are all kept",
                        self.output_limit >> 20
                    );
                    self.write(json::note(&note).as_bytes());
                }
                return;
            }
        }
        let text = match event {
            Event::Line {
                host,
                stream,
                line,
                eol,
            } => json::line(*host, self.label(*host), *stream, line, *eol),
            Event::Lines {
                host,
                stream,
                lines,
                ..
            } => lines
                .iter()
                .map(|(line, eol)| self.line(*host, *stream, line, *eol))
                .collect(),
            Event::Done {
                host,
                ending,
                timing,
                ..
            } => json::done(*host, self.label(*host), ending, *timing),
            Event::Tick(_) | Event::Note(_) | Event::Running { .. } => return,
        };
        self.write(text.as_bytes());
    }

    fn line(&self, host: usize, stream: Stream, line: &[u8], eol: bool) -> String {
        json::line(host, self.label(host), stream, line, eol)
    }

    /// Writes out what was recorded (a killed process loses none of it), and forces it to
    /// disk when the last time was [`SYNC_EVERY`] ago.
    pub fn flush(&mut self) {
        if self.broken {
            return;
        }
        let mut result = self.file.flush();
        if result.is_ok() && self.last_sync.elapsed() >= SYNC_EVERY {
            result = self.file.get_ref().sync_data();
            self.last_sync = Instant::now();
        }
        self.check(result);
    }

    /// Writes the summary and forces everything to disk.
    pub fn finish(&mut self, summary: &Summary, interrupted: bool) {
        let text = json::summary(summary, self.started.elapsed(), interrupted);
        self.write(text.as_bytes());
        if !self.broken {
            let result = self
                .file
                .flush()
                .and_then(|()| self.file.get_ref().sync_data());
            self.check(result);
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        if !self.broken {
            let result = self.file.write_all(bytes);
            self.check(result);
        }
    }

    /// Says once that the journal could not be written; the run goes on without it.
    fn check(&mut self, result: io::Result<()>) {
        if let Err(err) = result {
            self.broken = true;
            let _ = writeln!(
                io::stderr(),
                "sshfan: the run journal could not be written ({err}); the run goes on \
                 without it"
            );
        }
    }
}

/// A fresh directory for a run started at `now`: named by its id, unique even when runs
/// start in the same second.
fn new_run_dir(root: &Path, now: Duration) -> io::Result<(PathBuf, String)> {
    let stamp =
        chrono::DateTime::from_timestamp(i64::try_from(now.as_secs()).unwrap_or(i64::MAX), 0)
            .unwrap_or_default()
            .format("%Y%m%d-%H%M%S");
    let pid = std::process::id();
    for attempt in 0u32.. {
        let id = match attempt {
            0 => format!("{stamp}-{pid}"),
            n => format!("{stamp}-{pid}.{n}"),
        };
        let dir = root.join(&id);
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok((dir, id)),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists && attempt < 1000 => {}
            Err(err) => return Err(err),
        }
    }
    unreachable!("the loop returns")
}

/// The run directories under `root`, oldest first (ids sort by start time).
pub fn run_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|entry| entry.path().join(FILE_NAME).is_file())
        .map(|entry| entry.path())
        .collect();
    dirs.sort();
    dirs
}

/// Removes the oldest runs so that, with the one starting, at most [`KEEP`] remain.
fn prune(root: &Path) {
    let dirs = run_dirs(root);
    let excess = (dirs.len() + 1).saturating_sub(KEEP);
    for dir in dirs.into_iter().take(excess) {
        let _ = std::fs::remove_dir_all(dir);
    }
}
