//! Command-line arguments (clap derive); doc comments are the help text.
//!
//! Option letters follow pdsh and clush (`-w`, `-x`, `-l`, `-f`, `-t`, `-u`, `-N`, `-b`,
//! `-S`) and pssh (`-h`, `-A`, `--outdir`/`--errdir`) so that their users' habits work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0    every host ran the command and it exited 0
  1    some remote command exited non-zero, was killed by a signal, or gave no status
  2    usage error (bad option, malformed host list, no hosts)
  3    some host could not run the command: unreachable, refused, DNS, host key, auth, lost connection
  4    some host timed out (connect, command or transfer idle timeout)
  5    a rollout halted (--max-fail exceeded, or --gate refused the next wave)
  130  interrupted (Ctrl-C)
When several apply, the highest wins. With -S, the exit code is instead the largest remote
exit code (128+N for signal N, 255 for a host that could not run the command).

Coming from pdsh, clush or pssh: pssh -p N is -f N, pssh -t is -u, pssh -H is -w,
pssh -o/-e are --outdir/--errdir, pssh -O and clush -o are -o KEY=VALUE, pssh -I is the default (stdin is sent when it is not a
terminal; -n turns it off), dshbak -c is -b; pdcp/pscp are `sshfan cp`, rpdcp/pslurp
`sshfan get`. Completions: `sshfan completions bash|zsh|fish`; manual: `sshfan man`.

Environment: SSHFAN_USER, SSHFAN_PORT, SSHFAN_FANOUT, SSHFAN_CONNECT_TIMEOUT,
SSHFAN_COMMAND_TIMEOUT, SSHFAN_COLOR, SSHFAN_JOURNAL_OUTPUT_MIB (output kept per run
journal, default 64), SSHFAN_AGENT=auto (runs go through `sshfan agent` when it runs);
NO_COLOR turns colour off; SSHFAN_LOG=debug logs.";

/// Run a command on many hosts at once over SSH.
#[derive(Debug, Parser)]
#[command(
    name = "sshfan",
    version,
    args_conflicts_with_subcommands = true,
    disable_help_flag = true,
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub subcommand: Option<Command>,

    #[command(flatten)]
    pub run: RunArgs,

    /// Print help.
    #[arg(long, action = clap::ArgAction::Help, global = true)]
    pub help: Option<bool>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start an embedded test fleet on loopback and run a command across it.
    Demo(DemoArgs),
    /// Expand, fold, count and combine node sets (like ClusterShell's `nodeset`).
    Nodeset(NodesetArgs),
    /// Copy local files to every host: `sshfan cp -w HOSTS [-r] SOURCE... DEST` (scp's
    /// rules: into DEST when it is a directory, else one source is renamed to DEST).
    Cp(CopyArgs),
    /// Copy files from every host: `sshfan get -w HOSTS [-r] REMOTE... LOCAL_DIR`
    /// (each saved as `LOCAL_DIR/NAME.HOST`, like clush --rcopy; one source to a path
    /// that is not a directory is saved as `PATH.HOST`).
    Get(CopyArgs),
    /// Combine the --json output or journals of several runs (shards of one job, say)
    /// into the gathered output, summary and exit code one run would have given.
    Merge(MergeArgs),
    /// List recent runs from the run journal; `runs show [RUN]` prints one again.
    Runs(RunsArgs),
    /// Run the last (or a given) run again on the hosts that did not succeed: with
    /// --failed, --unreached, --not-run (any of them), or --all.
    Rerun(RerunArgs),
    /// Print a shell completion script: `sshfan completions bash > /etc/bash_completion.d/sshfan`.
    Completions(CompletionsArgs),
    /// Print the manual page (roff): `sshfan man | man -l -`.
    Man,
    /// Keep SSH sessions open between invocations: `sshfan agent start`, then runs with
    /// --agent (or SSHFAN_AGENT=auto) reuse them; `agent status`, `agent stop`.
    Agent(AgentArgs),
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub action: AgentAction,
}

/// What `sshfan agent` does.
#[derive(Debug, Subcommand)]
pub enum AgentAction {
    /// Start the agent in the background (nothing to do when it is running).
    Start(AgentServeArgs),
    /// Stop the agent: its sessions are closed cleanly.
    Stop,
    /// Whether the agent runs, and what it holds: sessions, runs, memory, uptime.
    Status,
    /// Run the agent in the foreground (what `start` runs; for systemd and the like).
    #[command(hide = true)]
    Serve(AgentServeArgs),
}

#[derive(Debug, Clone, Copy, Args)]
pub struct AgentServeArgs {
    /// Close a session unused for this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600.0)]
    pub idle: f64,
    /// Most sessions open at once (all credentials together); beyond it the least
    /// recently used are closed. Default: what the open-file limit allows.
    #[arg(long, value_name = "N")]
    pub max_sessions: Option<usize>,
    /// Keep one channel open ahead on each idle session: a command on a warm host then
    /// takes one round trip instead of two (on a distant fleet, one RTT less per
    /// invocation), for one channel held on each server and a few KiB per session here.
    #[arg(long)]
    pub spare_channels: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Files holding `sshfan --json` output or run journals (`-` for stdin).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<std::path::PathBuf>,

    #[command(flatten)]
    pub output: ReplayArgs,
}

/// How `merge` and `runs show` print what runs recorded.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Print JSON lines (renumbered, one summary) instead of gathered output.
    #[arg(long)]
    pub json: bool,

    /// Print `host: line` (hosts in file order) instead of gathered output.
    #[arg(long, conflicts_with = "json")]
    pub lines: bool,

    /// Gathered output with groups other than the largest shown as unified diffs
    /// against it (clush --diff).
    #[arg(long, conflicts_with_all = ["json", "lines"])]
    pub diff: bool,

    #[command(flatten)]
    pub outliers: OutlierArgs,

    /// Always print the summary (by default only when some host failed).
    #[arg(long)]
    pub summary: bool,

    /// No summary and no remote-failure messages.
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Write remote output as received even to a terminal (by default control characters
    /// are shown escaped there, so no host can drive your terminal).
    #[arg(long)]
    pub raw: bool,

    /// Exit with the largest remote exit code (like pdsh -S, clush -S).
    #[arg(short = 'S')]
    pub max_exit: bool,

    /// Colour host names and errors.
    #[arg(long, value_enum, env = "SSHFAN_COLOR", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// The outlier gather: `-B` and how outputs are normalised.
#[derive(Debug, Args)]
pub struct OutlierArgs {
    /// Outlier gather (--gather=outliers): outputs normalised, the majority once, the
    /// others as diffs against it; with --json, a `groups` event.
    #[arg(short = 'B', long = "outliers", help_heading = "Output")]
    pub outliers: bool,

    /// With an outlier gather, also replace what REGEX matches (repeatable).
    #[arg(long, value_name = "REGEX", help_heading = "Output")]
    pub normalize: Vec<String>,

    /// With an outlier gather, leave these rules out: host, uuid, time, ip, hex, number.
    #[arg(
        long,
        value_name = "RULES",
        value_delimiter = ',',
        help_heading = "Output"
    )]
    pub no_normalize: Vec<String>,
}

impl OutlierArgs {
    /// Whether normalising was asked for, which needs an outlier gather.
    pub fn normalizing(&self) -> bool {
        !self.normalize.is_empty() || !self.no_normalize.is_empty()
    }
}

/// `sshfan runs`: the journal's recent runs, or one run's report again.
#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub action: Option<RunsAction>,

    /// How many of the most recent runs to list.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub count: usize,

    /// The journal directory (default: $XDG_STATE_HOME/sshfan/runs).
    #[arg(long, value_name = "DIR", global = true)]
    pub journal: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum RunsAction {
    /// Print a run's gathered output and summary again (the last run by default).
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The run: its id (or a unique start of it), or a journal file or directory.
    #[arg(value_name = "RUN")]
    pub run: Option<String>,

    #[command(flatten)]
    pub output: ReplayArgs,
}

/// `sshfan rerun`: the same run again on some of its hosts.
#[derive(Debug, Args)]
pub struct RerunArgs {
    /// Hosts whose command failed (non-zero exit, signal, timeout, lost connection).
    #[arg(long)]
    pub failed: bool,

    /// Hosts that could not be reached (refused, unreachable, DNS, host key, auth,
    /// connect timeout).
    #[arg(long)]
    pub unreached: bool,

    /// Hosts that did not finish: never started (a halted rollout, a killed run), were
    /// cancelled, or were running when the run was killed.
    #[arg(long)]
    pub not_run: bool,

    /// Every host of the run.
    #[arg(long, conflicts_with_all = ["failed", "unreached", "not_run"])]
    pub all: bool,

    /// Run this command instead of the run's own.
    #[arg(long, value_name = "COMMAND")]
    pub command: Option<String>,

    /// The journal directory (default: $XDG_STATE_HOME/sshfan/runs).
    #[arg(long, value_name = "DIR")]
    pub journal: Option<PathBuf>,

    /// The run: its id (or a unique start of it), or a journal file or directory (default:
    /// the last run).
    #[arg(value_name = "RUN")]
    pub run: Option<String>,
}

/// `sshfan cp` and `sshfan get`: their own options (no `--sudo`, `-b` or `-S`, which mean
/// nothing for a copy), with the same host selection, connection and report options as a run.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Copy directories recursively.
    #[arg(short = 'r', long, help_heading = "Copy")]
    pub recursive: bool,

    /// Keep modes and modification times.
    #[arg(long, help_heading = "Copy")]
    pub preserve: bool,

    /// Use the legacy SCP protocol instead of SFTP (for servers without SFTP).
    #[arg(long, help_heading = "Copy")]
    pub scp: bool,

    /// Create the destination directory when it does not exist (by default a missing
    /// directory is an error, as with scp and pdcp).
    #[arg(long, help_heading = "Copy")]
    pub mkdir: bool,

    #[command(flatten)]
    pub select: HostArgs,

    #[command(flatten)]
    pub connect: ConnectArgs,

    #[command(flatten)]
    pub report: ReportArgs,

    /// The sources, then the destination. One source whose destination is not an existing
    /// directory (and does not end in `/`) is copied to that name, as `scp a b` does.
    #[arg(value_name = "PATH", num_args = 0..)]
    pub paths: Vec<String>,
}

/// A run's arguments: which hosts, how to reach them, how to report, and the command.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub select: HostArgs,

    #[command(flatten)]
    pub connect: ConnectArgs,

    #[command(flatten)]
    pub report: ReportArgs,

    /// Run the command with sudo: asks once for the sudo password and feeds it on stdin.
    #[arg(long, help_heading = "Execution")]
    pub sudo: bool,

    /// Print output lines without the `host: ` prefix.
    #[arg(short = 'N', help_heading = "Output")]
    pub no_prefix: bool,

    /// Gather: when all hosts finish, print identical outputs once under a folded node set.
    /// `--gather=outliers` (or -B) first replaces what is unique to each host (its name and
    /// addresses, numbers, UUIDs, times, hex ids), then prints the majority once and every
    /// other group as a diff against it; with --json, as a final `groups` event.
    #[arg(
        short = 'b',
        long = "gather",
        value_name = "MODE",
        value_enum,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "identical",
        help_heading = "Output"
    )]
    pub gather: Option<GatherMode>,

    #[command(flatten)]
    pub outliers: OutlierArgs,

    /// Gather, showing groups other than the largest as unified diffs against it
    /// (clush --diff): among many hosts, only how the few that differ differ.
    #[arg(long, conflicts_with = "json", help_heading = "Output")]
    pub diff: bool,

    /// Also write each host's stdout to DIR/HOST.
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    pub outdir: Option<PathBuf>,

    /// Also write each host's stderr to DIR/HOST.
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    pub errdir: Option<PathBuf>,

    /// Exit with the largest remote exit code (like pdsh -S, clush -S).
    #[arg(short = 'S', help_heading = "Output")]
    pub max_exit: bool,

    /// Roll out in waves: counts, percentages and `rest`, e.g. `--waves 1,1%,10%,rest` (a
    /// canary, then growing waves). A wave starts when the previous one has finished; the
    /// last size repeats until every host is in a wave.
    #[arg(long, value_name = "SIZES", value_parser = parse_waves, help_heading = "Rollout")]
    pub waves: Option<Waves>,

    /// Failure budget over the whole run: N hosts or P% of all hosts. Once more have
    /// failed, no host starts any more (running ones finish), the summary says why, and
    /// the exit code is 5 (halted).
    #[arg(long, value_name = "N|P%", value_parser = parse_budget, help_heading = "Rollout")]
    pub max_fail: Option<sshfan::rollout::FailBudget>,

    /// With --max-fail: cancel the hosts still running once the budget is exceeded.
    #[arg(long, requires = "max_fail", help_heading = "Rollout")]
    pub abort_running: bool,

    /// A local command run between waves (`sh -c`), with the wave's summary as JSON on
    /// stdin and SSHFAN_WAVE, SSHFAN_WAVES, SSHFAN_WAVE_FAILED, SSHFAN_FAILED,
    /// SSHFAN_HOSTS in its environment; a non-zero exit halts the rollout (exit code 5).
    #[arg(
        long,
        value_name = "COMMAND",
        requires = "waves",
        help_heading = "Rollout"
    )]
    pub gate: Option<String>,

    /// Seconds to wait between waves.
    #[arg(
        long,
        value_name = "SECS",
        requires = "waves",
        help_heading = "Rollout"
    )]
    pub wave_pause: Option<f64>,

    /// Spread each wave over groups, one host of each group in turn, so that no wave
    /// takes out a whole rack: `@SOURCE` (a group source's groups, e.g. `@rack`) or a
    /// regular expression on host names whose first capture names the group
    /// (`'rack(\d+)-'`).
    #[arg(long, value_name = "KEY", requires = "waves", help_heading = "Rollout")]
    pub spread: Option<String>,

    /// Do not read stdin (by default, when stdin is not a terminal, it is read once and
    /// sent to every host's command, as clush and `pssh -I` do).
    #[arg(short = 'n', long = "no-stdin", help_heading = "Remote command")]
    pub no_stdin: bool,

    /// The command to run: after `--`, or from the first word that is not an option (an
    /// option sshfan does not know is an error, never part of the command). With no
    /// command on a terminal: interactive mode, as clush's (`?`, `+HOSTS`, `-HOSTS`,
    /// `@HOSTS`, `!local`, `=`, `quit`).
    #[arg(trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Which hosts: `-w`, `-h`, `-x`, shards and picks.
#[derive(Debug, Args)]
pub struct HostArgs {
    /// Target hosts: `web[01-20,25]`, `rack[1-2]-node[01-16]`, `user@host:port`, `[::1]:22`,
    /// comma lists; `^FILE` reads a host file, `-` reads stdin. Repeatable.
    #[arg(short = 'w', value_name = "HOSTS", help_heading = "Hosts")]
    pub hosts: Vec<String>,

    /// Read hosts from FILE (`[user@]host[:port]` per line, `#` comments). Repeatable.
    #[arg(
        short = 'h',
        long = "hosts-file",
        value_name = "FILE",
        help_heading = "Hosts"
    )]
    pub host_files: Vec<PathBuf>,

    /// Exclude these hosts (same syntax as -w). Repeatable.
    #[arg(short = 'x', value_name = "HOSTS", help_heading = "Hosts")]
    pub exclude: Vec<String>,

    /// Node groups, as clush -g: `-g web,db` is `-w @web,@db`, from ClusterShell's group
    /// files (`groups.d/*.yaml`, `groups.conf` sources). Repeatable.
    #[arg(
        short = 'g',
        long = "group",
        value_name = "GROUPS",
        help_heading = "Hosts"
    )]
    pub groups: Vec<String>,

    /// Exclude these node groups (clush -X). Repeatable.
    #[arg(short = 'X', value_name = "GROUPS", help_heading = "Hosts")]
    pub exclude_groups: Vec<String>,

    /// All nodes of the default group source (clush -a: `@*`).
    #[arg(short = 'a', long = "all", help_heading = "Hosts")]
    pub all: bool,

    /// Keep duplicate hosts instead of collapsing them.
    #[arg(long, help_heading = "Hosts")]
    pub allow_duplicates: bool,

    /// Run only shard K of N (K from 1 to N): every Nth selected host, starting at the
    /// Kth. The same arguments on N machines split the hosts evenly and without overlap;
    /// combine their --json output with `sshfan merge`.
    #[arg(long, value_name = "K/N", value_parser = crate::hostlist::Shard::parse, help_heading = "Hosts")]
    pub shard: Option<crate::hostlist::Shard>,

    /// Run on N hosts picked at random from the selection (after exclusions), as clush's
    /// --pick.
    #[arg(
        long,
        value_name = "N",
        conflicts_with = "shard",
        help_heading = "Hosts"
    )]
    pub pick: Option<usize>,
}

/// How to reach and authenticate to the hosts. Serialized (without the agent switches),
/// it is what an agent keys its sessions by: see `agent::cache`.
#[derive(Debug, Clone, Args, serde::Serialize, serde::Deserialize)]
pub struct ConnectArgs {
    /// Remote user (default: the local user).
    #[arg(
        short = 'l',
        long = "user",
        env = "SSHFAN_USER",
        help_heading = "Connection"
    )]
    pub user: Option<String>,

    /// Port for hosts that name none (default: ssh_config's Port, else 22).
    #[arg(
        short = 'p',
        long = "port",
        env = "SSHFAN_PORT",
        help_heading = "Connection"
    )]
    pub port: Option<u16>,

    /// Private key file to try first; repeatable.
    #[arg(
        short = 'i',
        long = "identity",
        value_name = "FILE",
        help_heading = "Connection"
    )]
    pub identities: Vec<PathBuf>,

    /// Ask once for a password (also used as the passphrase of -i keys); never on the command line.
    #[arg(short = 'A', long = "ask-pass", help_heading = "Connection")]
    pub ask_pass: bool,

    /// Most hosts in flight at once.
    #[arg(
        short = 'f',
        long = "fanout",
        env = "SSHFAN_FANOUT",
        default_value_t = 100,
        help_heading = "Connection"
    )]
    pub fanout: usize,

    /// Connect timeout in seconds: TCP, SSH handshake and authentication, then again
    /// opening the channel and starting the command. Default: ssh_config's ConnectTimeout,
    /// else 10.
    #[arg(
        short = 't',
        long = "connect-timeout",
        env = "SSHFAN_CONNECT_TIMEOUT",
        help_heading = "Connection"
    )]
    pub connect_timeout: Option<f64>,

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

    /// Stop starting new hosts after the first failure.
    #[arg(short = 'k', long = "fail-fast", help_heading = "Connection")]
    pub fail_fast: bool,

    /// ssh_config file to read instead of ~/.ssh/config (`none`: read none).
    #[arg(short = 'F', value_name = "FILE", help_heading = "Connection")]
    pub ssh_config: Option<PathBuf>,

    /// An ssh_config option for every host, as `ssh -o`/`pdsh -o`: `-o ConnectTimeout=5`,
    /// `-o 'IdentityFile ~/.ssh/deploy'`; wins over the config file. Repeatable.
    #[arg(
        short = 'o',
        value_name = "KEY=VALUE",
        value_parser = parse_ssh_option,
        help_heading = "Connection"
    )]
    #[serde(with = "ssh_options_text")]
    pub ssh_options: Vec<sshfan::ssh_config::SshOption>,

    /// Jump hosts, as in `ssh -J`: `[user@]host[:port]`, comma-separated (`none`: none).
    #[arg(
        short = 'J',
        long = "jump",
        value_name = "HOPS",
        help_heading = "Connection"
    )]
    pub jump: Option<String>,

    /// Reach hosts through this command's stdin/stdout (`%h`, `%p`, `%r` substituted).
    #[arg(
        long = "proxy-command",
        value_name = "COMMAND",
        help_heading = "Connection"
    )]
    pub proxy_command: Option<String>,

    /// Offer zlib compression (helps on slow links only).
    #[arg(short = 'C', long = "compress", help_heading = "Connection")]
    pub compress: bool,

    /// Prefer the post-quantum key exchange mlkem768x25519-sha256 over curve25519-sha256
    /// (both are offered; ML-KEM costs about 3x the client CPU per connection).
    #[arg(long = "pq-kex", env = "SSHFAN_PQ_KEX", help_heading = "Security")]
    pub pq_kex: bool,

    /// Forward the local ssh-agent to the hosts (off unless ssh_config says ForwardAgent yes).
    #[arg(long = "forward-agent", help_heading = "Security")]
    pub forward_agent: bool,

    /// Host-key checking: `yes` (strict), `accept-new`, or `no` (dangerous).
    /// Default: ssh_config's StrictHostKeyChecking, else `yes`.
    #[arg(
        long = "strict-host-key-checking",
        value_enum,
        help_heading = "Security"
    )]
    pub host_key_checking: Option<HostKeyChecking>,

    /// known_hosts file to use instead of ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts; repeatable.
    #[arg(long = "known-hosts", value_name = "FILE", help_heading = "Security")]
    pub known_hosts: Vec<PathBuf>,

    /// Run through the agent (`sshfan agent start`) when it is running, else connect
    /// directly with a note. SSHFAN_AGENT=auto does the same for every run.
    #[arg(long, overrides_with = "no_agent", help_heading = "Connection")]
    #[serde(skip)]
    pub agent: bool,

    /// Do not use the agent, even with SSHFAN_AGENT=auto.
    #[arg(long, overrides_with = "agent", help_heading = "Connection")]
    #[serde(skip)]
    pub no_agent: bool,
}

impl ConnectArgs {
    /// Whether this run goes through the agent when one is running: --agent, or
    /// SSHFAN_AGENT=auto (or 1, yes) without --no-agent.
    pub fn wants_agent(&self) -> bool {
        if self.no_agent {
            return false;
        }
        self.agent
            || std::env::var("SSHFAN_AGENT")
                .is_ok_and(|value| matches!(value.as_str(), "auto" | "1" | "yes" | "on"))
    }
}

/// `-o` options as their text (`Key=Value`), for the agent's wire format.
mod ssh_options_text {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use sshfan::ssh_config::SshOption;

    pub fn serialize<S: Serializer>(options: &[SshOption], out: S) -> Result<S::Ok, S::Error> {
        let texts: Vec<String> = options.iter().map(ToString::to_string).collect();
        texts.serialize(out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Vec<SshOption>, D::Error> {
        let texts = Vec::<String>::deserialize(input)?;
        texts
            .iter()
            .map(|text| text.parse().map_err(serde::de::Error::custom))
            .collect()
    }
}

/// How results are reported, for runs and copies alike.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// JSON lines on stdout, one event per line (see README).
    #[arg(long, help_heading = "Output")]
    pub json: bool,

    /// Colour: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, env = "SSHFAN_COLOR", default_value_t = ColorChoice::Auto, help_heading = "Output")]
    pub color: ColorChoice,

    /// Progress line on stderr: auto (on a terminal), always, never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, help_heading = "Output")]
    pub progress: ColorChoice,

    /// Print the summary even when every host succeeded.
    #[arg(long, help_heading = "Output")]
    pub summary: bool,

    /// No summary and no remote-failure messages.
    #[arg(short = 'q', long, help_heading = "Output")]
    pub quiet: bool,

    /// Write remote output as received even to a terminal (by default control characters
    /// are shown escaped there, so no host can move the cursor, set the clipboard or
    /// forge another host's line). Pipes, --outdir and --json are always byte-exact.
    #[arg(long, help_heading = "Output")]
    pub raw: bool,

    /// Keep the run journal in DIR instead of $XDG_STATE_HOME/sshfan/runs (see `sshfan
    /// runs`, `sshfan rerun`).
    #[arg(long, value_name = "DIR", help_heading = "Journal")]
    pub journal: Option<PathBuf>,

    /// Write no run journal.
    #[arg(long, conflicts_with = "journal", help_heading = "Journal")]
    pub no_journal: bool,
}

/// `--waves`' sizes.
#[derive(Debug, Clone)]
pub struct Waves(pub Vec<sshfan::rollout::WaveSize>);

fn parse_waves(text: &str) -> Result<Waves, String> {
    sshfan::rollout::parse_waves(text)
        .map(Waves)
        .map_err(|err| err.to_string())
}

fn parse_budget(text: &str) -> Result<sshfan::rollout::FailBudget, String> {
    text.parse()
        .map_err(|err: sshfan::rollout::RolloutError| err.to_string())
}

/// `-o`'s value: a keyword sshfan supports, with its value.
fn parse_ssh_option(text: &str) -> Result<sshfan::ssh_config::SshOption, String> {
    text.parse()
        .map_err(|err: sshfan::ssh_config::SshConfigError| err.message)
}

/// `--gather`'s mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GatherMode {
    /// Identical outputs once under a folded node set (clush -b, dshbak -c).
    Identical,
    /// What is unique to each host replaced, then the majority once and the outliers as
    /// diffs against it.
    Outliers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
pub enum HostKeyChecking {
    Yes,
    AcceptNew,
    No,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
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

    /// How the client reaches the fleet: tcp (loopback sockets), memory (in-process
    /// pipes, no descriptors), or auto (tcp up to 15,000 hosts).
    #[arg(long, value_enum, default_value_t = DemoTransport::Auto)]
    pub transport: DemoTransport,
}

/// `sshfan demo --transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DemoTransport {
    Auto,
    Tcp,
    Memory,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["expand", "fold", "count", "list", "list_all"])))]
pub struct NodesetArgs {
    /// List the node groups of the default source (`-s` for another); `-ll` with their
    /// nodes.
    #[arg(short = 'l', long = "list", action = clap::ArgAction::Count)]
    pub list: u8,

    /// List the node groups of every source; `-LL` with their nodes.
    #[arg(short = 'L', long = "list-all", action = clap::ArgAction::Count)]
    pub list_all: u8,

    /// The group source for `@group` and `-l` (default: groups.conf's `default`).
    #[arg(short = 's', long = "groupsource", value_name = "SOURCE")]
    pub source: Option<String>,

    /// All nodes of the group source (`@*`), added to the node sets.
    #[arg(short = 'a', long = "all")]
    pub all: bool,

    /// Range sets instead of node sets: `nodeset -R -f 1-3,5,4` prints `1-5`.
    #[arg(short = 'R', long = "rangeset")]
    pub rangeset: bool,

    /// Fold runs of at least N indexes with a constant step as `first-last/step`
    /// (`node[1-9/2]`).
    #[arg(long, value_name = "N")]
    pub autostep: Option<usize>,

    /// Print every name, separated by spaces (or --separator).
    #[arg(short = 'e', long)]
    pub expand: bool,

    /// Print the folded node set.
    #[arg(short = 'f', long)]
    pub fold: bool,

    /// Print the number of names.
    #[arg(short = 'c', long)]
    pub count: bool,

    /// Separator for --expand (escapes: `\\n`, `\\t`).
    #[arg(long, short = 'S', default_value = " ")]
    pub separator: String,

    /// Remove these nodes (difference).
    #[arg(short = 'x', long = "exclude", value_name = "NODESET")]
    pub exclude: Vec<String>,

    /// Keep only nodes also in these (intersection).
    #[arg(short = 'i', long = "intersection", value_name = "NODESET")]
    pub intersection: Vec<String>,

    /// Keep nodes in exactly one of the two (symmetric difference).
    #[arg(short = 'X', long = "xor", value_name = "NODESET")]
    pub xor: Vec<String>,

    /// Node sets, united; `-` reads them from stdin. Operators `,` `!` `&` `^` work inside.
    #[arg(value_name = "NODESET")]
    pub nodesets: Vec<String>,
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
            "-w", "a,b", "-w", "c", "-x", "b", "-l", "root", "-f", "8", "--", "uname", "-a",
        ]);
        assert!(cli.subcommand.is_none());
        assert_eq!(cli.run.select.hosts, ["a,b", "c"]);
        assert_eq!(cli.run.select.exclude, ["b"]);
        assert_eq!(cli.run.connect.user.as_deref(), Some("root"));
        assert_eq!(cli.run.connect.fanout, 8);
        assert_eq!(cli.run.command, ["uname", "-a"]);
    }

    #[test]
    fn command_without_dashes_keeps_its_flags() {
        let cli = parse(&["-w", "a", "ls", "-l", "/tmp"]);
        assert_eq!(cli.run.command, ["ls", "-l", "/tmp"]);
    }

    #[test]
    fn pssh_style_host_file() {
        let cli = parse(&["-h", "hosts.txt", "-A", "-k", "uptime"]);
        assert_eq!(cli.run.select.host_files, [PathBuf::from("hosts.txt")]);
        assert!(cli.run.connect.ask_pass && cli.run.connect.fail_fast);
    }

    /// `-b` takes no value (the next word is the command); `--gather=outliers` does.
    #[test]
    fn gather_modes() {
        let cli = parse(&["-w", "a", "-b", "uptime"]);
        assert_eq!(cli.run.gather, Some(GatherMode::Identical));
        assert_eq!(cli.run.command, ["uptime"]);
        let cli = parse(&["-w", "a", "--gather=outliers", "uptime"]);
        assert_eq!(cli.run.gather, Some(GatherMode::Outliers));
        let cli = parse(&["-w", "a", "-B", "--no-normalize", "ip,number", "uptime"]);
        assert!(cli.run.outliers.outliers);
        assert_eq!(cli.run.outliers.no_normalize, ["ip", "number"]);
        assert!(Cli::try_parse_from(["sshfan", "-w", "a", "--gather=most", "true"]).is_err());
    }

    #[test]
    fn copy_subcommands() {
        let cli = parse(&["cp", "-w", "web[1-2]", "-r", "--preserve", "a", "b", "/srv"]);
        match cli.subcommand {
            Some(Command::Cp(copy)) => {
                assert!(copy.recursive && copy.preserve && !copy.scp);
                assert_eq!(copy.select.hosts, ["web[1-2]"]);
                assert_eq!(copy.paths, ["a", "b", "/srv"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn demo_subcommand() {
        let cli = parse(&["demo", "--hosts", "10"]);
        match cli.subcommand {
            Some(Command::Demo(demo)) => assert_eq!(demo.hosts, 10),
            other => panic!("{other:?}"),
        }
    }

    /// An option sshfan does not know is an error with a suggestion, wherever it stands;
    /// it never becomes part of the remote command.
    #[test]
    fn unknown_options_are_usage_errors_not_commands() {
        for args in [
            &["-w", "web01", "--fanuot", "3", "true"][..],
            &["--fanuot", "3", "-w", "web01", "--", "true"],
            &["-h", "hosts", "-P", "--", "echo", "ok"],
        ] {
            let err = Cli::try_parse_from(std::iter::once("sshfan").chain(args.iter().copied()))
                .unwrap_err();
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::UnknownArgument,
                "{args:?}"
            );
        }
        let err = Cli::try_parse_from(["sshfan", "-w", "web01", "--fanuot", "3", "true"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--fanout"), "a suggestion: {err}");
        // After the command's first word, its own options are its own.
        let cli = parse(&["-w", "a", "grep", "-v", "x", "--color=never"]);
        assert_eq!(cli.run.command, ["grep", "-v", "x", "--color=never"]);
        let cli = parse(&["-w", "a", "--", "-weird"]);
        assert_eq!(cli.run.command, ["-weird"]);
    }

    /// `-o Key=Value` as in ssh and pdsh: repeatable; a keyword sshfan does not act on is
    /// a usage error naming it, never a remote command.
    #[test]
    fn ssh_options() {
        let cli = parse(&[
            "-w",
            "a",
            "-o",
            "ConnectTimeout=3",
            "-o",
            "User ops",
            "true",
        ]);
        let keys: Vec<&str> = cli
            .run
            .connect
            .ssh_options
            .iter()
            .map(|o| o.key())
            .collect();
        assert_eq!(keys, ["connecttimeout", "user"]);
        assert_eq!(cli.run.command, ["true"]);
        for bad in ["x", "SendEnv=LANG", "Port"] {
            let err = Cli::try_parse_from(["sshfan", "-w", "a", "-o", bad, "true"]).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{bad}");
        }
        let err = Cli::try_parse_from(["sshfan", "-w", "a", "-o", "SendEnv=LANG", "true"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`SendEnv` is not an ssh_config keyword"),
            "{err}"
        );
    }

    #[test]
    fn nodeset_subcommand_needs_a_mode() {
        let cli = parse(&["nodeset", "-f", "n1", "n2", "-x", "n2"]);
        match cli.subcommand {
            Some(Command::Nodeset(args)) => {
                assert!(args.fold);
                assert_eq!(args.nodesets, ["n1", "n2"]);
                assert_eq!(args.exclude, ["n2"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["sshfan", "nodeset", "n1"]).is_err());
    }
}
