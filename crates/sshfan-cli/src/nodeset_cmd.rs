//! `sshfan nodeset`: expand, fold, count and combine node sets, like ClusterShell's
//! `nodeset -e/-f/-c` with `-x` (difference), `-i` (intersection) and `-X` (xor); node
//! groups (`@group`, `-a`, `-l`/`-L` to list them, `-s` for the source), range sets
//! (`-R`) and `--autostep`.

use std::io::{Read, Write};

use anyhow::Context;
use sshfan::nodeset::{Groups, NodeSet, RangeSet, names_a_group};

use crate::args::NodesetArgs;
use crate::exit::{ExitStatus, UsageError};
use crate::hostlist::describe;

pub fn nodeset(
    args: NodesetArgs,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
) -> anyhow::Result<ExitStatus> {
    let listing = args.list > 0 || args.list_all > 0;
    let mut sources = args.nodesets.clone();
    if !listing && !args.all && (sources.is_empty() || sources.iter().any(|s| s == "-")) {
        let mut text = String::new();
        stdin
            .read_to_string(&mut text)
            .context("reading node sets from stdin")?;
        sources.retain(|s| s != "-");
        sources.extend(text.split_whitespace().map(str::to_owned));
    }
    let text = if listing {
        list_groups(&args, &load_groups(&args)?)?
    } else if args.rangeset {
        ranges(&args, &sources)?
    } else {
        nodes(&args, &sources)?
    };
    writeln!(out, "{text}").or_else(|err| match err.kind() {
        std::io::ErrorKind::BrokenPipe => Ok(()),
        _ => Err(err),
    })?;
    Ok(ExitStatus::Success)
}

/// The group configuration, with `-s`'s source as the default.
fn load_groups(args: &NodesetArgs) -> anyhow::Result<Groups> {
    let groups = Groups::load().map_err(|err| UsageError(format!("reading node groups: {err}")))?;
    match &args.source {
        Some(source) => groups
            .with_default_source(source)
            .map_err(|err| UsageError(err.to_string()).into()),
        None => Ok(groups),
    }
}

/// `-l` / `-L`: `@group` per line (`@source:group` for other sources), `-ll`/`-LL` with
/// the group's nodes.
fn list_groups(args: &NodesetArgs, groups: &Groups) -> anyhow::Result<String> {
    let default = groups.sources().into_iter().next();
    let sources = match (args.list_all > 0, &args.source) {
        (true, _) => groups.sources(),
        (false, Some(source)) => vec![source.clone()],
        (false, None) => default.iter().cloned().collect(),
    };
    let with_nodes = args.list.max(args.list_all) > 1;
    let mut lines = Vec::new();
    for source in sources {
        let names = groups
            .list(Some(&source))
            .map_err(|err| UsageError(err.to_string()))?;
        for name in names {
            // Named with its source unless it is the default one and no `-s` was given
            // (ClusterShell prints `@source:group` for `-s`).
            let label = match Some(&source) == default.as_ref() && args.source.is_none() {
                true => format!("@{name}"),
                false => format!("@{source}:{name}"),
            };
            if !with_nodes {
                lines.push(label);
                continue;
            }
            let set = NodeSet::parse_with_groups(&format!("@{source}:{name}"), groups)
                .map_err(|err| UsageError(describe(&err)))?;
            lines.push(format!("{label} {}", set.fold_with_autostep(args.autostep)));
        }
    }
    Ok(lines.join("\n"))
}

/// Node sets: parsed (with groups when one is named), combined, printed.
fn nodes(args: &NodesetArgs, sources: &[String]) -> anyhow::Result<String> {
    let needs_groups = args.all
        || sources
            .iter()
            .chain(&args.exclude)
            .chain(&args.intersection)
            .chain(&args.xor)
            .any(|text| names_a_group(text));
    let groups = match needs_groups {
        true => Some(load_groups(args)?),
        false => None,
    };
    let parse = |text: &str| {
        match &groups {
            Some(groups) => NodeSet::parse_with_groups(text, groups),
            None => NodeSet::parse(text),
        }
        .map_err(|err| UsageError(describe(&err)))
    };
    // `-a`: all nodes first, so that `-x` and the others apply to them too.
    let all = args.all.then(|| "@*".to_owned());
    let sources: Vec<String> = all.into_iter().chain(sources.iter().cloned()).collect();
    let set = combine(args, &sources, parse)?;
    Ok(if args.count {
        set.len().to_string()
    } else if args.expand {
        set.sorted().join(&unescape(&args.separator))
    } else {
        set.fold_with_autostep(args.autostep)
    })
}

/// The set operations node sets and range sets share.
trait SetOperations: Default {
    fn update(&mut self, other: &Self);
    fn difference_update(&mut self, other: &Self);
    fn intersection_update(&mut self, other: &Self);
    fn symmetric_difference_update(&mut self, other: &Self);
}

macro_rules! set_operations {
    ($set:ty) => {
        impl SetOperations for $set {
            fn update(&mut self, other: &Self) {
                <$set>::update(self, other)
            }
            fn difference_update(&mut self, other: &Self) {
                <$set>::difference_update(self, other)
            }
            fn intersection_update(&mut self, other: &Self) {
                <$set>::intersection_update(self, other)
            }
            fn symmetric_difference_update(&mut self, other: &Self) {
                <$set>::symmetric_difference_update(self, other)
            }
        }
    };
}
set_operations!(NodeSet);
set_operations!(RangeSet);

/// The arguments united, then `-x`, `-i` and `-X` applied in turn.
fn combine<S: SetOperations>(
    args: &NodesetArgs,
    sources: &[String],
    parse: impl Fn(&str) -> Result<S, UsageError>,
) -> anyhow::Result<S> {
    let mut set = S::default();
    for source in sources {
        set.update(&parse(source)?);
    }
    for text in &args.exclude {
        set.difference_update(&parse(text)?);
    }
    for text in &args.intersection {
        set.intersection_update(&parse(text)?);
    }
    for text in &args.xor {
        set.symmetric_difference_update(&parse(text)?);
    }
    Ok(set)
}

/// `-R`: the same operations on range sets (`1-3,5`).
fn ranges(args: &NodesetArgs, sources: &[String]) -> anyhow::Result<String> {
    let parse = |text: &str| {
        RangeSet::parse(text).map_err(|err| {
            UsageError(format!(
                "invalid range set `{text}`: {} `{}`",
                err.reason,
                err.part.trim()
            ))
        })
    };
    let set = combine(args, sources, parse)?;
    Ok(if args.count {
        set.len().to_string()
    } else if args.expand {
        set.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(&unescape(&args.separator))
    } else {
        set.fold_with_autostep(args.autostep)
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::args::{Cli, Command};

    fn run(args: &[&str], stdin: &str) -> anyhow::Result<String> {
        let cli = Cli::try_parse_from(["sshfan", "nodeset"].iter().chain(args)).unwrap();
        let Some(Command::Nodeset(args)) = cli.subcommand else {
            panic!()
        };
        let mut out = Vec::new();
        nodeset(args, &mut stdin.as_bytes(), &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn modes_and_set_operations() {
        assert_eq!(run(&["-e", "n[1-3]"], "").unwrap(), "n1 n2 n3\n");
        assert_eq!(run(&["-e", "-S", "\n", "n[2,1]"], "").unwrap(), "n1\nn2\n");
        assert_eq!(run(&["-f", "n3", "n1", "n2"], "").unwrap(), "n[1-3]\n");
        assert_eq!(run(&["-c", "rack[1-2]-n[01-16]"], "").unwrap(), "32\n");
        assert_eq!(
            run(&["-f", "n[1-10]", "-x", "n[3-4]"], "").unwrap(),
            "n[1-2,5-10]\n"
        );
        assert_eq!(
            run(&["-f", "n[1-10]", "-i", "n[8-20]"], "").unwrap(),
            "n[8-10]\n"
        );
        assert_eq!(
            run(&["-f", "n[1-3]", "-X", "n[3-4]"], "").unwrap(),
            "n[1-2,4]\n"
        );
        assert_eq!(run(&["-f", "n[1-5]!n2&n[2-4]"], "").unwrap(), "n[3-4]\n");
        assert_eq!(run(&["-f"], "a1 a2\na3\n").unwrap(), "a[1-3]\n");
    }

    /// `-R` works on range sets; `--autostep` folds stepped runs, as in ClusterShell.
    #[test]
    fn rangesets_and_autostep() {
        assert_eq!(run(&["-R", "-f", "1-3,5", "4"], "").unwrap(), "1-5\n");
        assert_eq!(run(&["-R", "-c", "0-9", "-x", "3-4"], "").unwrap(), "8\n");
        assert_eq!(run(&["-R", "-e", "1-3"], "").unwrap(), "1 2 3\n");
        assert_eq!(
            run(&["-R", "-f", "1-5", "-X", "4-7"], "").unwrap(),
            "1-3,6-7\n"
        );
        assert_eq!(
            run(&["-f", "--autostep", "3", "n[1,3,5,7,10]"], "").unwrap(),
            "n[1-7/2,10]\n"
        );
        assert_eq!(
            run(&["-R", "-f", "--autostep", "3", "0-8/4"], "").unwrap(),
            "0-8/4\n"
        );
        let err = run(&["-R", "-f", "1-x"], "").unwrap_err();
        assert!(
            format!("{err}").contains("invalid range set `1-x`"),
            "{err}"
        );
    }

    #[test]
    fn malformed_sets_are_usage_errors() {
        let err = run(&["-f", "n[1-"], "").unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some());
        assert!(format!("{err}").contains("missing `]`"), "{err}");
    }
}

/// `-S` separators take ClusterShell's escapes: `\\n`, `\\t`, `\\\\`.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod unescape_tests {
    #[test]
    fn separators_take_escapes() {
        assert_eq!(super::unescape("\\n"), "\n");
        assert_eq!(super::unescape(",\\t"), ",\t");
        assert_eq!(super::unescape("a\\\\b\\x"), "a\\b\\x");
    }
}
