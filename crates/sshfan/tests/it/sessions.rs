//! Sessions that persist: one connection per host for many jobs, counted on the server
//! side (the fleet's accepted and open connections, sshd's `Accepted publickey` lines).

use std::time::Duration;

use sshfan::copy::CopyOptions;
use sshfan::{Host, ParallelClient, RunOptions};
use sshfan_testkit::Fleet;

use crate::util::{
    collect, eventually, every_host_echoes, sshd_with_max_sessions_10, thirty_concurrent_runs,
};

/// Runs `echo N` 10 times in a row on every host; checks every host's output each time.
async fn ten_echo_runs(client: &ParallelClient) {
    for round in 0..10 {
        every_host_echoes(client, round).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_runs_on_200_hosts_open_200_connections() {
    let fleet = Fleet::start(200).await.unwrap();
    let client = fleet.client().build().unwrap();
    ten_echo_runs(&client).await;
    // Copies and connect_auth use the same sessions.
    let local = fleet.dir().join("f.txt");
    std::fs::write(&local, "x").unwrap();
    for host in collect(client.upload(&local, "f.txt", CopyOptions::new())).await {
        assert!(host.outcome.is_ok(), "{:?}", host.outcome);
    }
    for host in collect(client.connect_auth()).await {
        assert!(host.outcome.is_ok(), "{:?}", host.outcome);
    }
    assert!((0..200).all(|i| fleet.connections(i) == 1));
    assert_eq!(fleet.open_connections_total(), 200);
    assert_eq!(client.open_sessions(), 200);
    client.disconnect().await;
    assert_eq!(client.open_sessions(), 0);
    assert!(eventually(|| fleet.open_connections_total() == 0).await);
    // A job after disconnect connects again.
    collect(client.run("true")).await;
    assert!((0..200).all(|i| fleet.connections(i) == 2));
}

/// Cancelling a run closes its commands' channels, not the sessions: the remote
/// commands end (the fleet's running count drops to 0) and the next run reuses the
/// connections.
#[tokio::test]
async fn a_cancelled_run_keeps_its_sessions() {
    let fleet = Fleet::start(4).await.unwrap();
    let client = fleet.client().build().unwrap();
    let run = client.run("echo started; hang");
    let (mut outputs, joiner) = run.into_parts();
    for host in &mut outputs {
        assert_eq!(
            host.stdout.next_line().await.as_deref(),
            Some(&b"started"[..])
        );
    }
    assert!((0..4).all(|i| fleet.running(i) == 1));
    joiner.cancel();
    joiner.join(Some(Duration::from_secs(5))).await.unwrap();
    for host in &outputs {
        let err = host.outcome().unwrap().unwrap_err();
        assert_eq!(err.kind().code(), "cancelled");
    }
    assert!(eventually(|| (0..4).all(|i| fleet.running(i) == 0)).await);
    for host in collect(client.run("echo again")).await {
        assert_eq!(host.stdout_text(), "again\n", "{:?}", host.outcome);
    }
    assert!((0..4).all(|i| fleet.connections(i) == 1));
    assert_eq!(fleet.open_connections_total(), 4);
}

/// Every finished command's channel is closed on both sides, whichever side closed first:
/// a kept session does not accumulate dead channels (the fleet's server side sees each
/// close; russh used to drop the answer to a close it sent first, and kept the channel).
#[tokio::test]
async fn each_command_on_a_kept_session_closes_its_channel_on_both_sides() {
    let fleet = Fleet::start(3).await.unwrap();
    let client = fleet.client().build().unwrap();
    for _ in 0..5 {
        for host in collect(client.run("echo x")).await {
            assert_eq!(host.stdout_text(), "x\n", "{:?}", host.outcome);
        }
    }
    // A cancelled command: here the client closes first.
    let run = client.run("echo started; hang");
    let (mut outputs, joiner) = run.into_parts();
    for host in &mut outputs {
        host.stdout.next_line().await;
    }
    joiner.cancel();
    joiner.join(Some(Duration::from_secs(5))).await.unwrap();
    assert!(
        eventually(|| (0..3).all(|i| fleet.closed_channels(i) == 6)).await,
        "closed channels: {:?}",
        (0..3).map(|i| fleet.closed_channels(i)).collect::<Vec<_>>()
    );
    assert!((0..3).all(|i| fleet.execs(i) == 6 && fleet.connections(i) == 1));
}

#[tokio::test]
async fn a_connection_the_server_drops_is_reconnected_by_the_next_run() {
    let fleet = Fleet::start(4).await.unwrap();
    let client = fleet.client().build().unwrap();
    collect(client.run("true")).await;
    let commands: Vec<String> = (0..4)
        .map(|i| if i == 0 { "drop" } else { "echo b" }.to_owned())
        .collect();
    let hosts = collect(client.run_commands(&commands, Default::default()).unwrap()).await;
    assert_eq!(hosts[0].error_code(), "connection_lost");
    assert!(eventually(|| fleet.open_connections(0) == 0).await);
    for host in collect(client.run("echo c")).await {
        assert_eq!(host.stdout_text(), "c\n", "{:?}", host.outcome);
    }
    assert_eq!(fleet.connections(0), 2);
    assert!((1..4).all(|i| fleet.connections(i) == 1));
}

/// A relay on a fixed loopback port to `target`, from now on.
async fn relay_on(port: u16, target: std::net::SocketAddr) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    })
}

#[tokio::test]
async fn a_host_down_in_one_run_and_up_in_the_next_succeeds() {
    let fleet = Fleet::start(2).await.unwrap();
    // A port nobody listens on yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let known = fleet.dir().join("known_with_late_host");
    let mut text = std::fs::read_to_string(fleet.known_hosts_path()).unwrap();
    text.push_str(&format!("[127.0.0.1]:{port} {}\n", fleet.host_public_key()));
    std::fs::write(&known, text).unwrap();
    let client = fleet
        .client()
        .host(Host::new("127.0.0.1").with_port(port))
        .known_hosts_files(vec![known])
        .build()
        .unwrap();
    let hosts = collect(client.run("echo up")).await;
    assert_eq!(hosts[2].error_code(), "refused");
    let _relay = relay_on(port, fleet.addrs()[0]).await;
    for host in collect(client.run("echo up")).await {
        assert_eq!(host.stdout_text(), "up\n", "{:?}", host.outcome);
    }
    assert_eq!(fleet.connections(1), 1, "the healthy host kept its session");
}

/// Many jobs on one host at once share its one connection, at most 10 channels at a time
/// by default; the rest wait their turn and all succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_concurrent_jobs_on_one_host_share_one_connection() {
    let fleet = Fleet::start(1).await.unwrap();
    let client = std::sync::Arc::new(fleet.client().build().unwrap());
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let watching = {
        let peak = peak.clone();
        let fleet_running = move || fleet.running(0);
        tokio::spawn(async move {
            loop {
                peak.fetch_max(fleet_running(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    thirty_concurrent_runs(&client, "").await;
    watching.abort();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    assert!((1..=10).contains(&peak), "{peak} channels at once");
    assert_eq!(client.open_sessions(), 1);
}

#[tokio::test]
async fn the_idle_timeout_closes_unused_sessions() {
    let fleet = Fleet::start(3).await.unwrap();
    let client = fleet
        .client()
        .idle_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    collect(client.run("true")).await;
    assert!(eventually(|| fleet.open_connections_total() == 0).await);
    assert_eq!(client.open_sessions(), 0);
    for host in collect(client.run("echo again")).await {
        assert_eq!(host.stdout_text(), "again\n");
    }
    assert!((0..3).all(|i| fleet.connections(i) == 2));
}

/// With the session cap below the host count, runs still complete, at most `cap`
/// connections stay open, and what stays open is the most recently used (the least
/// recently used idle sessions are closed to make room).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_cap_below_the_host_count_still_completes() {
    let fleet = Fleet::start(20).await.unwrap();
    let client = fleet.client().pool_size(4).max_sessions(8).build().unwrap();
    for round in 0..3 {
        // The last round takes one host at a time: its hosts then end in host order,
        // however loaded the machine is, and the last eight are the most recently used.
        let options = match round {
            2 => RunOptions::default().pool_size(1),
            _ => RunOptions::default(),
        };
        for host in collect(client.run_with("echo ok", options)).await {
            assert_eq!(host.stdout_text(), "ok\n", "{:?}", host.outcome);
        }
        assert!(client.open_sessions() <= 8, "{}", client.open_sessions());
    }
    assert!(eventually(|| fleet.open_connections_total() <= 8).await);
    let kept: Vec<usize> = (0..20)
        .filter(|&i| fleet.open_connections(i) == 1)
        .collect();
    assert_eq!(kept, (12..20).collect::<Vec<_>>());
    // Runs take hosts in order, so the next one finds its first hosts closed (LRU's
    // cyclic worst case) and reconnects them; the kept ones are reused when reached.
    let before: usize = (0..20).map(|i| fleet.connections(i)).sum();
    collect(client.connect_auth()).await;
    let after: usize = (0..20).map(|i| fleet.connections(i)).sum();
    assert!(after - before <= 20, "{before} -> {after}");
}

/// A host's handle keeps its run going: the host finishes and its output stays readable
/// after the `Run` and its `Joiner` are dropped.
/// A client made by `only` runs on its hosts over the sessions its parent made (the
/// per-host client of parallel-ssh's `HostOutput.client`), and disconnects only them.
#[tokio::test]
async fn a_client_for_some_hosts_shares_their_sessions() {
    let fleet = Fleet::start(5).await.unwrap();
    let client = fleet.client().build().unwrap();
    for host in collect(client.connect()).await {
        assert!(host.outcome.is_ok(), "{:?}", host.outcome);
    }
    let some = client.only(&[3, 1]).unwrap();
    let names = |c: &ParallelClient| c.hosts().map(|h| h.name.clone()).collect::<Vec<_>>();
    let all = names(&client);
    assert_eq!(names(&some), [all[3].clone(), all[1].clone()]);
    let hosts = collect(some.run("hostname")).await;
    let printed: Vec<String> = hosts.iter().map(|h| h.stdout_text()).collect();
    assert_eq!(printed, ["host3\n", "host1\n"]);
    // One of one: positions are the subset's own.
    let one = some.only(&[1]).unwrap();
    assert_eq!(
        collect(one.run("hostname")).await[0].stdout_text(),
        "host1\n"
    );
    assert!(
        (0..5).all(|i| fleet.connections(i) == 1),
        "no new connection"
    );
    assert!(client.only(&[5]).is_err() && some.only(&[2]).is_err());
    one.disconnect().await;
    assert_eq!(client.open_sessions(), 4);
    assert!(eventually(|| fleet.open_connections(1) == 0).await);
    assert_eq!(fleet.open_connections(3), 1);
    collect(client.run("true")).await;
    assert_eq!(fleet.connections(1), 2);
    assert_eq!(fleet.connections(3), 1);
}

#[tokio::test]
async fn a_held_host_output_outlives_its_run_and_joiner() {
    let fleet = Fleet::start(2).await.unwrap();
    let client = fleet.client().build().unwrap();
    let run = client.run("sleep 0.3; echo late");
    let (mut outputs, joiner) = run.into_parts();
    drop(joiner);
    for host in &mut outputs {
        assert_eq!(host.stdout.read_to_end().await, b"late\n");
        assert!(host.wait().await.is_ok());
    }
}

/// Against real sshd: 10 runs on 200 "hosts" (aliases of one sshd) authenticate 200
/// times in all, and 30 jobs on one host under `MaxSessions 10` all succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_persist_against_openssh() {
    let Some(sshd) = sshd_with_max_sessions_10("sessions against sshd").await else {
        return;
    };
    let key = sshd.client_key_file(None).unwrap();
    let as_root = || {
        ParallelClient::builder()
            .user("root")
            .known_hosts_files(vec![sshd.known_hosts_path().to_owned()])
            .agent(sshfan::AgentSocket::Off)
            .default_identities(false)
            .ssh_config(sshfan::SshConfigSource::Off)
            .key_file(&key)
    };
    let mut builder = as_root();
    for i in 0..200 {
        builder = builder.host(
            Host::new("127.0.0.1")
                .with_port(sshd.port())
                .with_alias(format!("h{i}")),
        );
    }
    let client = std::sync::Arc::new(builder.build().unwrap());
    ten_echo_runs(&client).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = sshd.log();
    let accepted = log.matches("Accepted publickey for root").count();
    assert_eq!(
        accepted,
        200,
        "{} bytes of log: {}",
        log.len(),
        &log[..log.len().min(2000)]
    );

    let one = std::sync::Arc::new(
        as_root()
            .hosts([sshd.host_spec()])
            .unwrap()
            .build()
            .unwrap(),
    );
    thirty_concurrent_runs(&one, "").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sshd.log().matches("Accepted publickey for root").count(),
        201
    );
}
