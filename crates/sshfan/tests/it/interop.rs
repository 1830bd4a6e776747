//! Interop with a real OpenSSH sshd on a loopback port.
//!
//! These tests need `sshd` (openssh-server) and root. Without them they print
//! `SKIPPED …` with the reason; under `CI=true` they fail instead.

use sshfan::{AgentSocket, ExitStatus, KeySource, ParallelClient};
use sshfan_testkit::{Sshd, SshdOptions, keys, require, sshd};

use crate::util::collect;

const TEST_USER: &str = "sshfan-test";
const TEST_PASSWORD: &str = "sshfan-test-Pa55";

async fn start(test: &str, options: SshdOptions) -> Option<Sshd> {
    require(test, Sshd::start(options).await)
}

fn client_for(sshd: &Sshd) -> sshfan::ClientBuilder {
    ParallelClient::builder()
        .hosts([sshd.host_spec()])
        .unwrap()
        .user("root")
        .known_hosts_files(vec![sshd.known_hosts_path().to_owned()])
        .agent(AgentSocket::Off)
        .default_identities(false)
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
    let Some(()) = require(
        "interop password",
        sshd::ensure_user_with_password(TEST_USER, TEST_PASSWORD),
    ) else {
        return;
    };
    let Some(sshd) = start(
        "interop password",
        SshdOptions {
            use_pam: true,
            ..Default::default()
        },
    )
    .await
    else {
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
