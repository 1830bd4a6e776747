//! `sshfan rerun`: a recorded run again, on the hosts of it that did not succeed.
//!
//! The run's own arguments (kept in its journal's plan) are parsed again, so the hosts
//! are selected, reached and reported exactly as the first time, then only the chosen
//! hosts of that selection run: those that failed, were unreached or did not finish (all
//! three by default), or all of them. `--pick` and `--shard` are not applied again: the
//! plan already names the hosts. A run killed mid-way (`kill -9`, a crash) is finished
//! with `rerun --not-run`: a host whose outcome was recorded never runs twice. Stdin is
//! read again, as the first run read it (`-w -` reads the hosts from it again).

use std::collections::HashSet;
use std::io::Write;

use clap::Parser;

use crate::args::{Cli, Command, RerunArgs};
use crate::copy_command::{Direction, run_copy};
use crate::exit::{ExitStatus, UsageError};
use crate::runs::{HostResult, RunRecord, find, root};
use crate::settings::Invocation;

/// Runs `sshfan rerun`.
pub async fn rerun(args: RerunArgs) -> anyhow::Result<ExitStatus> {
    let root = root(args.journal.as_deref())?;
    let record = RunRecord::read(&find(&root, args.run.as_deref())?)?;
    let wanted = Wanted::from_args(&args);
    let hosts: HashSet<String> = record
        .results()
        .filter(|(_, result)| wanted.includes(*result))
        .map(|(label, _)| label.to_owned())
        .collect();
    let id = &record.plan.id;
    if hosts.is_empty() {
        let _ = writeln!(
            std::io::stderr(),
            "sshfan: nothing to rerun: no host of run {id} is {}",
            wanted.describe()
        );
        return Ok(ExitStatus::Success);
    }
    let argv = record.plan.argv.clone();
    let cli = Cli::try_parse_from(std::iter::once("sshfan".to_owned()).chain(argv.clone()))
        .map_err(|err| {
            UsageError(format!(
                "the arguments of run {id} no longer parse: {}",
                err.kind()
            ))
        })?;
    let _ = writeln!(
        std::io::stderr(),
        "sshfan: rerun of {id} on {} ({})",
        match hosts.len() {
            1 => "1 host".to_owned(),
            n => format!("{n} hosts"),
        },
        wanted.describe()
    );
    let invocation = Invocation {
        argv,
        only: Some(hosts),
    };
    match cli.subcommand {
        None => {
            let mut run = cli.run;
            let command = args.command.or(record.plan.command).ok_or_else(|| {
                UsageError(format!("run {id} recorded no command: give --command"))
            })?;
            run.command = vec![command];
            run.select.pick = None;
            run.select.shard = None;
            crate::remote_command::run_command(run, invocation).await
        }
        Some(Command::Cp(_) | Command::Get(_)) if args.command.is_some() => {
            Err(UsageError(format!("run {id} is a copy: --command does not apply")).into())
        }
        Some(Command::Cp(mut copy)) => {
            copy.select.pick = None;
            copy.select.shard = None;
            run_copy(copy, Direction::Upload, invocation).await
        }
        Some(Command::Get(mut copy)) => {
            copy.select.pick = None;
            copy.select.shard = None;
            run_copy(copy, Direction::Download, invocation).await
        }
        Some(_) => Err(UsageError(format!("run {id} is neither a command nor a copy")).into()),
    }
}

/// Which hosts of the run go again.
#[derive(Debug, Clone, Copy)]
struct Wanted {
    failed: bool,
    unreached: bool,
    not_run: bool,
    ok: bool,
}

impl Wanted {
    /// The flags given; with none, every host that did not succeed.
    fn from_args(args: &RerunArgs) -> Wanted {
        let none = !(args.failed || args.unreached || args.not_run || args.all);
        Wanted {
            failed: args.failed || args.all || none,
            unreached: args.unreached || args.all || none,
            not_run: args.not_run || args.all || none,
            ok: args.all,
        }
    }

    fn includes(self, result: HostResult) -> bool {
        match result {
            HostResult::Ok => self.ok,
            HostResult::Failed => self.failed,
            HostResult::Unreached => self.unreached,
            HostResult::NotRun => self.not_run,
        }
    }

    /// `failed, unreached or not run`.
    fn describe(self) -> String {
        if self.ok {
            return "any".to_owned();
        }
        let words: Vec<&str> = [
            (self.failed, "failed"),
            (self.unreached, "unreached"),
            (self.not_run, "not run"),
        ]
        .into_iter()
        .filter_map(|(on, word)| on.then_some(word))
        .collect();
        match words.split_last() {
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}
