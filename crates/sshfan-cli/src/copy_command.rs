//! `sshfan cp` and `sshfan get`: pdcp's and scp's rules for where files go.
//!
//! `cp SOURCE... DEST`: one source to a destination that is not an existing directory
//! (and does not end in `/`) is copied to that name, as `scp a b` does; several sources go
//! into DEST, which must be a directory. The host decides which case applies, so hosts may
//! differ. A missing destination directory is an error unless `--mkdir` asks for it.
//! `get REMOTE... LOCAL`: into LOCAL (a directory) as `NAME.HOST`, like `clush --rcopy`;
//! one source to a path that is not a directory saves `LOCAL.HOST`.
//! Local mistakes (a missing source, a directory without `-r`, a missing local
//! directory) are reported once, before any host is touched.

use std::path::{Path, PathBuf};

use sshfan::copy::{CopyOptions, DownloadLayout, Protocol, TargetRule};

use crate::args::CopyArgs;
use crate::exit::{ExitStatus, UsageError};
use crate::journal::JournalSetup;
use crate::render::Layout;
use crate::runner::Work;
use crate::settings::{Connection, Invocation, Report, Reuse, run_all};

/// Which way the files go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `sshfan cp`: local files to every host.
    Upload,
    /// `sshfan get`: files from every host.
    Download,
}

/// One run per source, on one client (the connections are reused); the worst exit
/// status wins.
pub async fn run_copy(
    copy: CopyArgs,
    direction: Direction,
    invocation: Invocation,
) -> anyhow::Result<ExitStatus> {
    let Some((destination, sources)) = copy.paths.split_last() else {
        return Err(usage("give the sources, then the destination"));
    };
    if sources.is_empty() {
        return Err(usage("give at least one source before the destination"));
    }
    let mut options = CopyOptions::new()
        .recursive(copy.recursive)
        .preserve(copy.preserve)
        .target_rule(TargetRule::Scp)
        .make_parents(copy.mkdir);
    if copy.scp {
        options = options.protocol(Protocol::Scp);
    }
    let works = match direction {
        Direction::Upload => uploads(&copy, sources, destination, &options)?,
        Direction::Download => downloads(&copy, sources, destination, &options)?,
    };
    let mut report = Report::new(
        &copy.report,
        Layout::Stream {
            prefix: true,
            limit: None,
        },
    );
    report.journal = JournalSetup::from_args(&copy.report, invocation.argv, None);
    let reuse = match works.len() {
        1 => Reuse::Once,
        _ => Reuse::Keep,
    };
    let connection =
        Connection::build(&copy.select, &copy.connect, invocation.only.as_ref(), reuse).await?;
    let run_options = connection.options.clone();
    let works = works
        .into_iter()
        .map(|work| (work, run_options.clone()))
        .collect();
    run_all(connection, works, &report).await
}

fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

/// Checks the local sources and names each upload's remote target.
fn uploads(
    copy: &CopyArgs,
    sources: &[String],
    destination: &str,
    options: &CopyOptions,
) -> anyhow::Result<Vec<Work>> {
    for source in sources {
        match std::fs::metadata(source) {
            Err(err) => return Err(usage(format!("cannot read `{source}`: {err}"))),
            Ok(meta) if meta.is_dir() && !copy.recursive => {
                return Err(usage(format!("`{source}` is a directory: copy it with -r")));
            }
            Ok(_) => {}
        }
    }
    // Several sources go into the destination, which names a directory.
    let remote = match sources.len() {
        1 => destination.to_owned(),
        _ => format!("{}/", destination.trim_end_matches('/')),
    };
    Ok(sources
        .iter()
        .map(|source| Work::Upload {
            local: source.into(),
            remote: remote.clone(),
            options: options.clone(),
        })
        .collect())
}

/// Checks the local destination and names each download's local target.
fn downloads(
    copy: &CopyArgs,
    sources: &[String],
    destination: &str,
    options: &CopyOptions,
) -> anyhow::Result<Vec<Work>> {
    let local = Path::new(destination);
    let names_a_directory = local.is_dir() || destination.ends_with('/');
    let into_directory = names_a_directory || sources.len() > 1;
    let needed = match into_directory {
        true => local.to_owned(),
        false => parent_dir(local),
    };
    if !needed.is_dir() {
        if !copy.mkdir {
            let what = match needed.exists() {
                true => "is not a directory",
                false => "does not exist (create it, or give --mkdir)",
            };
            return Err(usage(format!("`{}` {what}", needed.display())));
        }
        std::fs::create_dir_all(&needed)
            .map_err(|err| usage(format!("cannot create `{}`: {err}", needed.display())))?;
    }
    let options = options
        .clone()
        .layout(DownloadLayout::Suffix(".".to_owned()));
    Ok(sources
        .iter()
        .map(|source| Work::Download {
            remote: source.clone(),
            // A remote path without a base name (`/`) gets a safe one.
            local: match into_directory {
                true => local.join(sshfan::copy::remote_base_name(source)),
                false => local.to_owned(),
            },
            options: options.clone(),
        })
        .collect())
}

/// The directory a local path is in (`.` for a bare name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}
