//! The `sshfan` binary end to end, against the testkit fleet over loopback TCP.

/// `sshfan agent`: sessions kept between invocations.
mod agent;
/// Run control: fail-fast, timeouts, `-S`, Ctrl-C.
mod control;
/// `sshfan cp` / `sshfan get`.
mod copy;
/// `sshfan demo`.
mod demo;
/// ClusterShell node groups: `@group`, `-g`, `-X`, `-a`, `nodeset -l`.
mod groups;
/// Hostile hosts: terminal escapes, floods, big downloads, `get /`.
mod hostile;
/// Host selection: expressions, files, stdin, exclusions, duplicates, bad lists.
mod hosts;
/// Interactive mode through a pseudo-terminal.
mod interactive;
/// The run journal: `runs`, `runs show`, `rerun`, a killed run resumed.
mod journal;
/// Output modes: gather, JSON, per-host files, no prefix, colour, progress, summary.
mod modes;
/// `sshfan nodeset`.
mod nodeset;
/// Outlier gather: `-B`, `--gather=outliers`, `--normalize`.
mod outliers;
/// The process itself: transparent huge pages off.
mod process;
/// Reaching hosts: `-J`, `-F`.
mod reach;
/// Rollouts: waves, failure budget, gate.
mod rollout;
/// Streamed `host: line` output and the exit-code scheme.
mod run;
/// Secrets: `-A` and `--sudo`.
mod secrets;
/// `--shard K/N` and `sshfan merge`.
mod shard;
/// No surprises: unknown options, stdin broadcast, local mistakes once.
mod usage;
/// Shared: a command builder pointed at a fleet.
mod util;
