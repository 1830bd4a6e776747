//! Host selection: `-w` expressions, `^FILE`, `-` (stdin), `-h FILE`, `-x` exclusions,
//! and ClusterShell's node groups (`@group` in any expression, `-g`, `-X`, `-a`).
//!
//! Every source yields node-set expressions, expanded in order; duplicates collapse to
//! their first occurrence unless `--allow-duplicates`. An excluded name removes a host
//! whether it matches the whole entry (`root@web1:2222`) or just its host name (`web1`).
//! Group files are read only when some expression names a group.

use std::cell::OnceCell;
use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

use anyhow::Context;
use sshfan::Host;
use sshfan::nodeset::{
    Groups, NodeSetError, expand_with_duplicates, expand_with_groups, names_a_group,
};

use crate::args::HostArgs;
use crate::exit::UsageError;

/// The hosts selected by the arguments, in order.
pub fn select(args: &HostArgs, stdin: &mut dyn Read) -> anyhow::Result<Vec<Host>> {
    let expander = Expander::default();
    let mut stdin = Some(stdin);
    let mut names = Vec::new();
    for expression in &args.hosts {
        names.extend(expander.source(expression, &mut stdin)?);
    }
    for file in &args.host_files {
        names.extend(expander.file(file)?);
    }
    for groups in &args.groups {
        names.extend(expander.expand(&as_groups(groups))?);
    }
    if args.all {
        names.extend(expander.expand("@*")?);
    }
    let mut excluded = HashSet::new();
    for expression in &args.exclude {
        excluded.extend(expander.source(expression, &mut stdin)?);
    }
    for groups in &args.exclude_groups {
        excluded.extend(expander.expand(&as_groups(groups))?);
    }
    if !args.allow_duplicates {
        let mut seen = HashSet::new();
        names.retain(|name| seen.insert(name.clone()));
    }
    let mut hosts = Vec::with_capacity(names.len());
    for name in names {
        let host = Host::parse(&name).map_err(|err| UsageError(err.to_string()))?;
        if excluded.contains(&name) || excluded.contains(&host.name) {
            continue;
        }
        hosts.push(host);
    }
    if let Some(shard) = args.shard
        && !hosts.is_empty()
    {
        return Ok(shard.select(hosts));
    }
    if let Some(count) = args.pick {
        hosts = pick(hosts, count, random_seed());
    }
    if hosts.is_empty() {
        let why = if names_no_hosts(args) {
            "no hosts given: use -w HOSTS, -h FILE, -g GROUP or -a"
        } else {
            "no hosts left to run on"
        };
        return Err(UsageError(why.to_owned()).into());
    }
    Ok(hosts)
}

/// Whether the arguments name no hosts at all.
pub fn names_no_hosts(args: &HostArgs) -> bool {
    args.hosts.is_empty() && args.host_files.is_empty() && args.groups.is_empty() && !args.all
}

/// `-g web,db`: `@web,@db` (a name already written `@web` is kept).
fn as_groups(list: &str) -> String {
    list.split(',')
        .map(str::trim)
        .filter(|group| !group.is_empty())
        .map(|group| match group.starts_with('@') {
            true => group.to_owned(),
            false => format!("@{group}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `--shard K/N`: one of N even, disjoint parts of the host list.
///
/// Hosts are dealt round-robin by their position in the selected list (after exclusions
/// and duplicate removal), so every machine given the same arguments computes the same
/// parts, whose sizes differ by at most one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based.
    index: usize,
    count: usize,
}

impl Shard {
    /// Parses `K/N` with 1 ≤ K ≤ N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not K/N (e.g. 2/8)"))?;
        let k: usize = k
            .trim()
            .parse()
            .map_err(|_| format!("`{k}` is not a number"))?;
        let n: usize = n
            .trim()
            .parse()
            .map_err(|_| format!("`{n}` is not a number"))?;
        if n == 0 || k == 0 || k > n {
            return Err(format!("shard {k}/{n}: K must be between 1 and N"));
        }
        Ok(Shard {
            index: k - 1,
            count: n,
        })
    }

    /// This shard's part of `hosts`, in order (empty when there are fewer hosts than shards).
    pub fn select<T>(self, hosts: Vec<T>) -> Vec<T> {
        hosts
            .into_iter()
            .enumerate()
            .filter(|(position, _)| position % self.count == self.index)
            .map(|(_, host)| host)
            .collect()
    }
}

/// `count` of `hosts` chosen at random (all of them when there are no more), kept in
/// their order: a partial Fisher-Yates shuffle of the positions, driven by `seed`.
fn pick<T>(hosts: Vec<T>, count: usize, seed: u64) -> Vec<T> {
    if count >= hosts.len() {
        return hosts;
    }
    let mut state = seed | 1;
    let mut next = move || {
        // xorshift64*: plenty for choosing hosts.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut positions: Vec<usize> = (0..hosts.len()).collect();
    for i in 0..count {
        let span = (positions.len() - i) as u64;
        let j = i + (next() % span) as usize;
        positions.swap(i, j);
    }
    let mut chosen = vec![false; hosts.len()];
    for &position in &positions[..count] {
        chosen[position] = true;
    }
    hosts
        .into_iter()
        .zip(chosen)
        .filter_map(|(host, keep)| keep.then_some(host))
        .collect()
}

/// A seed that differs between runs (the standard library's per-process hash keys).
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

/// Expands expressions, reading the node-group configuration the first time an
/// expression names a group.
#[derive(Default)]
pub struct Expander {
    groups: OnceCell<Result<Groups, String>>,
}

impl Expander {
    /// `^FILE`, `-` or an expression.
    fn source(
        &self,
        source: &str,
        stdin: &mut Option<&mut dyn Read>,
    ) -> anyhow::Result<Vec<String>> {
        if let Some(file) = source.strip_prefix('^') {
            return self.file(Path::new(file));
        }
        if source == "-" {
            let Some(input) = stdin.take() else {
                return Err(UsageError("`-` (stdin) can be given only once".to_owned()).into());
            };
            let mut text = String::new();
            input
                .read_to_string(&mut text)
                .context("reading hosts from stdin")?;
            return self.lines(&text, "stdin");
        }
        self.expand(source)
    }

    fn file(&self, path: &Path) -> anyhow::Result<Vec<String>> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            UsageError(format!("cannot read host file `{}`: {err}", path.display()))
        })?;
        self.lines(&text, &path.display().to_string())
    }

    /// Host-file lines: one expression each; `#` starts a comment; blank lines skipped.
    fn lines(&self, text: &str, origin: &str) -> anyhow::Result<Vec<String>> {
        let mut names = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            // Several hosts on a line, separated by spaces or tabs (or commas, as in -w).
            for word in line.split_whitespace() {
                names.extend(
                    self.expand(word)
                        .map_err(|err| UsageError(format!("{origin}:{}: {err:#}", number + 1)))?,
                );
            }
        }
        Ok(names)
    }

    /// One expression, with node groups when it names one.
    pub fn expand(&self, expression: &str) -> anyhow::Result<Vec<String>> {
        let expanded = match names_a_group(expression) {
            false => expand_with_duplicates(expression),
            true => expand_with_groups(expression, self.groups()?),
        };
        expanded.map_err(|err| UsageError(describe(&err)).into())
    }

    /// The node-group configuration, read once.
    pub fn groups(&self) -> anyhow::Result<&Groups> {
        self.groups
            .get_or_init(|| Groups::load().map_err(|err| err.to_string()))
            .as_ref()
            .map_err(|err| UsageError(format!("reading node groups: {err}")).into())
    }
}

/// The error and a caret under the bad column.
pub fn describe(err: &NodeSetError) -> String {
    format!("{err}\n{}", err.pointer())
}

#[cfg(test)]
mod shard_tests {
    use super::*;

    #[test]
    fn host_lines_split_on_whitespace_and_commas() {
        let names = Expander::default()
            .lines("a b,c\n\td[1-2]  # comment\n\n", "test")
            .unwrap();
        assert_eq!(names, ["a", "b", "c", "d1", "d2"]);
    }

    #[test]
    fn shards_are_disjoint_even_and_cover_everything() {
        let hosts: Vec<usize> = (0..10).collect();
        let parts: Vec<Vec<usize>> = (1..=3)
            .map(|k| {
                Shard::parse(&format!("{k}/3"))
                    .unwrap()
                    .select(hosts.clone())
            })
            .collect();
        assert_eq!(parts, [vec![0, 3, 6, 9], vec![1, 4, 7], vec![2, 5, 8]]);
        assert!(Shard::parse("4/2/1").is_err());
        assert_eq!(
            Shard::parse("3/8").unwrap().select(vec!['a', 'b']),
            Vec::<char>::new()
        );
        for bad in ["0/3", "4/3", "1/0", "x/3", "3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::args::Cli;

    fn hosts(args: &[&str], stdin: &str) -> anyhow::Result<Vec<String>> {
        let cli =
            Cli::try_parse_from(["sshfan"].iter().chain(args).chain(&["--", "true"])).unwrap();
        let hosts = select(&cli.run.select, &mut stdin.as_bytes())?;
        Ok(hosts.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn expressions_files_stdin_and_exclusions() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hosts");
        std::fs::write(&file, "# rack one\nweb[1-2]\n\nroot@db1:2222  # primary\n").unwrap();
        let file_arg = format!("^{}", file.display());
        assert_eq!(
            hosts(
                &["-w", "a[01-02]", "-w", &file_arg, "-w", "-", "-x", "web2"],
                "s1\ns2\n"
            )
            .unwrap(),
            ["a01", "a02", "web1", "root@db1:2222", "s1", "s2"]
        );
        assert_eq!(
            hosts(&["-h", file.to_str().unwrap(), "-x", "db1"], "").unwrap(),
            ["web1", "web2"]
        );
    }

    #[test]
    fn duplicates_collapse_unless_allowed() {
        assert_eq!(hosts(&["-w", "a,b,a", "-w", "b"], "").unwrap(), ["a", "b"]);
        assert_eq!(
            hosts(&["-w", "a,a", "--allow-duplicates"], "").unwrap(),
            ["a", "a"]
        );
    }

    #[test]
    fn ipv6_and_ports() {
        assert_eq!(
            hosts(&["-w", "[::1]:2222,u@[::1],n[1-2]:22"], "").unwrap(),
            ["[::1]:2222", "u@::1", "n1:22", "n2:22"]
        );
    }

    #[test]
    fn malformed_lists_are_usage_errors_with_a_pointer() {
        let err = hosts(&["-w", "web[1-x]"], "").unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some());
        let text = format!("{err:#}");
        assert!(text.contains("column 5"), "{text}");
        assert!(text.contains("  web[1-x]\n      ^"), "{text}");
        let err = hosts(&["-w", "^/nonexistent/hosts"], "").unwrap_err();
        assert!(format!("{err:#}").contains("cannot read host file"));
        let err = hosts(&["-w", "a", "-x", "a"], "").unwrap_err();
        assert!(format!("{err:#}").contains("no hosts left"));
    }
}
