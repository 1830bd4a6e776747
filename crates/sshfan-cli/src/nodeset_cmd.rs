//! `sshfan nodeset`: expand, fold, count and combine node sets, like ClusterShell's
//! `nodeset -e/-f/-c` with `-x` (difference), `-i` (intersection) and `-X` (xor).

use std::io::{Read, Write};

use anyhow::Context;
use sshfan::nodeset::NodeSet;

use crate::args::NodesetArgs;
use crate::exit::{ExitStatus, UsageError};
use crate::hostlist::describe;

pub fn nodeset(
    args: NodesetArgs,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
) -> anyhow::Result<ExitStatus> {
    let mut sources = args.nodesets.clone();
    if sources.is_empty() || sources.iter().any(|s| s == "-") {
        let mut text = String::new();
        stdin
            .read_to_string(&mut text)
            .context("reading node sets from stdin")?;
        sources.retain(|s| s != "-");
        sources.extend(text.split_whitespace().map(str::to_owned));
    }
    let parse = |text: &str| NodeSet::parse(text).map_err(|err| UsageError(describe(&err)));
    let mut set = NodeSet::new();
    for source in &sources {
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
    let text = if args.count {
        set.len().to_string()
    } else if args.expand {
        set.sorted().join(&unescape(&args.separator))
    } else {
        set.fold()
    };
    writeln!(out, "{text}").or_else(|err| match err.kind() {
        std::io::ErrorKind::BrokenPipe => Ok(()),
        _ => Err(err),
    })?;
    Ok(ExitStatus::Success)
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
