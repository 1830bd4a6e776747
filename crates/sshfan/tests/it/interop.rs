//! Interop with a real OpenSSH sshd on a loopback port.
//!
//! These tests need `sshd` (openssh-server) and root. Without them they print
//! `SKIPPED …` with the reason; under `CI=true` they fail instead.

use sshfan::{AgentSocket, ExitStatus, KeySource, ParallelClient, RunOptions};
use sshfan_testkit::{Sshd, SshdOptions, keys, require, sshd};

use crate::util::collect;

const TEST_USER: &str = "sshfan-test";
const TEST_PASSWORD: &str = "sshfan-test-Pa55";

async fn start(test: &str, options: SshdOptions) -> Option<Sshd> {
    require(test, Sshd::start(options).await)
}

/// An sshd with PAM (password and keyboard-interactive logins) and the local test user
/// `sshfan-test` with a known password, created if needed.
async fn start_with_test_user(test: &str) -> Option<Sshd> {
    require(
        test,
        sshd::ensure_user_with_password(TEST_USER, TEST_PASSWORD),
    )?;
    let options = SshdOptions {
        use_pam: true,
        ..Default::default()
    };
    start(test, options).await
}

/// A client logging in as the test user with its password.
fn as_test_user(sshd: &Sshd) -> sshfan::ClientBuilder {
    client_for(sshd)
        .user(TEST_USER)
        .password(TEST_PASSWORD)
        .keyboard_interactive(false)
}

fn client_for(sshd: &Sshd) -> sshfan::ClientBuilder {
    crate::util::sshd_client(sshd)
}

#[tokio::test]
async fn key_auth_exit_codes_stderr_and_large_output() {
    let Some(sshd) = start("interop key auth", SshdOptions::default()).await else {
        return;
    };
    let key = sshd.client_key_file(None).unwrap();
    let client = client_for(&sshd).key_file(&key).build().unwrap();

    let hosts = collect(client.run("echo out; echo err >&2; exit 42")).await;
    assert_eq!(hosts[0].stdout_text(), "out\n", "sshd log:\n{}", sshd.log());
    assert_eq!(hosts[0].stderr_text(), "err\n");
    assert_eq!(hosts[0].status(), &ExitStatus::Code(42));

    let hosts = collect(client.run("printf 'a\\377\\376b'; kill -TERM $$")).await;
    assert_eq!(hosts[0].stdout, b"a\xff\xfeb");
    assert!(
        matches!(hosts[0].status(), ExitStatus::Signal { name, .. } if name == "TERM"),
        "{:?}",
        hosts[0].outcome
    );

    // A command line in another encoding than UTF-8 (Latin-1 "é") reaches the shell as
    // those bytes, also quoted under a shell.
    let latin1: &[u8] = b"printf '%s' '\xe9'";
    let hosts = collect(client.run(latin1)).await;
    assert_eq!(hosts[0].stdout, b"\xe9");
    let hosts = collect(client.run_with(latin1, RunOptions::default().shell("sh -c"))).await;
    assert_eq!(hosts[0].stdout, b"\xe9", "{:?}", hosts[0].outcome);

    let size = 16 * 1024 * 1024;
    let hosts = collect(client.run(format!("head -c {size} /dev/zero"))).await;
    assert_eq!(hosts[0].stdout.len(), size);
    assert!(hosts[0].stdout.iter().all(|&b| b == 0));
    assert!(hosts[0].status().success());
}

#[tokio::test]
async fn encrypted_key_in_memory() {
    let Some(sshd) = start("interop encrypted key", SshdOptions::default()).await else {
        return;
    };
    let text = keys::openssh_text(sshd.client_key(), Some("s3cret"));
    let client = client_for(&sshd)
        .key(KeySource::memory(text).with_passphrase("s3cret"))
        .build()
        .unwrap();
    let hosts = collect(client.run("echo ok")).await;
    assert_eq!(hosts[0].stdout_text(), "ok\n", "{:?}", hosts[0].outcome);
}

#[tokio::test]
async fn rsa_key_signs_with_sha2() {
    // OpenSSH 8.8+ refuses SHA-1 `ssh-rsa` signatures: success proves rsa-sha2-256/512.
    let Some(sshd) = start("interop rsa", SshdOptions::default()).await else {
        return;
    };
    let rsa = keys::rsa(2048);
    let path = sshd.client_key_file(None).unwrap().with_file_name("id_rsa");
    keys::write_private_key(&path, &rsa, None).unwrap();
    let authorized = path.with_file_name("authorized_keys");
    let mut lines = std::fs::read_to_string(&authorized).unwrap();
    lines.push_str(&format!("{}\n", keys::public_line(&rsa)));
    std::fs::write(&authorized, lines).unwrap();
    let client = client_for(&sshd).key_file(&path).build().unwrap();
    let hosts = collect(client.run("echo rsa")).await;
    assert_eq!(
        hosts[0].stdout_text(),
        "rsa\n",
        "{:?}\n{}",
        hosts[0].outcome,
        sshd.log()
    );
}

#[tokio::test]
async fn password_and_keyboard_interactive() {
    let Some(sshd) = start_with_test_user("interop password").await else {
        return;
    };
    let password_only = client_for(&sshd)
        .user(TEST_USER)
        .password(TEST_PASSWORD)
        .keyboard_interactive(false)
        .build()
        .unwrap();
    let hosts = collect(password_only.run("id -un")).await;
    assert_eq!(
        hosts[0].stdout_text(),
        format!("{TEST_USER}\n"),
        "{:?}\n{}",
        hosts[0].outcome,
        sshd.log()
    );

    let kbd_only = client_for(&sshd)
        .user(TEST_USER)
        .password(TEST_PASSWORD)
        .password_auth(false)
        .build()
        .unwrap();
    let hosts = collect(kbd_only.run("id -un")).await;
    assert_eq!(
        hosts[0].stdout_text(),
        format!("{TEST_USER}\n"),
        "{:?}\n{}",
        hosts[0].outcome,
        sshd.log()
    );

    let wrong = client_for(&sshd)
        .user(TEST_USER)
        .password("wrong")
        .build()
        .unwrap();
    let hosts = collect(wrong.run("id -un")).await;
    assert_eq!(hosts[0].error_code(), "auth");
}

#[tokio::test]
async fn host_certificate_signed_by_a_known_ca() {
    let ca = keys::ed25519();
    let options = SshdOptions {
        host_ca: Some(ca.clone()),
        ..Default::default()
    };
    let Some(sshd) = start("interop host certificate", options).await else {
        return;
    };
    let known_hosts = sshd
        .client_key_file(None)
        .unwrap()
        .with_file_name("ca_known_hosts");
    std::fs::write(
        &known_hosts,
        format!("@cert-authority [127.0.0.1]:* {}\n", keys::public_line(&ca)),
    )
    .unwrap();
    let key = sshd.client_key_file(None).unwrap();
    let client = client_for(&sshd)
        .known_hosts_files(vec![known_hosts])
        .key_file(&key)
        .build()
        .unwrap();
    let hosts = collect(client.run("echo certified")).await;
    assert_eq!(
        hosts[0].stdout_text(),
        "certified\n",
        "{:?}\n{}",
        hosts[0].outcome,
        sshd.log()
    );
}

/// A real `ssh-agent` holding the client key, forwarded: `ssh-add -L` on the host lists it.
#[tokio::test]
async fn agent_forwarding_lists_the_forwarded_key() {
    let Some(sshd) = start("interop agent forwarding", SshdOptions::default()).await else {
        return;
    };
    let key = sshd.client_key_file(None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let Some(agent) = require(
        "interop agent forwarding",
        sshfan_testkit::SshAgent::start(dir.path(), &[&key]),
    ) else {
        return;
    };
    let socket = agent.socket().to_owned();
    let client = client_for(&sshd)
        .agent(AgentSocket::Path(socket.clone()))
        .forward_agent(true)
        .build()
        .unwrap();
    let hosts = collect(client.run("ssh-add -L")).await;
    let public = keys::public_line(sshd.client_key());
    let blob = public.split_whitespace().nth(1).unwrap();
    assert!(
        hosts[0].stdout_text().contains(blob),
        "{:?} {:?}\n{}",
        hosts[0].stdout_text(),
        hosts[0].outcome,
        sshd.log()
    );
    // Off by default: no agent on the host.
    let client = client_for(&sshd)
        .agent(AgentSocket::Path(socket))
        .build()
        .unwrap();
    let hosts = collect(client.run("ssh-add -L")).await;
    assert!(!hosts[0].stdout_text().contains(blob));
}

/// OpenSSH as the jump host in front of fleet targets: its `direct-tcpip` carries them.
#[tokio::test]
async fn openssh_as_a_jump_host() {
    let Some(sshd) = start("interop jump host", SshdOptions::default()).await else {
        return;
    };
    let fleet = sshfan_testkit::Fleet::start(3).await.unwrap();
    let key = sshd.client_key_file(None).unwrap();
    let known_hosts = fleet.dir().join("both_known_hosts");
    let both = std::fs::read_to_string(fleet.known_hosts_path()).unwrap()
        + &std::fs::read_to_string(sshd.known_hosts_path()).unwrap();
    std::fs::write(&known_hosts, both).unwrap();
    let client = fleet
        .client_settings()
        .key_file(fleet.client_key_path())
        .key_file(&key)
        .hosts(fleet.host_specs())
        .unwrap()
        .known_hosts_files(vec![known_hosts])
        .proxy_jump(format!("root@{}", sshd.host_spec()))
        .build()
        .unwrap();
    let hosts = collect(client.run("hostname")).await;
    for (index, host) in hosts.iter().enumerate() {
        assert_eq!(
            host.stdout_text(),
            format!("host{index}\n"),
            "{:?}\n{}",
            host.outcome,
            sshd.log()
        );
    }
}

/// OpenSSH trusting a user CA: a certificate for an otherwise unknown key logs in.
#[tokio::test]
async fn user_certificate_accepted_by_openssh() {
    let ca = keys::ed25519();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("user_ca.pub");
    std::fs::write(&ca_file, keys::public_line(&ca) + "\n").unwrap();
    let options = SshdOptions {
        extra_config: vec![format!("TrustedUserCAKeys {}", ca_file.display())],
        ..Default::default()
    };
    let Some(sshd) = start("interop user certificate", options).await else {
        return;
    };
    let key = keys::ed25519();
    let key_path = dir.path().join("id_user");
    keys::write_private_key(&key_path, &key, None).unwrap();
    let cert = keys::user_certificate(&key, &ca, &["root"]);
    std::fs::write(
        dir.path().join("id_user-cert.pub"),
        cert.to_openssh().unwrap(),
    )
    .unwrap();
    let client = client_for(&sshd).key_file(&key_path).build().unwrap();
    let hosts = collect(client.run("echo certified user")).await;
    assert_eq!(
        hosts[0].stdout_text(),
        "certified user\n",
        "{:?}\n{}",
        hosts[0].outcome,
        sshd.log()
    );

    // A certificate named explicitly, stored elsewhere (parallel-ssh's `cert_file`), for a
    // key given in memory: without the certificate the key alone is refused.
    let elsewhere = dir.path().join("certs");
    std::fs::create_dir(&elsewhere).unwrap();
    let cert_path = elsewhere.join("mine.pub");
    std::fs::write(&cert_path, cert.to_openssh().unwrap()).unwrap();
    let in_memory = || KeySource::memory(std::fs::read_to_string(&key_path).unwrap());
    let without = client_for(&sshd).key(in_memory()).build().unwrap();
    let hosts = collect(without.run("true")).await;
    assert_eq!(hosts[0].error_code(), "auth", "{:?}", hosts[0].outcome);
    let with = client_for(&sshd)
        .key(in_memory())
        .certificate_file(&cert_path)
        .build()
        .unwrap();
    let hosts = collect(with.run("echo named certificate")).await;
    assert_eq!(
        hosts[0].stdout_text(),
        "named certificate\n",
        "{:?}",
        hosts[0].outcome
    );
    // A named certificate that cannot be read fails every host before connecting.
    let missing = client_for(&sshd)
        .key(in_memory())
        .certificate_file(elsewhere.join("absent-cert.pub"))
        .build()
        .unwrap();
    let hosts = collect(missing.run("true")).await;
    assert_eq!(hosts[0].error_code(), "key", "{:?}", hosts[0].outcome);
    assert!(format!("{:?}", hosts[0].outcome).contains("absent-cert.pub"));
}

/// Compression on request, against OpenSSH: large output arrives intact.
#[tokio::test]
async fn compression_on_request() {
    let options = SshdOptions {
        extra_config: vec!["Compression yes".to_owned(), "LogLevel DEBUG1".to_owned()],
        ..Default::default()
    };
    let Some(sshd) = start("interop compression", options).await else {
        return;
    };
    let key = sshd.client_key_file(None).unwrap();
    let client = client_for(&sshd)
        .key_file(&key)
        .compression(true)
        .build()
        .unwrap();
    let hosts = collect(client.run("seq 1 300000")).await;
    let expected: String = (1..=300000).map(|i| format!("{i}\n")).collect();
    assert!(
        hosts[0].stdout_text() == expected,
        "{:?}\n{}",
        hosts[0].outcome,
        sshd.log()
    );
    assert!(
        sshd.log().contains("compression: zlib@openssh.com"),
        "{}",
        sshd.log()
    );
}

/// Waits (briefly) for a local process to be gone; sshd runs on this machine, so its
/// commands' processes are visible here.
async fn process_gone(pid: u32) -> bool {
    for _ in 0..250 {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}

/// A command timeout kills the remote process: with a PTY by hanging up the terminal;
/// without one by a TERM signal. OpenSSH refuses signals for sessions it runs in its
/// privileged monitor (root logins: "session signalling requires privilege separation"),
/// so the no-PTY case logs in as an ordinary user.
#[tokio::test]
async fn command_timeout_kills_the_remote_process() {
    let Some(sshd) = start_with_test_user("interop timeout kill").await else {
        return;
    };
    let key = sshd.client_key_file(None).unwrap();
    let as_root = client_for(&sshd).key_file(&key);
    let as_user = as_test_user(&sshd);
    for (pty, builder) in [(true, as_root), (false, as_user)] {
        let client = builder
            .command_timeout(std::time::Duration::from_secs(1))
            .build()
            .unwrap();
        let options = sshfan::RunOptions::default().pty(pty);
        let hosts = collect(client.run_with("echo $$; exec sleep 1000", options)).await;
        assert_eq!(
            hosts[0].error_code(),
            "command_timeout",
            "{:?}",
            hosts[0].outcome
        );
        let text = hosts[0].stdout_text();
        let pid: u32 = text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("pid? {text:?}"));
        assert!(
            process_gone(pid).await,
            "pty {pty}: process {pid} still runs\n{}",
            sshd.log()
        );
    }
}

/// Cancelling a PTY run hangs up the terminal: the remote process ends.
#[tokio::test]
async fn cancel_with_a_pty_kills_the_remote_process() {
    let Some(sshd) = start("interop pty cancel", SshdOptions::default()).await else {
        return;
    };
    let key = sshd.client_key_file(None).unwrap();
    let client = client_for(&sshd).key_file(&key).build().unwrap();
    let mut run = client.run_with(
        "echo $$; exec sleep 1000",
        sshfan::RunOptions::default().pty(true),
    );
    let line = run.outputs_mut()[0].stdout.next_line().await.unwrap();
    let pid: u32 = String::from_utf8_lossy(&line).trim().parse().unwrap();
    run.cancel();
    run.join(None).await.unwrap();
    assert!(process_gone(pid).await, "process {pid} still runs");
}

#[tokio::test]
async fn env_stdin_and_interactive_shell_on_openssh() {
    let options = SshdOptions {
        extra_config: vec!["AcceptEnv SSHFAN_*".to_owned()],
        ..Default::default()
    };
    let Some(sshd) = start("interop env and shells", options).await else {
        return;
    };
    let key = sshd.client_key_file(None).unwrap();
    let client = client_for(&sshd).key_file(&key).build().unwrap();

    let options = sshfan::RunOptions::default()
        .env("SSHFAN_STAGE", "blue")
        .env("OTHER", "refused");
    let hosts = collect(client.run_with("echo \"$SSHFAN_STAGE|$OTHER\"", options)).await;
    assert_eq!(
        hosts[0].stdout_text(),
        "blue|\n",
        "AcceptEnv decides what arrives"
    );

    let hosts =
        collect(client.run_with("tr a-z A-Z", sshfan::RunOptions::default().stdin("shout\n")))
            .await;
    assert_eq!(hosts[0].stdout_text(), "SHOUT\n");

    let mut run = client.open_shells(sshfan::RunOptions::default());
    run.run_shell_commands(&["echo one", "echo two >&2", "exit 3"])
        .await
        .unwrap();
    run.join_shells(Some(std::time::Duration::from_secs(10)))
        .await
        .unwrap();
    let host = &mut run.outputs_mut()[0];
    assert_eq!(host.stdout.lines_lossy().await, ["one"]);
    assert_eq!(host.stderr.lines_lossy().await, ["two"]);
    assert_eq!(host.exit_code(), Some(3));

    let run = client
        .run_host_args(
            "echo %s",
            &[vec![crate::util::quote_for_test("it's")]],
            sshfan::RunOptions::default(),
        )
        .unwrap();
    assert_eq!(collect(run).await[0].stdout_text(), "it's\n");
}

/// SFTP and SCP against OpenSSH: a 100 MB file (sha256), an empty file, a tree with modes,
/// download naming, and the remote errors (permission denied as an ordinary user, disk
/// full on a small tmpfs the test mounts, a directory in place of a file).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_transfer_with_openssh() {
    use sshfan::copy::{CopyOptions, Protocol};
    use std::os::unix::fs::PermissionsExt;
    let Some(sshd) = start_with_test_user("interop copy").await else {
        return;
    };
    let key = sshd.client_key_file(None).unwrap();
    let client = client_for(&sshd).key_file(&key).build().unwrap();
    let work = tempfile::tempdir().unwrap();
    let big = work.path().join("big.bin");
    let data: Vec<u8> = (0..100 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    std::fs::write(&big, &data).unwrap();
    let empty = work.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    let tree = work.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("sub/x.sh"), "echo x\n").unwrap();
    std::fs::set_permissions(
        tree.join("sub/x.sh"),
        std::fs::Permissions::from_mode(0o711),
    )
    .unwrap();
    let remote_dir = tempfile::tempdir().unwrap();
    let remote = |name: &str| {
        format!(
            "{}/{protocol_dir}/{name}",
            remote_dir.path().display(),
            protocol_dir = "p"
        )
    };

    for protocol in [Protocol::Sftp, Protocol::Scp] {
        let opts = CopyOptions::new().protocol(protocol);
        let target = remote(&format!("{protocol:?}/big.bin"));
        let hosts = collect(client.upload(&big, &target, opts.clone())).await;
        assert!(
            hosts[0].outcome.is_ok(),
            "{protocol:?}: {:?}\n{}",
            hosts[0].outcome,
            sshd.log()
        );
        assert!(
            std::fs::read(&target).unwrap() == data,
            "{protocol:?}: 100 MB intact"
        );
        let hosts = collect(client.upload(
            &empty,
            &remote(&format!("{protocol:?}/empty")),
            opts.clone(),
        ))
        .await;
        assert!(hosts[0].outcome.is_ok());
        assert_eq!(
            std::fs::metadata(remote(&format!("{protocol:?}/empty")))
                .unwrap()
                .len(),
            0
        );

        let tree_target = remote(&format!("{protocol:?}/tree"));
        let hosts = collect(client.upload(
            &tree,
            &tree_target,
            opts.clone().recursive(true).preserve(true),
        ))
        .await;
        assert!(
            hosts[0].outcome.is_ok(),
            "{protocol:?}: {:?}",
            hosts[0].outcome
        );
        let mode = std::fs::metadata(format!("{tree_target}/sub/x.sh"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o711, "{protocol:?}");

        let local = work.path().join(format!("down-{protocol:?}"));
        let hosts = collect(client.download(&target, &local, opts.clone())).await;
        assert!(
            hosts[0].outcome.is_ok(),
            "{protocol:?}: {:?}",
            hosts[0].outcome
        );
        let named = format!("{}_{}", local.display(), hosts[0].label);
        assert!(
            std::fs::read(named).unwrap() == data,
            "{protocol:?}: download intact"
        );

        // A directory where a file is wanted.
        let hosts =
            collect(client.download(&tree_target, work.path().join("nope"), opts.clone())).await;
        assert_eq!(
            hosts[0].error_code(),
            "transfer",
            "{protocol:?}: {:?}",
            hosts[0].outcome
        );
    }

    // Permission denied, as an ordinary user writing into root's directory.
    let as_user = as_test_user(&sshd).build().unwrap();
    for protocol in [Protocol::Sftp, Protocol::Scp] {
        let hosts = collect(as_user.upload(
            &empty,
            "/root/sshfan-denied",
            CopyOptions::new().protocol(protocol),
        ))
        .await;
        let text = hosts[0].outcome.as_ref().unwrap_err().to_string();
        assert!(
            text.to_lowercase().contains("permission denied"),
            "{protocol:?}: {text}"
        );
    }

    // Disk full: a 1 MiB tmpfs, a 4 MiB file.
    let small = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(small.path())
        .status()
        .map_err(|e| e.to_string())
        .and_then(|s| {
            if s.success() {
                Ok(())
            } else {
                Err(format!("mount failed: {s}"))
            }
        });
    if require("interop copy: disk full (needs mount)", mounted).is_some() {
        let four = work.path().join("four.bin");
        std::fs::write(&four, vec![7u8; 4 * 1024 * 1024]).unwrap();
        for protocol in [Protocol::Sftp, Protocol::Scp] {
            let target = format!("{}/full-{protocol:?}.bin", small.path().display());
            let hosts =
                collect(client.upload(&four, &target, CopyOptions::new().protocol(protocol))).await;
            let err = hosts[0].outcome.as_ref().unwrap_err();
            assert_eq!(err.kind().code(), "transfer", "{protocol:?}: {err}");
            assert!(
                !std::path::Path::new(&target).exists()
                    || std::fs::metadata(&target).unwrap().len() < 4 * 1024 * 1024
            );
        }
        // The failed SFTP upload removed its temporary file (SCP writes in place).
        let left: Vec<_> = std::fs::read_dir(small.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sshfan-tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        let _ = std::process::Command::new("umount")
            .arg(small.path())
            .status();
    }
}

/// Dropbear as a server: key and password logins, exit codes, stderr, signals, large output.
#[tokio::test]
async fn dropbear_interop() {
    require(
        "interop dropbear",
        sshd::ensure_user_with_password(TEST_USER, TEST_PASSWORD),
    );
    let Some(server) = require(
        "interop dropbear",
        sshfan_testkit::dropbear::Dropbear::start().await,
    ) else {
        return;
    };
    let key = keys::ed25519();
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("id");
    keys::write_private_key(&key_path, &key, None).unwrap();
    let authorized =
        sshfan_testkit::dropbear::authorize_for_user(TEST_USER, &keys::public_line(&key));
    let Some(()) = require("interop dropbear", authorized) else {
        return;
    };
    let base = || {
        ParallelClient::builder()
            .hosts([server.host_spec()])
            .unwrap()
            .user(TEST_USER)
            .known_hosts_files(vec![server.known_hosts_path().to_owned()])
            .agent(AgentSocket::Off)
            .default_identities(false)
            .ssh_config(sshfan::SshConfigSource::Off)
    };
    let client = base().key_file(&key_path).build().unwrap();
    let hosts = collect(client.run("echo out; echo err >&2; exit 7")).await;
    assert_eq!(hosts[0].stdout_text(), "out\n", "{:?}", hosts[0].outcome);
    assert_eq!(hosts[0].stderr_text(), "err\n");
    assert_eq!(hosts[0].status(), &ExitStatus::Code(7));
    let hosts = collect(client.run("head -c 5000000 /dev/zero")).await;
    assert_eq!(hosts[0].stdout.len(), 5_000_000);
    let hosts = collect(client.run("kill -TERM $$")).await;
    assert!(
        matches!(hosts[0].status(), ExitStatus::Signal { name, .. } if name == "TERM"),
        "{:?}",
        hosts[0].outcome
    );

    let hosts = collect(
        base()
            .password(TEST_PASSWORD)
            .build()
            .unwrap()
            .run("id -un"),
    )
    .await;
    assert_eq!(
        hosts[0].stdout_text(),
        format!("{TEST_USER}\n"),
        "{:?}",
        hosts[0].outcome
    );
}

/// OpenSSH restricted to SHA-1 algorithms (ssh-rsa host key, group14-sha1, hmac-sha1):
/// refused by default, reachable with the explicit opt-in.
#[tokio::test]
async fn legacy_algorithms_are_opt_in() {
    let options = SshdOptions {
        rsa_host_key: true,
        extra_config: vec![
            "KexAlgorithms diffie-hellman-group14-sha1".to_owned(),
            "HostKeyAlgorithms ssh-rsa".to_owned(),
            "MACs hmac-sha1".to_owned(),
            "Ciphers aes128-ctr".to_owned(),
        ],
        ..Default::default()
    };
    let Some(sshd) = start("interop legacy algorithms", options).await else {
        return;
    };
    let key = sshd.client_key_file(None).unwrap();
    let modern = client_for(&sshd).key_file(&key).build().unwrap();
    let hosts = collect(modern.run("echo no")).await;
    assert_eq!(hosts[0].error_code(), "handshake", "{:?}", hosts[0].outcome);
    let legacy = client_for(&sshd)
        .key_file(&key)
        .legacy_algorithms(true)
        .build()
        .unwrap();
    let hosts = collect(legacy.run("echo legacy")).await;
    assert_eq!(
        hosts[0].stdout_text(),
        "legacy\n",
        "{:?}\n{}",
        hosts[0].outcome,
        sshd.log()
    );
}

/// Hosts that share a directory (NFS; here, one sshd named eight times) upload to one
/// path at once: each write has its own temporary name, so all succeed and no
/// temporary file stays.
#[tokio::test]
async fn uploads_of_many_hosts_into_one_shared_directory_all_succeed() {
    use sshfan::copy::CopyOptions;
    let Some(sshd) = start("interop shared directory", SshdOptions::default()).await else {
        return;
    };
    let key = sshd.client_key_file(None).unwrap();
    let client = client_for(&sshd)
        .hosts(std::iter::repeat_n(sshd.host_spec(), 7))
        .unwrap()
        .key_file(&key)
        .build()
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("f.bin");
    std::fs::write(&local, vec![3u8; 3 * 1024 * 1024]).unwrap();
    let shared = tempfile::tempdir().unwrap();
    let target = shared.path().join("f.bin");
    let hosts = collect(client.upload(&local, &target.to_string_lossy(), CopyOptions::new())).await;
    assert_eq!(hosts.len(), 8);
    for host in &hosts {
        assert!(host.outcome.is_ok(), "{:?}", host.outcome);
    }
    assert_eq!(std::fs::read(&target).unwrap(), vec![3u8; 3 * 1024 * 1024]);
    let names: Vec<String> = std::fs::read_dir(shared.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["f.bin"]);
}
