//! Rendering: the only place that writes to the terminal.
//!
//! Host tasks send [`Event`]s over a channel to one writer thread that owns stdout and
//! stderr. Each line is written with one `write_all` on the locked stream, so lines from
//! different hosts never mix, whatever their length. The writer also keeps the progress
//! line (cleared before any output and redrawn after), gathers output for `-b`, encodes
//! JSON for `--json`, and builds the summary. A closed stdout (`sshfan … | head`) stops
//! output quietly while the run's outcome is still counted.

pub mod escape;
pub mod gather;
pub mod json;
mod style;

use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sshfan::outliers::Normalizer;
use sshfan::{Progress, Timing};

pub use style::Style;

use crate::ending::Ending;
use crate::summary::Summary;

/// Which output stream of a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What host tasks and the runner tell the writer.
pub enum Event {
    /// One line of a host's output, without its newline (`eol` false: none was received).
    Line {
        host: usize,
        stream: Stream,
        line: Bytes,
        eol: bool,
    },
    /// Several lines of one host's stream, in order: `(line, eol)` as in [`Event::Line`].
    Lines {
        host: usize,
        stream: Stream,
        lines: Vec<(Bytes, bool)>,
        /// The share of the queue's byte budget these lines hold, given back when the
        /// event is handled (see `runner::QUEUE_BYTES`).
        held: Option<tokio::sync::OwnedSemaphorePermit>,
    },
    /// A host finished.
    Done {
        host: usize,
        ending: Ending,
        timing: Option<Timing>,
        /// What a transfer moved.
        copied: Option<sshfan::copy::CopyReport>,
    },
    /// Periodic progress counts.
    Tick(Progress),
    /// A message for stderr (a file that could not be written, say).
    Note(String),
    /// Asked mid-run (Ctrl-\\): which hosts are still running, as clush says.
    Running {
        /// Labels of the hosts connecting or running.
        running: Vec<String>,
        progress: Progress,
    },
}

/// How output is presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `host: line` as lines arrive (no prefix when `prefix` is false); only the first
    /// `limit` hosts' lines when set.
    Stream { prefix: bool, limit: Option<usize> },
    /// Identical outputs grouped under folded node sets when all hosts finish; with
    /// `diff`, groups other than the largest as unified diffs against it.
    Gather { diff: bool },
    /// JSON lines.
    Json,
}

/// Everything the writer needs to know up front.
#[derive(Debug, Clone, Copy)]
pub struct RenderConfig {
    pub layout: Layout,
    pub style: Style,
    pub progress: bool,
    pub quiet: bool,
    pub summary_always: bool,
    /// Show control characters in remote output escaped (stdout / stderr is a terminal
    /// and `--raw` was not given); see [`escape`].
    pub escape: Escape,
}

/// Which of the two streams get remote text with its control characters escaped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Escape {
    pub stdout: bool,
    pub stderr: bool,
}

impl Escape {
    /// Escapes for each stream that is a terminal, unless `raw`.
    pub fn for_terminals(raw: bool) -> Escape {
        use std::io::IsTerminal;
        Escape {
            stdout: !raw && io::stdout().is_terminal(),
            stderr: !raw && io::stderr().is_terminal(),
        }
    }

    fn applies(self, stream: Stream) -> bool {
        match stream {
            Stream::Stdout => self.stdout,
            Stream::Stderr => self.stderr,
        }
    }
}

/// State of the writer thread.
pub struct Renderer {
    config: RenderConfig,
    labels: Arc<[String]>,
    started: Instant,
    summary: Summary,
    gathered: gather::Gathered,
    stdout_open: bool,
    /// Whole lines waiting for stdout: written when the queue of events runs dry
    /// ([`flush`](Renderer::flush)), before anything goes to stderr, or at 64 KiB; so a
    /// line is never split between two writes (unless it alone is longer than that).
    pending_stdout: Vec<u8>,
    /// The last painted `host` prefix, and for which host and stream.
    prefix: (Option<(usize, Stream)>, String),
    /// A reused buffer for one formatted line.
    scratch: Vec<u8>,
    progress: Option<Progress>,
    progress_shown: bool,
    /// Files and bytes moved by transfers, over all hosts.
    copied: (u64, u64),
    /// An outlier gather's normalizer: gathered output is normalised, and `--json` ends
    /// with a `groups` event.
    outliers: Option<Arc<Normalizer>>,
}

/// Most bytes of whole stdout lines held back before they are written.
const STDOUT_BATCH: usize = 64 * 1024;

/// Delay before the progress line appears: short runs never show it.
const PROGRESS_DELAY: Duration = Duration::from_millis(1000);

impl Renderer {
    pub fn new(config: RenderConfig, labels: Arc<[String]>) -> Renderer {
        Renderer {
            config,
            gathered: gather::Gathered::new(labels.len()),
            labels,
            started: Instant::now(),
            summary: Summary::default(),
            stdout_open: true,
            pending_stdout: Vec::new(),
            prefix: (None, String::new()),
            scratch: Vec::new(),
            progress: None,
            progress_shown: false,
            copied: (0, 0),
            outliers: None,
        }
    }

    /// An outlier gather with `normalizer` (see [`gather`]).
    pub fn with_outliers(mut self, normalizer: Option<Arc<Normalizer>>) -> Renderer {
        self.outliers = normalizer;
        self
    }

    fn label(&self, host: usize) -> &str {
        self.labels.get(host).map_or("?", String::as_str)
    }

    pub fn handle(&mut self, event: Event) -> io::Result<()> {
        match event {
            Event::Line {
                host,
                stream,
                line,
                eol,
            } => self.line(host, stream, line, eol),
            Event::Lines {
                host,
                stream,
                lines,
                held: _held,
            } => lines
                .into_iter()
                .try_for_each(|(line, eol)| self.line(host, stream, line, eol)),
            Event::Done {
                host,
                ending,
                timing,
                copied,
            } => {
                if let Some(report) = copied {
                    self.copied.0 += report.files;
                    self.copied.1 += report.bytes;
                }
                self.done(host, ending, timing)
            }
            Event::Note(note) => {
                let text = format!("{}\n", self.config.style.error(&note));
                self.write(Stream::Stderr, text.as_bytes())
            }
            Event::Running { running, progress } => {
                let text = running_line(&running, &progress, self.labels.len());
                let text = format!("{}\n", self.config.style.dim(&text));
                self.write(Stream::Stderr, text.as_bytes())
            }
            Event::Tick(progress) => {
                self.progress = Some(progress);
                if self.config.progress && self.started.elapsed() >= PROGRESS_DELAY {
                    self.draw_progress()?;
                }
                Ok(())
            }
        }
    }

    fn line(&mut self, host: usize, stream: Stream, line: Bytes, eol: bool) -> io::Result<()> {
        let line = if self.config.escape.applies(stream) && self.config.layout != Layout::Json {
            match escape::escape_controls(&line) {
                std::borrow::Cow::Borrowed(_) => line,
                std::borrow::Cow::Owned(escaped) => Bytes::from(escaped),
            }
        } else {
            line
        };
        match self.config.layout {
            Layout::Json => {
                if self.outliers.is_some() && stream == Stream::Stdout {
                    self.gathered.push_line(host, &line);
                }
                let text = json::line(host, self.label(host), stream, &line, eol);
                self.write(Stream::Stdout, text.as_bytes())
            }
            Layout::Gather { .. } if stream == Stream::Stdout => {
                self.gathered.push_line(host, &line);
                Ok(())
            }
            Layout::Stream {
                limit: Some(limit), ..
            } if host >= limit => Ok(()),
            Layout::Stream { prefix: false, .. } => {
                let mut out = line.to_vec();
                out.push(b'\n');
                self.write(stream, &out)
            }
            _ => {
                // Lines come in runs from one host and stream: paint its prefix once per run.
                if self.prefix.0 != Some((host, stream)) {
                    let style = self.config.style;
                    let painted = match stream {
                        Stream::Stdout => style.host(self.label(host)),
                        Stream::Stderr => style.host_stderr(self.label(host)),
                    };
                    self.prefix = (Some((host, stream)), painted);
                }
                let mut out = std::mem::take(&mut self.scratch);
                out.clear();
                out.extend_from_slice(self.prefix.1.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(&line);
                out.push(b'\n');
                let written = self.write(stream, &out);
                self.scratch = out;
                written
            }
        }
    }

    fn done(&mut self, host: usize, ending: Ending, timing: Option<Timing>) -> io::Result<()> {
        let label = self.label(host).to_owned();
        self.summary.record(&label, &ending);
        if self.config.layout == Layout::Json {
            self.gathered.finish(host, &ending);
            let text = json::done(host, &label, &ending, timing);
            return self.write(Stream::Stdout, text.as_bytes());
        }
        if let Layout::Stream {
            limit: Some(limit), ..
        } = self.config.layout
            && host >= limit
        {
            return Ok(());
        }
        self.gathered.finish(host, &ending);
        let style = self.config.style;
        let message = match &ending {
            // Said once in the summary, not once per host.
            failed if failed.cancelled() || failed.not_run() => return Ok(()),
            Ending::Failed { message, .. } if self.config.escape.stderr => style.error(&format!(
                "sshfan: {label}: {}",
                escape::escape_text(message)
            )),
            Ending::Failed { message, .. } => style.error(&format!("sshfan: {label}: {message}")),
            Ending::Remote(status) if !status.success() && !self.config.quiet => {
                style.warning(&format!("sshfan: {label}: {status}"))
            }
            Ending::Remote(_) => return Ok(()),
        };
        self.write(Stream::Stderr, format!("{message}\n").as_bytes())
    }

    /// Prints what is printed at the end (gathered output, summary) and returns the summary.
    pub fn finish(self, interrupted: bool) -> io::Result<Summary> {
        let elapsed = self.started.elapsed();
        self.finish_after(interrupted, elapsed)
    }

    /// [`finish`](Self::finish), reporting `elapsed` as the run's wall time.
    pub fn finish_after(mut self, interrupted: bool, elapsed: Duration) -> io::Result<Summary> {
        self.flush()?;
        self.clear_progress()?;
        self.config.progress = false;
        match self.config.layout {
            Layout::Json => {
                if let Some(normalizer) = &self.outliers {
                    let groups = self.gathered.outlier_groups(&self.labels, Some(normalizer));
                    let text = json::groups(&groups, &self.labels);
                    self.write(Stream::Stdout, text.as_bytes())?;
                }
                let text = json::summary(&self.summary, elapsed, interrupted);
                self.write(Stream::Stdout, text.as_bytes())?;
            }
            Layout::Gather { diff } => {
                let style = self.config.style;
                let text = match (diff, &self.outliers) {
                    (_, Some(normalizer)) => {
                        self.gathered
                            .render_diff(&self.labels, style, Some(normalizer))
                    }
                    (false, None) => self.gathered.render(&self.labels, style),
                    (true, None) => self.gathered.render_diff(&self.labels, style, None),
                };
                self.write(Stream::Stdout, &text)?;
                self.print_summary(elapsed, interrupted)?;
            }
            Layout::Stream { .. } => self.print_summary(elapsed, interrupted)?,
        }
        self.flush()?;
        Ok(self.summary)
    }

    fn print_summary(&mut self, elapsed: Duration, interrupted: bool) -> io::Result<()> {
        if self.config.quiet
            || !(self.summary.any_failed() || self.config.summary_always || interrupted)
        {
            return Ok(());
        }
        let style = self.config.style;
        let mut text = String::new();
        if interrupted {
            text.push_str(&style.error("sshfan: interrupted"));
            text.push('\n');
        }
        for (category, hosts, count) in self.summary.lines() {
            let (name, hosts) = if category == "ok" {
                // Many hosts that do not fold would make a screenful: the failures
                // below are what matters (`--json` lists every host).
                (style.ok(&category), shorten(&hosts, OK_HOSTS_SHOWN))
            } else {
                (style.error(&category), hosts.as_str().into())
            };
            text.push_str(&format!("sshfan: {name}: {hosts} ({count})\n"));
        }
        if self.copied.0 > 0 {
            text.push_str(&format!(
                "sshfan: copied {} files, {:.1} MiB in all\n",
                self.copied.0,
                self.copied.1 as f64 / (1 << 20) as f64
            ));
        }
        if self.summary.unknown_host_keys > 0 {
            text.push_str(&format!(
                "sshfan: {} hosts have host keys not in known_hosts: check them, then run \
                 again with --strict-host-key-checking accept-new to record them (or add them \
                 with ssh-keyscan to known_hosts)\n",
                self.summary.unknown_host_keys
            ));
        }
        if self.summary.changed_host_keys > 0 {
            text.push_str(&format!(
                "sshfan: {} hosts offered a key that differs from the one recorded: if the \
                 change is expected, remove the old one with `ssh-keygen -R HOST` and run again\n",
                self.summary.changed_host_keys
            ));
        }
        if let Some(reason) = &self.summary.halted {
            text.push_str(&style.error(&format!("sshfan: halted: {reason}")));
            text.push('\n');
        }
        let cancelled = match self.summary.cancelled {
            0 => String::new(),
            n => format!(", {n} cancelled"),
        };
        let cancelled = match self.summary.not_run {
            0 => cancelled,
            n => format!("{cancelled}, {n} not run"),
        };
        text.push_str(&format!(
            "sshfan: {} hosts, {} ok, {} failed{cancelled} in {:.2} s\n",
            self.summary.hosts,
            self.summary.ok,
            self.summary.failed(),
            elapsed.as_secs_f64()
        ));
        self.write(Stream::Stderr, text.as_bytes())
    }

    /// Writes the stdout lines held back so far (call when no more events are waiting).
    pub fn flush(&mut self) -> io::Result<()> {
        if self.pending_stdout.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending_stdout);
        self.write_stdout(&pending)?;
        self.pending_stdout = pending;
        self.pending_stdout.clear();
        Ok(())
    }

    fn write_stdout(&mut self, bytes: &[u8]) -> io::Result<()> {
        if !self.stdout_open {
            return Ok(());
        }
        let mut stdout = io::stdout().lock();
        let written = stdout.write_all(bytes).and_then(|()| stdout.flush());
        if let Err(err) = written {
            if err.kind() != io::ErrorKind::BrokenPipe {
                return Err(err);
            }
            self.stdout_open = false;
        }
        Ok(())
    }

    fn write(&mut self, stream: Stream, bytes: &[u8]) -> io::Result<()> {
        match stream {
            // With a progress line on the terminal, write at once so the two never cross.
            Stream::Stdout if !self.config.progress => {
                if self.pending_stdout.len() + bytes.len() > STDOUT_BATCH {
                    self.flush()?;
                }
                if bytes.len() >= STDOUT_BATCH {
                    return self.write_stdout(bytes);
                }
                self.pending_stdout.extend_from_slice(bytes);
                return Ok(());
            }
            _ => self.flush()?,
        }
        let redraw = self.progress_shown;
        self.clear_progress()?;
        match stream {
            Stream::Stdout => self.write_stdout(bytes)?,
            Stream::Stderr => io::stderr()
                .lock()
                .write_all(bytes)
                .or_else(ignore_broken_pipe)?,
        }
        if redraw {
            self.draw_progress()?;
        }
        Ok(())
    }

    fn draw_progress(&mut self) -> io::Result<()> {
        let Some(progress) = self.progress else {
            return Ok(());
        };
        let line = progress_line(&progress, self.labels.len(), self.started.elapsed());
        let mut stderr = io::stderr().lock();
        write!(stderr, "\r\x1b[2K{}", self.config.style.dim(&line))?;
        stderr.flush()?;
        self.progress_shown = true;
        Ok(())
    }

    fn clear_progress(&mut self) -> io::Result<()> {
        if self.progress_shown {
            let mut stderr = io::stderr().lock();
            stderr.write_all(b"\r\x1b[2K")?;
            stderr.flush()?;
            self.progress_shown = false;
        }
        Ok(())
    }
}

/// `sshfan: 532/1000 done, running: web[3,7-9] (4), pending: 464`
fn running_line(running: &[String], progress: &Progress, total: usize) -> String {
    let hosts = sshfan::nodeset::NodeSet::from_names(running.iter().cloned()).fold();
    format!(
        "sshfan: {}/{total} done, running: {} ({}), pending: {}",
        progress.succeeded + progress.failed,
        if running.is_empty() { "none" } else { &hosts },
        running.len(),
        progress.pending
    )
}

/// Characters of the `ok` summary line's folded host set shown at most.
const OK_HOSTS_SHOWN: usize = 100;

/// `folded` cut after its last whole element within `limit` characters, with `,…`. A
/// first element longer than that (one bracket of thousands of ranges) is cut inside its
/// bracket instead: `10.0.0.[1-3,5,…]`.
fn shorten(folded: &str, limit: usize) -> std::borrow::Cow<'_, str> {
    if folded.chars().count() <= limit {
        return folded.into();
    }
    let mut depth = 0usize;
    // The last comma within the limit outside brackets, and the last one inside.
    let mut outside = None;
    let mut inside = None;
    for (at, c) in folded.char_indices() {
        if at > limit {
            break;
        }
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => outside = Some(at),
            ',' => inside = Some((at, depth)),
            _ => {}
        }
    }
    match (outside, inside) {
        (Some(cut), _) => format!("{},…", &folded[..cut]).into(),
        (None, Some((cut, depth))) => format!("{},…{}", &folded[..cut], "]".repeat(depth)).into(),
        (None, None) => folded.into(),
    }
}

fn ignore_broken_pipe(err: io::Error) -> io::Result<()> {
    if err.kind() == io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(err)
    }
}

/// `[532/1000] ok 520  failed 12  running 100  pending 368  2.3 s`
pub fn progress_line(progress: &Progress, total: usize, elapsed: Duration) -> String {
    let done = progress.succeeded + progress.failed;
    let bytes = match progress.bytes {
        0 => String::new(),
        moved => format!("  {:.1} MiB", moved as f64 / (1 << 20) as f64),
    };
    format!(
        "[{done}/{total}] ok {}  failed {}  running {}  pending {}{bytes}  {:.1} s",
        progress.succeeded,
        progress.failed,
        progress.running,
        progress.pending,
        elapsed.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `ok` line never lists thousands of unfoldable names: whole elements up to
    /// 100 characters, then `,…`.
    #[test]
    fn long_ok_sets_are_shortened_at_whole_elements() {
        assert_eq!(shorten("web[1-3]", 100), "web[1-3]");
        let names: Vec<String> = (0..300).map(|i| format!("host-{i}x")).collect();
        let long = names.join(",");
        let short = shorten(&long, 100);
        assert!(short.len() <= 104, "{short}");
        assert!(
            short.ends_with(",…") && short.starts_with("host-0x,host-1x,"),
            "{short}"
        );
        let bracketed = format!(
            "a[1,3,5,7,9,11,13,15,17,19,21,23,25,27,29,31,33,35,37,39,41,43,45,47,49,51,53,55,57,59,61,63,65,67,69],{long}"
        );
        // A first element longer than the limit is cut inside its bracket.
        let cut = shorten(&bracketed, 100);
        assert!(cut.starts_with("a[1,3,5,") && cut.ends_with(",…]"), "{cut}");
        assert!(cut.len() <= 104, "{cut}");
        let ports: Vec<String> = (0..2000).map(|i| (30000 + 2 * i).to_string()).collect();
        let one = format!("127.0.0.1:[{}]", ports.join(","));
        let cut = shorten(&one, 100);
        assert!(
            cut.starts_with("127.0.0.1:[30000,30002,") && cut.ends_with(",…]"),
            "{cut}"
        );
    }

    #[test]
    fn running_line_folds_the_running_hosts() {
        let progress = Progress {
            pending: 2,
            running: 3,
            succeeded: 4,
            failed: 1,
            bytes: 0,
        };
        let running = ["web3", "web8", "web7"].map(String::from);
        assert_eq!(
            running_line(&running, &progress, 10),
            "sshfan: 5/10 done, running: web[3,7-8] (3), pending: 2"
        );
    }

    #[test]
    fn progress_line_counts() {
        let progress = Progress {
            pending: 368,
            running: 100,
            succeeded: 520,
            failed: 12,
            bytes: 0,
        };
        assert_eq!(
            progress_line(&progress, 1000, Duration::from_millis(2340)),
            "[532/1000] ok 520  failed 12  running 100  pending 368  2.3 s"
        );
        let copying = Progress {
            bytes: 3 << 20,
            ..progress
        };
        assert_eq!(
            progress_line(&copying, 1000, Duration::from_millis(2340)),
            "[532/1000] ok 520  failed 12  running 100  pending 368  3.0 MiB  2.3 s"
        );
    }
}
