//! `~/.ssh/config`: parsed once, resolved per host with OpenSSH's rules.
//!
//! Read: `Host` patterns (with `*`, `?`, `!` negation), `Match host/originalhost/user/all`
//! (other criteria are skipped with a debug note: their block does not apply), `Include`
//! (globs in the last path component, relative to `~/.ssh`, cycle-safe, conditional on the
//! block it appears in), `key value` and `key=value`, double-quoted arguments. For each
//! option the first value found wins, except `IdentityFile` and `CertificateFile`, which
//! accumulate. `%h %p %r %u %n %d %%` tokens are expanded where OpenSSH expands them.
//! Explicit settings (host spec, CLI, builder) override what this file says; the caller
//! applies that precedence.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::debug;

use crate::known_hosts::{pattern_list_matches, wildcard_match};

/// A file that could not be read or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SshConfigError {
    /// The file.
    pub file: String,
    /// 1-based line number (0 for the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for SshConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.file, self.message),
            line => write!(f, "{}:{line}: {}", self.file, self.message),
        }
    }
}

/// One condition of a block.
#[derive(Debug, Clone)]
enum Condition {
    /// `Host` patterns, matched against the name as given.
    Host(Vec<String>),
    /// `Match` criteria, all of which must hold.
    Match(Vec<Criterion>),
}

#[derive(Debug, Clone)]
enum Criterion {
    All,
    Host(Vec<String>),
    OriginalHost(Vec<String>),
    User(Vec<String>),
    /// A criterion this reader does not evaluate: the block never applies.
    Unsupported(String),
}

/// Options under one set of conditions (nested conditions come from `Include`).
#[derive(Debug, Clone)]
struct Block {
    conditions: Vec<Condition>,
    options: Vec<(String, Vec<String>)>,
}

/// A parsed ssh_config.
#[derive(Debug, Clone, Default)]
pub struct SshConfig {
    blocks: Vec<Block>,
}

/// What ssh_config says about one host, before explicit settings are applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostOptions {
    /// `HostName`: the address to connect to.
    pub hostname: Option<String>,
    /// `User`.
    pub user: Option<String>,
    /// `Port`.
    pub port: Option<u16>,
    /// `IdentityFile`s, tokens and `~` expanded.
    pub identity_files: Vec<PathBuf>,
    /// `IdentitiesOnly`.
    pub identities_only: Option<bool>,
    /// `IdentityAgent` (`none` disables the agent).
    pub identity_agent: Option<String>,
    /// `ProxyJump` (`none` disables).
    pub proxy_jump: Option<String>,
    /// `ProxyCommand`, tokens not yet expanded: `%h`, `%p`, `%r` depend on the final
    /// host, port and user, which explicit settings may change (`none` disables).
    pub proxy_command: Option<String>,
    /// `ConnectTimeout`.
    pub connect_timeout: Option<Duration>,
    /// `ServerAliveInterval`.
    pub server_alive_interval: Option<Duration>,
    /// `ServerAliveCountMax`.
    pub server_alive_count_max: Option<usize>,
    /// `UserKnownHostsFile`s.
    pub user_known_hosts_files: Vec<PathBuf>,
    /// `GlobalKnownHostsFile`s.
    pub global_known_hosts_files: Vec<PathBuf>,
    /// `StrictHostKeyChecking`: `yes`, `accept-new`, `no`/`off`, `ask`.
    pub strict_host_key_checking: Option<String>,
    /// `ForwardAgent`.
    pub forward_agent: Option<bool>,
    /// `Compression`.
    pub compression: Option<bool>,
    /// `CertificateFile`s.
    pub certificate_files: Vec<PathBuf>,
}

/// Most nested `Include`s followed.
const MAX_INCLUDE_DEPTH: usize = 16;

/// The keywords sshfan acts on (the fields of [`HostOptions`]); other keywords in a file
/// are ignored, as OpenSSH ignores what `IgnoreUnknown` names.
pub const SUPPORTED_KEYWORDS: [&str; 17] = [
    "CertificateFile",
    "Compression",
    "ConnectTimeout",
    "ForwardAgent",
    "GlobalKnownHostsFile",
    "HostName",
    "IdentitiesOnly",
    "IdentityAgent",
    "IdentityFile",
    "Port",
    "ProxyCommand",
    "ProxyJump",
    "ServerAliveCountMax",
    "ServerAliveInterval",
    "StrictHostKeyChecking",
    "User",
    "UserKnownHostsFile",
];

/// One option given on the command line (`ssh -o Key=Value`): it applies to every host
/// and wins over what the files say, as in OpenSSH. Only [`SUPPORTED_KEYWORDS`] are
/// accepted, so a typo or an option sshfan would silently ignore is an error naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshOption {
    key: String,
    args: Vec<String>,
}

/// `Key "arg" …`: text that parses back to the same option (each argument quoted, so
/// that spaces survive).
impl std::fmt::Display for SshOption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key)?;
        for arg in &self.args {
            match arg.contains('"') {
                true => write!(f, " {arg}")?,
                false => write!(f, " \"{arg}\"")?,
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for SshOption {
    type Err = SshConfigError;

    /// `Key=Value` or `Key Value` (double quotes as in the file).
    fn from_str(text: &str) -> Result<SshOption, SshConfigError> {
        let error = |message: String| SshConfigError {
            file: "-o".to_owned(),
            line: 0,
            message,
        };
        let (key, args) = split_line(text)
            .map_err(&error)?
            .ok_or_else(|| error("an option is `Key=Value`, e.g. `-o ConnectTimeout=5`".into()))?;
        if !SUPPORTED_KEYWORDS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(&key))
        {
            let name = text
                .split(|c: char| c == '=' || c.is_whitespace())
                .next()
                .unwrap_or(text);
            return Err(error(format!(
                "`{name}` is not an ssh_config keyword sshfan supports (supported: {})",
                SUPPORTED_KEYWORDS.join(", ")
            )));
        }
        check_value(&key, &args).map_err(error)?;
        Ok(SshOption { key, args })
    }
}

/// A value OpenSSH would refuse is refused here too (in a file, such a value is ignored).
fn check_value(key: &str, args: &[String]) -> Result<(), String> {
    let value = args.first().map(String::as_str).unwrap_or_default();
    let valid = match key {
        "port" => value.parse::<u16>().is_ok_and(|port| port > 0),
        "connecttimeout" | "serveraliveinterval" | "serveralivecountmax" => {
            value.parse::<u64>().is_ok()
        }
        "compression" | "forwardagent" | "identitiesonly" => yes_no(value).is_some(),
        "stricthostkeychecking" => matches!(
            value.to_lowercase().as_str(),
            "yes" | "no" | "off" | "accept-new" | "ask"
        ),
        _ => true,
    };
    if valid {
        Ok(())
    } else {
        Err(format!("`{value}` is not a valid value for `{key}`"))
    }
}

impl SshOption {
    /// The keyword, lowercased.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Its arguments.
    pub fn args(&self) -> &[String] {
        &self.args
    }
}

impl SshConfig {
    /// Reads `~/.ssh/config` (an absent file is an empty config).
    pub fn user_default() -> Result<SshConfig, SshConfigError> {
        match home() {
            Some(home) => SshConfig::read_optional(&home.join(".ssh").join("config")),
            None => Ok(SshConfig::default()),
        }
    }

    /// Reads a file; an absent file is an empty config.
    pub fn read_optional(path: &Path) -> Result<SshConfig, SshConfigError> {
        if !path.exists() {
            return Ok(SshConfig::default());
        }
        SshConfig::read(path)
    }

    /// Reads a file and everything it includes.
    pub fn read(path: &Path) -> Result<SshConfig, SshConfigError> {
        let mut config = SshConfig::default();
        let mut visiting = HashSet::new();
        config.include_file(path, &[], &mut visiting, 0)?;
        Ok(config)
    }

    /// This config with `options` in front: they apply to every host and win over the
    /// files' values (the first value found wins).
    pub fn with_command_line(mut self, options: &[SshOption]) -> SshConfig {
        if !options.is_empty() {
            let block = Block {
                conditions: Vec::new(),
                options: options
                    .iter()
                    .map(|option| (option.key.clone(), option.args.clone()))
                    .collect(),
            };
            self.blocks.insert(0, block);
        }
        self
    }

    /// Parses text (`Include`s are resolved relative to `~/.ssh`).
    pub fn parse(text: &str) -> Result<SshConfig, SshConfigError> {
        let mut config = SshConfig::default();
        let mut visiting = HashSet::new();
        config.parse_into(text, "<text>", &[], &mut visiting, 0)?;
        Ok(config)
    }

    fn include_file(
        &mut self,
        path: &Path,
        outer: &[Condition],
        visiting: &mut HashSet<PathBuf>,
        depth: usize,
    ) -> Result<(), SshConfigError> {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_owned());
        if !visiting.insert(canonical.clone()) {
            debug!(
                "ssh_config: {} includes itself; cycle skipped",
                path.display()
            );
            return Ok(());
        }
        let text = std::fs::read_to_string(path).map_err(|err| SshConfigError {
            file: path.display().to_string(),
            line: 0,
            message: format!("cannot read: {err}"),
        })?;
        let result = self.parse_into(&text, &path.display().to_string(), outer, visiting, depth);
        visiting.remove(&canonical);
        result
    }

    fn parse_into(
        &mut self,
        text: &str,
        file: &str,
        outer: &[Condition],
        visiting: &mut HashSet<PathBuf>,
        depth: usize,
    ) -> Result<(), SshConfigError> {
        let mut current = Block {
            conditions: outer.to_vec(),
            options: Vec::new(),
        };
        for (number, line) in text.lines().enumerate() {
            let error = |message: String| SshConfigError {
                file: file.to_owned(),
                line: number + 1,
                message,
            };
            let Some((key, args)) = split_line(line).map_err(&error)? else {
                continue;
            };
            let condition = match key.as_str() {
                "host" => Some(Condition::Host(lowercase(&args))),
                "match" => Some(Condition::Match(parse_match(&args).map_err(&error)?)),
                _ => None,
            };
            if let Some(condition) = condition {
                // A new block: under the conditions of the file's includer, and this one.
                let conditions = outer.iter().cloned().chain([condition]).collect();
                let block = Block {
                    conditions,
                    options: Vec::new(),
                };
                self.blocks.push(std::mem::replace(&mut current, block));
                continue;
            }
            match key.as_str() {
                "include" => {
                    if depth >= MAX_INCLUDE_DEPTH {
                        return Err(error("Include nested too deeply".to_owned()));
                    }
                    // Options so far keep their place before the included ones.
                    let conditions = current.conditions.clone();
                    self.blocks.push(std::mem::replace(
                        &mut current,
                        Block {
                            conditions: conditions.clone(),
                            options: Vec::new(),
                        },
                    ));
                    for pattern in &args {
                        for path in expand_include(pattern) {
                            self.include_file(&path, &conditions, visiting, depth + 1)?;
                        }
                    }
                }
                _ => current.options.push((key, args)),
            }
        }
        self.blocks.push(current);
        Ok(())
    }

    /// The options for `host` (the name as given), with `user` the user requested
    /// explicitly, if any.
    pub fn resolve(&self, host: &str, explicit_user: Option<&str>) -> HostOptions {
        let original = host.to_lowercase();
        let mut values: Vec<(String, Vec<String>)> = Vec::new();
        let mut seen = HashSet::new();
        let mut hostname = original.clone();
        let mut user: Option<String> = explicit_user.map(str::to_owned);
        for block in &self.blocks {
            let applies = block.conditions.iter().all(|condition| match condition {
                Condition::Host(patterns) => patterns_match(patterns, &original),
                Condition::Match(criteria) => criteria.iter().all(|criterion| match criterion {
                    Criterion::All => true,
                    Criterion::Host(patterns) => patterns_match(patterns, &hostname.to_lowercase()),
                    Criterion::OriginalHost(patterns) => patterns_match(patterns, &original),
                    Criterion::User(patterns) => {
                        let user = user.clone().unwrap_or_else(local_user);
                        patterns_match(patterns, &user)
                    }
                    Criterion::Unsupported(name) => {
                        debug!("ssh_config: `Match {name}` is not supported; block skipped");
                        false
                    }
                }),
            });
            if !applies {
                continue;
            }
            for (key, args) in &block.options {
                let accumulates = key == "identityfile" || key == "certificatefile";
                if accumulates || seen.insert(key.clone()) {
                    if key == "hostname"
                        && let Some(name) = args.first()
                    {
                        hostname = name.replace("%h", host);
                    }
                    if key == "user" && user.is_none() {
                        user = args.first().cloned();
                    }
                    values.push((key.clone(), args.clone()));
                }
            }
        }
        build_options(host, explicit_user, &values)
    }
}

/// Turns the winning values into typed options, expanding tokens.
fn build_options(
    host: &str,
    explicit_user: Option<&str>,
    values: &[(String, Vec<String>)],
) -> HostOptions {
    let mut options = HostOptions::default();
    let first = |key: &str| {
        values
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, args)| args.first().cloned())
    };
    options.hostname = first("hostname").map(|h| h.replace("%h", host).replace("%%", "%"));
    options.user = first("user");
    options.port = first("port").and_then(|p| p.parse().ok());
    let remote_host = options.hostname.clone().unwrap_or_else(|| host.to_owned());
    let port = options.port.unwrap_or(22);
    let remote_user = explicit_user
        .map(str::to_owned)
        .or_else(|| options.user.clone())
        .unwrap_or_else(local_user);
    let tokens = Tokens {
        host: &remote_host,
        original: host,
        port,
        user: &remote_user,
    };
    let paths = |key: &str| -> Vec<PathBuf> {
        values
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, args)| args.iter())
            .map(|arg| tokens.path(arg))
            .collect()
    };
    options.identity_files = paths("identityfile");
    options.certificate_files = paths("certificatefile");
    options.user_known_hosts_files = values
        .iter()
        .find(|(k, _)| k == "userknownhostsfile")
        .map(|(_, args)| args.iter().map(|a| tokens.path(a)).collect())
        .unwrap_or_default();
    options.global_known_hosts_files = values
        .iter()
        .find(|(k, _)| k == "globalknownhostsfile")
        .map(|(_, args)| args.iter().map(|a| tokens.path(a)).collect())
        .unwrap_or_default();
    options.identities_only = first("identitiesonly").and_then(|v| yes_no(&v));
    options.identity_agent = first("identityagent").map(|v| tokens.expand(&v));
    options.proxy_jump = first("proxyjump").map(|v| tokens.expand(&v));
    options.proxy_command = values
        .iter()
        .find(|(k, _)| k == "proxycommand")
        .map(|(_, args)| args.join(" "));
    options.connect_timeout = first("connecttimeout")
        .and_then(|v| v.parse().ok())
        .map(Duration::from_secs);
    options.server_alive_interval = first("serveraliveinterval")
        .and_then(|v| v.parse().ok())
        .filter(|&s: &u64| s > 0)
        .map(Duration::from_secs);
    options.server_alive_count_max = first("serveralivecountmax").and_then(|v| v.parse().ok());
    options.strict_host_key_checking = first("stricthostkeychecking").map(|v| v.to_lowercase());
    options.forward_agent = first("forwardagent").and_then(|v| yes_no(&v));
    options.compression = first("compression").and_then(|v| yes_no(&v));
    options
}

/// Values for `%` tokens.
struct Tokens<'a> {
    host: &'a str,
    original: &'a str,
    port: u16,
    user: &'a str,
}

impl Tokens<'_> {
    fn expand(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('h') => out.push_str(self.host),
                Some('n') => out.push_str(self.original),
                Some('p') => out.push_str(&self.port.to_string()),
                Some('r') => out.push_str(self.user),
                Some('u') => out.push_str(&local_user()),
                Some('d') => {
                    out.push_str(&home().map(|h| h.display().to_string()).unwrap_or_default())
                }
                Some('%') => out.push('%'),
                Some(other) => {
                    out.push('%');
                    out.push(other);
                }
                None => out.push('%'),
            }
        }
        out
    }

    fn path(&self, text: &str) -> PathBuf {
        expand_tilde(&self.expand(text))
    }
}

fn yes_no(value: &str) -> Option<bool> {
    match value.to_lowercase().as_str() {
        "yes" | "true" => Some(true),
        "no" | "false" => Some(false),
        _ => None,
    }
}

fn lowercase(args: &[String]) -> Vec<String> {
    args.iter().map(|a| a.to_lowercase()).collect()
}

/// `Host`/`Match host` semantics: comma- or space-separated patterns, matched like
/// known_hosts patterns (a negated match vetoes).
fn patterns_match(patterns: &[String], name: &str) -> bool {
    let split: Vec<&str> = patterns.iter().flat_map(|p| p.split(',')).collect();
    pattern_list_matches(&split, name)
}

fn parse_match(args: &[String]) -> Result<Vec<Criterion>, String> {
    let mut criteria = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let name = word.to_lowercase();
        let mut value = || {
            words
                .next()
                .map(|v| vec![v.to_lowercase()])
                .ok_or_else(|| format!("`Match {name}` needs an argument"))
        };
        criteria.push(match name.as_str() {
            "all" => Criterion::All,
            "host" => Criterion::Host(value()?),
            "originalhost" => Criterion::OriginalHost(value()?),
            "user" => Criterion::User(value()?),
            "canonical" | "final" => Criterion::Unsupported(name),
            _ => {
                let _ = value();
                Criterion::Unsupported(name)
            }
        });
    }
    if criteria.is_empty() {
        return Err("`Match` needs criteria".to_owned());
    }
    Ok(criteria)
}

/// Splits `Key value…` / `Key=value…` into a lowercased key and its arguments;
/// `None` for blank lines and comments.
fn split_line(line: &str) -> Result<Option<(String, Vec<String>)>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let split_at = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let (key, rest) = line.split_at(split_at);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
    let mut args = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut in_word = false;
    for c in rest.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    args.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quoted {
        return Err("unterminated quote".to_owned());
    }
    if in_word {
        args.push(word);
    }
    if args.is_empty() {
        return Err(format!("`{key}` needs a value"));
    }
    Ok(Some((key.to_lowercase(), args)))
}

/// Files an `Include` argument names: `~` expanded, relative to `~/.ssh`, with wildcards
/// in the file name, sorted.
fn expand_include(pattern: &str) -> Vec<PathBuf> {
    let mut path = expand_tilde(pattern);
    if path.is_relative()
        && let Some(home) = home()
    {
        path = home.join(".ssh").join(path);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return if path.exists() {
            vec![path]
        } else {
            Vec::new()
        };
    }
    let dir = path.parent().map(Path::to_owned).unwrap_or_default();
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            wildcard_match(
                name.as_bytes(),
                entry.file_name().to_string_lossy().as_bytes(),
            )
        })
        .map(|entry| entry.path())
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found
}

fn expand_tilde(text: &str) -> PathBuf {
    match (text.strip_prefix("~/"), home()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ if text == "~" => home().unwrap_or_default(),
        _ => PathBuf::from(text),
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

fn local_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "root".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_wins_and_identities_accumulate() {
        let config = SshConfig::parse(
            "Host web*\n  User deploy\n  IdentityFile /k/web\n  Port=2200\n\
             Host *\n  User nobody\n  IdentityFile /k/all\n  Port 22\n  ConnectTimeout 7\n",
        )
        .unwrap();
        let web = config.resolve("web1", None);
        assert_eq!(web.user.as_deref(), Some("deploy"));
        assert_eq!(web.port, Some(2200));
        assert_eq!(
            web.identity_files,
            [PathBuf::from("/k/web"), PathBuf::from("/k/all")]
        );
        assert_eq!(web.connect_timeout, Some(Duration::from_secs(7)));
        let db = config.resolve("db1", None);
        assert_eq!(db.user.as_deref(), Some("nobody"));
        assert_eq!(db.port, Some(22));
    }

    /// An option's text parses back to the same option (an agent receives `-o` as text).
    #[test]
    fn option_text_round_trips() {
        for text in [
            "ConnectTimeout=3",
            "IdentityFile \"/k/with space\"",
            "user ops",
        ] {
            let option: SshOption = text.parse().unwrap();
            let again: SshOption = option.to_string().parse().unwrap();
            assert_eq!(option, again, "{text} → {option}");
        }
    }

    /// `-o` options apply to every host and win over the file; keywords sshfan would
    /// ignore, conditions and malformed options are refused, naming the keyword.
    #[test]
    fn command_line_options_win_and_are_checked() {
        let file = SshConfig::parse("Host web*\n  User deploy\n  ConnectTimeout 7\n").unwrap();
        let options: Vec<SshOption> = ["ConnectTimeout=3", "user ops", "IdentityFile=/k/a"]
            .iter()
            .map(|text| text.parse().unwrap())
            .collect();
        let config = file.with_command_line(&options);
        let web = config.resolve("web1", None);
        assert_eq!(web.connect_timeout, Some(Duration::from_secs(3)));
        assert_eq!(web.user.as_deref(), Some("ops"));
        assert_eq!(web.identity_files, [PathBuf::from("/k/a")]);
        for (text, named) in [
            ("StrictHostKeyCheckin=no", "StrictHostKeyCheckin"),
            ("Host=web1", "Host"),
            ("Include /etc/passwd", "Include"),
            ("SendEnv LANG", "SendEnv"),
        ] {
            let err = text.parse::<SshOption>().unwrap_err().to_string();
            assert!(err.contains(&format!("`{named}`")), "{text}: {err}");
            assert!(
                err.contains("StrictHostKeyChecking"),
                "lists what works: {err}"
            );
        }
        let err = "ConnectTimeout"
            .parse::<SshOption>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs a value"), "{err}");
        for bad in [
            "Port=0",
            "ConnectTimeout=soon",
            "Compression=maybe",
            "StrictHostKeyChecking=x",
        ] {
            let err = bad.parse::<SshOption>().unwrap_err().to_string();
            assert!(err.contains("not a valid value"), "{bad}: {err}");
        }
        let err = "".parse::<SshOption>().unwrap_err().to_string();
        assert!(err.contains("Key=Value"), "{err}");
    }

    #[test]
    fn host_negation_and_match() {
        let config = SshConfig::parse(
            "Host *.prod !bastion.prod\n  ProxyJump bastion.prod\n\
             Match originalhost db* user admin\n  Port 5022\n\
             Match host 10.0.0.*\n  User tenzero\n\
             Host alias\n  HostName 10.0.0.9\n\
             Match exec \"true\"\n  Port 1\n\
             Match all\n  Compression yes\n",
        )
        .unwrap();
        assert_eq!(
            config.resolve("a.prod", None).proxy_jump.as_deref(),
            Some("bastion.prod")
        );
        assert_eq!(config.resolve("bastion.prod", None).proxy_jump, None);
        assert_eq!(config.resolve("db1", Some("admin")).port, Some(5022));
        assert_eq!(config.resolve("db1", Some("other")).port, None);
        // `Match host` sees the HostName set earlier... but `alias` is set after the
        // `Match host` block, so it does not apply; a direct address does.
        assert_eq!(
            config.resolve("10.0.0.1", None).user.as_deref(),
            Some("tenzero")
        );
        let alias = config.resolve("alias", None);
        assert_eq!(alias.hostname.as_deref(), Some("10.0.0.9"));
        assert_eq!(alias.user, None);
        assert_eq!(alias.port, None, "unsupported Match criteria never apply");
        assert_eq!(alias.compression, Some(true));
    }

    #[test]
    fn tokens() {
        let config = SshConfig::parse(
            "Host j*\n  HostName %h.example.com\n  User ops\n  Port 2022\n\
             IdentityFile /keys/%r@%h:%p-%n%%\n  ProxyCommand nc %h %p\n",
        )
        .unwrap();
        let options = config.resolve("jump", None);
        assert_eq!(options.hostname.as_deref(), Some("jump.example.com"));
        assert_eq!(
            options.identity_files,
            [PathBuf::from("/keys/ops@jump.example.com:2022-jump%")]
        );
        assert_eq!(options.proxy_command.as_deref(), Some("nc %h %p"));
    }

    #[test]
    fn include_globs_conditions_and_cycles() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("conf.d")).unwrap();
        std::fs::write(d.join("conf.d/b.conf"), "Port 2002\n").unwrap();
        std::fs::write(d.join("conf.d/a.conf"), "User from-a\nInclude ../main\n").unwrap();
        std::fs::write(
            d.join("main"),
            format!(
                "Host special\n  Include {}/conf.d/*.conf\nHost *\n  Port 9\n  User last\n",
                d.display()
            ),
        )
        .unwrap();
        let config = SshConfig::read(&d.join("main")).unwrap();
        let special = config.resolve("special", None);
        assert_eq!(special.user.as_deref(), Some("from-a"));
        assert_eq!(
            special.port,
            Some(2002),
            "b.conf after a.conf, both before Host *"
        );
        let other = config.resolve("other", None);
        assert_eq!(
            other.user.as_deref(),
            Some("last"),
            "includes under Host special stay conditional"
        );
        assert_eq!(other.port, Some(9));
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = SshConfig::parse("Host a\n  User\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(SshConfig::parse("Match\n").is_err());
        assert!(SshConfig::parse("ProxyCommand \"nc %h\n").is_err());
        assert_eq!(
            split_line("Key = \"a b\" c").unwrap(),
            Some(("key".to_owned(), vec!["a b".to_owned(), "c".to_owned()]))
        );
    }
}
