//! Reaching hosts: ssh_config, jump-host chains with shared bastion connections, and
//! proxy commands, against the testkit fleet.

use std::time::Duration;

use sshfan::{HostKeyPolicy, SshConfigSource};
use sshfan_testkit::{FLEET_USER, Fleet};

use crate::util::collect;

/// Two bastions (hosts 0 and 1) in a chain in front of 200 targets: one connection to
/// each bastion for the whole run, one channel per target through the last one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hop_jump_chain_shares_one_connection_per_bastion() {
    let fleet = Fleet::start(202).await.unwrap();
    let specs = fleet.host_specs();
    let chain = format!("{FLEET_USER}@{},{FLEET_USER}@{}", specs[0], specs[1]);
    let client = fleet
        .client_settings()
        .key_file(fleet.client_key_path())
        .hosts(&specs[2..])
        .unwrap()
        .proxy_jump(chain)
        .pool_size(100)
        .build()
        .unwrap();
    let run = client.run("hostname");
    let (mut outputs, joiner) = run.into_parts();
    joiner.join(None).await.unwrap();
    for (offset, host) in outputs.iter_mut().enumerate() {
        assert_eq!(
            host.stdout.lines_lossy().await,
            [format!("host{}", offset + 2)]
        );
        assert!(host.wait().await.unwrap().success());
    }
    assert_eq!(
        fleet.connections(0),
        1,
        "one connection to the first bastion"
    );
    assert_eq!(
        fleet.connections(1),
        1,
        "one connection to the second bastion"
    );
    assert_eq!(
        fleet.forwards(0),
        1,
        "the first bastion carries only the second"
    );
    assert_eq!(
        fleet.forwards(1),
        200,
        "a channel per target through the second"
    );
    assert_eq!(joiner.jump_connections(), 2);
    for target in 2..202 {
        assert_eq!(fleet.connections(target), 1);
    }
}

#[tokio::test]
async fn a_dead_bastion_fails_its_targets_with_a_proxy_error_naming_the_hop() {
    let fleet = Fleet::start(5).await.unwrap();
    let (dead, _reserved) = sshfan_testkit::refused_address().unwrap();
    let client = fleet
        .client()
        .proxy_jump(format!("jumper@{dead}"))
        .build()
        .unwrap();
    let hosts = collect(client.run("echo ok")).await;
    for host in &hosts {
        let err = host.outcome.as_ref().unwrap_err();
        assert_eq!(err.kind().code(), "proxy");
        let text = err.to_string();
        assert!(
            text.contains(&format!("via jumper@{dead}")) && text.contains("refused"),
            "{text}"
        );
    }
    assert!((0..5).all(|i| fleet.execs(i) == 0));
}

#[tokio::test]
async fn proxy_command_carries_the_connection() {
    let fleet = Fleet::start(3).await.unwrap();
    // A relay in Python: connect to argv[1]:argv[2] and copy both ways.
    let relay = fleet.dir().join("relay.py");
    std::fs::write(
        &relay,
        r#"import os, socket, sys, threading
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
def up():
    while True:
        data = os.read(0, 65536)
        if not data:
            s.shutdown(socket.SHUT_WR)
            return
        s.sendall(data)
threading.Thread(target=up, daemon=True).start()
while True:
    data = s.recv(65536)
    if not data:
        break
    os.write(1, data)
"#,
    )
    .unwrap();
    let client = fleet
        .client()
        .proxy_command(format!("python3 {} %h %p", relay.display()))
        .build()
        .unwrap();
    let hosts = collect(client.run("hostname")).await;
    for (index, host) in hosts.iter().enumerate() {
        assert_eq!(
            host.stdout_text(),
            format!("host{index}\n"),
            "{:?}",
            host.outcome
        );
    }
    assert!((0..3).all(|i| fleet.connections(i) == 1));
}

#[tokio::test]
async fn ssh_config_supplies_address_user_key_known_hosts_and_jump() {
    let fleet = Fleet::start(3).await.unwrap();
    let addrs = fleet.addrs();
    let config = fleet.dir().join("ssh_config");
    std::fs::write(
        &config,
        format!(
            "Host web*\n  User {FLEET_USER}\n  IdentityFile {key}\n  UserKnownHostsFile {kh}\n\
             Host web1\n  HostName 127.0.0.1\n  Port {p1}\n\
             Host web2\n  HostName 127.0.0.1\n  Port {p2}\n  ProxyJump bastion\n\
             Host bastion\n  HostName 127.0.0.1\n  Port {p0}\n  User {FLEET_USER}\n  IdentityFile {key}\n\
             Host *\n  StrictHostKeyChecking yes\n  ConnectTimeout 5\n",
            key = fleet.client_key_path().display(),
            kh = fleet.known_hosts_path().display(),
            p0 = addrs[0].port(),
            p1 = addrs[1].port(),
            p2 = addrs[2].port(),
        ),
    )
    .unwrap();
    let client = sshfan::ParallelClient::builder()
        .hosts(["web1", "web2"])
        .unwrap()
        .ssh_config(SshConfigSource::File(config.clone()))
        .agent(sshfan::AgentSocket::Off)
        .default_identities(false)
        .build()
        .unwrap();
    let hosts = collect(client.run("hostname")).await;
    assert_eq!(hosts[0].stdout_text(), "host1\n", "{:?}", hosts[0].outcome);
    assert_eq!(hosts[1].stdout_text(), "host2\n", "{:?}", hosts[1].outcome);
    assert_eq!(fleet.forwards(0), 1, "web2 went through the bastion");

    // Explicit settings beat the file: a wrong user fails, an explicit policy applies.
    let client = sshfan::ParallelClient::builder()
        .hosts(["web1"])
        .unwrap()
        .user("someone-else")
        .ssh_config(SshConfigSource::File(config.clone()))
        .agent(sshfan::AgentSocket::Off)
        .default_identities(false)
        .build()
        .unwrap();
    assert_eq!(collect(client.run("true")).await[0].error_code(), "auth");
    let empty = fleet.dir().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let client = sshfan::ParallelClient::builder()
        .hosts(["web1"])
        .unwrap()
        .known_hosts_files(vec![empty])
        .host_key_policy(HostKeyPolicy::AcceptNew)
        .connect_timeout(Duration::from_secs(5))
        .ssh_config(SshConfigSource::File(config))
        .agent(sshfan::AgentSocket::Off)
        .default_identities(false)
        .build()
        .unwrap();
    assert!(collect(client.run("true")).await[0].outcome.is_ok());
}

#[tokio::test]
async fn a_broken_ssh_config_fails_hosts_with_the_line() {
    let fleet = Fleet::start(1).await.unwrap();
    let config = fleet.dir().join("bad_config");
    std::fs::write(&config, "Host x\n  User\n").unwrap();
    let client = fleet
        .client()
        .ssh_config(SshConfigSource::File(config))
        .build()
        .unwrap();
    let hosts = collect(client.run("true")).await;
    let text = hosts[0].outcome.as_ref().unwrap_err().to_string();
    assert!(text.contains("bad_config:2"), "{text}");
}
