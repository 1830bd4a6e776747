//! Rollouts: a run's hosts in waves, with a failure budget and a gate between waves.
//!
//! Operators roll a change out as a canary, then growing waves, and stop when too many
//! hosts fail (Ansible's `serial` and `max_fail_percentage`). A [`Rollout`] on
//! [`crate::RunOptions`] makes one run do that: a wave starts only when the previous one
//! has finished; once more hosts have failed than the budget allows, no host starts any
//! more (running ones finish, or are cancelled with [`Rollout::abort_running`]); a
//! [`WaveGate`] between waves can halt it too. Hosts that never ran end with
//! [`crate::ErrorKind::NotRun`], which says why.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// How many hosts one wave takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WaveSize {
    /// This many hosts.
    Count(usize),
    /// This percentage of all the run's hosts (rounded up, at least one).
    Percent(f64),
    /// Every host left.
    Rest,
}

/// How many failed hosts a rollout tolerates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FailBudget {
    /// At most this many.
    Count(usize),
    /// At most this percentage of all the run's hosts (rounded down).
    Percent(f64),
}

/// What a gate is told after a wave: its number and the counts so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaveReport {
    /// The wave that just finished (1-based).
    pub wave: usize,
    /// How many waves the rollout has.
    pub waves: usize,
    /// Indexes of this wave's hosts.
    pub hosts: Vec<usize>,
    /// This wave's hosts that succeeded.
    pub succeeded: usize,
    /// This wave's hosts that did not.
    pub failed: usize,
    /// Hosts failed in all waves so far.
    pub failed_so_far: usize,
    /// All the run's hosts.
    pub total: usize,
}

/// Decides after each wave (but the last) whether the rollout goes on: `false` halts it.
/// Called on a blocking thread, so it may run a local command.
pub type WaveGate = Arc<dyn Fn(&WaveReport) -> bool + Send + Sync>;

/// Waves, a failure budget, a gate: see the module docs.
#[derive(Clone, Default)]
pub struct Rollout {
    /// Wave sizes in order; the last one repeats until every host is in a wave (none:
    /// one wave of every host).
    pub waves: Vec<WaveSize>,
    /// Failed hosts tolerated over the whole rollout (`None`: no limit).
    pub max_fail: Option<FailBudget>,
    /// Cancel the running hosts as soon as the budget is exceeded (else they finish).
    pub abort_running: bool,
    /// Asked between waves.
    pub gate: Option<WaveGate>,
    /// A pause between waves.
    pub pause: Option<Duration>,
    /// Each host's group (by host index: a rack, a zone): hosts go into waves one group
    /// at a time in turn (the first host of every group, then the second…), so that no
    /// wave takes more hosts of one group than it must (see [`spread_order`]).
    pub spread: Option<Vec<usize>>,
}

impl fmt::Debug for Rollout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rollout")
            .field("waves", &self.waves)
            .field("max_fail", &self.max_fail)
            .field("abort_running", &self.abort_running)
            .field("gate", &self.gate.is_some())
            .field("pause", &self.pause)
            .field("spread", &self.spread.as_ref().map(Vec::len))
            .finish()
    }
}

/// A wave list or budget that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{text}`: {reason}")]
pub struct RolloutError {
    what: &'static str,
    text: String,
    reason: &'static str,
}

fn count_or_percent(text: &str, what: &'static str) -> Result<(f64, bool), RolloutError> {
    let bad = |reason| RolloutError {
        what,
        text: text.to_owned(),
        reason,
    };
    let trimmed = text.trim();
    let (number, percent) = match trimmed.strip_suffix('%') {
        Some(number) => (number.trim(), true),
        None => (trimmed, false),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| bad("a count (5), a percentage (10%) or `rest`"))?;
    if !value.is_finite() || value < 0.0 || (percent && value > 100.0) {
        return Err(bad("out of range"));
    }
    if !percent && value.fract() != 0.0 {
        return Err(bad("a count is a whole number"));
    }
    Ok((value, percent))
}

impl FromStr for WaveSize {
    type Err = RolloutError;

    /// `5`, `10%` or `rest`.
    fn from_str(text: &str) -> Result<WaveSize, RolloutError> {
        if text.trim().eq_ignore_ascii_case("rest") {
            return Ok(WaveSize::Rest);
        }
        match count_or_percent(text, "wave size")? {
            (0.0, _) => Err(RolloutError {
                what: "wave size",
                text: text.to_owned(),
                reason: "a wave takes at least one host",
            }),
            (value, true) => Ok(WaveSize::Percent(value)),
            (value, false) => Ok(WaveSize::Count(value as usize)),
        }
    }
}

impl FromStr for FailBudget {
    type Err = RolloutError;

    /// `5` or `10%`.
    fn from_str(text: &str) -> Result<FailBudget, RolloutError> {
        Ok(match count_or_percent(text, "failure budget")? {
            (value, true) => FailBudget::Percent(value),
            (value, false) => FailBudget::Count(value as usize),
        })
    }
}

/// `1,1%,10%,rest`.
pub fn parse_waves(text: &str) -> Result<Vec<WaveSize>, RolloutError> {
    text.split(',').map(str::parse).collect()
}

/// The order hosts start in when spread over `groups` (each host's group, by index):
/// round-robin over the groups in the order first seen, each group's hosts in their own
/// order. Hosts beyond `groups`' length keep their place after the others.
pub fn spread_order(groups: &[usize], hosts: usize) -> Vec<usize> {
    let mut buckets: indexmap::IndexMap<usize, std::collections::VecDeque<usize>> =
        indexmap::IndexMap::new();
    for (host, group) in groups.iter().enumerate().take(hosts) {
        buckets.entry(*group).or_default().push_back(host);
    }
    let mut order = Vec::with_capacity(hosts);
    while order.len() < groups.len().min(hosts) {
        for bucket in buckets.values_mut() {
            if let Some(host) = bucket.pop_front() {
                order.push(host);
            }
        }
    }
    order.extend(groups.len()..hosts);
    order
}

impl Rollout {
    /// The size of each wave for `hosts` hosts: the sizes in order, the last repeated
    /// until every host is in a wave.
    pub fn plan(&self, hosts: usize) -> Vec<usize> {
        let size_of = |size: &WaveSize, left: usize| match size {
            WaveSize::Count(count) => (*count).max(1).min(left),
            WaveSize::Percent(percent) => {
                let share = (hosts as f64 * percent / 100.0).ceil() as usize;
                share.max(1).min(left)
            }
            WaveSize::Rest => left,
        };
        let mut plan = Vec::new();
        let mut left = hosts;
        let mut sizes = self.waves.iter();
        let mut last = WaveSize::Rest;
        while left > 0 {
            let size = sizes.next().copied().unwrap_or(last);
            last = size;
            let taken = size_of(&size, left);
            plan.push(taken);
            left -= taken;
        }
        plan
    }

    /// Failed hosts tolerated out of `hosts` (`None`: no limit).
    pub fn allowed_failures(&self, hosts: usize) -> Option<usize> {
        self.max_fail.map(|budget| match budget {
            FailBudget::Count(count) => count,
            FailBudget::Percent(percent) => (hosts as f64 * percent / 100.0).floor() as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreading_takes_one_host_of_each_group_in_turn() {
        // rack a: 0,1,2; rack b: 3,4; rack c: 5.
        let groups = [0, 0, 0, 1, 1, 2];
        assert_eq!(spread_order(&groups, 6), [0, 3, 5, 1, 4, 2]);
        assert_eq!(spread_order(&groups, 8), [0, 3, 5, 1, 4, 2, 6, 7]);
        assert_eq!(spread_order(&[], 2), [0, 1]);
    }

    fn rollout(waves: &str) -> Rollout {
        Rollout {
            waves: parse_waves(waves).unwrap(),
            ..Rollout::default()
        }
    }

    #[test]
    fn waves_plan_counts_percentages_rest_and_repeat_the_last() {
        assert_eq!(rollout("1,1%,10%,rest").plan(1000), [1, 10, 100, 889]);
        assert_eq!(rollout("1,10%").plan(35), [1, 4, 4, 4, 4, 4, 4, 4, 4, 2]);
        assert_eq!(rollout("5").plan(3), [3]);
        assert_eq!(rollout("rest").plan(7), [7]);
        assert_eq!(Rollout::default().plan(4), [4]);
        assert!(Rollout::default().plan(0).is_empty());
        for bad in ["0", "x", "101%", "-1", "1.5", ""] {
            assert!(parse_waves(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn budgets_are_counts_or_percentages_of_all_hosts() {
        let mut rollout = rollout("1");
        assert_eq!(rollout.allowed_failures(1000), None);
        rollout.max_fail = Some("5".parse().unwrap());
        assert_eq!(rollout.allowed_failures(1000), Some(5));
        rollout.max_fail = Some("2.5%".parse().unwrap());
        assert_eq!(rollout.allowed_failures(1000), Some(25));
        assert_eq!(rollout.allowed_failures(30), Some(0));
        assert!("abc".parse::<FailBudget>().is_err());
        assert_eq!("0".parse::<FailBudget>(), Ok(FailBudget::Count(0)));
    }
}
