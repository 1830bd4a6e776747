//! Hostile servers: one compromised host must not write outside the target, crash or
//! hang the run, exhaust the client, or get what it did not ask for. Each test runs a
//! misbehaving host beside healthy ones and checks both: the bad host fails with its own
//! error, the healthy hosts' results are complete, and nothing lands outside the target.
//! (SECURITY.md lists each class with the test that proves it.)

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sshfan::copy::{CopyOptions, DownloadLayout, Protocol};
use sshfan_testkit::{Fault, Fleet, SftpTrick};

use crate::util::{Collected, collect};

/// Hosts per test: one hostile host beside 20 healthy ones.
const HOSTS: usize = 21;

/// Every file under `dir`, recursively (symlinks listed, not followed).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// A fleet whose host 0 is hostile in `fault`'s way; every host has `tree/f.txt`.
async fn fleet_with_tree(hosts: usize, fault: Fault) -> Fleet {
    let fleet = Fleet::builder(hosts).fault(0, fault).start().await.unwrap();
    for index in 0..hosts {
        let tree = fleet.host_root(index).join("tree");
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::write(tree.join("f.txt"), format!("host {index}\n")).unwrap();
    }
    fleet
}

/// Downloads `tree` recursively from every host to `out/<host>/tree`.
async fn download_tree(fleet: &Fleet, out: &Path) -> Vec<Collected> {
    let client = fleet.client().build().unwrap();
    let options = CopyOptions::new()
        .recursive(true)
        .layout(DownloadLayout::PerHostDir);
    collect(client.download("tree", out, options)).await
}

fn assert_healthy_trees(hosts: &[Collected], out: &Path) {
    for (index, host) in hosts.iter().enumerate().skip(1) {
        assert!(host.outcome.is_ok(), "{}: {:?}", host.label, host.outcome);
        let file = out.join(&host.label).join("tree/f.txt");
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            format!("host {index}\n")
        );
    }
}

/// Names in an SFTP listing that point outside the target (absolute, `..`, with `/`,
/// control characters) fail that host; nothing is written outside; the others finish.
#[tokio::test]
async fn sftp_names_that_leave_the_target_write_nothing_outside() {
    let sandbox = tempfile::tempdir().unwrap();
    let victim = sandbox.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    let names = [
        victim.display().to_string(),
        "../up".to_owned(),
        "../../up2".to_owned(),
        "a/b".to_owned(),
        // (`.` and `..` entries are every listing's own and are skipped.)
        "x\u{1b}[2J".to_owned(),
        String::new(),
    ];
    for name in names {
        let fleet = fleet_with_tree(
            HOSTS,
            Fault::HostileSftp(SftpTrick::Names(vec![name.clone()])),
        )
        .await;
        let out = sandbox.path().join("out");
        let hosts = download_tree(&fleet, &out).await;
        assert_eq!(hosts[0].error_code(), "transfer", "{name:?}");
        let message = hosts[0].outcome.as_ref().unwrap_err().to_string();
        assert!(message.contains("unsafe file name"), "{name:?}: {message}");
        assert!(!message.contains('\u{1b}'), "escaped: {message:?}");
        assert_healthy_trees(&hosts, &out);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        for file in files_under(sandbox.path()) {
            assert!(
                file == victim
                    || file.starts_with(&out)
                        && !file.starts_with(out.join(&hosts[0].label).join("tree/..")),
                "{name:?} wrote {}",
                file.display()
            );
            assert!(
                !file.to_string_lossy().ends_with("sshfan-tmp"),
                "{}",
                file.display()
            );
        }
        let written: Vec<_> = files_under(&out.join(&hosts[0].label));
        assert!(
            written.is_empty(),
            "{name:?}: the hostile host wrote {written:?}"
        );
        std::fs::remove_dir_all(&out).unwrap();
    }
}

/// Sizes the server announces are checked before anything is allocated or written: a
/// size beyond the free space (2^64-1, 1 TiB) fails at once, a file that ends short is
/// reported with the bytes received; nothing is left behind; the process lives on.
#[tokio::test]
async fn sftp_sizes_from_the_server_are_checked_not_trusted() {
    for (size, expected) in [
        (u64::MAX, "more than the"),
        (1 << 40, "more than the"),
        (1 << 20, "ended short: 9 of 1048576 bytes"),
    ] {
        let fleet = fleet_with_tree(HOSTS, Fault::HostileSftp(SftpTrick::Size(size))).await;
        std::fs::write(fleet.host_root(0).join("tree/f.txt"), "host 0 x\n").unwrap();
        let out = tempfile::tempdir().unwrap();
        let hosts = download_tree(&fleet, out.path()).await;
        let message = hosts[0].outcome.as_ref().unwrap_err().to_string();
        assert!(message.contains(expected), "{size}: {message}");
        assert_healthy_trees(&hosts, out.path());
        let leftovers: Vec<_> = files_under(out.path())
            .into_iter()
            .filter(|f| f.starts_with(out.path().join(&hosts[0].label)))
            .collect();
        assert!(leftovers.is_empty(), "{size}: {leftovers:?}");
    }
}

/// A server that stops answering ends as an idle timeout, or under the command timeout,
/// for that host alone; the others finish.
#[tokio::test]
async fn a_stalled_sftp_server_times_out() {
    let fleet = fleet_with_tree(HOSTS, Fault::HostileSftp(SftpTrick::Stall)).await;
    let out = tempfile::tempdir().unwrap();
    let idle = CopyOptions::new()
        .recursive(true)
        .layout(DownloadLayout::PerHostDir)
        .idle_timeout(Duration::from_secs(3));
    let started = Instant::now();
    let client = fleet.client().build().unwrap();
    let hosts = collect(client.download("tree", out.path(), idle.clone())).await;
    assert_eq!(hosts[0].error_code(), "idle_timeout");
    assert_healthy_trees(&hosts, out.path());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );

    let bounded = fleet
        .client()
        .command_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let started = Instant::now();
    let hosts = collect(bounded.download(
        "tree",
        out.path(),
        idle.idle_timeout(Duration::from_secs(600)),
    ))
    .await;
    assert_eq!(hosts[0].error_code(), "command_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    // Uploads too.
    let local = out.path().join("up.txt");
    std::fs::write(&local, "x").unwrap();
    let hosts = collect(bounded.upload(&local, "srv/up.txt", CopyOptions::new())).await;
    assert_eq!(hosts[0].error_code(), "command_timeout");
    assert!(hosts[1].outcome.is_ok(), "{:?}", hosts[1].outcome);
}

/// A listing without end is cut off at a bound, as an error; memory stays bounded.
#[tokio::test]
async fn an_endless_sftp_listing_is_bounded() {
    let fleet = fleet_with_tree(HOSTS, Fault::HostileSftp(SftpTrick::EndlessReaddir)).await;
    let out = tempfile::tempdir().unwrap();
    let hosts = download_tree(&fleet, out.path()).await;
    let message = hosts[0].outcome.as_ref().unwrap_err().to_string();
    assert!(message.contains("more than 100000 entries"), "{message}");
    assert_healthy_trees(&hosts, out.path());
}

/// A fleet with a fake `scp` first on the PATH: on a host whose root holds a file named
/// `hostile` it runs `script` (which speaks the SCP protocol as a hostile server would);
/// elsewhere the real scp.
async fn scp_fleet(hosts: usize, script: &str) -> (Fleet, tempfile::TempDir) {
    let bin = tempfile::tempdir().unwrap();
    let scp = bin.path().join("scp");
    let real = ["/usr/bin/scp", "/bin/scp"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("scp");
    std::fs::write(
        &scp,
        format!("#!/bin/sh\nif [ -e ./hostile ]; then\n{script}\nexit 0\nfi\nexec {real} \"$@\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&scp, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let fleet = Fleet::builder(hosts)
        .real_shell(true)
        .shell_env("PATH", path)
        .start()
        .await
        .unwrap();
    std::fs::write(fleet.host_root(0).join("hostile"), "").unwrap();
    for index in 0..hosts {
        std::fs::write(
            fleet.host_root(index).join("f.txt"),
            format!("host {index}\n"),
        )
        .unwrap();
    }
    (fleet, bin)
}

/// Every way an SCP server can lie (names, sizes, times, modes, types, stalls, endless
/// headers) fails that host with its own error, or is made harmless; never a panic, a
/// hang or a write outside the target.
#[tokio::test]
async fn scp_servers_that_lie_fail_alone() {
    let sandbox = tempfile::tempdir().unwrap();
    let victim = sandbox.path().join("victim");
    let cases: Vec<(String, bool, bool, &str)> = vec![
        (
            format!("printf 'C0644 6 {}\\npwned\\n\\000'", victim.display()),
            false,
            false,
            "unsafe file name",
        ),
        (
            "printf 'C0644 6 ../x\\npwned\\n\\000'".to_owned(),
            false,
            false,
            "unsafe file name",
        ),
        (
            "printf 'D0755 0 d\\nC0644 6 ../x\\npwned\\n\\000E\\n'".to_owned(),
            true,
            false,
            "unsafe file name",
        ),
        (
            "printf 'D0755 0 d\\nD0755 0 ..\\n'".to_owned(),
            true,
            false,
            "unsafe file name",
        ),
        (
            "printf 'T99999999999999999999 0 0 0\\nC0644 6 f\\npwned\\n\\000'".to_owned(),
            false,
            true,
            "bad SCP time",
        ),
        (
            "printf 'C0644 1099511627776 big\\n'".to_owned(),
            false,
            false,
            "more than the",
        ),
        (
            "printf 'C0644 18446744073709551615 big\\n'".to_owned(),
            false,
            false,
            "more than the",
        ),
        (
            "printf 'C0644 99999999999999999999999 big\\n'".to_owned(),
            false,
            false,
            "bad SCP size",
        ),
        (
            "printf 'C0644 100 f\\nshort'".to_owned(),
            false,
            false,
            "after 5 of 100 bytes",
        ),
        (
            "printf 'D0755 0 d\\nE\\n'".to_owned(),
            false,
            false,
            "not recursive",
        ),
        (
            "head -c 100000 /dev/zero | tr '\\000' C".to_owned(),
            false,
            false,
            "longer than 8192",
        ),
        ("sleep 30".to_owned(), false, false, "idle timeout"),
        (
            "printf '\\001scp: \\033[2Jbad thing\\n'".to_owned(),
            false,
            false,
            "bad thing",
        ),
    ];
    for (script, recursive, preserve, expected) in cases {
        let (fleet, _bin) = scp_fleet(HOSTS, &script).await;
        let client = fleet.client().build().unwrap();
        let out = sandbox.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        let options = CopyOptions::new()
            .protocol(Protocol::Scp)
            .recursive(recursive)
            .preserve(preserve)
            .idle_timeout(Duration::from_secs(3))
            .layout(DownloadLayout::PerHostDir);
        let started = Instant::now();
        let hosts = collect(client.download("f.txt", &out, options)).await;
        let message = hosts[0].outcome.as_ref().unwrap_err().to_string();
        assert!(message.contains(expected), "{script}: {message}");
        assert!(!message.contains('\u{1b}'), "{script}: {message:?}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{script}: {:?}",
            started.elapsed()
        );
        for (index, host) in hosts.iter().enumerate().skip(1) {
            assert!(host.outcome.is_ok(), "{script}: {:?}", host.outcome);
            let file = out.join(&host.label).join("f.txt");
            assert_eq!(
                std::fs::read_to_string(file).unwrap(),
                format!("host {index}\n")
            );
        }
        assert!(!victim.exists(), "{script}");
        let bad_host = out.join(&hosts[0].label);
        let written: Vec<_> = files_under(&bad_host)
            .into_iter()
            .filter(|f| !f.starts_with(bad_host.join("f.txt")))
            .collect();
        assert!(written.is_empty(), "{script}: {written:?}");
        for file in files_under(sandbox.path()) {
            assert!(file.starts_with(&out), "{script} wrote {}", file.display());
            assert!(
                !file.to_string_lossy().ends_with("sshfan-tmp"),
                "{}",
                file.display()
            );
        }
        std::fs::remove_dir_all(&out).unwrap();
    }
}

/// `--preserve` keeps permission bits only: no setuid, setgid or sticky bit from a server.
#[tokio::test]
async fn preserved_modes_lose_setuid_setgid_and_sticky() {
    let (fleet, _bin) = scp_fleet(1, "printf 'T1000 0 1000 0\\nC7755 6 f\\npwned\\n\\000'").await;
    let client = fleet.client().build().unwrap();
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("f");
    let options = CopyOptions::new()
        .protocol(Protocol::Scp)
        .preserve(true)
        .layout(DownloadLayout::Exact);
    let hosts = collect(client.download("f.txt", &target, options)).await;
    assert!(hosts[0].outcome.is_ok(), "{:?}", hosts[0].outcome);
    let meta = std::fs::metadata(&target).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(meta.mtime(), 1000);
    assert_eq!(std::fs::read(&target).unwrap(), b"pwned\n");
}

/// A proxy command never hands a host or user name to its shell when the name has
/// characters the shell would interpret (OpenSSH 9.6's rule, CVE-2023-51385's class).
#[tokio::test]
async fn proxy_command_injection_through_names_runs_nothing() {
    // The command would run in this process's working directory (a host name cannot
    // hold a `/`).
    let planted = std::env::current_dir().unwrap().join("sshfan-planted");
    let name = "a;touch${IFS}sshfan-planted;";
    let client = sshfan::ParallelClient::builder()
        .hosts([name])
        .unwrap()
        .ssh_config(sshfan::SshConfigSource::Off)
        .proxy_command("nc %h %p")
        .build()
        .unwrap();
    let hosts = collect(client.run("true")).await;
    assert_eq!(hosts[0].error_code(), "config");
    let user = sshfan::ParallelClient::builder()
        .hosts(["web1"])
        .unwrap()
        .ssh_config(sshfan::SshConfigSource::Off)
        .user("x;touch sshfan-planted;")
        .proxy_command("ssh -l %r bastion -W %h:%p")
        .build()
        .unwrap();
    let hosts = collect(user.run("true")).await;
    assert_eq!(hosts[0].error_code(), "config");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!planted.exists());
}

/// Channels the client never asked for (x11, forwarded-tcpip, session) are refused,
/// however many the server opens; the command's own output is unaffected.
#[tokio::test]
async fn channels_the_server_opens_are_refused() {
    let fleet = Fleet::start(2).await.unwrap();
    let client = fleet.client().build().unwrap();
    for host in collect(client.run("opench 600; echo done")).await {
        assert_eq!(
            host.stdout_text(),
            "accepted 0 of 600\ndone\n",
            "{:?}",
            host.outcome
        );
        assert!(host.status().success());
    }
}

/// sshfan names itself to servers (they log it, and some match on it).
#[tokio::test]
async fn the_client_identifies_as_sshfan() {
    let fleet = Fleet::start(1).await.unwrap();
    let client = fleet.client().build().unwrap();
    let hosts = collect(client.run("printenv SSHFAN_TEST_CLIENT_ID")).await;
    assert_eq!(
        hosts[0].stdout_text().trim(),
        format!("SSH-2.0-sshfan_{}", env!("CARGO_PKG_VERSION"))
    );
}

/// A known_hosts file that exists but cannot be read fails closed under accept-new (an
/// impostor must not pass as "unknown, accepted"), naming the file; nothing runs.
#[tokio::test]
async fn an_unreadable_known_hosts_file_fails_closed() {
    let fleet = Fleet::start(2).await.unwrap();
    // A directory where the file should be: unreadable even for root.
    let unreadable = fleet.dir().join("known_hosts.d");
    std::fs::create_dir_all(&unreadable).unwrap();
    for policy in [
        sshfan::HostKeyPolicy::AcceptNew,
        sshfan::HostKeyPolicy::Strict,
    ] {
        let client = fleet
            .client()
            .known_hosts_files(vec![unreadable.clone()])
            .host_key_policy(policy)
            .build()
            .unwrap();
        for host in collect(client.run("echo ran")).await {
            assert_eq!(host.error_code(), "host_key", "{policy:?}");
            let message = host.outcome.as_ref().unwrap_err().to_string();
            assert!(message.contains("known_hosts.d"), "{message}");
            assert!(host.stdout.is_empty());
        }
    }
    assert_eq!(fleet.execs(0) + fleet.execs(1), 0);
}

/// A line without end from one host comes in bounded pieces while 20 other hosts' output
/// arrives complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_flooding_one_endless_line_is_bounded() {
    let fleet = Fleet::start(21).await.unwrap();
    let client = fleet.client().build().unwrap();
    let mut run = client
        .run_commands(
            (0..21)
                .map(|i| {
                    if i == 0 {
                        "bytes 50000000".to_owned()
                    } else {
                        "seq 2000".to_owned()
                    }
                })
                .collect::<Vec<_>>(),
            sshfan::RunOptions::default(),
        )
        .unwrap();
    let expected: String = (1..=2000).map(|n| format!("{n}\n")).collect();
    let mut longest = 0;
    let mut total = 0;
    for (index, host) in run.outputs_mut().iter_mut().enumerate() {
        if index == 0 {
            while let Some(piece) = host.stdout.next_line_raw().await {
                longest = longest.max(piece.len());
                total += piece.len();
            }
        } else {
            let text = String::from_utf8(host.stdout.read_to_end().await).unwrap();
            assert_eq!(text, expected);
        }
    }
    assert_eq!(total, 50_000_000);
    assert!(longest <= sshfan::output::DEFAULT_MAX_LINE, "{longest}");
}

/// A host with an Ed25519 and an ECDSA key, only the ECDSA one known: sshfan asks for the
/// known type first and connects under strict checking, as OpenSSH does. A host whose
/// only key is of another type than the known one is "not known", never "CHANGED".
#[tokio::test]
async fn a_host_with_two_key_types_connects_with_the_known_one() {
    let fleet = Fleet::builder(2)
        .fault(0, Fault::SecondHostKey)
        .start()
        .await
        .unwrap();
    let known = fleet.dir().join("known_second_keys");
    let lines: String = fleet
        .addrs()
        .iter()
        .map(|addr| {
            format!(
                "[{}]:{} {}\n",
                addr.ip(),
                addr.port(),
                fleet.second_host_key()
            )
        })
        .collect();
    std::fs::write(&known, lines).unwrap();
    let client = fleet
        .client()
        .known_hosts_files(vec![known])
        .host_key_policy(sshfan::HostKeyPolicy::Strict)
        .build()
        .unwrap();
    let hosts = collect(client.run("echo ok")).await;
    assert_eq!(hosts[0].stdout_text(), "ok\n", "{:?}", hosts[0].outcome);
    let message = hosts[1].outcome.as_ref().unwrap_err().to_string();
    assert!(
        message.contains("another type") && !message.contains("CHANGED"),
        "{message}"
    );
    assert_eq!(fleet.execs(1), 0);
}

/// A huge authentication banner full of escape sequences is ignored (never shown raw);
/// the host still runs its command, or fails alone, and the others finish.
#[tokio::test]
async fn a_huge_auth_banner_is_ignored() {
    for bytes in [64 * 1024, 4 * 1024 * 1024] {
        let fleet = Fleet::builder(HOSTS)
            .fault(0, Fault::HugeBanner(bytes))
            .start()
            .await
            .unwrap();
        let client = fleet
            .client()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let started = Instant::now();
        let hosts = collect(client.run("echo ok")).await;
        for host in &hosts[1..] {
            assert_eq!(host.stdout_text(), "ok\n", "{:?}", host.outcome);
        }
        match &hosts[0].outcome {
            Ok(_) => assert_eq!(hosts[0].stdout_text(), "ok\n"),
            Err(err) => assert!(!err.to_string().contains('\u{1b}'), "{err}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{bytes}: {:?}",
            started.elapsed()
        );
    }
}

/// A flood of global requests the client never asked for is refused, one answer each,
/// and the command's own output is unaffected.
#[tokio::test]
async fn a_global_request_flood_is_refused() {
    let fleet = Fleet::start(2).await.unwrap();
    let client = fleet.client().build().unwrap();
    for host in collect(client.run("globalreq 5000; echo done")).await {
        assert_eq!(
            host.stdout_text(),
            "refused 5000 of 5000\ndone\n",
            "{:?}",
            host.outcome
        );
    }
}

/// A relay in front of `target` that injects an `SSH_MSG_IGNORE` into the server's
/// stream right after the server's KEXINIT, before any key is agreed: the first step of
/// the Terrapin attack (CVE-2023-48795). Returns where clients connect.
async fn injecting_relay(target: std::net::SocketAddr) -> std::net::SocketAddr {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                let (mut client_read, mut client_write) = inbound.into_split();
                let (server_read, mut server_write) = outbound.into_split();
                let upstream = tokio::io::copy(&mut client_read, &mut server_write);
                let downstream = async {
                    let mut server = tokio::io::BufReader::new(server_read);
                    let mut version = Vec::new();
                    server.read_until(b'\n', &mut version).await?;
                    client_write.write_all(&version).await?;
                    // The server's KEXINIT: a plaintext packet, length first.
                    let mut length = [0u8; 4];
                    server.read_exact(&mut length).await?;
                    let mut packet = vec![0u8; u32::from_be_bytes(length) as usize];
                    server.read_exact(&mut packet).await?;
                    client_write.write_all(&length).await?;
                    client_write.write_all(&packet).await?;
                    // IGNORE("x"): length 12, padding 5, type 2, string of 1 byte, padding.
                    client_write
                        .write_all(&[0, 0, 0, 12, 5, 2, 0, 0, 0, 1, b'x', 0, 0, 0, 0, 0])
                        .await?;
                    tokio::io::copy(&mut server, &mut client_write).await
                };
                let _ = tokio::join!(upstream, downstream);
            });
        }
    });
    addr
}

/// Strict key exchange holds: a message injected into the initial key exchange (the
/// Terrapin attack's first step) makes the client refuse the connection with a strict-kex
/// violation, before anything runs; the other hosts are unaffected.
#[tokio::test]
async fn a_message_injected_into_the_key_exchange_is_refused() {
    let fleet = Fleet::start(HOSTS).await.unwrap();
    let relay = injecting_relay(fleet.addrs()[0]).await;
    // The relay's address, known under the fleet's host key.
    let known = fleet.dir().join("known_with_relay");
    let mut text = std::fs::read_to_string(fleet.known_hosts_path()).unwrap();
    text.push_str(&format!(
        "[{}]:{} {}\n",
        relay.ip(),
        relay.port(),
        fleet.host_public_key()
    ));
    std::fs::write(&known, text).unwrap();
    let mut specs = fleet.host_specs();
    specs[0] = relay.to_string();
    let client = fleet
        .client_settings()
        .key_file(fleet.client_key_path())
        .hosts(specs)
        .unwrap()
        .known_hosts_files(vec![known])
        .build()
        .unwrap();
    let hosts = collect(client.run("echo ok")).await;
    let message = hosts[0].outcome.as_ref().unwrap_err().to_string();
    assert!(message.contains("strict key exchange"), "{message}");
    for host in &hosts[1..] {
        assert_eq!(host.stdout_text(), "ok\n", "{:?}", host.outcome);
    }
    assert_eq!(fleet.execs(0), 0);
}

/// Remote symlinks are not followed into a recursive download unless asked: a link
/// cannot pull other files of the host into it.
#[tokio::test]
async fn remote_symlinks_are_followed_only_when_asked() {
    let fleet = Fleet::start(1).await.unwrap();
    let root = fleet.host_root(0);
    std::fs::create_dir_all(root.join("tree")).unwrap();
    std::fs::create_dir_all(root.join("outside")).unwrap();
    std::fs::write(root.join("tree/f.txt"), "f\n").unwrap();
    std::fs::write(root.join("outside/secret.txt"), "secret\n").unwrap();
    std::os::unix::fs::symlink("../outside/secret.txt", root.join("tree/link")).unwrap();
    std::os::unix::fs::symlink("../outside", root.join("tree/dirlink")).unwrap();
    std::os::unix::fs::symlink("../nowhere", root.join("tree/dangling")).unwrap();
    let client = fleet.client().build().unwrap();
    for follow in [false, true] {
        let out = tempfile::tempdir().unwrap();
        let options = CopyOptions::new()
            .recursive(true)
            .follow_symlinks(follow)
            .layout(DownloadLayout::Exact);
        let target = out.path().join("tree");
        let hosts = collect(client.download("tree", &target, options)).await;
        assert!(hosts[0].outcome.is_ok(), "{follow}: {:?}", hosts[0].outcome);
        let mut names: Vec<String> = files_under(&target)
            .iter()
            .map(|p| p.strip_prefix(&target).unwrap().display().to_string())
            .collect();
        names.sort();
        let expected: &[&str] = if follow {
            &["dirlink/secret.txt", "f.txt", "link"]
        } else {
            &["f.txt"]
        };
        assert_eq!(names, expected, "follow_symlinks({follow})");
    }
}

/// An upload cut by the command timeout leaves no temporary file on the host: it is
/// removed while the session still answers.
#[tokio::test]
async fn an_upload_cut_by_the_command_timeout_removes_its_temporary_file() {
    let fleet = Fleet::builder(2)
        .fault(
            0,
            Fault::HostileSftp(SftpTrick::SlowWrites(Duration::from_millis(1000))),
        )
        .start()
        .await
        .unwrap();
    let local = fleet.dir().join("f.bin");
    // Two write requests (32 KiB each), each answered after a second.
    std::fs::write(&local, vec![7u8; 40 * 1024]).unwrap();
    let client = fleet
        .client()
        .command_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let hosts = collect(client.upload(&local, "f.bin", CopyOptions::new())).await;
    assert_eq!(hosts[0].error_code(), "command_timeout");
    assert!(hosts[1].outcome.is_ok(), "{:?}", hosts[1].outcome);
    let leftover = || {
        std::fs::read_dir(fleet.host_root(0))
            .unwrap()
            .filter_map(Result::ok)
            .any(|entry| entry.file_name().to_string_lossy().ends_with(".sshfan-tmp"))
    };
    let until = Instant::now() + Duration::from_secs(10);
    while leftover() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!leftover(), "the temporary file stayed");
    assert!(!fleet.host_root(0).join("f.bin").exists());
}

/// A zlib bomb under `-C`: the client's decompressor (russh's, the one every compressed
/// packet goes through) refuses a packet that inflates past its cap instead of growing
/// memory. 64 MiB of zeros compress to about 64 KiB.
#[test]
fn a_zlib_bomb_is_refused_by_the_decompressor() {
    use std::io::Write;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&vec![0u8; 64 << 20]).unwrap();
    let bomb = encoder.finish().unwrap();
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    let mut decompressor = russh::compression::Decompress::Zlib(flate2::Decompress::new(true));
    let mut output = Vec::new();
    let result = decompressor.decompress(&bomb, &mut output).map(<[u8]>::len);
    assert!(
        matches!(result, Err(russh::Error::PacketSize(_))),
        "{result:?}"
    );
    assert!(
        output.capacity() < 1 << 20,
        "{} bytes kept",
        output.capacity()
    );
}

/// A flood of channel requests the client never asked for (`xon-xoff`) is absorbed: the
/// command's output and exit status arrive, beside 20 healthy hosts.
#[tokio::test]
async fn a_channel_request_flood_is_absorbed() {
    let fleet = Fleet::start(HOSTS).await.unwrap();
    let client = fleet.client().build().unwrap();
    let commands: Vec<String> = (0..HOSTS)
        .map(|i| {
            if i == 0 {
                "chanreq 20000; echo done"
            } else {
                "echo done"
            }
            .to_owned()
        })
        .collect();
    for host in collect(client.run_commands(&commands, Default::default()).unwrap()).await {
        assert_eq!(host.stdout_text(), "done\n", "{:?}", host.outcome);
        assert!(host.status().success());
    }
}
