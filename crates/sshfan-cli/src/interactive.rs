//! Interactive mode, clush's: `sshfan -w HOSTS` with no command on a terminal.
//!
//! Each line typed is run on the current hosts, with the run's usual output (gathered with
//! `-b`; `=` toggles), over sessions kept open for the whole session: after the first
//! line, a line costs a channel per host, not a connection. Special lines, as in clush:
//! `?` shows the hosts, `+HOSTS` / `-HOSTS` add and remove, `@HOSTS` replaces them
//! (node-set expressions, `@group`s included), `!COMMAND` runs locally, `quit`, `exit` or
//! Ctrl-D leave. Ctrl-C during a command cancels it and returns to the prompt. History is
//! kept in `$XDG_STATE_HOME/sshfan/history` (`~/.local/state/sshfan/history`).

use std::io::Write;
use std::path::PathBuf;

use rustyline::config::Configurer;
use rustyline::error::ReadlineError;
use sshfan::Host;
use sshfan::nodeset::NodeSet;

use crate::args::RunArgs;
use crate::exit::{ExitStatus, UsageError};
use crate::fleet::Fleet;
use crate::hostlist::Expander;
use crate::render::Layout;
use crate::runner::{Plan, Work, execute};
use crate::settings::{Connection, Report, Reuse};

/// The prompt.
const PROMPT: &str = "sshfan> ";
/// Most history lines kept.
const HISTORY: usize = 1000;

/// Whether a run without a command should be interactive: stdin and stdout are terminals.
pub fn wanted(args: &RunArgs) -> bool {
    use std::io::IsTerminal;
    args.command.is_empty() && std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// One line of the session, parsed.
#[derive(Debug, PartialEq, Eq)]
enum Line<'a> {
    Empty,
    Quit,
    Show,
    ToggleGather,
    Add(&'a str),
    Remove(&'a str),
    Set(&'a str),
    Local(&'a str),
    Remote(&'a str),
}

impl<'a> Line<'a> {
    fn parse(text: &'a str) -> Line<'a> {
        let text = text.trim();
        match text {
            "" => Line::Empty,
            "quit" | "exit" => Line::Quit,
            "?" => Line::Show,
            "=" => Line::ToggleGather,
            _ => {
                let rest = text.get(1..).unwrap_or_default().trim();
                match text.as_bytes().first() {
                    Some(b'+') => Line::Add(rest),
                    Some(b'-') => Line::Remove(rest),
                    Some(b'@') => Line::Set(rest),
                    Some(b'!') => Line::Local(rest),
                    _ => Line::Remote(text),
                }
            }
        }
    }
}

/// The hosts of the session: every host the client knows, and which are selected.
struct Selection {
    connection: Connection,
    /// The expanded names (as written, `user@host:port` included) of the client's hosts.
    names: Vec<String>,
    selected: Vec<bool>,
}

impl Selection {
    /// The client for the selected hosts, sharing the session's connections.
    fn client(&self) -> anyhow::Result<Fleet> {
        let positions: Vec<usize> = (0..self.names.len())
            .filter(|&i| self.selected.get(i).copied().unwrap_or(false))
            .collect();
        self.connection.client.only(&positions)
    }

    fn folded(&self) -> String {
        let selected = self
            .names
            .iter()
            .zip(&self.selected)
            .filter(|(_, on)| **on)
            .map(|(name, _)| name.clone());
        NodeSet::from_names(selected).fold()
    }

    fn position(&self, name: &str) -> Option<usize> {
        let host_name = Host::parse(name).ok().map(|host| host.name);
        self.names.iter().position(|known| {
            known == name
                || Host::parse(known)
                    .ok()
                    .is_some_and(|host| Some(&host.name) == host_name.as_ref())
        })
    }

    /// Selects `names` (`only`: and no other), adding hosts the client does not know:
    /// a new client then, over every host so far (their connections are made again).
    async fn select(&mut self, names: Vec<String>, only: bool) -> anyhow::Result<()> {
        if only {
            self.selected.iter_mut().for_each(|on| *on = false);
        }
        let mut added = Vec::new();
        for name in names {
            match self.position(&name) {
                Some(position) => {
                    if let Some(on) = self.selected.get_mut(position) {
                        *on = true;
                    }
                }
                None => added.push(name),
            }
        }
        if added.is_empty() {
            return Ok(());
        }
        let mut hosts = Vec::new();
        for name in self.names.iter().chain(&added) {
            hosts.push(Host::parse(name).map_err(|err| UsageError(err.to_string()))?);
        }
        let client = self.connection.with_hosts(hosts)?;
        self.connection.client.disconnect().await;
        self.connection.client = client;
        self.selected.extend(added.iter().map(|_| true));
        self.names.extend(added);
        Ok(())
    }

    fn deselect(&mut self, names: &[String]) {
        for name in names {
            if let Some(on) = self.position(name).and_then(|p| self.selected.get_mut(p)) {
                *on = false;
            }
        }
    }
}

/// Runs the interactive session; its exit status is the last command's.
pub async fn interactive(args: RunArgs) -> anyhow::Result<ExitStatus> {
    let (layout, outliers) = crate::remote_command::output_layout(&args)?;
    let mut report = Report::new(&args.report, layout);
    report.outliers = outliers;
    report.largest_remote_exit = args.max_exit;
    let connection = Connection::build(&args.select, &args.connect, None, Reuse::Keep).await?;
    let names: Vec<String> = connection.client.labels();
    let mut selection = Selection {
        selected: vec![true; names.len()],
        names,
        connection,
    };
    let expander = Expander::default();
    let mut editor = rustyline::DefaultEditor::new()
        .map_err(|err| anyhow::anyhow!("interactive mode needs a terminal: {err}"))?;
    let _ = editor.set_max_history_size(HISTORY);
    let history = history_file();
    if let Some(file) = &history {
        let _ = editor.load_history(file);
    }
    say("Enter 'quit' to leave this interactive mode");
    say(&format!("Working with nodes: {}", selection.folded()));
    let mut gather = matches!(report.render.layout, Layout::Gather { .. });
    let mut status = ExitStatus::Success;
    loop {
        let line = match tokio::task::block_in_place(|| editor.readline(PROMPT)) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(err) => return Err(anyhow::Error::new(err).context("reading a command")),
        };
        let parsed = Line::parse(&line);
        if !matches!(parsed, Line::Empty) {
            let _ = editor.add_history_entry(line.trim());
        }
        let changed = match parsed {
            Line::Empty => false,
            Line::Quit => break,
            Line::Show => {
                say(&format!("Working with nodes: {}", selection.folded()));
                false
            }
            Line::ToggleGather => {
                gather = !gather;
                say(if gather {
                    "Gathered output"
                } else {
                    "Standard output"
                });
                false
            }
            Line::Add(text) | Line::Set(text) | Line::Remove(text) => {
                match expander.expand(text) {
                    Err(err) => say(&format!("sshfan: {err:#}")),
                    Ok(names) => match parsed {
                        Line::Remove(_) => selection.deselect(&names),
                        _ => {
                            let only = matches!(parsed, Line::Set(_));
                            if let Err(err) = selection.select(names, only).await {
                                say(&format!("sshfan: {err:#}"));
                            }
                        }
                    },
                }
                true
            }
            Line::Local(command) => {
                run_locally(command);
                false
            }
            Line::Remote(command) => {
                let client = selection.client()?;
                if client.len() == 0 {
                    say("sshfan: no hosts selected (+HOSTS or @HOSTS to select some)");
                    continue;
                }
                if !args.report.json {
                    report.render.layout = gathered(gather, &args);
                }
                let plan = Plan {
                    work: Work::Command(command.to_owned()),
                    options: selection.connection.options.clone(),
                    outdir: args.outdir.clone(),
                    errdir: args.errdir.clone(),
                    render: report.render,
                    largest_remote_exit: report.largest_remote_exit,
                    watch_keys: false,
                    journal: None,
                    outliers: report.outliers.clone(),
                };
                status = execute(&client, plan).await?.0;
                false
            }
        };
        if changed {
            say(&format!("Working with nodes: {}", selection.folded()));
        }
    }
    if let Some(file) = &history {
        if let Some(dir) = file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = editor.save_history(file);
    }
    selection.connection.client.disconnect().await;
    Ok(status)
}

/// Gathered or streamed output (`--json` keeps JSON).
fn gathered(gather: bool, args: &RunArgs) -> Layout {
    match gather {
        true => Layout::Gather { diff: args.diff },
        false => Layout::Stream {
            prefix: !args.no_prefix,
            limit: None,
        },
    }
}

/// `!COMMAND`: run with `sh -c`, each output line shown as `LOCAL: line`, as clush does.
fn run_locally(command: &str) {
    match std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .output()
    {
        Ok(output) => {
            let mut text = String::new();
            for line in String::from_utf8_lossy(&output.stdout).lines() {
                text.push_str(&format!("LOCAL: {line}\n"));
            }
            for line in String::from_utf8_lossy(&output.stderr).lines() {
                text.push_str(&format!("LOCAL: {line}\n"));
            }
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        }
        Err(err) => say(&format!("sshfan: cannot run `{command}` locally: {err}")),
    }
}

/// A line of the session's own talk, on stdout (the terminal).
fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// `$XDG_STATE_HOME/sshfan/history`, else `~/.local/state/sshfan/history`.
fn history_file() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state"))
        })?;
    Some(state.join("sshfan").join("history"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_clush_reads_them() {
        assert_eq!(Line::parse("  "), Line::Empty);
        assert_eq!(Line::parse("quit"), Line::Quit);
        assert_eq!(Line::parse("?"), Line::Show);
        assert_eq!(Line::parse("="), Line::ToggleGather);
        assert_eq!(Line::parse("+web[3-4]"), Line::Add("web[3-4]"));
        assert_eq!(Line::parse("- web1"), Line::Remove("web1"));
        assert_eq!(Line::parse("@@db"), Line::Set("@db"));
        assert_eq!(Line::parse("!pwd"), Line::Local("pwd"));
        assert_eq!(Line::parse("uname -r"), Line::Remote("uname -r"));
        assert_eq!(Line::parse("é"), Line::Remote("é"));
    }
}
