//! The authentication chain against the testkit fleet (real SSH over loopback TCP).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use sshfan::{AgentSocket, KeySource, TcpTransport, Transport};
use sshfan_testkit::{FLEET_PASSWORD, Fault, Fleet, keys, require};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::util::collect;

async fn whoami_ok(builder: sshfan::ClientBuilder) {
    let client = builder.build().unwrap();
    for host in collect(client.run("echo ok")).await {
        assert!(host.outcome.is_ok(), "{}: {:?}", host.label, host.outcome);
        assert_eq!(host.stdout_text(), "ok\n");
    }
}

async fn auth_error(builder: sshfan::ClientBuilder) -> String {
    let client = builder.build().unwrap();
    let hosts = collect(client.run("echo ok")).await;
    let err = hosts[0].outcome.as_ref().unwrap_err();
    err.to_string()
}

#[tokio::test]
async fn key_file() {
    let fleet = Fleet::start(2).await.unwrap();
    whoami_ok(fleet.bare_client().key_file(fleet.client_key_path())).await;
}

/// A fleet of `hosts`, and a real `ssh-agent` holding its key (`None`, with the skip
/// reason printed, where `ssh-agent` is missing).
async fn fleet_with_agent(test: &str, hosts: usize) -> Option<(Fleet, sshfan_testkit::SshAgent)> {
    let fleet = Fleet::start(hosts).await.unwrap();
    let agent = sshfan_testkit::SshAgent::start(fleet.dir(), &[fleet.client_key_path()]);
    let agent = require(test, agent)?;
    Some((fleet, agent))
}

/// Counts the bytes clients write, over TCP.
#[derive(Default)]
struct CountingTransport {
    written: Arc<AtomicUsize>,
}

struct CountingStream {
    inner: sshfan::BoxedStream,
    written: Arc<AtomicUsize>,
}

impl Transport for CountingTransport {
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> sshfan::ConnectFuture<'a> {
        Box::pin(async move {
            let inner = TcpTransport.connect(host, port).await?;
            let written = self.written.clone();
            Ok(Box::new(CountingStream { inner, written }) as sshfan::BoxedStream)
        })
    }
}

impl AsyncRead for CountingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountingStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = &result {
            self.written.fetch_add(*n, Ordering::SeqCst);
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A key held in memory signs its `publickey` request at once, as OpenSSH does with a
/// loaded key; the agent's key (signing is the agent's business) is offered first. The
/// same session through the agent therefore writes one packet more: the probe.
#[tokio::test]
async fn a_key_in_memory_signs_at_once_without_a_probe() {
    let Some((fleet, agent)) =
        fleet_with_agent("a_key_in_memory_signs_at_once_without_a_probe", 1).await
    else {
        return;
    };
    let mut written = Vec::new();
    for builder in [
        fleet.bare_client().key_file(fleet.client_key_path()),
        fleet
            .bare_client()
            .agent(AgentSocket::Path(agent.socket().to_owned())),
    ] {
        let counting = Arc::new(CountingTransport::default());
        whoami_ok(builder.transport(counting.clone())).await;
        written.push(counting.written.load(Ordering::SeqCst));
    }
    let probe = written[1] as i64 - written[0] as i64;
    // An Ed25519 probe: about 110 bytes of request, plus length, padding and tag.
    assert!((100..=200).contains(&probe), "bytes written: {written:?}");
}

#[tokio::test]
async fn key_bytes_in_memory() {
    let fleet = Fleet::start(2).await.unwrap();
    let text = keys::openssh_text(fleet.client_key(), None);
    whoami_ok(fleet.bare_client().key(KeySource::memory(text))).await;
}

#[tokio::test]
async fn encrypted_key_with_passphrase() {
    let fleet = Fleet::start(2).await.unwrap();
    let path = fleet.dir().join("id_encrypted");
    keys::write_private_key(&path, fleet.client_key(), Some("correct horse")).unwrap();
    whoami_ok(
        fleet
            .bare_client()
            .key(KeySource::file(&path).with_passphrase("correct horse")),
    )
    .await;
    // In memory too.
    let text = keys::openssh_text(fleet.client_key(), Some("pw"));
    whoami_ok(
        fleet
            .bare_client()
            .key(KeySource::memory(text).with_passphrase("pw")),
    )
    .await;
}

#[tokio::test]
async fn wrong_passphrase_fails_every_host_clearly_without_connecting() {
    let fleet = Fleet::start(3).await.unwrap();
    let path = fleet.dir().join("id_encrypted");
    keys::write_private_key(&path, fleet.client_key(), Some("right")).unwrap();
    let client = fleet
        .bare_client()
        .key(KeySource::file(&path).with_passphrase("wrong"))
        .build()
        .unwrap();
    let hosts = collect(client.run("echo ok")).await;
    assert_eq!(hosts.len(), 3);
    for host in hosts {
        assert_eq!(host.error_code(), "key");
        let text = host.outcome.unwrap_err().to_string();
        assert!(text.contains("wrong passphrase"), "{text}");
        assert!(text.contains("id_encrypted"), "{text}");
        assert!(
            !text.contains("right") && !text.contains("wrong\""),
            "{text}"
        );
    }
}

#[tokio::test]
async fn encrypted_key_without_passphrase_says_so() {
    let fleet = Fleet::start(1).await.unwrap();
    let path = fleet.dir().join("id_encrypted");
    keys::write_private_key(&path, fleet.client_key(), Some("secret")).unwrap();
    let text = auth_error(fleet.bare_client().key_file(&path)).await;
    assert!(text.contains("encrypted and no passphrase"), "{text}");
}

#[tokio::test]
async fn missing_key_file_is_a_per_host_error() {
    let fleet = Fleet::start(2).await.unwrap();
    let text = auth_error(fleet.bare_client().key_file("/nonexistent/id_ed25519")).await;
    assert!(
        text.contains("/nonexistent/id_ed25519") && text.contains("cannot read"),
        "{text}"
    );
}

#[tokio::test]
async fn password() {
    let fleet = Fleet::start(2).await.unwrap();
    whoami_ok(
        fleet
            .bare_client()
            .password(FLEET_PASSWORD)
            .keyboard_interactive(false),
    )
    .await;
}

#[tokio::test]
async fn keyboard_interactive_answers_the_password_prompt() {
    let fleet = Fleet::start(2).await.unwrap();
    whoami_ok(
        fleet
            .bare_client()
            .password(FLEET_PASSWORD)
            .password_auth(false),
    )
    .await;
}

#[tokio::test]
async fn wrong_password_lists_what_was_tried() {
    let fleet = Fleet::start(1).await.unwrap();
    let text = auth_error(fleet.bare_client().password("nope")).await;
    assert!(text.contains("failed to authenticate `fleet`"), "{text}");
    assert!(
        text.contains("password") && text.contains("keyboard-interactive"),
        "{text}"
    );
    assert!(
        !text.contains("nope"),
        "the password must not appear: {text}"
    );
}

#[tokio::test]
async fn nothing_to_try_is_an_auth_error() {
    let fleet = Fleet::start(1).await.unwrap();
    let text = auth_error(fleet.bare_client()).await;
    assert!(text.contains("no credentials to try"), "{text}");
}

#[tokio::test]
async fn a_bad_key_falls_through_to_the_password() {
    let fleet = Fleet::start(1).await.unwrap();
    let stranger = fleet.dir().join("id_stranger");
    keys::write_private_key(&stranger, &keys::ed25519(), None).unwrap();
    whoami_ok(
        fleet
            .bare_client()
            .key_file(&stranger)
            .password(FLEET_PASSWORD),
    )
    .await;
}

#[tokio::test]
async fn default_identities_are_found() {
    let fleet = Fleet::start(1).await.unwrap();
    let dir = fleet.dir().join("dot-ssh");
    std::fs::create_dir(&dir).unwrap();
    keys::write_private_key(&dir.join("id_ed25519"), fleet.client_key(), None).unwrap();
    whoami_ok(
        fleet
            .bare_client()
            .default_identities(true)
            .identity_dir(&dir),
    )
    .await;
    // And switched off, they are not used.
    let text = auth_error(fleet.bare_client().identity_dir(&dir)).await;
    assert!(text.contains("no credentials"), "{text}");
}

#[tokio::test]
async fn per_host_key_and_password_override_the_client() {
    let fleet = Fleet::start(2).await.unwrap();
    let specs = fleet.host_specs();
    let client = fleet
        .client_settings()
        .password("wrong")
        .host(
            sshfan::Host::parse(&specs[0])
                .unwrap()
                .with_password(FLEET_PASSWORD),
        )
        .host(
            sshfan::Host::parse(&specs[1])
                .unwrap()
                .with_key(KeySource::file(fleet.client_key_path())),
        )
        .build()
        .unwrap();
    let hosts = collect(client.run("echo ok")).await;
    assert_eq!(hosts.len(), 2);
    for host in hosts {
        assert!(host.outcome.is_ok(), "{}: {:?}", host.label, host.outcome);
    }
}

#[tokio::test]
async fn rejected_auth_is_an_auth_error_and_other_hosts_finish() {
    let fleet = Fleet::builder(3)
        .fault(1, Fault::RejectAuth)
        .start()
        .await
        .unwrap();
    let client = fleet.client().build().unwrap();
    let hosts = collect(client.run("echo ok")).await;
    assert_eq!(hosts[1].error_code(), "auth");
    for index in [0, 2] {
        assert_eq!(hosts[index].stdout_text(), "ok\n");
    }
}

/// A real `ssh-agent` holding the fleet's key.
#[tokio::test]
async fn ssh_agent() {
    let Some((fleet, agent)) = fleet_with_agent("ssh_agent", 2).await else {
        return;
    };
    whoami_ok(
        fleet
            .bare_client()
            .agent(AgentSocket::Path(agent.socket().to_owned())),
    )
    .await;
}

/// A key the server does not know, with a user certificate from a CA it trusts: from
/// ssh_config's `CertificateFile`, and from `<key>-cert.pub` beside an explicit key.
#[tokio::test]
async fn user_certificates() {
    let ca = keys::ed25519();
    let fleet = Fleet::builder(2)
        .trust_user_ca(ca.public_key().clone())
        .start()
        .await
        .unwrap();
    let key = keys::ed25519();
    let key_path = fleet.dir().join("id_certified");
    keys::write_private_key(&key_path, &key, None).unwrap();
    let cert = keys::user_certificate(&key, &ca, &[sshfan_testkit::FLEET_USER]);
    let cert_path = fleet.dir().join("user-cert.pub");
    std::fs::write(&cert_path, cert.to_openssh().unwrap()).unwrap();

    let config = fleet.dir().join("config");
    std::fs::write(
        &config,
        format!(
            "Host *\n  IdentityFile {}\n  CertificateFile {}\n",
            key_path.display(),
            cert_path.display()
        ),
    )
    .unwrap();
    whoami_ok(
        fleet
            .bare_client()
            .ssh_config(sshfan::SshConfigSource::File(config)),
    )
    .await;

    // Without the certificate the key alone is refused.
    let text = auth_error(fleet.bare_client().key_file(&key_path)).await;
    assert!(text.contains("failed to authenticate"), "{text}");

    // `<key>-cert.pub` beside the key file is found on its own.
    std::fs::copy(&cert_path, fleet.dir().join("id_certified-cert.pub")).unwrap();
    whoami_ok(fleet.bare_client().key_file(&key_path)).await;

    // A certificate for another user is refused.
    let other = keys::user_certificate(&key, &ca, &["someone-else"]);
    std::fs::write(
        fleet.dir().join("id_certified-cert.pub"),
        other.to_openssh().unwrap(),
    )
    .unwrap();
    assert!(
        auth_error(fleet.bare_client().key_file(&key_path))
            .await
            .contains("certificate (1)")
    );
}
