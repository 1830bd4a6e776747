//! Outlier gather: among thousands of hosts, the few whose output really differs.
//!
//! Gathering identical outputs (clush `-b`) breaks down when every host's output is
//! unique only because of what is unique to a host: its name, its addresses, an uptime,
//! a timestamp, a UUID. A [`Normalizer`] replaces those with placeholders (`<host>`,
//! `<ip>`, `<n>`, `<time>`, `<uuid>`, `<hex>`) first; [`group_outputs`] then groups the
//! hosts by what is left, the largest group first, and gives every other group as a
//! unified diff against it. So 10,000 `uname -a` read as one line plus the exceptions.
//!
//! Each [`Rule`] can be turned off, and a program adds its own patterns
//! ([`Normalizer::pattern`]). Numbers inside words (`eth0`, `x86_64`) and dotted numbers
//! (versions such as `5.15.0`, decimals) are kept: a version that differs is what an
//! outlier gather is for.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use indexmap::IndexMap;
use regex::Regex;

/// What a [`Normalizer`] replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// `host`: the host's own names and addresses (as given to [`Normalizer::normalize`]),
    /// as `<host>`.
    HostName,
    /// `uuid`: UUIDs, as `<uuid>`.
    Uuid,
    /// `time`: dates and times (`2026-12-04T21:30:00Z`, `21:30:00`, `Dec  4`), as `<time>`.
    Timestamp,
    /// `ip`: IPv4 and IPv6 addresses, as `<ip>`.
    Address,
    /// `hex`: hexadecimal ids of 8 digits or more (`0x…`, hashes), as `<hex>`.
    HexId,
    /// `number`: whole numbers standing alone (not in a word, not dotted), as `<n>`.
    Number,
}

impl Rule {
    /// Every rule, in the order they apply.
    pub const ALL: [Rule; 6] = [
        Rule::HostName,
        Rule::Uuid,
        Rule::Timestamp,
        Rule::Address,
        Rule::HexId,
        Rule::Number,
    ];

    /// The rule's name: `host`, `uuid`, `time`, `ip`, `hex` or `number`.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::HostName => "host",
            Rule::Uuid => "uuid",
            Rule::Timestamp => "time",
            Rule::Address => "ip",
            Rule::HexId => "hex",
            Rule::Number => "number",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A normalisation rule or pattern that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    /// A rule name that is none of [`Rule::ALL`]'s.
    #[error("unknown normalisation rule `{0}` (rules: host, uuid, time, ip, hex, number)")]
    UnknownRule(String),
    /// A pattern that is not a regular expression.
    #[error("bad pattern `{pattern}`: {message}")]
    BadPattern {
        /// The pattern as given.
        pattern: String,
        /// Why it is not one.
        message: String,
    },
}

impl FromStr for Rule {
    type Err = NormalizeError;

    fn from_str(text: &str) -> Result<Rule, NormalizeError> {
        Rule::ALL
            .into_iter()
            .find(|rule| rule.as_str() == text)
            .ok_or_else(|| NormalizeError::UnknownRule(text.to_owned()))
    }
}

/// Replaces what is unique to each host in its output (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Normalizer {
    rules: Vec<Rule>,
    patterns: Vec<Regex>,
}

impl Default for Normalizer {
    /// Every rule on, no patterns of one's own.
    fn default() -> Normalizer {
        Normalizer {
            rules: Rule::ALL.to_vec(),
            patterns: Vec::new(),
        }
    }
}

impl Normalizer {
    /// Every rule on.
    pub fn new() -> Normalizer {
        Normalizer::default()
    }

    /// No rule on (add [`pattern`](Self::pattern)s, or [`with`](Self::with) rules).
    pub fn none() -> Normalizer {
        Normalizer {
            rules: Vec::new(),
            patterns: Vec::new(),
        }
    }

    /// This rule on.
    pub fn with(mut self, rule: Rule) -> Normalizer {
        if !self.rules.contains(&rule) {
            self.rules.push(rule);
            self.rules
                .sort_by_key(|rule| Rule::ALL.iter().position(|r| r == rule));
        }
        self
    }

    /// This rule off.
    pub fn without(mut self, rule: Rule) -> Normalizer {
        self.rules.retain(|on| *on != rule);
        self
    }

    /// Also replaces what `pattern` (a regular expression) matches, as `<*>`, before the
    /// rules apply.
    pub fn pattern(mut self, pattern: &str) -> Result<Normalizer, NormalizeError> {
        let regex = Regex::new(pattern).map_err(|err| NormalizeError::BadPattern {
            pattern: pattern.to_owned(),
            // The parser's message draws the pattern over several lines; its last says why.
            message: err
                .to_string()
                .lines()
                .rfind(|line| !line.trim().is_empty())
                .map(|line| line.trim_start_matches("error: ").to_owned())
                .unwrap_or_default(),
        })?;
        self.patterns.push(regex);
        Ok(self)
    }

    /// The rules that are on.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// `text` with what is unique to the host named `names` (its label, name, addresses)
    /// replaced.
    pub fn normalize<'a>(&self, text: &'a str, names: &[&str]) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(text);
        for pattern in &self.patterns {
            replace_regex(&mut text, Some(pattern), |_| true, "<*>");
        }
        for rule in &self.rules {
            match rule {
                Rule::HostName => replace_names(&mut text, names),
                Rule::Uuid => replace_regex(&mut text, UUID.as_ref(), |_| true, "<uuid>"),
                Rule::Timestamp => {
                    replace_regex(&mut text, TIMESTAMP.as_ref(), |_| true, "<time>");
                }
                Rule::Address => replace_regex(&mut text, ADDRESS.as_ref(), is_address, "<ip>"),
                Rule::HexId => replace_regex(&mut text, HEX.as_ref(), is_hex_id, "<hex>"),
                Rule::Number => replace_numbers(&mut text),
            }
        }
        text
    }
}

static UUID: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
        .ok()
});

static TIMESTAMP: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(concat!(
        // 2026-12-04, 2026-12-04T21:30:00.123+01:00
        r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?",
        // 21:30, 21:30:00.5
        r"|\b\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\b",
        // Dec  4 (syslog, date)
        r"|\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2}\b",
    ))
    .ok()
});

static ADDRESS: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(concat!(
        r"\b\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?\b",
        r"|(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}(?:/\d{1,3})?",
    ))
    .ok()
});

static HEX: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\b(?:0x[0-9a-fA-F]+|[0-9a-fA-F]{8,})\b").ok());

/// An IPv6 match needs a hex digit (`::` alone, or `a::` in prose, is not an address).
fn is_address(found: &str) -> bool {
    found.contains('.')
        || found.matches(':').count() >= 2 && found.bytes().any(|b| b.is_ascii_digit())
}

/// `0x…`, or 8+ hex digits with both a digit and a letter (all digits is a number; all
/// letters is a word such as `deadbeef`… or `accede`, better kept).
fn is_hex_id(found: &str) -> bool {
    found.starts_with("0x")
        || found.bytes().any(|b| b.is_ascii_digit())
            && found.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Replaces what `regex` matches (and `keep` accepts) with `with`. The built-in patterns
/// are `None` only if they failed to compile, which their unit tests rule out.
fn replace_regex(
    text: &mut Cow<'_, str>,
    regex: Option<&Regex>,
    keep: fn(&str) -> bool,
    with: &str,
) {
    let Some(regex) = regex.filter(|regex| regex.is_match(text)) else {
        return;
    };
    let replaced = regex.replace_all(text, |found: &regex::Captures<'_>| {
        let found = &found[0];
        if keep(found) {
            with.to_owned()
        } else {
            found.to_owned()
        }
    });
    if let Cow::Owned(replaced) = replaced {
        *text = Cow::Owned(replaced);
    }
}

/// Whether `c` continues a name or number (so a match next to it is part of something
/// longer: `web1` in `web17`, `10.0.0.1` in `10.0.0.10`).
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// The host's names, whole words only, longest first (`web1.example.com` before `web1`).
fn replace_names(text: &mut Cow<'_, str>, names: &[&str]) {
    let mut names: Vec<&str> = names.iter().copied().filter(|n| n.len() >= 2).collect();
    names.sort_by_key(|name| std::cmp::Reverse(name.len()));
    names.dedup();
    for name in names {
        if !text.contains(name) {
            continue;
        }
        let mut out = String::with_capacity(text.len());
        let mut rest: &str = text;
        while let Some(at) = rest.find(name) {
            let before = rest[..at].chars().next_back();
            let after = rest[at + name.len()..].chars().next();
            let whole = !before.is_some_and(is_word) && !after.is_some_and(is_word);
            out.push_str(&rest[..at]);
            out.push_str(if whole { "<host>" } else { name });
            rest = &rest[at + name.len()..];
        }
        out.push_str(rest);
        *text = Cow::Owned(out);
    }
}

/// Whole numbers standing alone become `<n>`; digits in a word (`eth0`) or in a dotted
/// run (`5.15.0`, `0.05`) stay.
fn replace_numbers(text: &mut Cow<'_, str>) {
    if !text.bytes().any(|b| b.is_ascii_digit()) {
        return;
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut at = 0;
    while let Some(byte) = bytes.get(at) {
        if !byte.is_ascii_digit() {
            at += 1;
            continue;
        }
        let start = at;
        while bytes.get(at).is_some_and(u8::is_ascii_digit) || dotted(bytes, at) {
            at += 1;
        }
        let alone = !text[start..at].contains('.')
            && !joined(text[..start].chars().rev(), true)
            && !joined(text[at..].chars(), false);
        if alone {
            out.push_str(&text[copied..start]);
            out.push_str("<n>");
            copied = at;
        }
    }
    if copied > 0 {
        out.push_str(&text[copied..]);
        *text = Cow::Owned(out);
    }
}

/// Whether the number continues into what `beside` yields (the characters before it,
/// nearest first, or after it): a letter, `_`, a `-` joined to a letter or digit
/// (`5.15.0-91-generic`, `#101-Ubuntu`), or before it a `.`.
fn joined(mut beside: impl Iterator<Item = char>, before: bool) -> bool {
    match beside.next() {
        Some('-') => beside.next().is_some_and(char::is_alphanumeric),
        Some('.') => before,
        Some(c) => c.is_alphanumeric() || c == '_',
        None => false,
    }
}

/// A `.` between two digits.
fn dotted(bytes: &[u8], at: usize) -> bool {
    bytes.get(at) == Some(&b'.')
        && at
            .checked_sub(1)
            .and_then(|before| bytes.get(before))
            .is_some_and(u8::is_ascii_digit)
        && bytes.get(at + 1).is_some_and(u8::is_ascii_digit)
}

/// One group of hosts whose normalised outputs are the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputGroup {
    /// The hosts, by the index they were given with, in that order.
    pub hosts: Vec<usize>,
    /// What set the group apart besides its output (an outcome such as `exit 3`), as given.
    pub class: String,
    /// The normalised output.
    pub output: String,
    /// For every group but the first (the largest): the unified diff (hunks only, 3
    /// lines of context) from the largest group's output to this one's.
    pub diff: Option<String>,
}

/// Groups hosts by normalised output (`(host, names, output, class)` each; `class` keeps
/// hosts apart whose outputs match but whose outcomes do not). The largest group comes
/// first (the first seen among equals), then the others in the order first seen, each
/// with its diff against the largest. With no normalizer, outputs are compared as they
/// are.
pub fn group_outputs<'a, I>(outputs: I, normalizer: Option<&Normalizer>) -> Vec<OutputGroup>
where
    I: IntoIterator<Item = (usize, &'a [&'a str], &'a [u8], &'a str)>,
{
    let mut groups: IndexMap<(String, &str), Vec<usize>> = IndexMap::new();
    for (host, names, output, class) in outputs {
        let text = String::from_utf8_lossy(output);
        let text = match normalizer {
            Some(normalizer) => normalizer.normalize(&text, names).into_owned(),
            None => text.into_owned(),
        };
        groups.entry((text, class)).or_default().push(host);
    }
    let Some(largest) = groups
        .values()
        .enumerate()
        .max_by_key(|(position, hosts)| (hosts.len(), std::cmp::Reverse(*position)))
        .map(|(position, _)| position)
    else {
        return Vec::new();
    };
    groups.move_index(largest, 0);
    let base = groups
        .keys()
        .next()
        .map(|(text, _)| text.clone())
        .unwrap_or_default();
    groups
        .into_iter()
        .enumerate()
        .map(|(position, ((output, class), hosts))| OutputGroup {
            diff: (position > 0).then(|| unified_diff(&base, &output)),
            hosts,
            class: class.to_owned(),
            output,
        })
        .collect()
}

/// The unified diff from `base` to `other`: hunks with 3 lines of context, no header.
pub fn unified_diff(base: &str, other: &str) -> String {
    similar::TextDiff::from_lines(base, other)
        .unified_diff()
        .context_radius(3)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(text: &str) -> String {
        Normalizer::new()
            .normalize(text, &["web17.example.com", "web17", "10.0.0.17"])
            .into_owned()
    }

    #[test]
    fn what_is_unique_to_a_host_is_replaced() {
        assert_eq!(
            normal("Linux web17 5.15.0-91-generic #101-Ubuntu SMP x86_64 GNU/Linux"),
            "Linux <host> 5.15.0-91-generic #101-Ubuntu SMP x86_64 GNU/Linux"
        );
        assert_eq!(normal("web17.example.com up"), "<host> up");
        assert_eq!(normal("web170 web1 web17"), "web170 web1 <host>");
        assert_eq!(
            normal(" 21:30:01 up 12 days,  3:04,  load average: 0.00, 0.01, 0.05"),
            " <time> up <n> days,  <time>,  load average: 0.00, 0.01, 0.05"
        );
        assert_eq!(
            normal("boot 2026-12-04T21:30:00Z id 0b6e1f0e-4c1d-4a8e-9f3a-2d7c5b9e8a10"),
            "boot <time> id <uuid>"
        );
        assert_eq!(normal("Dec  4 21:30:00 kernel"), "<time> <time> kernel");
        assert_eq!(
            normal("inet 10.0.0.17/24 peer 10.0.0.170 fe80::1c2:3dff:fe4e:5f60/64"),
            "inet <host>/<n> peer <ip> <ip>"
        );
        assert_eq!(
            normal("commit 3f2a9c1e77 at 0x7ffd5e8a deadbeef eth0"),
            "commit <hex> at <hex> deadbeef eth0"
        );
        assert_eq!(
            normal("pid 4242, 1,234 files, -5"),
            "pid <n>, <n>,<n> files, -<n>"
        );
        assert_eq!(
            normal("nginx/1.24.0 python 3.12"),
            "nginx/1.24.0 python 3.12"
        );
        assert_eq!(normal("no digits here"), "no digits here");
    }

    #[test]
    fn the_built_in_patterns_compile() {
        for pattern in [&UUID, &TIMESTAMP, &ADDRESS, &HEX] {
            assert!(pattern.is_some());
        }
    }

    #[test]
    fn rules_switch_off_and_patterns_add() {
        let normalizer = Normalizer::new()
            .without(Rule::Number)
            .pattern(r"build-\w+")
            .unwrap();
        assert_eq!(
            normalizer.normalize("pid 42 build-x7 web17", &["web17"]),
            "pid 42 <*> <host>"
        );
        assert!(Normalizer::new().pattern("(").is_err());
        assert_eq!("ip".parse::<Rule>(), Ok(Rule::Address));
        assert!("nope".parse::<Rule>().is_err());
        assert_eq!(Normalizer::none().with(Rule::Uuid).rules(), &[Rule::Uuid]);
    }

    #[test]
    fn groups_put_the_largest_first_with_diffs_against_it() {
        let names: Vec<[String; 1]> = (0..6).map(|i| [format!("web{i}")]).collect();
        let names: Vec<Vec<&str>> = names.iter().map(|n| vec![n[0].as_str()]).collect();
        let outputs: Vec<String> = (0..6)
            .map(|i| match i {
                1 => "Linux web1 5.10.0 up 7\n".to_owned(),
                _ => format!("Linux web{i} 5.15.0 up {}\n", i * 10),
            })
            .collect();
        let groups = group_outputs(
            (0..6).map(|i| (i, names[i].as_slice(), outputs[i].as_bytes(), "ok")),
            Some(&Normalizer::new()),
        );
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].hosts, [0, 2, 3, 4, 5]);
        assert_eq!(groups[0].output, "Linux <host> 5.15.0 up <n>\n");
        assert_eq!(groups[0].diff, None);
        assert_eq!(groups[1].hosts, [1]);
        assert_eq!(
            groups[1].diff.as_deref(),
            Some("@@ -1 +1 @@\n-Linux <host> 5.15.0 up <n>\n+Linux <host> 5.10.0 up <n>\n")
        );
        // Without normalising, every host is its own group but web1's.
        let raw = group_outputs(
            (0..6).map(|i| (i, names[i].as_slice(), outputs[i].as_bytes(), "ok")),
            None,
        );
        assert_eq!(raw.len(), 6);
    }
}
