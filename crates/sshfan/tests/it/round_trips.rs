//! Round trips per host, counted (issue 19): how many times the client waits for the
//! server from TCP connect to the exit status, cold and on a warm session, against the
//! testkit fleet and a real OpenSSH sshd. The counts are the protocol's steps as sshfan
//! takes them today; a change that adds a round trip fails here, and each cut lowers the
//! expected figure.

use sshfan_testkit::{Fleet, FlightTransport, Sshd, SshdOptions, require};

use crate::util::collect;

/// Round trips from TCP connect to the exit status of `true` on a cold host, as measured
/// on 2026-12-04: 7 to the fleet, 8 to OpenSSH 9 (the protocol allows about 5: TCP, key
/// exchange, authentication, channel open, exec).
const COLD_FLEET: usize = 7;
const COLD_SSHD: usize = 8;
/// A second command on the warm session: channel open, then exec.
const WARM: usize = 2;
/// Fewer than this means the counting itself broke (TCP, key exchange, auth, exec).
const AT_LEAST: usize = 4;

#[tokio::test]
async fn round_trips_to_the_fleet() {
    let fleet = Fleet::start(1).await.unwrap();
    let transport = FlightTransport::new();
    let client = fleet.client().transport(transport.clone()).build().unwrap();
    let hosts = collect(client.run("true")).await;
    assert!(hosts[0].outcome.as_ref().unwrap().success());
    let cold = transport.flights();
    assert_eq!(cold.len(), 1);
    collect(client.run("true")).await;
    let warm = transport.flights()[0] - cold[0];
    assert!(
        (AT_LEAST..=COLD_FLEET).contains(&cold[0]),
        "cold: {} round trips, at most {COLD_FLEET}",
        cold[0]
    );
    assert!(
        (1..=WARM).contains(&warm),
        "warm: {warm} round trips, at most {WARM}"
    );
}

#[tokio::test]
async fn round_trips_to_openssh() {
    let Some(sshd) = require(
        "round trips to sshd",
        Sshd::start(SshdOptions::default()).await,
    ) else {
        return;
    };
    let key = sshd.client_key_file(None).unwrap();
    let transport = FlightTransport::new();
    let client = crate::util::sshd_client(&sshd)
        .key_file(&key)
        .transport(transport.clone())
        .build()
        .unwrap();
    let hosts = collect(client.run("true")).await;
    assert!(
        hosts[0].outcome.as_ref().unwrap().success(),
        "{}",
        sshd.log()
    );
    let cold = transport.flights()[0];
    collect(client.run("true")).await;
    let warm = transport.flights()[0] - cold;
    assert!(
        (AT_LEAST..=COLD_SSHD).contains(&cold),
        "cold: {cold} round trips, at most {COLD_SSHD}"
    );
    assert!(
        (1..=WARM).contains(&warm),
        "warm: {warm} round trips, at most {WARM}"
    );
}
