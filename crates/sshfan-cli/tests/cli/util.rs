//! Running the binary against a fleet.

use std::process::{Command, Output};

use sshfan::nodeset::NodeSet;
use sshfan_testkit::{FLEET_USER, Fleet};

/// `sshfan` with the fleet's user, key and known_hosts, and no agent or ~/.ssh.
pub fn sshfan(fleet: &Fleet) -> Command {
    sshfan_subcommand(fleet, None)
}

/// `sshfan SUBCOMMAND` (cp, get) set up like [`sshfan`].
pub fn sshfan_subcommand(fleet: &Fleet, subcommand: Option<&str>) -> Command {
    let mut command = sshfan_local(fleet);
    command.args(subcommand);
    command
        .args(["-l", FLEET_USER])
        .env("SSHFAN_CONNECT_TIMEOUT", "5")
        .arg("-i")
        .arg(fleet.client_key_path())
        .arg("--known-hosts")
        .arg(fleet.known_hosts_path());
    command
}

/// `sshfan` with the fleet's directory as HOME (its journal goes there) and no agent,
/// without connection options: for `runs`, `rerun` and `merge`.
pub fn sshfan_local(fleet: &Fleet) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sshfan"));
    command
        .env("SSH_AUTH_SOCK", "/nonexistent")
        .env("HOME", fleet.dir())
        .env_remove("XDG_STATE_HOME")
        .env_remove("NO_COLOR")
        .env_remove("SSHFAN_FANOUT");
    command
}

/// Runs on every fleet host.
pub fn run_all(fleet: &Fleet, extra: &[&str], command: &str) -> Output {
    sshfan(fleet)
        .arg("-w")
        .arg(fleet.host_specs().join(","))
        .args(extra)
        .arg("--")
        .arg(command)
        .output()
        .expect("run sshfan")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn sorted_lines(bytes: &[u8]) -> Vec<String> {
    let mut lines: Vec<String> = text(bytes).lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// The folded node set of these host specs, as sshfan prints it.
pub fn folded<S: AsRef<str>>(hosts: &[S]) -> String {
    NodeSet::from_names(hosts.iter().map(|h| h.as_ref().to_owned())).fold()
}
