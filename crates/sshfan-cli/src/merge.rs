//! `sshfan merge`: several runs' `--json` output combined into what one run would print.
//!
//! Shards of one job (`--shard K/N` on N machines) each write JSON lines; merging them
//! replays every event through the same [`Renderer`] a live run uses, so the gathered
//! output, the summary and the exit code are exactly those of one unsharded run. Hosts
//! are numbered in file order. A host with output but no outcome (its shard was killed)
//! is reported as failed rather than silently dropped. Run journals (see `journal`) are
//! read the same way; their plan names every host, so a host of a killed run that never
//! reported is listed too. `sshfan runs show` replays one journal through this.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;

use crate::args::{MergeArgs, ReplayArgs};
use crate::ending::Ending;
use crate::exit::{ExitStatus, UsageError};
use crate::render::json::{Decoded, decode};
use crate::render::{Event, Layout, RenderConfig, Renderer, Style};

/// What the files hold, in order, with hosts renumbered.
#[derive(Default)]
struct Merged {
    labels: Vec<String>,
    events: Vec<Event>,
    /// Which hosts reported an outcome.
    finished: Vec<bool>,
    /// The longest run's wall time (shards run side by side).
    elapsed: Duration,
    interrupted: bool,
}

impl Merged {
    fn read(&mut self, name: &str, input: &mut dyn BufRead) -> anyhow::Result<()> {
        // (index in this file) -> merged host number
        let mut hosts: HashMap<usize, usize> = HashMap::new();
        for (number, line) in input.lines().enumerate() {
            let line = line.with_context(|| format!("reading {name}"))?;
            if line.trim().is_empty() {
                continue;
            }
            let event =
                decode(&line).map_err(|err| UsageError(format!("{name}:{}: {err}", number + 1)))?;
            let mut host_number = |index: usize, host: String| {
                *hosts.entry(index).or_insert_with(|| {
                    self.labels.push(host);
                    self.finished.push(false);
                    self.labels.len() - 1
                })
            };
            match event {
                Decoded::Plan(plan) => {
                    for (index, host) in plan.hosts.into_iter().enumerate() {
                        host_number(index, host);
                    }
                }
                Decoded::Line {
                    index,
                    host,
                    stream,
                    line,
                    eol,
                } => {
                    let host = host_number(index, host);
                    self.events.push(Event::Line {
                        host,
                        stream,
                        line: Bytes::from(line),
                        eol,
                    });
                }
                Decoded::Done {
                    index,
                    host,
                    ending,
                    timing,
                } => {
                    let host = host_number(index, host);
                    self.finished[host] = true;
                    self.events.push(Event::Done {
                        host,
                        ending,
                        timing,
                        copied: None,
                    });
                }
                // Recomputed by the renderer when it is asked for.
                Decoded::Groups => {}
                Decoded::Note(text) => self.events.push(Event::Note(format!("sshfan: {text}"))),
                Decoded::Summary {
                    elapsed,
                    interrupted,
                    ..
                } => {
                    self.elapsed = self.elapsed.max(elapsed);
                    self.interrupted |= interrupted;
                }
            }
        }
        Ok(())
    }

    /// Outcomes for hosts whose run ended before they did.
    fn close_unfinished(&mut self) {
        for (host, finished) in self.finished.iter().enumerate() {
            if !finished {
                self.events.push(Event::Done {
                    host,
                    ending: Ending::Failed {
                        code: "incomplete".to_owned(),
                        message: "no outcome in the merged output (did its run finish?)".to_owned(),
                    },
                    timing: None,
                    copied: None,
                });
            }
        }
    }
}

/// Runs `sshfan merge`.
pub fn merge(args: MergeArgs) -> anyhow::Result<ExitStatus> {
    let mut merged = Merged::default();
    for path in &args.files {
        if path == Path::new("-") {
            merged.read("stdin", &mut std::io::stdin().lock())?;
        } else {
            read_file(&mut merged, path)?;
        }
    }
    replay(merged, &args.output)
}

/// Prints one journal's report again (`sshfan runs show`).
pub fn show(journal: &Path, output: &ReplayArgs) -> anyhow::Result<ExitStatus> {
    let mut merged = Merged::default();
    read_file(&mut merged, journal)?;
    replay(merged, output)
}

fn read_file(merged: &mut Merged, path: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::open(path)
        .map_err(|err| UsageError(format!("cannot read `{}`: {err}", path.display())))?;
    merged.read(&path.display().to_string(), &mut BufReader::new(file))
}

/// Renders what was read as one run would have.
fn replay(mut merged: Merged, args: &ReplayArgs) -> anyhow::Result<ExitStatus> {
    merged.close_unfinished();
    let layout = if args.json {
        Layout::Json
    } else if args.lines {
        Layout::Stream {
            prefix: true,
            limit: None,
        }
    } else {
        Layout::Gather { diff: args.diff }
    };
    let config = RenderConfig {
        layout,
        style: if args.json {
            Style::plain()
        } else {
            Style::choose(args.color)
        },
        progress: false,
        quiet: args.quiet,
        summary_always: args.summary,
        escape: crate::render::Escape::for_terminals(args.raw),
    };
    if args.outliers.normalizing() && !args.outliers.outliers {
        return Err(UsageError("--normalize and --no-normalize need -B".to_owned()).into());
    }
    let outliers = match args.outliers.outliers {
        true => Some(Arc::new(crate::render::gather::normalizer(&args.outliers)?)),
        false => None,
    };
    let labels: Arc<[String]> = merged.labels.into();
    let mut renderer = Renderer::new(config, labels).with_outliers(outliers);
    for event in merged.events {
        renderer.handle(event).context("writing output")?;
    }
    let summary = renderer
        .finish_after(merged.interrupted, merged.elapsed)
        .context("writing output")?;
    Ok(summary.exit_status(merged.interrupted, args.max_exit))
}
