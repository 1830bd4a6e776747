//! The end-of-run summary: hosts folded by outcome, e.g. `exit 3: web[4-5] (2)`.
//!
//! Two groupings are kept: by the category people read (`exit 3`, `unreachable`) for
//! the terminal, and by the stable key programs read (`exit_3`, `refused`) for `--json`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use sshfan::nodeset::NodeSet;

use crate::ending::Ending;
use crate::exit::ExitStatus;

/// Outcomes collected as hosts finish.
#[derive(Default)]
pub struct Summary {
    /// Host labels per category, in finishing order.
    groups: BTreeMap<String, Vec<String>>,
    /// Host labels per stable outcome key ([`Ending::key`]), in finishing order.
    outcomes: BTreeMap<String, Vec<String>>,
    pub hosts: usize,
    pub ok: usize,
    /// Hosts cancelled (Ctrl-C, `-k`) before they finished.
    pub cancelled: usize,
    /// Hosts a halted rollout never started, and why it halted.
    pub not_run: usize,
    pub halted: Option<String>,
    pub status: Option<ExitStatus>,
    largest_remote: Option<u8>,
    /// Hosts whose host key was not known (for the hint at the end).
    pub unknown_host_keys: usize,
    /// Hosts whose host key changed.
    pub changed_host_keys: usize,
}

impl Summary {
    pub fn record(&mut self, label: &str, ending: &Ending) {
        self.hosts += 1;
        let category = ending.category();
        if category == "ok" {
            self.ok += 1;
        }
        if ending.cancelled() {
            self.cancelled += 1;
        }
        if let Ending::Failed { message, .. } = ending
            && ending.not_run()
        {
            self.not_run += 1;
            let reason = message.strip_prefix("not run: ").unwrap_or(message);
            self.halted.get_or_insert_with(|| reason.to_owned());
        }
        self.groups
            .entry(category)
            .or_default()
            .push(label.to_owned());
        self.outcomes
            .entry(ending.key())
            .or_default()
            .push(label.to_owned());
        if let Ending::Failed { code, message } = ending
            && code == "host_key"
        {
            if message.contains("is not known") {
                self.unknown_host_keys += 1;
            } else if message.contains("CHANGED") {
                self.changed_host_keys += 1;
            }
        }
        let status = ExitStatus::of(ending);
        self.status = Some(self.status.map_or(status, |s| s.max(status)));
        if let Some(code) = ExitStatus::remote_code(ending) {
            self.largest_remote = Some(self.largest_remote.map_or(code, |c| c.max(code)));
        }
    }

    /// The run's exit status (`largest_remote` for `-S`).
    pub fn exit_status(&self, interrupted: bool, largest_remote: bool) -> ExitStatus {
        if interrupted {
            return ExitStatus::Interrupted;
        }
        if largest_remote {
            return ExitStatus::Remote(self.largest_remote.unwrap_or(0));
        }
        self.status.unwrap_or(ExitStatus::Success)
    }

    /// Host labels per category.
    pub fn groups(&self) -> &BTreeMap<String, Vec<String>> {
        &self.groups
    }

    /// Host labels per stable outcome key, each list in natural order (`web2` before
    /// `web10`), for `--json`.
    pub fn outcomes(&self) -> BTreeMap<String, Vec<String>> {
        self.outcomes
            .iter()
            .map(|(key, hosts)| {
                let mut hosts = hosts.clone();
                hosts.sort_by(|a, b| natural_order(a, b));
                (key.clone(), hosts)
            })
            .collect()
    }

    /// Hosts that failed (neither succeeded, nor were cancelled, nor never ran).
    pub fn failed(&self) -> usize {
        self.hosts - self.ok - self.cancelled - self.not_run
    }

    /// Whether any host did not succeed.
    pub fn any_failed(&self) -> bool {
        self.ok < self.hosts
    }

    /// `(category, folded hosts, count)`, `ok` first, then the others by name.
    pub fn lines(&self) -> Vec<(String, String, usize)> {
        let mut lines: Vec<(String, String, usize)> = self
            .groups
            .iter()
            .map(|(category, hosts)| {
                (
                    category.clone(),
                    NodeSet::from_names(hosts.iter().cloned()).fold(),
                    hosts.len(),
                )
            })
            .collect();
        lines.sort_by_key(|(category, _, _)| category != "ok");
        lines
    }
}

/// Names compared with their digit runs as numbers: `web2` < `web10`, `10.0.0.9` <
/// `10.0.0.10`.
pub fn natural_order(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let digits = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (digits(a), digits(b));
                let trim = |s: &[u8]| {
                    let zeros = s.iter().take_while(|c| **c == b'0').count();
                    s.get(zeros..).unwrap_or_default().to_vec()
                };
                let (ta, tb) = (trim(&a[..na]), trim(&b[..nb]));
                let order = ta
                    .len()
                    .cmp(&tb.len())
                    .then_with(|| ta.cmp(&tb))
                    .then(na.cmp(&nb));
                if order != Ordering::Equal {
                    return order;
                }
                a = &a[na..];
                b = &b[nb..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use sshfan::{Error, ErrorKind, ExitStatus as RemoteStatus, Outcome};

    use super::*;

    impl Summary {
        fn record_outcome(&mut self, label: &str, outcome: &Outcome) {
            self.record(label, &Ending::from(outcome));
        }
    }

    #[test]
    fn folds_hosts_by_outcome() {
        let mut summary = Summary::default();
        for i in 1..=3 {
            summary.record_outcome(&format!("web{i}"), &Ok(RemoteStatus::Code(0)));
        }
        summary.record_outcome("web4", &Ok(RemoteStatus::Code(3)));
        summary.record_outcome("web5", &Ok(RemoteStatus::Code(3)));
        summary.record_outcome("db1", &Err(Error::new("db1", ErrorKind::Refused)));
        assert_eq!(
            summary.lines(),
            [
                ("ok".to_owned(), "web[1-3]".to_owned(), 3),
                ("exit 3".to_owned(), "web[4-5]".to_owned(), 2),
                ("unreachable".to_owned(), "db1".to_owned(), 1),
            ]
        );
        assert_eq!(summary.exit_status(false, false), ExitStatus::HostError);
        assert_eq!(summary.exit_status(false, true), ExitStatus::Remote(255));
        assert_eq!(summary.exit_status(true, false), ExitStatus::Interrupted);
    }

    /// `--json`'s keys are the stable outcome keys, each host list in natural order;
    /// cancelled hosts are counted apart from failures.
    #[test]
    fn stable_keys_sorted_hosts_and_cancelled_counts() {
        let mut summary = Summary::default();
        for name in ["web10", "web2", "web1"] {
            summary.record_outcome(name, &Ok(RemoteStatus::Code(0)));
        }
        summary.record_outcome("db1", &Ok(RemoteStatus::Code(3)));
        summary.record_outcome("db2", &Err(Error::new("db2", ErrorKind::Refused)));
        summary.record_outcome("db3", &Err(Error::new("db3", ErrorKind::Cancelled)));
        let outcomes = summary.outcomes();
        let keys: Vec<&str> = outcomes.keys().map(String::as_str).collect();
        assert_eq!(keys, ["cancelled", "exit_3", "ok", "refused"]);
        assert_eq!(outcomes["ok"], ["web1", "web2", "web10"]);
        assert_eq!((summary.ok, summary.failed(), summary.cancelled), (3, 2, 1));
        let mut names = vec!["10.0.0.10", "10.0.0.9", "n01", "n1", "a"];
        names.sort_by(|a, b| natural_order(a, b));
        assert_eq!(names, ["10.0.0.9", "10.0.0.10", "a", "n1", "n01"]);
    }

    #[test]
    fn timeouts_outrank_host_errors_and_remote_failures() {
        let mut summary = Summary::default();
        summary.record_outcome("a", &Ok(RemoteStatus::Code(1)));
        summary.record_outcome(
            "b",
            &Err(Error::new(
                "b",
                ErrorKind::CommandTimeout {
                    after: std::time::Duration::from_secs(1),
                },
            )),
        );
        summary.record_outcome("c", &Err(Error::new("c", ErrorKind::Refused)));
        assert_eq!(summary.exit_status(false, false), ExitStatus::Timeout);
    }

    #[test]
    fn largest_remote_code_for_dash_s() {
        let mut summary = Summary::default();
        summary.record_outcome("a", &Ok(RemoteStatus::Code(3)));
        summary.record_outcome("b", &Ok(RemoteStatus::Code(7)));
        summary.record_outcome("c", &Err(Error::new("c", ErrorKind::Cancelled)));
        assert_eq!(summary.exit_status(false, true), ExitStatus::Remote(7));
        let signal = RemoteStatus::Signal {
            name: "TERM".into(),
            core_dumped: false,
            message: String::new(),
        };
        summary.record_outcome("d", &Ok(signal));
        assert_eq!(summary.exit_status(false, true), ExitStatus::Remote(143));
    }
}
