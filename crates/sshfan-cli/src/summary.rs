//! The end-of-run summary: hosts folded by outcome, e.g. `exit 3: web[4-5] (2)`.

use std::collections::BTreeMap;

use sshfan::nodeset::NodeSet;

use crate::ending::Ending;
use crate::exit::ExitStatus;

/// Outcomes collected as hosts finish.
#[derive(Default)]
pub struct Summary {
    /// Host labels per category, in finishing order.
    groups: BTreeMap<String, Vec<String>>,
    pub hosts: usize,
    pub ok: usize,
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
        self.groups
            .entry(category)
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
