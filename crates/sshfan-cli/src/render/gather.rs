//! `-b`: identical outputs printed once under a folded node set, like `clush -b` and
//! `dshbak -c`. Hosts are grouped by their whole stdout and their outcome category, so
//! hosts with the same output but different exit codes stay apart.
//!
//! `--diff` (clush's): the largest group is printed as with `-b`, then every other group
//! as a unified diff against it (`--- web[1-8] (8)` / `+++ web9`), so among thousands of
//! hosts the few that differ show only how they differ. An outlier gather (`-B`) does the
//! same after normalising each host's output (see [`sshfan::outliers`]): its own names
//! are the label, the name in it, and that name's first DNS label.

use std::collections::BTreeMap;

use sshfan::nodeset::NodeSet;
use sshfan::outliers::{Normalizer, OutputGroup};

use super::Style;
use crate::ending::Ending;

pub struct Gathered {
    outputs: Vec<Vec<u8>>,
    categories: Vec<Option<String>>,
}

impl Gathered {
    pub fn new(hosts: usize) -> Gathered {
        Gathered {
            outputs: vec![Vec::new(); hosts],
            categories: vec![None; hosts],
        }
    }

    pub fn push_line(&mut self, host: usize, line: &[u8]) {
        if let Some(output) = self.outputs.get_mut(host) {
            output.extend_from_slice(line);
            output.push(b'\n');
        }
    }

    pub fn finish(&mut self, host: usize, ending: &Ending) {
        if let Some(slot) = self.categories.get_mut(host) {
            *slot = Some(ending.category());
        }
    }

    /// The gathered text: a header per group, then its output. Hosts without output are
    /// left to the summary.
    pub fn render(&self, labels: &[String], style: Style) -> Vec<u8> {
        let mut text = Vec::new();
        for (header, output, _) in self.groups(labels) {
            block(&mut text, &header, output, style);
        }
        text
    }

    /// `--diff`: the largest group as with [`render`](Self::render) (the first seen of
    /// equals), then each other group, in the order first seen, as a unified diff against
    /// it. With a normalizer (an outlier gather), outputs are compared and shown
    /// normalised.
    pub fn render_diff(
        &self,
        labels: &[String],
        style: Style,
        normalizer: Option<&Normalizer>,
    ) -> Vec<u8> {
        let groups = self.outlier_groups(labels, normalizer);
        let Some((base, others)) = groups.split_first() else {
            return Vec::new();
        };
        let mut text = Vec::new();
        let base_header = header(labels, base);
        block(&mut text, &base_header, base.output.as_bytes(), style);
        for group in others {
            let diff = group.diff.as_deref().unwrap_or_default();
            let head = format!("--- {base_header}\n+++ {}\n", header(labels, group));
            for line in head.lines().chain(diff.lines()) {
                let painted = match line.as_bytes().first() {
                    _ if line.starts_with("---") || line.starts_with("+++") => style.header(line),
                    Some(b'@') => style.dim(line),
                    Some(b'+') => style.ok(line),
                    Some(b'-') => style.error(line),
                    _ => line.to_owned(),
                };
                text.extend_from_slice(painted.as_bytes());
                text.push(b'\n');
            }
        }
        text
    }

    /// Hosts with output grouped by it (normalised with a normalizer) and their outcome,
    /// the largest group first, the others with their diffs against it.
    pub fn outlier_groups(
        &self,
        labels: &[String],
        normalizer: Option<&Normalizer>,
    ) -> Vec<OutputGroup> {
        let names: Vec<Vec<&str>> = labels.iter().map(|label| host_names(label)).collect();
        let outputs = self
            .outputs
            .iter()
            .enumerate()
            .filter(|(_, output)| !output.is_empty())
            .map(|(host, output)| {
                let category = self
                    .categories
                    .get(host)
                    .and_then(Option::as_deref)
                    .unwrap_or("running");
                let names = names.get(host).map_or(&[][..], Vec::as_slice);
                (host, names, output.as_slice(), category)
            });
        sshfan::outliers::group_outputs(outputs, normalizer)
    }

    /// `(header, output, host count)` per group, in header order.
    fn groups(&self, labels: &[String]) -> Vec<(String, &[u8], usize)> {
        let mut groups: BTreeMap<(&[u8], &str), Vec<&str>> = BTreeMap::new();
        for (host, output) in self.outputs.iter().enumerate() {
            if output.is_empty() {
                continue;
            }
            let category = self
                .categories
                .get(host)
                .and_then(Option::as_deref)
                .unwrap_or("running");
            let label = labels.get(host).map_or("?", String::as_str);
            groups
                .entry((output.as_slice(), category))
                .or_default()
                .push(label);
        }
        let mut blocks: Vec<(String, &[u8], usize)> = groups
            .into_iter()
            .map(|((output, category), hosts)| {
                let count = hosts.len();
                let folded = NodeSet::from_names(hosts).fold();
                let mut header = format!("{folded} ({count})");
                if category != "ok" {
                    header.push_str(&format!(" {category}"));
                }
                (header, output, count)
            })
            .collect();
        blocks.sort();
        blocks
    }
}

/// An outlier gather's normalizer: every rule but `no_normalize`'s, with the `normalize`
/// patterns (`--no-normalize`, `--normalize`).
pub fn normalizer(args: &crate::args::OutlierArgs) -> Result<Normalizer, crate::exit::UsageError> {
    use crate::exit::UsageError;
    let mut normalizer = Normalizer::new();
    for rule in &args.no_normalize {
        let rule = rule
            .parse()
            .map_err(|err: sshfan::outliers::NormalizeError| UsageError(err.to_string()))?;
        normalizer = normalizer.without(rule);
    }
    for pattern in &args.normalize {
        normalizer = normalizer
            .pattern(pattern)
            .map_err(|err| UsageError(format!("--normalize: {err}")))?;
    }
    Ok(normalizer)
}

/// `web[1-8] (8)`, then the category unless `ok`.
fn header(labels: &[String], group: &OutputGroup) -> String {
    let hosts = group
        .hosts
        .iter()
        .map(|host| labels.get(*host).map_or("?", String::as_str));
    let folded = NodeSet::from_names(hosts).fold();
    let mut header = format!("{folded} ({})", group.hosts.len());
    if group.class != "ok" {
        header.push_str(&format!(" {}", group.class));
    }
    header
}

/// The names a host goes by in its own output: its label, and the name in it without a
/// port (`[::1]:2222` is `::1`) and, unless an address, without its domain.
fn host_names(label: &str) -> Vec<&str> {
    let mut names = vec![label];
    let name = match label.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => label
            .rsplit_once(':')
            .map_or(label, |(name, port)| match port.parse::<u16>() {
                Ok(_) if !name.contains(':') => name,
                _ => label,
            }),
    };
    names.push(name);
    if name.parse::<std::net::IpAddr>().is_err()
        && let Some((short, _)) = name.split_once('.')
    {
        names.push(short);
    }
    names
}

/// A dshbak block: a header between rules, then the output.
fn block(text: &mut Vec<u8>, header: &str, output: &[u8], style: Style) {
    let rule = "-".repeat(15);
    text.extend_from_slice(
        format!(
            "{}\n{}\n{}\n",
            style.dim(&rule),
            style.header(header),
            style.dim(&rule)
        )
        .as_bytes(),
    );
    text.extend_from_slice(output);
}

#[cfg(test)]
mod tests {
    use sshfan::ExitStatus;

    use super::*;

    #[test]
    fn groups_identical_output_and_keeps_exit_codes_apart() {
        let labels: Vec<String> = (1..=5).map(|i| format!("web{i}")).collect();
        let mut gathered = Gathered::new(5);
        for host in 0..5 {
            gathered.push_line(host, b"same");
            let code = if host == 4 { 3 } else { 0 };
            gathered.finish(host, &Ending::Remote(ExitStatus::Code(code)));
        }
        gathered.push_line(1, b"extra");
        let text = String::from_utf8(gathered.render(&labels, Style::plain())).unwrap();
        assert_eq!(
            text,
            "---------------\nweb2 (1)\n---------------\nsame\nextra\n\
             ---------------\nweb5 (1) exit 3\n---------------\nsame\n\
             ---------------\nweb[1,3-4] (3)\n---------------\nsame\n"
        );
    }

    /// `--diff`: the largest group in full, the others as unified diffs against it.
    #[test]
    fn diff_against_the_largest_group() {
        let labels: Vec<String> = (1..=5).map(|i| format!("web{i}")).collect();
        let mut gathered = Gathered::new(5);
        for host in 0..5 {
            for line in ["a", "b", "c"] {
                let line = if host == 1 && line == "b" { "B" } else { line };
                gathered.push_line(host, line.as_bytes());
            }
            gathered.finish(host, &Ending::Remote(ExitStatus::Code(0)));
        }
        gathered.push_line(4, b"d");
        let text = String::from_utf8(gathered.render_diff(&labels, Style::plain(), None)).unwrap();
        assert_eq!(
            text,
            "---------------\nweb[1,3-4] (3)\n---------------\na\nb\nc\n\
             --- web[1,3-4] (3)\n+++ web2 (1)\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n\
             --- web[1,3-4] (3)\n+++ web5 (1)\n@@ -1,3 +1,4 @@\n a\n b\n c\n+d\n"
        );
        assert!(
            Gathered::new(0)
                .render_diff(&[], Style::plain(), None)
                .is_empty()
        );
    }
}
