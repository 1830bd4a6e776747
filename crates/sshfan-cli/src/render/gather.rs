//! `-b`: identical outputs printed once under a folded node set, like `clush -b` and
//! `dshbak -c`. Hosts are grouped by their whole stdout and their outcome category, so
//! hosts with the same output but different exit codes stay apart.

use std::collections::BTreeMap;

use sshfan::nodeset::NodeSet;

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
        let mut blocks: Vec<(String, &[u8])> = groups
            .into_iter()
            .map(|((output, category), hosts)| {
                let count = hosts.len();
                let folded = NodeSet::from_names(hosts).fold();
                let mut header = format!("{folded} ({count})");
                if category != "ok" {
                    header.push_str(&format!(" {category}"));
                }
                (header, output)
            })
            .collect();
        blocks.sort();
        let mut text = Vec::new();
        for (header, output) in blocks {
            let rule = "-".repeat(15);
            text.extend_from_slice(
                format!(
                    "{}\n{}\n{}\n",
                    style.dim(&rule),
                    style.header(&header),
                    style.dim(&rule)
                )
                .as_bytes(),
            );
            text.extend_from_slice(output);
        }
        text
    }
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
}
