//! `sshfan -w HOSTS [--] COMMAND`: the remote command line, checked before anything runs,
//! with stdin broadcast to every host.

use std::io::IsTerminal;
use std::sync::Arc;

use sshfan::outliers::Normalizer;

use crate::args::{GatherMode, RunArgs};
use crate::exit::{ExitStatus, UsageError};
use crate::journal::JournalSetup;
use crate::prompt::ask_secret;
use crate::render::Layout;
use crate::runner::Work;
use crate::settings::{Connection, Invocation, Report, Reuse, run_all};

/// Runs `args.command` on the selected hosts (on `invocation.only` of them for a rerun).
pub async fn run_command(args: RunArgs, invocation: Invocation) -> anyhow::Result<ExitStatus> {
    // A rerun's command was checked when it first ran (or given whole with --command).
    check_command_words(&args, invocation.has_dashes() || invocation.only.is_some())?;
    let command = args.command.join(" ");
    let (layout, outliers) = output_layout(&args)?;
    let mut report = Report::new(&args.report, layout);
    report.outliers = outliers;
    report.outdir = args.outdir.clone();
    report.errdir = args.errdir.clone();
    report.largest_remote_exit = args.max_exit;
    report.journal =
        JournalSetup::from_args(&args.report, invocation.argv.clone(), Some(command.clone()));
    let connection = Connection::build(
        &args.select,
        &args.connect,
        invocation.only.as_ref(),
        Reuse::Once,
    )
    .await?;
    let mut options = connection.options.clone().stdin(broadcast_stdin(&args)?);
    if args.sudo {
        let sudo_password = ask_secret("[sudo] password: ")?;
        options = options.sudo(None, Some(&sudo_password));
    }
    let labels = connection.client.labels();
    if let Some(rollout) = crate::gate::rollout(&args, labels)? {
        options = options.rollout(rollout);
    }
    run_all(connection, vec![(Work::Command(command), options)], &report).await
}

/// Gathered (`-b`), outlier-gathered (`-B`, with its normalizer) or streamed output.
pub fn output_layout(args: &RunArgs) -> Result<(Layout, Option<Arc<Normalizer>>), UsageError> {
    let outliers = args.outliers.outliers || args.gather == Some(GatherMode::Outliers);
    if args.outliers.normalizing() && !outliers {
        return Err(UsageError(
            "--normalize and --no-normalize apply to an outlier gather: add -B".to_owned(),
        ));
    }
    if args.report.json && args.gather == Some(GatherMode::Identical) {
        return Err(UsageError(
            "-b and --json do not go together (--json lists every line; -B --json adds the \
             outlier groups)"
                .to_owned(),
        ));
    }
    let layout = if outliers || args.gather.is_some() || args.diff {
        Layout::Gather { diff: args.diff }
    } else {
        Layout::Stream {
            prefix: !args.no_prefix,
            limit: None,
        }
    };
    if !outliers {
        return Ok((layout, None));
    }
    let normalizer = crate::render::gather::normalizer(&args.outliers)?;
    Ok((layout, Some(Arc::new(normalizer))))
}

/// sshfan's subcommands, which a remote command's first word must not be mistaken for.
const SUBCOMMANDS: [&str; 10] = [
    "agent",
    "cp",
    "get",
    "nodeset",
    "merge",
    "runs",
    "rerun",
    "demo",
    "completions",
    "man",
];

/// The command line's first word, checked before anything runs: no command; a word that
/// is a misspelt subcommand while no hosts are given (`sshfan nodest -e n1`); a
/// subcommand's name after host options without `--` (`sshfan -w web1 cp a /tmp` could
/// mean either).
fn check_command_words(args: &RunArgs, after_dashes: bool) -> Result<(), UsageError> {
    let Some(first) = args.command.first() else {
        return Err(UsageError(
            "no command given: put it after the options, e.g. `sshfan -w web1 -- uptime`"
                .to_owned(),
        ));
    };
    let no_hosts = crate::hostlist::names_no_hosts(&args.select);
    if no_hosts && !after_dashes {
        let hint = SUBCOMMANDS
            .iter()
            .find(|name| edit_distance(name, first) <= 2)
            .map(|name| format!(" (did you mean `{name}`?)"))
            .unwrap_or_default();
        return Err(UsageError(format!(
            "unrecognized subcommand `{first}`{hint}; to run a command, give hosts with -w \
             HOSTS or -h FILE"
        )));
    }
    if SUBCOMMANDS.contains(&first.as_str()) && !after_dashes {
        return Err(UsageError(format!(
            "`{first}` is an sshfan subcommand: write `sshfan {first} -w HOSTS …` for it, or put \
             the remote command after `--` (`sshfan -w HOSTS -- {first} …`)"
        )));
    }
    Ok(())
}

/// Levenshtein distance, for "did you mean" hints.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(previous + 1).min(row[j] + 1);
        }
    }
    row[b.len()]
}

/// `EBADF`: descriptor 0 is not open.
const EBADF: i32 = 9;

/// The bytes every host's command gets on stdin: stdin itself when it is not a terminal
/// (read once, held once for all hosts, as clush does), unless `-n` or the host list
/// came from stdin (`-w -`); nothing otherwise, so remote commands see end-of-file.
fn broadcast_stdin(args: &RunArgs) -> anyhow::Result<bytes::Bytes> {
    use std::io::Read;
    let hosts_from_stdin = args.select.hosts.iter().any(|h| h == "-");
    if args.no_stdin || hosts_from_stdin || std::io::stdin().is_terminal() {
        return Ok(bytes::Bytes::new());
    }
    let mut data = Vec::new();
    match std::io::stdin().lock().read_to_end(&mut data) {
        Ok(_) => Ok(bytes::Bytes::from(data)),
        // No stdin at all (descriptor 0 closed): nothing to send.
        Err(err) if err.raw_os_error() == Some(EBADF) => Ok(bytes::Bytes::new()),
        Err(err) => Err(anyhow::Error::new(err).context("reading stdin for the remote commands")),
    }
}
