//! Node groups, as ClusterShell defines them: `@compute`, `@racks:rack[1-4]`, `@*`.
//!
//! Operators of clush and pdsh name their machines by role, rack or partition; a tool
//! that replaces clush must read the groups they already wrote. [`Groups::load`] reads
//! ClusterShell's configuration as ClusterShell does:
//! - `groups.conf` from `$CLUSTERSHELL_CFGDIR` when set, else from `/etc/clustershell`,
//!   `$XDG_CONFIG_HOME/clustershell` (or `~/.config/clustershell`) and
//!   `~/.local/etc/clustershell`, later files overriding earlier ones; `$CFGDIR` is the
//!   directory of the last one found. Its `[Main]` section names the `default` source,
//!   `confdir` (`groupsdir`) directories of `.conf` files with more sources, and `autodir`
//!   directories of YAML group files. Without any `groups.conf`, the YAML files of each
//!   of those directories' `groups.d` are read.
//! - Other sections are sources resolved by shell commands (upcalls): `map` (`$GROUP`
//!   is set in the command's environment), `all` and `list`.
//! - YAML files (`*.yaml` in an autodir): each top-level mapping is a source, each key a
//!   group, each value a node set (a string, or a list of strings). A definition may use
//!   groups of its own source (`@adm`) or of another (`@lustre:oss`).
//!
//! `@group` uses the default source (the `default` setting, else the first YAML source);
//! `@*` and `@source:*` are all nodes of a source: its `all` upcall or group, else the
//! union of its groups. Unlike ClusterShell, a group that does not exist is an error
//! naming it, never an empty set.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use indexmap::IndexMap;

/// Most levels of groups defined by other groups.
const MAX_DEPTH: usize = 16;

/// A group configuration that could not be read, or a group that cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct GroupError {
    /// What is wrong, naming the file, source or group.
    pub message: String,
}

fn error(message: impl Into<String>) -> GroupError {
    GroupError {
        message: message.into(),
    }
}

/// Where a source's groups come from.
#[derive(Debug, Clone)]
enum Source {
    /// A YAML mapping: group name → node-set expression.
    Static(IndexMap<String, String>),
    /// Shell commands from a `groups.conf` section.
    Upcalls {
        map: Option<String>,
        all: Option<String>,
        list: Option<String>,
        /// `$CFGDIR` for the commands.
        cfgdir: PathBuf,
    },
}

/// Every group source configured, with the default one.
#[derive(Debug, Clone, Default)]
pub struct Groups {
    /// Shared: resolving a group within its own source copies only the pointer.
    sources: Arc<IndexMap<String, Source>>,
    default: Option<String>,
}

impl Groups {
    /// Reads ClusterShell's configuration from the usual places (see the module docs).
    /// No configuration at all gives no sources (every `@group` is then an error).
    pub fn load() -> Result<Groups, GroupError> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let mut candidates = Vec::new();
        match std::env::var_os("CLUSTERSHELL_CFGDIR") {
            Some(dir) if Path::new(&dir).is_dir() => candidates.push(PathBuf::from(dir)),
            _ => {
                candidates.push(PathBuf::from("/etc/clustershell"));
                match std::env::var_os("XDG_CONFIG_HOME") {
                    Some(xdg) => candidates.push(Path::new(&xdg).join("clustershell")),
                    None => candidates.extend(home.iter().map(|h| h.join(".config/clustershell"))),
                }
                candidates.extend(home.iter().map(|h| h.join(".local/etc/clustershell")));
            }
        }
        let mut sections: IndexMap<String, IndexMap<String, String>> = IndexMap::new();
        let mut cfgdir = None;
        for dir in &candidates {
            let file = dir.join("groups.conf");
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            for (name, keys) in parse_ini(&text, &file)? {
                sections.entry(name).or_default().extend(keys);
            }
            cfgdir = Some(dir.clone());
        }
        let Some(cfgdir) = cfgdir else {
            // No groups.conf: the default autodir, `groups.d` of each configuration
            // directory (`$CLUSTERSHELL_CFGDIR/groups.d` when it is set).
            let mut groups = Groups::default();
            for dir in &candidates {
                groups.read_yaml_dir(&dir.join("groups.d"))?;
            }
            return Ok(groups);
        };
        Groups::from_sections(sections, &cfgdir)
    }

    /// Groups from `groups.conf` sections, `$CFGDIR` being `cfgdir`.
    fn from_sections(
        mut sections: IndexMap<String, IndexMap<String, String>>,
        cfgdir: &Path,
    ) -> Result<Groups, GroupError> {
        let cfg = cfgdir.to_string_lossy();
        let main = sections.shift_remove("Main").unwrap_or_default();
        let dirs = |key: &str| -> Vec<PathBuf> {
            main.get(key)
                .map(|value| {
                    value
                        .split_whitespace()
                        .map(|dir| PathBuf::from(dir.replace("$CFGDIR", &cfg)))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut groups = Groups {
            sources: Arc::default(),
            default: main.get("default").cloned(),
        };
        let confdirs = match dirs("groupsdir") {
            found if !found.is_empty() => found,
            _ => dirs("confdir"),
        };
        for dir in dedup(confdirs) {
            for file in files_ending(&dir, ".conf") {
                // Unreadable files are skipped, as ClusterShell does.
                if let Ok(text) = std::fs::read_to_string(&file) {
                    sections.extend(parse_ini(&text, &file)?);
                }
            }
        }
        for (name, keys) in sections {
            Arc::make_mut(&mut groups.sources).insert(
                name,
                Source::Upcalls {
                    map: keys.get("map").cloned(),
                    all: keys.get("all").cloned(),
                    list: keys.get("list").cloned(),
                    cfgdir: cfgdir.to_owned(),
                },
            );
        }
        for dir in dedup(dirs("autodir")) {
            groups.read_yaml_dir(&dir)?;
        }
        Ok(groups)
    }

    /// Groups from YAML text (one file of an autodir), for tests and programs that keep
    /// their groups elsewhere.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Groups, GroupError> {
        let mut groups = Groups::default();
        groups.add_yaml(text, origin)?;
        Ok(groups)
    }

    fn read_yaml_dir(&mut self, dir: &Path) -> Result<(), GroupError> {
        for file in files_ending(dir, ".yaml") {
            if let Ok(text) = std::fs::read_to_string(&file) {
                self.add_yaml(&text, &file.display().to_string())?;
            }
        }
        Ok(())
    }

    fn add_yaml(&mut self, text: &str, origin: &str) -> Result<(), GroupError> {
        for (source, groups) in parse_yaml(text, origin)? {
            self.default.get_or_insert_with(|| source.clone());
            Arc::make_mut(&mut self.sources).insert(source, Source::Static(groups));
        }
        Ok(())
    }

    /// These groups with `source` as the default source (`nodeset -s`, `clush -s`).
    pub fn with_default_source(mut self, source: &str) -> Result<Groups, GroupError> {
        self.source(Some(source))?;
        self.default = Some(source.to_owned());
        Ok(self)
    }

    /// Whether any source is configured.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The source names, the default first.
    pub fn sources(&self) -> Vec<String> {
        let mut names: Vec<String> = self.sources.keys().cloned().collect();
        if let Some(default) = &self.default {
            names.sort_by_key(|name| name != default);
        }
        names
    }

    /// The group names of a source (the default one when `None`), in definition order.
    pub fn list(&self, source: Option<&str>) -> Result<Vec<String>, GroupError> {
        let (_, found) = self.source(source)?;
        match found {
            Source::Static(groups) => Ok(groups.keys().cloned().collect()),
            Source::Upcalls { list, cfgdir, .. } => {
                let Some(list) = list else {
                    return Err(error("this group source has no `list` upcall"));
                };
                Ok(upcall(list, cfgdir, None)?
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect())
            }
        }
    }

    /// The node-set expression of `@group` (`@source:group`), or of all nodes for `*`.
    /// It may name other groups; a source's own groups need no `source:` prefix.
    pub fn members(&self, source: Option<&str>, group: &str) -> Result<String, GroupError> {
        let (name, found) = self.source(source)?;
        let unknown = || {
            error(format!(
                "unknown node group `@{name}:{group}` (groups of source `{name}`: {})",
                self.list(Some(name))
                    .map(|names| names.join(", "))
                    .unwrap_or_default()
            ))
        };
        match found {
            Source::Static(groups) if group == "*" => Ok(match groups.get("all") {
                Some(all) => all.clone(),
                None => groups.values().cloned().collect::<Vec<_>>().join(","),
            }),
            Source::Static(groups) => groups.get(group).cloned().ok_or_else(unknown),
            Source::Upcalls {
                map, all, cfgdir, ..
            } => {
                let output = if group == "*" {
                    match all {
                        Some(all) => upcall(all, cfgdir, None)?,
                        None => {
                            let mut names = Vec::new();
                            for group in self.list(Some(name))? {
                                names.push(self.members(Some(name), &group)?);
                            }
                            return Ok(names.join(","));
                        }
                    }
                } else {
                    let Some(map) = map else {
                        return Err(error(format!("group source `{name}` has no `map` upcall")));
                    };
                    upcall(map, cfgdir, Some(group))?
                };
                if output.trim().is_empty() {
                    return Err(unknown());
                }
                Ok(output.split_whitespace().collect::<Vec<_>>().join(","))
            }
        }
    }

    /// The source named `source` (the default one when `None`), with its name.
    fn source(&self, source: Option<&str>) -> Result<(&str, &Source), GroupError> {
        let name = match source.or(self.default.as_deref()) {
            Some(name) => name,
            None if self.sources.is_empty() => {
                return Err(error(
                    "no node groups are configured (ClusterShell's groups.conf or \
                     groups.d/*.yaml under /etc/clustershell or ~/.local/etc/clustershell)",
                ));
            }
            None => return Err(error("no default group source is configured")),
        };
        self.sources
            .get_key_value(name)
            .map(|(name, source)| (name.as_str(), source))
            .ok_or_else(|| {
                error(format!(
                    "unknown group source `{name}` (configured: {})",
                    self.sources().join(", ")
                ))
            })
    }

    /// `@group` as names: the group's definition expanded, with groups it names
    /// resolved in its source.
    pub(crate) fn resolve(&self, term: &str, depth: usize) -> Result<Vec<String>, GroupError> {
        if depth > MAX_DEPTH {
            return Err(error(format!(
                "node group `{term}` is defined in terms of itself (or nests more than \
                 {MAX_DEPTH} levels)"
            )));
        }
        let reference = term.strip_prefix('@').unwrap_or(term);
        let (source, group) = match reference.split_once(':') {
            Some((source, group)) => (Some(source), group),
            None => (None, reference),
        };
        let (source_name, _) = self.source(source)?;
        let expression = self.members(Some(source_name), group)?;
        // Groups named without a source inside a definition are the definition's own.
        let scoped = Groups {
            sources: self.sources.clone(),
            default: Some(source_name.to_owned()),
        };
        super::expand_with(&expression, Some(&scoped), depth + 1)
            .map_err(|err| error(format!("in node group `@{source_name}:{group}`: {err}")))
    }
}

/// Runs an upcall with `sh -c`, `$GROUP` and `$CFGDIR` in its environment (never pasted
/// into the command text, so a group name cannot inject shell syntax).
fn upcall(command: &str, cfgdir: &Path, group: Option<&str>) -> Result<String, GroupError> {
    let mut process = Command::new("/bin/sh");
    process.arg("-c").arg(command).env("CFGDIR", cfgdir);
    if let Some(group) = group {
        process.env("GROUP", group);
    }
    let output = process
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|err| error(format!("cannot run group upcall `{command}`: {err}")))?;
    if !output.status.success() {
        return Err(error(format!(
            "group upcall `{command}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn dedup(dirs: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut seen = Vec::new();
    for dir in dirs {
        if !seen.contains(&dir) {
            seen.push(dir);
        }
    }
    seen
}

/// The files of `dir` whose names end with `suffix`, sorted (none if it is unreadable).
fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.to_string_lossy().ends_with(suffix) && path.is_file())
        .collect();
    files.sort();
    files
}

/// `[section]` and `key: value` / `key = value` lines (Python's ConfigParser, without
/// interpolation or continuation lines).
fn parse_ini(
    text: &str,
    file: &Path,
) -> Result<IndexMap<String, IndexMap<String, String>>, GroupError> {
    let mut sections: IndexMap<String, IndexMap<String, String>> = IndexMap::new();
    let mut current: Option<String> = None;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let bad = |what: &str| error(format!("{}:{}: {what}", file.display(), number + 1));
        if let Some(name) = trimmed.strip_prefix('[') {
            let name = name.strip_suffix(']').ok_or_else(|| bad("missing `]`"))?;
            current = Some(name.trim().to_owned());
            sections.entry(name.trim().to_owned()).or_default();
            continue;
        }
        let Some(section) = &current else {
            return Err(bad("a setting before any [section]"));
        };
        let split = trimmed
            .find([':', '='])
            .ok_or_else(|| bad("expected `key: value`"))?;
        let (key, value) = trimmed.split_at(split);
        sections
            .entry(section.clone())
            .or_default()
            .insert(key.trim().to_lowercase(), value[1..].trim().to_owned());
    }
    Ok(sections)
}

/// The YAML that group files use: top-level `source:` keys, each with indented
/// `group: value` entries, a value being a scalar (plain or quoted), a flow list
/// `[a, b]`, a block list of `- item` lines, or empty / `null` / `~` (an empty group).
fn parse_yaml(
    text: &str,
    origin: &str,
) -> Result<IndexMap<String, IndexMap<String, String>>, GroupError> {
    // Sources in file order: the first is the default when none is configured.
    let mut sources: IndexMap<String, IndexMap<String, String>> = IndexMap::new();
    let mut source: Option<String> = None;
    let mut group: Option<(String, usize)> = None;
    for (number, raw) in text.lines().enumerate() {
        let bad = |what: &str| error(format!("{origin}:{}: {what}", number + 1));
        let line = strip_comment(raw);
        if line.trim().is_empty() || line.trim() == "---" {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let content = line.trim();
        if indent == 0 {
            let key = content
                .strip_suffix(':')
                .ok_or_else(|| bad("expected `source:` at the start of a line"))?;
            let key = unquote(key.trim());
            sources.entry(key.clone()).or_default();
            source = Some(key);
            group = None;
            continue;
        }
        let Some(source_name) = &source else {
            return Err(bad("a group outside any source"));
        };
        let groups = sources.entry(source_name.clone()).or_default();
        if let Some(item) = content
            .strip_prefix("- ")
            .or((content == "-").then_some(""))
        {
            let Some((name, group_indent)) = &group else {
                return Err(bad("a list item outside any group"));
            };
            if indent <= *group_indent {
                return Err(bad("a list item must be indented under its group"));
            }
            let entry = groups.entry(name.clone()).or_default();
            let item = unquote(item.trim());
            if !item.is_empty() {
                if !entry.is_empty() {
                    entry.push(',');
                }
                entry.push_str(&item);
            }
            continue;
        }
        let (key, value) = split_key(content).ok_or_else(|| bad("expected `group: nodes`"))?;
        let value = value.trim();
        let value = if let Some(list) = value.strip_prefix('[') {
            let list = list
                .strip_suffix(']')
                .ok_or_else(|| bad("a flow list must end with `]` on its line"))?;
            list.split(',')
                .map(|item| unquote(item.trim()))
                .filter(|item| !item.is_empty())
                .collect::<Vec<_>>()
                .join(",")
        } else if matches!(value, "null" | "~" | "''" | "\"\"") {
            String::new()
        } else {
            unquote(value)
        };
        groups.insert(unquote(key.trim()), value);
        group = Some((unquote(key.trim()), indent));
    }
    Ok(sources)
}

/// `key: value`, the colon outside quotes and brackets (`@a:b` values stay whole).
fn split_key(content: &str) -> Option<(&str, &str)> {
    let at = content
        .find(": ")
        .or_else(|| content.strip_suffix(':').map(str::len))?;
    Some((&content[..at], content.get(at + 1..).unwrap_or_default()))
}

/// The line without a `#` comment (a `#` outside quotes, at the start or after a space).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if previous.is_whitespace() => return &line[..at],
            _ => {}
        }
        previous = c;
    }
    line
}

fn unquote(text: &str) -> String {
    for quote in ['\'', '"'] {
        if let Some(inner) = text
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return inner.to_owned();
        }
    }
    text.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodeset::NodeSet;

    /// ClusterShell's documented example (groups.d/cluster.yaml), comments and all.
    const CLUSTER_YAML: &str = r#"
roles:
    adm: 'mgmt[1-2]'                 # define groups @roles:adm and @adm
    login: 'login[1-2]'
    compute: 'node[0001-0288]'
    gpu: 'node[0001-0008]'

    servers:                         # example of yaml list syntax for nodes
        - 'server001'                # in a group
        - 'server002,server101'
        - 'server[003-006]'

    cpu_only: '@compute!@gpu'        # example of inline set operation
    storage: '@lustre:mds,@lustre:oss' # example of external source reference
    empty: ~
    flow: [a1, "a2"]

lustre:
    mds: 'mds[1-4]'
    oss: 'oss[0-15]'
    rbh: 'rbh[1-2]'
"#;

    fn fold(expression: &str, groups: &Groups) -> String {
        NodeSet::parse_with_groups(expression, groups)
            .map(|set| set.fold())
            .unwrap_or_else(|err| format!("error: {err}"))
    }

    #[test]
    fn yaml_sources_groups_and_references() {
        let groups = Groups::from_yaml(CLUSTER_YAML, "cluster.yaml").unwrap();
        assert_eq!(groups.sources(), ["roles", "lustre"]);
        assert_eq!(fold("@adm", &groups), "mgmt[1-2]");
        assert_eq!(fold("@roles:login,@adm", &groups), "login[1-2],mgmt[1-2]");
        assert_eq!(fold("@servers", &groups), "server[001-006,101]");
        assert_eq!(fold("@cpu_only", &groups), "node[0009-0288]");
        assert_eq!(fold("@storage", &groups), "mds[1-4],oss[0-15]");
        assert_eq!(fold("@lustre:*", &groups), "mds[1-4],oss[0-15],rbh[1-2]");
        assert_eq!(fold("@flow", &groups), "a[1-2]");
        assert_eq!(fold("@empty,x1", &groups), "x1");
        // Ranges on group names, operators between groups and names.
        assert_eq!(
            fold("@lustre:[mds,rbh]", &groups),
            "error: invalid node set `@lustre:[mds,rbh]` at column 10: not a number or range `mds`"
        );
        assert_eq!(fold("@adm,login1!mgmt1", &groups), "login1,mgmt2");
        assert_eq!(groups.list(Some("lustre")).unwrap(), ["mds", "oss", "rbh"]);
        // A user@host term is not a group.
        assert_eq!(fold("root@web1", &groups), "root@web1");
    }

    #[test]
    fn unknown_groups_sources_and_cycles_are_errors_naming_them() {
        let groups = Groups::from_yaml(CLUSTER_YAML, "cluster.yaml").unwrap();
        let err = fold("@web", &groups);
        assert!(err.contains("unknown node group `@roles:web`"), "{err}");
        assert!(err.contains("adm, login"), "lists what exists: {err}");
        let err = fold("@nosuch:web", &groups);
        assert!(err.contains("unknown group source `nosuch`"), "{err}");
        let err = fold("@web", &Groups::default());
        assert!(err.contains("no node groups are configured"), "{err}");
        let looping = Groups::from_yaml("s:\n  a: '@b'\n  b: '@a'\n", "loop.yaml").unwrap();
        let err = fold("@a", &looping);
        assert!(err.contains("defined in terms of itself"), "{err}");
        let numbered =
            Groups::from_yaml("racks:\n  rack1: 'n[1-2]'\n  rack2: n3\n", "r.yaml").unwrap();
        assert_eq!(fold("@rack[1-2]", &numbered), "n[1-3]");
        assert_eq!(fold("@*", &numbered), "n[1-3]");
        for bad in ["s:\n- x\n", "  a: b\n", "s\n", "s:\n  a: [x, y\n"] {
            assert!(Groups::from_yaml(bad, "bad.yaml").is_err(), "{bad:?}");
        }
    }

    /// groups.conf sources resolved by upcalls: `$GROUP` reaches the command through its
    /// environment, so a group name cannot inject shell syntax.
    #[test]
    fn upcall_sources_from_groups_conf() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("groups");
        std::fs::write(&file, "web: web[1-3]\ndb: db1 db2\nall: web[1-3],db[1-2]\n").unwrap();
        let conf = "[Main]\ndefault: local\n\n[local]\nmap: sed -n \"s/^$GROUP:\\(.*\\)/\\1/p\" $CFGDIR/groups\n\
             all: sed -n 's/^all:\\(.*\\)/\\1/p' $CFGDIR/groups\n\
             list: sed -n 's/^\\([0-9A-Za-z_-]*\\):.*/\\1/p' $CFGDIR/groups\n";
        let sections = parse_ini(conf, Path::new("groups.conf")).unwrap();
        let groups = Groups::from_sections(sections, dir.path()).unwrap();
        assert_eq!(fold("@web", &groups), "web[1-3]");
        assert_eq!(fold("@db", &groups), "db[1-2]");
        assert_eq!(fold("@*", &groups), "db[1-2],web[1-3]");
        assert_eq!(groups.list(None).unwrap(), ["web", "db", "all"]);
        let err = fold("@nosuch", &groups);
        assert!(err.contains("unknown node group `@local:nosuch`"), "{err}");
        let marker = dir.path().join("injected");
        let hostile = format!("@x;touch {}", marker.display());
        let _ = fold(&hostile, &groups);
        assert!(!marker.exists(), "a group name ran a command");
    }
}
