//! Command-line arguments (clap derive); doc comments are the help text.
//!
//! Option letters follow pdsh and clush (`-w`, `-l`, `-f`, `-t`, `-u`, `-N`) so that their
//! users' habits work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Run a command on many hosts at once over SSH.
#[derive(Debug, Parser)]
#[command(name = "sshfan", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub subcommand: Option<Command>,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start an embedded test fleet on loopback and run a command across it.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Target hosts: comma-separated `[user@]host[:port]` (IPv6 as `[::1]:22`); repeatable.
    #[arg(short = 'w', value_name = "HOSTS", help_heading = "Hosts")]
    pub hosts: Vec<String>,

    /// Remote user (default: the local user).
    #[arg(
        short = 'l',
        long = "user",
        env = "SSHFAN_USER",
        help_heading = "Connection"
    )]
    pub user: Option<String>,

    /// Port for hosts that name none.
    #[arg(
        short = 'p',
        long = "port",
        env = "SSHFAN_PORT",
        default_value_t = 22,
        help_heading = "Connection"
    )]
    pub port: u16,

    /// Private key file to try first; repeatable.
    #[arg(
        short = 'i',
        long = "identity",
        value_name = "FILE",
        help_heading = "Connection"
    )]
    pub identities: Vec<PathBuf>,

    /// Most hosts in flight at once.
    #[arg(
        short = 'f',
        long = "fanout",
        env = "SSHFAN_FANOUT",
        default_value_t = 100,
        help_heading = "Connection"
    )]
    pub fanout: usize,

    /// Connect timeout in seconds (TCP + SSH handshake + authentication).
    #[arg(
        short = 't',
        long = "connect-timeout",
        env = "SSHFAN_CONNECT_TIMEOUT",
        default_value_t = 10.0,
        help_heading = "Connection"
    )]
    pub connect_timeout: f64,

    /// Command timeout in seconds (default: none).
    #[arg(
        short = 'u',
        long = "command-timeout",
        env = "SSHFAN_COMMAND_TIMEOUT",
        help_heading = "Connection"
    )]
    pub command_timeout: Option<f64>,

    /// Extra connection attempts after transient failures.
    #[arg(long, default_value_t = 0, help_heading = "Connection")]
    pub retries: u32,

    /// Host-key checking: `yes` (strict, the default), `accept-new`, or `no` (dangerous).
    #[arg(long = "strict-host-key-checking", value_enum, default_value_t = HostKeyChecking::Yes, help_heading = "Security")]
    pub host_key_checking: HostKeyChecking,

    /// known_hosts file to use instead of ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts; repeatable.
    #[arg(long = "known-hosts", value_name = "FILE", help_heading = "Security")]
    pub known_hosts: Vec<PathBuf>,

    /// Print output lines without the `host: ` prefix.
    #[arg(short = 'N', help_heading = "Output")]
    pub no_prefix: bool,

    /// The command to run (after `--`, or as the remaining arguments).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HostKeyChecking {
    Yes,
    AcceptNew,
    No,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Number of fleet hosts.
    #[arg(long, default_value_t = 1000)]
    pub hosts: usize,

    /// Command to run on every host (the fleet's built-in interpreter; see sshfan-testkit).
    #[arg(long, default_value = "echo hello from; hostname")]
    pub command: String,

    /// Most hosts in flight at once.
    #[arg(short = 'f', long = "fanout", default_value_t = 100)]
    pub fanout: usize,

    /// Print the output of this many hosts (the rest is only counted).
    #[arg(long, default_value_t = 5)]
    pub show: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("sshfan").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn pdsh_style_run() {
        let cli = parse(&[
            "-w", "a,b", "-w", "c", "-l", "root", "-f", "8", "--", "uname", "-a",
        ]);
        assert!(cli.subcommand.is_none());
        assert_eq!(cli.run.hosts, ["a,b", "c"]);
        assert_eq!(cli.run.user.as_deref(), Some("root"));
        assert_eq!(cli.run.fanout, 8);
        assert_eq!(cli.run.command, ["uname", "-a"]);
    }

    #[test]
    fn command_without_dashes_keeps_its_flags() {
        let cli = parse(&["-w", "a", "ls", "-l", "/tmp"]);
        assert_eq!(cli.run.command, ["ls", "-l", "/tmp"]);
    }

    #[test]
    fn demo_subcommand() {
        let cli = parse(&["demo", "--hosts", "10"]);
        match cli.subcommand {
            Some(Command::Demo(demo)) => assert_eq!(demo.hosts, 10),
            other => panic!("{other:?}"),
        }
    }
}
