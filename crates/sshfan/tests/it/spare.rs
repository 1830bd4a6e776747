//! Spare channels (`ClientBuilder::spare_channels`): a kept session holds one channel
//! opened ahead, and the next job starts on it. Counted on the server side (the fleet's
//! opened and closed channels, sshd's `MaxSessions`), and in round trips and writes.

use std::time::Duration;

use sshfan::copy::CopyOptions;
use sshfan_testkit::{Fault, Fleet, Sshd, SshdOptions, require};

use crate::util::{
    after_one_true, collect, eventually, every_host_echoes, settled, sshd_with_max_sessions_10,
    thirty_concurrent_runs,
};

/// Once its jobs are over, each host holds exactly one channel open (the spare), and
/// each command after the first starts on the spare its predecessor left.
#[tokio::test]
async fn each_idle_session_keeps_one_channel_open_ahead() {
    let fleet = Fleet::start(3).await.unwrap();
    let client = fleet.client().spare_channels(true).build().unwrap();
    let counts = || -> Vec<_> {
        (0..3)
            .map(|i| {
                (
                    fleet.opened_channels(i),
                    fleet.closed_channels(i),
                    fleet.execs(i),
                )
            })
            .collect()
    };
    for round in 0..5 {
        every_host_echoes(&client, round).await;
        // Each command's channel closed, and one more open: the spare (the first
        // command opened its own channel, each later one used its predecessor's spare).
        let settled = (round + 2, round + 1, round + 1);
        assert!(
            eventually(|| counts().iter().all(|&c| c == settled)).await,
            "(opened, closed, commands) after round {round}: {:?}",
            counts()
        );
    }
    assert!((0..3).all(|i| fleet.connections(i) == 1));
    client.disconnect().await;
    assert!(eventually(|| fleet.open_connections_total() == 0).await);
}

/// With one channel per host, the spare holds the only slot: every other kind of job
/// (a copy, a shell, connect_auth) must still get through, never wait for it.
#[tokio::test]
async fn a_spare_never_keeps_a_job_waiting() {
    let fleet = Fleet::start(2).await.unwrap();
    let client = fleet
        .client()
        .spare_channels(true)
        .max_channels_per_host(1)
        .build()
        .unwrap();
    let local = fleet.dir().join("spare.txt");
    std::fs::write(&local, "spare").unwrap();
    let within = Duration::from_secs(20);
    for _ in 0..3 {
        let run = async {
            for host in collect(client.run("echo a")).await {
                assert_eq!(host.stdout_text(), "a\n", "{:?}", host.outcome);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            for host in collect(client.upload(&local, "spare.txt", CopyOptions::new())).await {
                assert!(host.outcome.is_ok(), "{:?}", host.outcome);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            for host in collect(client.connect_auth()).await {
                assert!(host.outcome.is_ok(), "{:?}", host.outcome);
            }
        };
        tokio::time::timeout(within, run)
            .await
            .expect("a job waited for the spare");
    }
    for i in 0..2 {
        assert_eq!(
            std::fs::read_to_string(fleet.host_root(i).join("spare.txt")).unwrap(),
            "spare"
        );
        assert_eq!(fleet.connections(i), 1);
    }
}

/// With two channels per host, a running command's spare holds the second slot: a job
/// that comes meanwhile starts on the spare (even one still opening when it came), it
/// does not wait for the running command's slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_beside_a_running_one_starts_on_its_spare() {
    let fleet = Fleet::start(1).await.unwrap();
    let client = std::sync::Arc::new(
        fleet
            .client()
            .spare_channels(true)
            .max_channels_per_host(2)
            .build()
            .unwrap(),
    );
    every_host_echoes(&client, 0).await;
    for round in 1..4 {
        let long = tokio::spawn({
            let client = client.clone();
            async move { collect(client.run("sleep 3")).await }
        });
        // The long command has started (on the spare), and has opened the next one.
        assert!(eventually(|| fleet.execs(0) == 2 * round).await);
        let started = std::time::Instant::now();
        let quick = collect(client.run("echo quick")).await;
        assert_eq!(quick[0].stdout_text(), "quick\n", "{:?}", quick[0].outcome);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "round {round}: the quick job waited {:?} for the long one's slot",
            started.elapsed()
        );
        assert!(long.await.unwrap()[0].outcome.as_ref().unwrap().success());
    }
    assert_eq!(fleet.connections(0), 1);
}

/// A command on a warm session with a spare waits for the server once (the exec), not
/// twice (channel open, then exec), and writes twice: its exec request with the next
/// spare's open, then its close. Returns the warm command's (flights, writes).
async fn warm_flights_and_writes(builder: sshfan::ClientBuilder) -> (usize, usize) {
    let (client, transport) = after_one_true(builder.spare_channels(true), &"spare").await;
    // The spare's open went out with the first command's own: no flight after the run.
    let (flights, writes) = settled(&transport).await;
    let hosts = collect(client.run("true")).await;
    assert!(
        hosts[0].outcome.as_ref().unwrap().success(),
        "{:?}",
        hosts[0].outcome
    );
    assert_eq!(
        transport.flights().len(),
        1,
        "the warm run reused the connection"
    );
    let (flights_after, writes_after) = settled(&transport).await;
    (flights_after - flights, writes_after - writes)
}

#[tokio::test]
async fn a_warm_command_on_a_spare_takes_one_round_trip_and_two_writes_on_the_fleet() {
    let fleet = Fleet::start(1).await.unwrap();
    assert_eq!(warm_flights_and_writes(fleet.client()).await, (1, 2));
}

#[tokio::test]
async fn a_warm_command_on_a_spare_takes_one_round_trip_and_two_writes_on_openssh() {
    let Some(sshd) = require(
        "spare channels on sshd",
        Sshd::start(SshdOptions::default()).await,
    ) else {
        return;
    };
    let key = sshd.client_key_file(None).unwrap();
    let builder = crate::util::sshd_client(&sshd).key_file(&key);
    assert_eq!(warm_flights_and_writes(builder).await, (1, 2));
}

/// Against sshd's `MaxSessions 10`, 30 jobs at once on one host with spares on: the
/// spare holds one of the 10 slots, so the server never sees an 11th channel, and every
/// job succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spares_stay_within_max_sessions_on_openssh() {
    let Some(sshd) = sshd_with_max_sessions_10("spare channels on sshd").await else {
        return;
    };
    let key = sshd.client_key_file(None).unwrap();
    let client = std::sync::Arc::new(
        crate::util::sshd_client(&sshd)
            .key_file(&key)
            .spare_channels(true)
            .build()
            .unwrap(),
    );
    for round in 0..2 {
        thirty_concurrent_runs(&client, &format!("{round}.")).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(client.open_sessions(), 1);
}

/// A spare the server closed while it waited (as OpenSSH's `ChannelTimeout` closes
/// inactive channels) is noticed and given up: the next command opens a channel of its
/// own and succeeds, on the same connection.
#[tokio::test]
async fn a_spare_the_server_closed_is_given_up() {
    let after = Duration::from_millis(200);
    let fleet = Fleet::builder(2)
        .fault(0, Fault::CloseIdleChannels { after })
        .start()
        .await
        .unwrap();
    let client = fleet.client().spare_channels(true).build().unwrap();
    for round in 0..3 {
        every_host_echoes(&client, round).await;
        // Host 0 closes each spare: the command's channel and the spare are closed.
        let closed = 2 * (round + 1);
        assert!(
            eventually(|| fleet.closed_channels(0) == closed).await,
            "{} channels closed on host 0 after round {round}",
            fleet.closed_channels(0)
        );
    }
    // Host 1 kept its spares: each later command used one.
    assert_eq!(fleet.opened_channels(1), 4);
    assert!((0..2).all(|i| fleet.connections(i) == 1 && fleet.execs(i) == 3));
}
