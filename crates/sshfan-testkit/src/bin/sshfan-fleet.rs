//! `sshfan-fleet`: serve a fleet of virtual SSH hosts on loopback until interrupted.
//!
//! Prints one `127.0.0.1:PORT` per line on stdout (ready to use as a host file), then the
//! paths of the known_hosts file and client key on stderr, and serves until Ctrl-C.

use anyhow::Context;
use clap::Parser;
use std::io::Write;

/// Serve N virtual SSH hosts on loopback for benchmarks and demos.
#[derive(Parser)]
struct Args {
    /// Number of hosts.
    #[arg(long, default_value_t = 100)]
    hosts: usize,
    /// Run commands with a real `sh -c` instead of the built-in interpreter.
    #[arg(long)]
    real_shell: bool,
    /// Write the host list to this file as well as stdout.
    #[arg(long)]
    hosts_file: Option<std::path::PathBuf>,
    /// One port for all hosts, one loopback address each (127.1.0.1, 127.1.0.2, …), for
    /// tools that take one port for every host (pdsh, clush).
    #[arg(long)]
    addresses: bool,
    /// Copy the known_hosts file and client key into this directory (as `known_hosts`
    /// and `id_ed25519`), then write `ready` there once serving.
    #[arg(long)]
    state_dir: Option<std::path::PathBuf>,
    /// Name each host by its address (what `hostname` and `uname -n` print), not `hostN`.
    #[arg(long)]
    named_by_address: bool,
    /// A fault on one host, `INDEX=KIND` (0-based; repeatable). Kinds: reject-auth,
    /// stall-before-banner, stall-after-auth, hang, wrong-host-key, release:RELEASE (what
    /// `uname -r` prints there), slow:MS (each output line waits MS milliseconds).
    #[arg(long = "fault", value_parser = parse_fault)]
    faults: Vec<(usize, sshfan_testkit::Fault)>,
    /// An environment variable for `--real-shell` commands, `NAME=VALUE` (repeatable).
    #[arg(long = "env", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// The key exchange the hosts list first (russh's default: mlkem768x25519-sha256, as
    /// OpenSSH 9.9 and later; `curve25519-sha256` as OpenSSH 6.5 to 8.9 and Dropbear).
    #[arg(long, value_parser = parse_kex)]
    kex_first: Option<russh::kex::Name>,
}

fn parse_kex(text: &str) -> Result<russh::kex::Name, String> {
    russh::kex::Name::try_from(text).map_err(|_| format!("unknown key exchange `{text}`"))
}

fn parse_fault(text: &str) -> Result<(usize, sshfan_testkit::Fault), String> {
    use sshfan_testkit::Fault;
    let (index, kind) = text
        .split_once('=')
        .ok_or_else(|| format!("expected INDEX=KIND, got `{text}`"))?;
    let index = index
        .parse()
        .map_err(|_| format!("`{index}` is not a host index"))?;
    let fault = match kind {
        "reject-auth" => Fault::RejectAuth,
        "stall-before-banner" => Fault::StallBeforeBanner,
        "stall-after-auth" => Fault::StallAfterAuth,
        "hang" => Fault::Hang,
        "wrong-host-key" => Fault::WrongHostKey,
        other if other.starts_with("slow:") => Fault::Trickle {
            delay: std::time::Duration::from_millis(
                other["slow:".len()..]
                    .parse()
                    .map_err(|_| format!("`{other}`: slow:MILLISECONDS"))?,
            ),
        },
        other if other.starts_with("release:") => {
            Fault::Release(other["release:".len()..].to_owned())
        }
        other => return Err(format!("unknown fault `{other}`")),
    };
    Ok((index, fault))
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("expected NAME=VALUE, got `{text}`"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    sshfan::raise_open_file_limit();
    let bind = if args.addresses {
        sshfan_testkit::Bind::Addresses
    } else {
        sshfan_testkit::Bind::Ports
    };
    let mut builder = sshfan_testkit::Fleet::builder(args.hosts)
        .real_shell(args.real_shell)
        .bind(bind);
    if args.named_by_address {
        builder = builder.named_by_address();
    }
    for (index, fault) in args.faults {
        builder = builder.fault(index, fault);
    }
    for (name, value) in args.env {
        builder = builder.shell_env(name, value);
    }
    if let Some(kex) = args.kex_first {
        builder = builder.kex_first(kex);
    }
    let fleet = builder.start().await.context("starting the fleet")?;
    let list = fleet.host_specs().join("\n") + "\n";
    if let Some(path) = &args.hosts_file {
        std::fs::write(path, &list).with_context(|| format!("writing {}", path.display()))?;
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(list.as_bytes())?;
    stdout.flush()?;
    drop(stdout);
    let mut stderr = std::io::stderr().lock();
    writeln!(
        stderr,
        "fleet: {} hosts, user `{}`, password `{}`\nfleet: known_hosts {}\nfleet: client key {}",
        fleet.len(),
        sshfan_testkit::FLEET_USER,
        sshfan_testkit::FLEET_PASSWORD,
        fleet.known_hosts_path().display(),
        fleet.client_key_path().display(),
    )?;
    drop(stderr);
    if let Some(dir) = &args.state_dir {
        std::fs::create_dir_all(dir)?;
        std::fs::copy(fleet.known_hosts_path(), dir.join("known_hosts"))?;
        std::fs::copy(fleet.client_key_path(), dir.join("id_ed25519"))?;
        std::fs::write(dir.join("hosts"), &list)?;
        std::fs::write(dir.join("ready"), "")?;
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    // With a state directory, `connections` is rewritten (atomically) every 50 ms: one
    // line per host, "ACCEPTED OPEN", for tests that count connections server-side.
    let stats = async {
        let Some(dir) = &args.state_dir else {
            return std::future::pending::<()>().await;
        };
        loop {
            let text: String = (0..fleet.len())
                .map(|i| format!("{} {}\n", fleet.connections(i), fleet.open_connections(i)))
                .collect();
            let partial = dir.join("connections.tmp");
            if std::fs::write(&partial, text).is_ok() {
                let _ = std::fs::rename(&partial, dir.join("connections"));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted?,
        _ = terminate.recv() => {}
        () = stats => {}
    }
    Ok(())
}
