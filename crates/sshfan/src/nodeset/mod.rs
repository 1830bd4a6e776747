//! Node sets: host-list expressions like `web[01-20,25]`, `rack[1-2]-node[01-16]`, with
//! ClusterShell's (`nodeset`, `clush -w`) and pdsh's syntax and semantics.
//!
//! An expression is a list of terms joined by operators, applied left to right:
//! `,` union, `!` difference, `&` intersection, `^` symmetric difference. A term is text
//! with bracketed ranges (see [`RangeSet`]); several brackets multiply out. A bracket whose
//! content is not a range but holds a `:` is an IPv6 address (`[::1]:22`) and stays as
//! written. `user@` prefixes and `:port` suffixes are plain text, so
//! `root@web[1-2]:2222` expands to `root@web1:2222,root@web2:2222`.
//!
//! A term starting with `@` is a node group (`@compute`, `@racks:rack[1-4]`, `@*`),
//! resolved through ClusterShell's group configuration ([`Groups`]) by
//! [`NodeSet::parse_with_groups`] and [`expand_with_groups`].
//!
//! [`NodeSet::fold`] goes the other way, one dimension at a time from the last, so that
//! `fold(expand(x))` gives back a compact `x`.

mod groups;
mod rangeset;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use indexmap::IndexSet;

pub use groups::{GroupError, Groups};
pub use rangeset::{Index, RangeError, RangeSet};

/// Most names one expression may expand to.
pub const MAX_NAMES: usize = 10_000_000;

/// A malformed node-set expression, with the position of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid node set `{expression}` at column {column}: {message}")]
pub struct NodeSetError {
    /// The whole expression.
    pub expression: String,
    /// 1-based column (in characters) of the bad part.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl NodeSetError {
    fn at(expression: &str, byte: usize, message: String) -> Self {
        let column = expression.get(..byte).map_or(0, |s| s.chars().count()) + 1;
        NodeSetError {
            expression: expression.to_owned(),
            column,
            message,
        }
    }

    /// The expression with a `^` under the bad column, for terminal messages.
    pub fn pointer(&self) -> String {
        format!("  {}\n  {}^", self.expression, " ".repeat(self.column - 1))
    }
}

/// An ordered set of node names, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSet {
    names: IndexSet<String>,
}

/// The operators between terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Union,
    Difference,
    Intersection,
    SymmetricDifference,
}

impl NodeSet {
    /// An empty set.
    pub fn new() -> Self {
        NodeSet::default()
    }

    /// Parses and expands an expression.
    ///
    /// ```
    /// use sshfan::nodeset::NodeSet;
    ///
    /// let set = NodeSet::parse("rack[1-2]-node[01-02],gw!rack2-node02").unwrap();
    /// assert_eq!(set.to_vec(), ["rack1-node01", "rack1-node02", "rack2-node01", "gw"]);
    /// assert_eq!(set.fold(), "gw,rack1-node[01-02],rack2-node01");
    /// ```
    pub fn parse(expression: &str) -> Result<NodeSet, NodeSetError> {
        NodeSet::parse_in(expression, None, 0)
    }

    /// Parses and expands an expression whose `@group` terms `groups` resolves.
    pub fn parse_with_groups(expression: &str, groups: &Groups) -> Result<NodeSet, NodeSetError> {
        NodeSet::parse_in(expression, Some(groups), 0)
    }

    fn parse_in(
        expression: &str,
        groups: Option<&Groups>,
        depth: usize,
    ) -> Result<NodeSet, NodeSetError> {
        let mut set = NodeSet::new();
        for (operator, names) in terms(expression, groups, depth)? {
            let other = NodeSet::from_names(names);
            match operator {
                Operator::Union => set.update(&other),
                Operator::Difference => set.difference_update(&other),
                Operator::Intersection => set.intersection_update(&other),
                Operator::SymmetricDifference => set.symmetric_difference_update(&other),
            }
        }
        Ok(set)
    }

    /// A set of these names, in order, duplicates dropped.
    pub fn from_names<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> NodeSet {
        let mut set = NodeSet::new();
        for name in names {
            set.insert(name.into());
        }
        set
    }

    /// Adds a name; returns whether it was new.
    pub fn insert(&mut self, name: String) -> bool {
        self.names.insert(name)
    }

    /// The names in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// The names in order, as a vector.
    pub fn to_vec(&self) -> Vec<String> {
        self.names.iter().cloned().collect()
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Whether `name` is in the set.
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    /// Adds every name of `other` (union).
    pub fn update(&mut self, other: &NodeSet) {
        for name in &other.names {
            self.insert(name.clone());
        }
    }

    /// Removes every name of `other`.
    pub fn difference_update(&mut self, other: &NodeSet) {
        self.retain(|name| !other.contains(name));
    }

    /// Keeps only names also in `other`.
    pub fn intersection_update(&mut self, other: &NodeSet) {
        self.retain(|name| other.contains(name));
    }

    /// Keeps names in exactly one of the two sets.
    pub fn symmetric_difference_update(&mut self, other: &NodeSet) {
        let added: Vec<String> = other
            .names
            .iter()
            .filter(|name| !self.contains(name))
            .cloned()
            .collect();
        self.difference_update(other);
        for name in added {
            self.insert(name);
        }
    }

    fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.names.retain(|name| keep(name));
    }

    /// The names sorted like ClusterShell does: by their text pattern, then numerically.
    pub fn sorted(&self) -> Vec<String> {
        let mut keyed: Vec<((String, Vec<Index>), &String)> = self
            .names
            .iter()
            .map(|name| (split_name(name), name))
            .collect();
        keyed.sort();
        keyed.into_iter().map(|(_, name)| name.clone()).collect()
    }

    /// The folded expression: `web[01-20,25]`.
    pub fn fold(&self) -> String {
        self.fold_with_autostep(None)
    }

    /// The folded expression with ClusterShell's `--autostep` (see
    /// [`RangeSet::fold_with_autostep`]): `node[1-9/2]`.
    pub fn fold_with_autostep(&self, autostep: Option<usize>) -> String {
        let mut groups: BTreeMap<String, Vec<Vec<Index>>> = BTreeMap::new();
        for name in &self.names {
            let (template, numbers) = split_name(name);
            groups.entry(template).or_default().push(numbers);
        }
        let mut out = Vec::new();
        for (template, rows) in groups {
            fold_dimensions(template_pieces(&template), rows, autostep, &mut out);
        }
        out.join(",")
    }
}

impl fmt::Display for NodeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fold())
    }
}

/// Whether a term of the expression is a node group (`@web`; `user@host` is not), so
/// that group configuration is read only when an expression needs it.
pub fn names_a_group(expression: &str) -> bool {
    expression
        .split([',', '!', '&', '^'])
        .any(|term| term.trim_start().starts_with('@'))
}

/// Expands an expression to its names in order, keeping duplicates when only `,` is used
/// (`web1,web1` gives two names); other operators dedupe as in [`NodeSet::parse`].
pub fn expand_with_duplicates(expression: &str) -> Result<Vec<String>, NodeSetError> {
    expand_in(expression, None, 0)
}

/// [`expand_with_duplicates`], with `@group` terms resolved by `groups`.
pub fn expand_with_groups(expression: &str, groups: &Groups) -> Result<Vec<String>, NodeSetError> {
    expand_in(expression, Some(groups), 0)
}

/// A group's definition expanded (as a set), `depth` levels of groups deep.
pub(crate) fn expand_with(
    expression: &str,
    groups: Option<&Groups>,
    depth: usize,
) -> Result<Vec<String>, NodeSetError> {
    NodeSet::parse_in(expression, groups, depth).map(|set| set.names.into_iter().collect())
}

fn expand_in(
    expression: &str,
    groups: Option<&Groups>,
    depth: usize,
) -> Result<Vec<String>, NodeSetError> {
    let terms = terms(expression, groups, depth)?;
    if terms.iter().all(|(op, _)| *op == Operator::Union) {
        return Ok(terms.into_iter().flat_map(|(_, names)| names).collect());
    }
    expand_with(expression, groups, depth)
}

/// Splits an expression into operator-prefixed terms and expands each.
fn terms(
    expression: &str,
    groups: Option<&Groups>,
    nesting: usize,
) -> Result<Vec<(Operator, Vec<String>)>, NodeSetError> {
    let mut terms = Vec::new();
    let mut operator = Operator::Union;
    let mut start = 0;
    let mut depth = 0usize;
    let mut total = 0usize;
    let bytes = expression.as_bytes();
    for (at, byte) in bytes
        .iter()
        .enumerate()
        .chain(std::iter::once((bytes.len(), &b',')))
    {
        match byte {
            b'[' => depth += 1,
            b']' => {
                if depth == 0 {
                    return Err(NodeSetError::at(
                        expression,
                        at,
                        "unexpected `]`".to_owned(),
                    ));
                }
                depth -= 1;
            }
            b',' | b'!' | b'&' | b'^' if depth == 0 => {
                let text = expression.get(start..at).unwrap_or_default();
                let trimmed_start = start + (text.len() - text.trim_start().len());
                let text = text.trim();
                if !text.is_empty() {
                    let mut names = expand_term(expression, text, trimmed_start)?;
                    if text.starts_with('@') {
                        names = resolve_groups(expression, names, trimmed_start, groups, nesting)?;
                    }
                    total += names.len();
                    if total > MAX_NAMES {
                        return Err(NodeSetError::at(
                            expression,
                            trimmed_start,
                            format!("expands to more than {MAX_NAMES} names"),
                        ));
                    }
                    terms.push((operator, names));
                } else if operator != Operator::Union || *byte != b',' {
                    return Err(NodeSetError::at(
                        expression,
                        at,
                        "missing node name before operator".to_owned(),
                    ));
                }
                operator = match byte {
                    b'!' => Operator::Difference,
                    b'&' => Operator::Intersection,
                    b'^' => Operator::SymmetricDifference,
                    _ => Operator::Union,
                };
                start = at + 1;
            }
            _ => {}
        }
    }
    if depth > 0 {
        let open = expression.rfind('[').unwrap_or(0);
        return Err(NodeSetError::at(expression, open, "missing `]`".to_owned()));
    }
    Ok(terms)
}

/// `@group` names (a term's brackets already expanded: `@rack[1-2]` is `@rack1`,
/// `@rack2`) replaced by their members.
fn resolve_groups(
    expression: &str,
    references: Vec<String>,
    offset: usize,
    groups: Option<&Groups>,
    depth: usize,
) -> Result<Vec<String>, NodeSetError> {
    let none = Groups::default();
    let groups = groups.unwrap_or(&none);
    let mut names = Vec::new();
    for reference in references {
        let members = groups
            .resolve(&reference, depth)
            .map_err(|err| NodeSetError::at(expression, offset, err.message))?;
        names.extend(members);
    }
    Ok(names)
}

/// One piece of a term: literal text, or the alternatives of a bracket.
enum Piece {
    Text(String),
    Choices(Vec<String>),
}

/// Expands one term (no operators): the cartesian product of its brackets.
fn expand_term(expression: &str, term: &str, offset: usize) -> Result<Vec<String>, NodeSetError> {
    let mut pieces = Vec::new();
    let mut rest = term;
    let mut at = offset;
    let mut count: usize = 1;
    while let Some(open) = rest.find('[') {
        let close = rest
            .get(open..)
            .and_then(|s| s.find(']'))
            .map(|c| c + open)
            .ok_or_else(|| NodeSetError::at(expression, at + open, "missing `]`".to_owned()))?;
        let inner = rest.get(open + 1..close).unwrap_or_default();
        pieces.push(Piece::Text(rest.get(..open).unwrap_or_default().to_owned()));
        match RangeSet::parse(inner) {
            Ok(set) => {
                count = count.saturating_mul(set.len());
                pieces.push(Piece::Choices(set.iter().map(Index::to_string).collect()));
            }
            // An IPv6 address in brackets is text.
            Err(_) if inner.contains(':') => pieces.push(Piece::Text(format!("[{inner}]"))),
            Err(err) => {
                return Err(NodeSetError::at(
                    expression,
                    at + open + 1 + err.offset,
                    format!("{} `{}`", err.reason, err.part.trim()),
                ));
            }
        }
        at += close + 1;
        rest = rest.get(close + 1..).unwrap_or_default();
    }
    pieces.push(Piece::Text(rest.to_owned()));
    if count > MAX_NAMES {
        return Err(NodeSetError::at(
            expression,
            offset,
            format!("expands to more than {MAX_NAMES} names"),
        ));
    }
    let mut names = vec![String::new()];
    for piece in pieces {
        match piece {
            Piece::Text(text) => names.iter_mut().for_each(|name| name.push_str(&text)),
            Piece::Choices(choices) => {
                names = names
                    .iter()
                    .flat_map(|name| choices.iter().map(move |choice| format!("{name}{choice}")))
                    .collect();
            }
        }
    }
    Ok(names)
}

/// Marks where a number was taken out of a name's template.
const NUMBER: char = '\u{0}';
/// Escapes a literal `NUMBER` or `ESCAPE` character of a name in its template.
const ESCAPE: char = '\u{1}';

/// A template's literal pieces, between the numbers.
fn template_pieces(template: &str) -> Vec<String> {
    let mut pieces = vec![String::new()];
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        match c {
            NUMBER => pieces.push(String::new()),
            ESCAPE => {
                if let (Some(last), Some(escaped)) = (pieces.last_mut(), chars.next()) {
                    last.push(escaped);
                }
            }
            c => {
                if let Some(last) = pieces.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    pieces
}

/// Splits a name into a template and its numbers: `rack1-node01` → (`rack\0-node\0`,
/// [1, 01]). Digits inside brackets (IPv6) and overlong digit runs stay text.
fn split_name(name: &str) -> (String, Vec<Index>) {
    let mut template = String::with_capacity(name.len());
    let mut numbers = Vec::new();
    let mut bracket = false;
    let mut chars = name.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c.is_ascii_digit() && !bracket {
            let mut end = at + 1;
            while let Some(&(next, d)) = chars.peek() {
                if !d.is_ascii_digit() {
                    break;
                }
                end = next + 1;
                chars.next();
            }
            let digits = name.get(at..end).unwrap_or_default();
            match Index::parse(digits) {
                Some(index) => {
                    numbers.push(index);
                    template.push(NUMBER);
                }
                None => template.push_str(digits), // digits need no escaping
            }
            continue;
        }
        bracket = match c {
            '[' => true,
            ']' => false,
            _ => bracket,
        };
        if c == NUMBER || c == ESCAPE {
            template.push(ESCAPE);
        }
        template.push(c);
    }
    (template, numbers)
}

/// Folds names sharing `pieces`, last dimension first, then the ones before it among names
/// whose later dimensions folded to the same text.
fn fold_dimensions(
    pieces: Vec<String>,
    rows: Vec<Vec<Index>>,
    autostep: Option<usize>,
    out: &mut Vec<String>,
) {
    let Some(dims) = pieces.len().checked_sub(1).filter(|&d| d > 0) else {
        out.extend(pieces.into_iter().next());
        return;
    };
    let mut by_lead: BTreeMap<Vec<Index>, RangeSet> = BTreeMap::new();
    for mut row in rows {
        if let Some(last) = row.pop() {
            by_lead.entry(row).or_default().insert(last);
        }
    }
    let mut by_text: Vec<(String, Vec<Vec<Index>>)> = Vec::new();
    let mut slot: HashMap<String, usize> = HashMap::new();
    for (lead, set) in by_lead {
        let text = match set.iter().next() {
            Some(only) if set.len() == 1 => only.to_string(),
            _ => format!("[{}]", set.fold_with_autostep(autostep)),
        };
        let index = *slot.entry(text.clone()).or_insert_with(|| {
            by_text.push((text, Vec::new()));
            by_text.len() - 1
        });
        if let Some((_, leads)) = by_text.get_mut(index) {
            leads.push(lead);
        }
    }
    for (text, leads) in by_text {
        let mut merged: Vec<String> = pieces.iter().take(dims - 1).cloned().collect();
        let before = pieces.get(dims - 1).map_or("", String::as_str);
        let after = pieces.get(dims).map_or("", String::as_str);
        merged.push(format!("{before}{text}{after}"));
        fold_dimensions(merged, leads, autostep, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(expression: &str) -> Vec<String> {
        NodeSet::parse(expression).unwrap().to_vec()
    }

    #[test]
    fn expands_ranges_padding_suffixes_and_products() {
        assert_eq!(names("web[01-03,25]"), ["web01", "web02", "web03", "web25"]);
        assert_eq!(names("node[0-1]-ib"), ["node0-ib", "node1-ib"]);
        assert_eq!(
            names("rack[1-2]-node[1-2]"),
            ["rack1-node1", "rack1-node2", "rack2-node1", "rack2-node2"]
        );
        assert_eq!(
            names("root@web[1-2]:2222"),
            ["root@web1:2222", "root@web2:2222"]
        );
        assert_eq!(names("a, b ,c"), ["a", "b", "c"]);
    }

    #[test]
    fn ipv6_brackets_are_text() {
        assert_eq!(names("[::1]:22,u@[fe80::1]"), ["[::1]:22", "u@[fe80::1]"]);
    }

    #[test]
    fn operators_apply_left_to_right() {
        assert_eq!(names("n[1-5]!n[2-3]"), ["n1", "n4", "n5"]);
        assert_eq!(names("n[1-5]&n[4-9]"), ["n4", "n5"]);
        assert_eq!(names("n[1-3]^n[3-4]"), ["n1", "n2", "n4"]);
        assert_eq!(names("n[1-3],n2,n1"), ["n1", "n2", "n3"]);
        assert_eq!(
            expand_with_duplicates("n1,n[1-2]").unwrap(),
            ["n1", "n1", "n2"]
        );
    }

    #[test]
    fn folds_back() {
        for expression in [
            "web[01-20,25]",
            "rack[1-2]-node[01-16]",
            "node[0-3]-ib",
            "a,b,c[1-3]",
            "10.0.0.[1-9]",
            "n[8-10],n[08-10]",
            "[::1]:[22-23]",
        ] {
            let set = NodeSet::parse(expression).unwrap();
            let folded = set.fold();
            let again = NodeSet::parse(&folded).unwrap();
            assert_eq!(again.sorted(), set.sorted(), "{expression} -> {folded}");
        }
        assert_eq!(NodeSet::parse("n3,n1,n2,m").unwrap().fold(), "m,n[1-3]");
        assert_eq!(
            NodeSet::parse("rack[1-2]-node[01-16]").unwrap().fold(),
            "rack[1-2]-node[01-16]"
        );
        assert_eq!(
            NodeSet::parse("r1-n[1-3],r2-n[1-2]").unwrap().fold(),
            "r1-n[1-3],r2-n[1-2]"
        );
    }

    #[test]
    fn names_with_control_characters_fold_back() {
        // Found by the fuzzer: NUL in a name once collided with the template's marker.
        let set = NodeSet::from_names([
            "ro\0\0".to_owned(),
            "a\u{1}1".to_owned(),
            "a\u{1}2".to_owned(),
        ]);
        let again = NodeSet::from_names(
            set.fold()
                .split(',')
                .flat_map(|part| NodeSet::parse(part).unwrap().to_vec()),
        );
        assert_eq!(again.sorted(), set.sorted(), "{:?}", set.fold());
    }

    #[test]
    fn fuzzer_findings_fold_back() {
        for input in ["web\u{16}0\0\0\0\0\0\u{0}5_", "ro\0\0"] {
            if let Ok(set) = NodeSet::parse(input) {
                let again = NodeSet::parse(&set.fold()).unwrap();
                assert_eq!(
                    again.sorted(),
                    set.sorted(),
                    "{input:?} -> {:?}",
                    set.fold()
                );
            }
        }
    }

    #[test]
    fn errors_point_at_the_problem() {
        let err = NodeSet::parse("web[01-x]").unwrap_err();
        assert_eq!(err.column, 5);
        assert!(err.message.contains("`01-x`"), "{err}");
        assert_eq!(err.pointer(), "  web[01-x]\n      ^");
        assert_eq!(NodeSet::parse("a,web[1-2").unwrap_err().column, 6);
        assert_eq!(NodeSet::parse("a]").unwrap_err().column, 2);
        assert_eq!(NodeSet::parse("n[1-3,y]").unwrap_err().column, 7);
        assert!(NodeSet::parse("!a").is_err());
        assert!(
            NodeSet::parse("n[1-99999999]")
                .unwrap_err()
                .message
                .contains("too large")
        );
    }

    proptest::proptest! {
        /// Folding then expanding gives back the same names, whatever the mix of
        /// prefixes, padding, several numbers per name and gaps.
        #[test]
        fn fold_then_expand_is_the_identity(
            names in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["n", "web", "rack", "a-b", "x.y"]),
                    0u64..300,
                    proptest::option::of(0u64..20),
                    0usize..3,
                    proptest::sample::select(vec!["", "-ib", ":22"]),
                ),
                1..60,
            )
        ) {
            let names: Vec<String> = names
                .into_iter()
                .map(|(prefix, n, second, pad, suffix)| {
                    let first = format!("{n:0width$}", width = pad + 1);
                    match second {
                        Some(m) => format!("{prefix}{first}-{m}{suffix}"),
                        None => format!("{prefix}{first}{suffix}"),
                    }
                })
                .collect();
            let set = NodeSet::from_names(names);
            let folded = set.fold();
            let again = NodeSet::parse(&folded).unwrap();
            proptest::prop_assert_eq!(again.sorted(), set.sorted(), "{}", folded);
        }
    }

    #[test]
    fn a_hundred_thousand_names_fold_and_expand_quickly() {
        // Correctness at scale; speed is measured by the benchmarks, this only has to finish.
        let expression = "rack[1-100]-node[0001-1000]";
        let set = NodeSet::parse(expression).unwrap();
        assert_eq!(set.len(), 100_000);
        assert_eq!(set.fold(), expression);
        let shuffled = NodeSet::from_names(set.to_vec().iter().rev().cloned());
        assert_eq!(shuffled.fold(), expression);
        let with_holes = NodeSet::parse("rack[1-100]-node[0001-1000]!rack[2-99]-node0500").unwrap();
        let again = NodeSet::parse(&with_holes.fold()).unwrap();
        assert_eq!(again.len(), 100_000 - 98);
        assert_eq!(again.sorted(), with_holes.sorted());
    }
}
