//! `sshfan runs`: the run journal read back. Lists recent runs with their counts, prints
//! one run's report again (`runs show`, through `merge`'s renderer), and tells `rerun`
//! how each host of a run ended.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::args::{RunsAction, RunsArgs};
use crate::ending::Ending;
use crate::exit::{ExitStatus, UsageError};
use crate::journal::{FILE_NAME, run_dirs, runs_root};
use crate::render::json::{Decoded, Plan, decode};

/// How a host of a recorded run ended, as `rerun` chooses hosts by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostResult {
    /// The command exited 0 (or every copy succeeded).
    Ok,
    /// The command failed: a non-zero exit, a signal, a timeout or lost connection.
    Failed,
    /// The host could not be reached or logged into: the command never ran.
    Unreached,
    /// The host did not finish: never started (a halted rollout, a killed run),
    /// cancelled, or running when the run was killed.
    NotRun,
}

impl HostResult {
    fn of(ending: Option<&Ending>) -> HostResult {
        use sshfan::ErrorCode as C;
        match ending {
            None => HostResult::NotRun,
            Some(ending) if ending.success() => HostResult::Ok,
            Some(Ending::Remote(_)) => HostResult::Failed,
            Some(Ending::Failed { code, .. }) => match code.parse::<C>() {
                Ok(C::Cancelled | C::NotRun) => HostResult::NotRun,
                Ok(
                    C::Resolve
                    | C::NoIpv6Address
                    | C::Refused
                    | C::Unreachable
                    | C::ConnectTimeout
                    | C::Handshake
                    | C::Proxy
                    | C::HostKey
                    | C::Auth
                    | C::Key
                    | C::TooManyOpenFiles,
                ) => HostResult::Unreached,
                _ => HostResult::Failed,
            },
        }
    }
}

/// A run as its journal tells it.
#[derive(Debug)]
pub struct RunRecord {
    pub plan: Plan,
    /// Each host's outcome, by index (the first failure among several copies).
    endings: Vec<Option<Ending>>,
    /// The summary was written: the run ended (it was not killed).
    ended: bool,
    interrupted: bool,
}

impl RunRecord {
    /// Reads a journal. A last line cut short (the machine crashed mid-write) is ignored.
    pub fn read(path: &Path) -> anyhow::Result<RunRecord> {
        let file = std::fs::File::open(path)
            .map_err(|err| UsageError(format!("cannot read `{}`: {err}", path.display())))?;
        let mut lines = BufReader::new(file).lines().peekable();
        let not_a_journal = || UsageError(format!("`{}` is not a run journal", path.display()));
        let plan = match lines.next().transpose()?.as_deref().map(decode) {
            Some(Ok(Decoded::Plan(plan))) => plan,
            _ => return Err(not_a_journal().into()),
        };
        let mut record = RunRecord {
            endings: vec![None; plan.hosts.len()],
            plan,
            ended: false,
            interrupted: false,
        };
        let mut number = 1;
        while let Some(line) = lines.next() {
            let line = line.with_context(|| format!("reading {}", path.display()))?;
            number += 1;
            let last = lines.peek().is_none();
            // Output lines say nothing of outcomes: skipped without decoding (the event
            // tag is always the first field; see `render::json`).
            if line.starts_with(OUTPUT_LINE) {
                continue;
            }
            match decode(&line) {
                Ok(Decoded::Done { index, ending, .. }) => {
                    if let Some(slot) = record.endings.get_mut(index)
                        && slot.as_ref().is_none_or(Ending::success)
                    {
                        *slot = Some(ending);
                    }
                }
                Ok(Decoded::Summary { interrupted, .. }) => {
                    record.ended = true;
                    record.interrupted |= interrupted;
                }
                Ok(_) => {}
                Err(_) if last => {}
                Err(err) => {
                    return Err(UsageError(format!("{}:{number}: {err}", path.display())).into());
                }
            }
        }
        Ok(record)
    }

    /// How each host ended, with its label.
    pub fn results(&self) -> impl Iterator<Item = (&str, HostResult)> {
        self.plan
            .hosts
            .iter()
            .zip(&self.endings)
            .map(|(label, ending)| (label.as_str(), HostResult::of(ending.as_ref())))
    }

    fn count(&self, wanted: HostResult) -> usize {
        self.results()
            .filter(|(_, result)| *result == wanted)
            .count()
    }

    /// `done`, `interrupted`, `halted` or `incomplete` (no summary: killed, or running).
    fn state(&self) -> &'static str {
        let halted = self.endings.iter().flatten().any(Ending::not_run);
        match (self.ended, self.interrupted, halted) {
            (false, ..) => "incomplete",
            (true, true, _) => "interrupted",
            (true, false, true) => "halted",
            (true, false, false) => "done",
        }
    }
}

/// How every output line event of a journal begins.
const OUTPUT_LINE: &str = r#"{"event":"line","#;

/// One line of `sshfan runs`.
struct Listed {
    plan: Plan,
    /// `done`, `interrupted`, `halted` or `incomplete` (see [`RunRecord::state`]).
    state: &'static str,
    ok: usize,
    failed: usize,
    not_run: usize,
}

impl Listed {
    /// A run's line. A command run that ended is listed from its first line (the plan)
    /// and its last (the summary) alone, so listing never reads journals of many
    /// megabytes whole; a run without a summary (killed, or running) or a copy (a
    /// summary per source) is read whole.
    fn read(path: &Path) -> anyhow::Result<Listed> {
        let file = std::fs::File::open(path)?;
        let mut first = String::new();
        BufReader::new(&file).read_line(&mut first)?;
        let Ok(Decoded::Plan(plan)) = decode(&first) else {
            return Err(UsageError(format!("`{}` is not a run journal", path.display())).into());
        };
        let last = match plan.command {
            Some(_) => last_line(&file)?,
            None => None,
        };
        if let Some(Ok(Decoded::Summary {
            interrupted,
            counts,
            ..
        })) = last.as_deref().map(decode)
        {
            let state = match (interrupted, counts.halted) {
                (true, _) => "interrupted",
                (false, true) => "halted",
                (false, false) => "done",
            };
            return Ok(Listed {
                plan,
                state,
                ok: counts.ok,
                failed: counts.failed,
                not_run: counts.not_run,
            });
        }
        let record = RunRecord::read(path)?;
        Ok(Listed {
            state: record.state(),
            ok: record.count(HostResult::Ok),
            failed: record.count(HostResult::Failed) + record.count(HostResult::Unreached),
            not_run: record.count(HostResult::NotRun),
            plan: record.plan,
        })
    }
}

/// The file's last line (without its newline), read from the end in blocks; `None` when
/// it is not UTF-8 or longer than [`LAST_LINE_LIMIT`].
fn last_line(file: &std::fs::File) -> std::io::Result<Option<String>> {
    use std::os::unix::fs::FileExt;
    let mut tail: Vec<u8> = Vec::new();
    let mut end = file.metadata()?.len();
    loop {
        // The last line is whole once a newline precedes it, or the file starts there.
        let body = tail.strip_suffix(b"\n").unwrap_or(&tail);
        let start_of_line = match body.iter().rposition(|&b| b == b'\n') {
            Some(at) => Some(at + 1),
            None if end == 0 => Some(0),
            None => None,
        };
        if let Some(at) = start_of_line {
            return Ok(body
                .get(at..)
                .and_then(|line| String::from_utf8(line.to_vec()).ok()));
        }
        if tail.len() >= LAST_LINE_LIMIT {
            return Ok(None);
        }
        let start = end.saturating_sub(64 * 1024);
        let mut block = vec![0; usize::try_from(end - start).unwrap_or(0)];
        file.read_exact_at(&mut block, start)?;
        block.extend_from_slice(&tail);
        tail = block;
        end = start;
    }
}

/// Longest last line [`last_line`] reads (a summary lists every host's name).
const LAST_LINE_LIMIT: usize = 64 << 20;

/// The journal file of `run`: a journal file or run directory, else the run of that id
/// (or unique start of an id) under `root`, else the last run.
pub fn find(root: &Path, run: Option<&str>) -> anyhow::Result<PathBuf> {
    let dirs = run_dirs(root);
    let Some(run) = run else {
        return dirs.last().map(|dir| dir.join(FILE_NAME)).ok_or_else(|| {
            UsageError(format!("no runs in the journal ({})", root.display())).into()
        });
    };
    let path = Path::new(run);
    if path.is_file() {
        return Ok(path.to_owned());
    }
    if path.join(FILE_NAME).is_file() {
        return Ok(path.join(FILE_NAME));
    }
    let matching: Vec<&PathBuf> = dirs
        .iter()
        .filter(|dir| {
            dir.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(run))
        })
        .collect();
    match matching.as_slice() {
        [one] => Ok(one.join(FILE_NAME)),
        [] => Err(UsageError(format!(
            "no run `{run}` in the journal ({}); `sshfan runs` lists them",
            root.display()
        ))
        .into()),
        _ => Err(UsageError(format!(
            "`{run}` names {} runs; give more of the id",
            matching.len()
        ))
        .into()),
    }
}

/// The journal directory, or a usage error when there is no home to find it in.
pub fn root(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    runs_root(explicit).ok_or_else(|| {
        UsageError("no journal directory: set HOME or XDG_STATE_HOME, or give --journal DIR".into())
            .into()
    })
}

/// Runs `sshfan runs` and `sshfan runs show`.
pub fn runs(args: RunsArgs) -> anyhow::Result<ExitStatus> {
    let root = root(args.journal.as_deref())?;
    match args.action {
        Some(RunsAction::Show(show)) => {
            let path = find(&root, show.run.as_deref())?;
            crate::merge::show(&path, &show.output)
        }
        None => {
            let mut out = std::io::stdout().lock();
            list(&root, args.count, &mut out).context("writing output")?;
            Ok(ExitStatus::Success)
        }
    }
}

/// The last `count` runs, oldest first, one line each.
fn list(root: &Path, count: usize, out: &mut dyn Write) -> anyhow::Result<()> {
    let dirs = run_dirs(root);
    let recent = &dirs[dirs.len().saturating_sub(count)..];
    if recent.is_empty() {
        writeln!(out, "no runs in the journal ({})", root.display())?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<24} {:<19} {:<11} {:>6} {:>6} {:>6} {:>7}  COMMAND",
        "ID", "STARTED", "STATE", "HOSTS", "OK", "FAILED", "NOT RUN"
    )?;
    for dir in recent {
        let Ok(run) = Listed::read(&dir.join(FILE_NAME)) else {
            continue;
        };
        let started = chrono::DateTime::from_timestamp_millis(
            i64::try_from(run.plan.started_ms).unwrap_or(i64::MAX),
        )
        .unwrap_or_default()
        .with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S");
        let what = match &run.plan.command {
            Some(command) => crate::render::escape::escape_text(command).into_owned(),
            None => copy_description(&run.plan.argv),
        };
        writeln!(
            out,
            "{:<24} {started:<19} {:<11} {:>6} {:>6} {:>6} {:>7}  {what}",
            run.plan.id,
            run.state,
            run.plan.hosts.len(),
            run.ok,
            run.failed,
            run.not_run,
        )?;
    }
    Ok(())
}

/// `cp …` or `get …` for a copy's journal (the subcommand's word is its first argument
/// that is one).
fn copy_description(argv: &[String]) -> String {
    let word = argv
        .iter()
        .find(|arg| *arg == "cp" || *arg == "get")
        .map_or("copy", String::as_str);
    format!("({word})")
}

#[cfg(test)]
mod tests {
    use sshfan::ExitStatus as Remote;

    use super::*;

    fn failed(code: &str) -> Ending {
        Ending::Failed {
            code: code.to_owned(),
            message: String::new(),
        }
    }

    /// The last line is found from the end, across block boundaries, with or without a
    /// final newline.
    #[test]
    fn the_last_line_is_read_from_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(Vec<u8>, Option<&str>); 5] = [
            (b"plan\nline\nsummary\n".to_vec(), Some("summary")),
            (b"plan\nsummary".to_vec(), Some("summary")),
            (b"only\n".to_vec(), Some("only")),
            (Vec::new(), Some("")),
            (
                [b"a\n".repeat(50_000), b"x".repeat(200_000), b"\n".to_vec()].concat(),
                None,
            ),
        ];
        for (n, (content, expected)) in cases.into_iter().enumerate() {
            let path = dir.path().join(format!("{n}"));
            std::fs::write(&path, &content).unwrap();
            let last = last_line(&std::fs::File::open(&path).unwrap()).unwrap();
            match expected {
                Some(line) => assert_eq!(last.as_deref(), Some(line), "case {n}"),
                // A long last line (over blocks) still comes whole.
                None => assert_eq!(last, Some("x".repeat(200_000)), "case {n}"),
            }
        }
    }

    #[test]
    fn hosts_are_classified_for_rerun() {
        assert_eq!(HostResult::of(None), HostResult::NotRun);
        assert_eq!(
            HostResult::of(Some(&Ending::Remote(Remote::Code(0)))),
            HostResult::Ok
        );
        assert_eq!(
            HostResult::of(Some(&Ending::Remote(Remote::Code(3)))),
            HostResult::Failed
        );
        assert_eq!(
            HostResult::of(Some(&failed("refused"))),
            HostResult::Unreached
        );
        assert_eq!(HostResult::of(Some(&failed("auth"))), HostResult::Unreached);
        assert_eq!(
            HostResult::of(Some(&failed("command_timeout"))),
            HostResult::Failed
        );
        assert_eq!(HostResult::of(Some(&failed("not_run"))), HostResult::NotRun);
        assert_eq!(
            HostResult::of(Some(&failed("cancelled"))),
            HostResult::NotRun
        );
    }
}
