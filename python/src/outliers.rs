//! `sshfan._native.group_outputs`: the library's outlier gather for `client.gather`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use sshfan::outliers::{Normalizer, Rule, group_outputs as group};

/// One group: the positions of its hosts in the input, its class, its (normalised)
/// output, and its unified diff against the first group's (none for the first).
type Group = (Vec<usize>, String, String, Option<String>);

/// Groups `(names, output, class)` triples by output, normalised first unless
/// `normalize` is false (`rules`: the rules to apply, all by default; `patterns`: regular
/// expressions of one's own). The largest group comes first.
#[pyfunction]
#[pyo3(signature = (outputs, normalize=true, rules=None, patterns=Vec::new()))]
pub fn group_outputs(
    outputs: Vec<(Vec<String>, String, String)>,
    normalize: bool,
    rules: Option<Vec<String>>,
    patterns: Vec<String>,
) -> PyResult<Vec<Group>> {
    let normalizer = match normalize {
        false => None,
        true => Some(normalizer(rules, &patterns)?),
    };
    let names: Vec<Vec<&str>> = outputs
        .iter()
        .map(|(names, _, _)| names.iter().map(String::as_str).collect())
        .collect();
    let groups = group(
        outputs
            .iter()
            .enumerate()
            .map(|(index, (_, output, class))| {
                (
                    index,
                    names[index].as_slice(),
                    output.as_bytes(),
                    class.as_str(),
                )
            }),
        normalizer.as_ref(),
    );
    Ok(groups
        .into_iter()
        .map(|g| (g.hosts, g.class, g.output, g.diff))
        .collect())
}

fn normalizer(rules: Option<Vec<String>>, patterns: &[String]) -> PyResult<Normalizer> {
    let mut normalizer = match rules {
        None => Normalizer::new(),
        Some(rules) => rules.iter().try_fold(Normalizer::none(), |n, rule| {
            rule.parse::<Rule>()
                .map(|rule| n.with(rule))
                .map_err(|err| PyValueError::new_err(err.to_string()))
        })?,
    };
    for pattern in patterns {
        normalizer = normalizer
            .pattern(pattern)
            .map_err(|err| PyValueError::new_err(err.to_string()))?;
    }
    Ok(normalizer)
}
