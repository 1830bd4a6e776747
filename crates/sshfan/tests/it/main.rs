//! sshfan's integration tests: real SSH over real sockets, against the in-process
//! testkit fleet and a real OpenSSH sshd.

/// Authentication methods and their order: keys, agent, identities, password, kbd-interactive.
mod auth;
/// The chaos run: thousands of in-memory hosts, a tenth with random faults.
mod chaos;
/// File transfer: SFTP and SCP, trees, naming, errors.
mod copy;
/// Each per-host error kind, with the other hosts unaffected.
mod errors;
/// Command output and exit statuses: streams, signals, raw bytes, joins, flow control.
mod exec;
/// sudo, shells, PTY, stdin, host_args, env, read timeouts, completions.
mod execution;
/// Hostile servers: names, sizes, times, stalls, floods, injection, unasked channels.
mod hostile;
/// Interop with a real OpenSSH sshd.
mod interop;
/// known_hosts: hashed, wildcard, negated, revoked, CA-signed, accept-new at scale.
mod known_hosts;
/// Network faults made in a network namespace: a blackholed address, a slow lossy link.
mod network;
/// Reaching hosts: ssh_config, jump hosts, proxy commands.
mod reach;
/// Rollouts: waves, failure budget, gate.
mod rollout;
/// Round trips per host, counted over a counting transport.
mod round_trips;
/// Many hosts at once.
mod scale;
/// Sessions kept between jobs: reuse, reconnects, channel and session caps, idle timeout.
mod sessions;
/// Spare channels: a channel opened ahead on each idle kept session.
mod spare;
/// Shared helpers.
mod util;
