//! `--spread KEY`: the group of each host, so that a rollout's waves take hosts from every
//! group in turn and no wave takes out a whole rack.
//!
//! KEY is either `@SOURCE`, a ClusterShell group source (`@rack`: each host belongs to
//! the first of that source's groups that lists it), or a regular expression matched on
//! each host's label, whose first capture group (else the whole match) names the group
//! (`'rack(\d+)-'`). Hosts in no group form one group of their own.

use std::collections::HashMap;

use sshfan::nodeset::Groups;
use sshfan::nodeset::NodeSet;

use crate::exit::UsageError;

/// Each host's group number, by index.
pub fn groups(key: &str, labels: &[String]) -> anyhow::Result<Vec<usize>> {
    let names: Vec<Option<String>> = match key.strip_prefix('@') {
        Some(source) => by_source(source, labels)?,
        None => by_pattern(key, labels)?,
    };
    let mut numbers: HashMap<Option<String>, usize> = HashMap::new();
    Ok(names
        .into_iter()
        .map(|name| {
            let next = numbers.len();
            *numbers.entry(name).or_insert(next)
        })
        .collect())
}

fn by_pattern(pattern: &str, labels: &[String]) -> anyhow::Result<Vec<Option<String>>> {
    let regex = regex::Regex::new(pattern).map_err(|err| {
        let why = err.to_string();
        let why = why
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or_default();
        UsageError(format!(
            "--spread: bad pattern `{pattern}`: {}",
            why.trim_start_matches("error: ")
        ))
    })?;
    Ok(labels
        .iter()
        .map(|label| {
            let found = regex.captures(label)?;
            let group = found.get(1).or_else(|| found.get(0))?;
            Some(group.as_str().to_owned())
        })
        .collect())
}

fn by_source(source: &str, labels: &[String]) -> anyhow::Result<Vec<Option<String>>> {
    let groups = Groups::load().map_err(|err| UsageError(format!("--spread: {err}")))?;
    let source = (!source.is_empty()).then_some(source);
    let names = groups
        .list(source)
        .map_err(|err| UsageError(format!("--spread: {err}")))?;
    let mut group_of: HashMap<String, String> = HashMap::new();
    for group in names {
        let members = groups
            .members(source, &group)
            .map_err(|err| UsageError(format!("--spread: {err}")))?;
        let members = NodeSet::parse(&members).map_err(|err| UsageError(err.to_string()))?;
        for member in members.iter() {
            group_of
                .entry(member.to_owned())
                .or_insert_with(|| group.clone());
        }
    }
    Ok(labels
        .iter()
        .map(|label| {
            let name = label
                .rsplit_once(':')
                .map_or(label.as_str(), |(name, _)| name);
            group_of.get(label).or_else(|| group_of.get(name)).cloned()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_names_each_host_s_group() {
        let labels: Vec<String> = ["rack1-n1", "rack1-n2", "rack2-n1", "other", "rack2-n2"]
            .map(String::from)
            .to_vec();
        assert_eq!(groups(r"rack(\d+)-", &labels).unwrap(), [0, 0, 1, 2, 1]);
        assert!(groups("(", &labels).is_err());
    }
}
