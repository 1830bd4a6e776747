//! Round trips per host, counted (issue 19): how many times the client waits for the
//! server from TCP connect to the exit status, cold and on a warm session, against the
//! testkit fleet and a real OpenSSH sshd, with each protocol cut ([`RoundTripCuts`]) on
//! and off. A change that adds a round trip, or loses a cut, fails here.

use sshfan::{ClientBuilder, RoundTripCuts};
use sshfan_testkit::{Fleet, Sshd, SshdOptions, require};

use crate::util::{after_one_true, collect, eventually, settled};

/// Without any cut, as OpenSSH's own client and upstream russh: TCP, banners, KEXINITs,
/// ECDH, service request, authentication, channel open, exec (8). The fleet's server
/// sends its KEXINIT with its banner, which saves the banner's round trip there (7).
const UNCUT_SSHD: usize = 8;
const UNCUT_FLEET: usize = 7;
/// A second command on the warm session: channel open, then exec.
const WARM: usize = 2;

/// Each cut, alone and together, and how many round trips it saves against OpenSSH 9.x.
/// The key exchange guess saves none there: OpenSSH 9.0 to 9.8 list
/// `sntrup761x25519-sha512` first, so it discards the guess (and the exchange must still
/// succeed, strict key exchange on).
fn cases() -> [(RoundTripCuts, usize); 5] {
    let only = |banner, auth, guess| RoundTripCuts {
        kexinit_with_banner: banner,
        auth_without_service_accept: auth,
        kex_guess: guess,
        newkeys_with_auth: false,
        close_answer_with_next_write: false,
    };
    [
        (RoundTripCuts::NONE, 0),
        (only(true, false, false), 1),
        (only(false, true, false), 1),
        (only(false, false, true), 0),
        (RoundTripCuts::default(), 2),
    ]
}

/// Cold and warm round trips of `true` on one host.
async fn count(builder: ClientBuilder, cuts: RoundTripCuts) -> (usize, usize) {
    let (client, transport) = after_one_true(builder.round_trip_cuts(cuts), &cuts).await;
    let cold = transport.flights()[0];
    collect(client.run("true")).await;
    let flights = transport.flights();
    assert_eq!(flights.len(), 1, "the warm run reused the connection");
    (cold, flights[0] - cold)
}

/// The fleet lists ML-KEM first (russh's default, as OpenSSH 9.9 and later): the guess
/// of `curve25519-sha256` is discarded there, and saves nothing.
#[tokio::test]
async fn round_trips_to_the_fleet() {
    let fleet = Fleet::start(1).await.unwrap();
    for (cuts, saved_on_openssh) in cases() {
        let (cold, warm) = count(fleet.client(), cuts).await;
        // The fleet's banner round trip is already gone: only the auth cut shows.
        let saved = usize::from(cuts.auth_without_service_accept);
        assert!(saved <= saved_on_openssh);
        assert_eq!(cold, UNCUT_FLEET - saved, "{cuts:?}");
        assert_eq!(warm, WARM, "{cuts:?}");
    }
}

/// A fleet that lists `curve25519-sha256` first, as OpenSSH 6.5 to 8.9 and Dropbear do,
/// takes the guess: one round trip less, 5 in all with every cut.
#[tokio::test]
async fn round_trips_to_a_fleet_that_takes_the_kex_guess() {
    let fleet = Fleet::builder(1)
        .kex_first(russh::kex::CURVE25519)
        .start()
        .await
        .unwrap();
    for (cuts, _) in cases() {
        let (cold, warm) = count(fleet.client(), cuts).await;
        // The guess saves a round trip only when our KEXINIT goes out before the
        // server's has arrived: without the banner cut, the fleet's KEXINIT (sent with
        // its banner) is in before ours, and our key exchange packet goes out at once.
        let saved = usize::from(cuts.auth_without_service_accept)
            + usize::from(cuts.kex_guess && cuts.kexinit_with_banner);
        assert_eq!(cold, UNCUT_FLEET - saved, "{cuts:?}");
        assert_eq!(warm, WARM, "{cuts:?}");
    }
    let (cold, _) = count(fleet.client(), RoundTripCuts::default()).await;
    assert_eq!(cold, 5);
}

/// Against OpenSSH: 8 round trips uncut, 6 with both cuts (the target: at most 6).
#[tokio::test]
async fn round_trips_to_openssh() {
    let Some(sshd) = require(
        "round trips to sshd",
        Sshd::start(SshdOptions::default()).await,
    ) else {
        return;
    };
    let key = sshd.client_key_file(None).unwrap();
    for (cuts, saved) in cases() {
        let builder = crate::util::sshd_client(&sshd).key_file(&key);
        let (cold, warm) = count(builder, cuts).await;
        // Uncut, the server's banner and KEXINIT may reach the client in one read (it
        // sends its KEXINIT once our banner is in): one round trip fewer by luck of
        // timing. With the banner cut the count no longer depends on timing.
        let expected = UNCUT_SSHD - saved;
        match cuts.kexinit_with_banner {
            true => assert_eq!(cold, expected, "{cuts:?}; {}", sshd.log()),
            false => assert!(
                (expected - 1..=expected).contains(&cold),
                "{cuts:?}: {cold} round trips; {}",
                sshd.log()
            ),
        }
        assert_eq!(warm, WARM, "{cuts:?}");
    }
}

/// Writes of a cold `true` on one host, with `cuts`.
async fn cold_writes(builder: ClientBuilder, cuts: RoundTripCuts) -> usize {
    let (_client, transport) = after_one_true(builder.round_trip_cuts(cuts), &cuts).await;
    // The close that answers the server's waits up to 100 ms for company.
    settled(&transport).await.1
}

/// Writes of three `true` in a row on one host, with `cuts`, once all is sent.
async fn writes_of_three_commands(builder: ClientBuilder, cuts: RoundTripCuts) -> usize {
    let (client, transport) = after_one_true(builder.round_trip_cuts(cuts), &cuts).await;
    for _ in 0..2 {
        let hosts = collect(client.run("true")).await;
        assert!(hosts[0].outcome.as_ref().unwrap().success(), "{cuts:?}");
    }
    assert_eq!(transport.writes().len(), 1, "the connection was kept");
    settled(&transport).await.1
}

/// Every cut but the one `off` turns off.
fn every_cut_but(off: impl FnOnce(&mut RoundTripCuts)) -> RoundTripCuts {
    let mut cuts = RoundTripCuts::default();
    off(&mut cuts);
    cuts
}

/// Every cut but the close answer's wait: it goes out at once.
fn close_at_once() -> RoundTripCuts {
    every_cut_but(|cuts| cuts.close_answer_with_next_write = false)
}

/// Back to back on a kept session, the close that answers a command's end goes out in
/// the next command's first write: two writes fewer for three commands (the last close
/// still goes, alone, once it has waited).
#[tokio::test]
async fn each_close_goes_out_with_the_next_command_on_the_fleet() {
    let fleet = Fleet::start(1).await.unwrap();
    let at_once = writes_of_three_commands(fleet.client(), close_at_once()).await;
    let held = writes_of_three_commands(fleet.client(), RoundTripCuts::default()).await;
    assert_eq!((at_once, held), (at_once, at_once - 2));
    // The fleet saw every close, the last one too.
    assert!(
        eventually(|| fleet.closed_channels(0) == 6).await,
        "{}",
        fleet.closed_channels(0)
    );
}

#[tokio::test]
async fn each_close_goes_out_with_the_next_command_on_openssh() {
    let Some(sshd) = require("writes to sshd", Sshd::start(SshdOptions::default()).await) else {
        return;
    };
    let key = sshd.client_key_file(None).unwrap();
    let client = || crate::util::sshd_client(&sshd).key_file(&key);
    let at_once = writes_of_three_commands(client(), close_at_once()).await;
    let held = writes_of_three_commands(client(), RoundTripCuts::default()).await;
    assert_eq!((at_once, held), (at_once, at_once - 2));
}

/// Every cut but NEWKEYS with the authentication request.
fn newkeys_alone() -> RoundTripCuts {
    every_cut_but(|cuts| cuts.newkeys_with_auth = false)
}

/// Writes per cold command, counted so that a change that adds one fails here: banner
/// with KEXINIT and the key exchange guess; NEWKEYS with the service and authentication
/// requests; channel open; exec; close (5). Without `newkeys_with_auth`, NEWKEYS goes
/// alone (6): the authentication request is the application's, made once the key
/// exchange is done.
#[tokio::test]
async fn a_cold_command_takes_five_writes_on_a_fleet_that_takes_the_guess() {
    let fleet = Fleet::builder(1)
        .kex_first(russh::kex::CURVE25519)
        .start()
        .await
        .unwrap();
    assert_eq!(
        cold_writes(fleet.client(), RoundTripCuts::default()).await,
        5
    );
    assert_eq!(cold_writes(fleet.client(), newkeys_alone()).await, 6);
}

/// Against OpenSSH 9, which discards the guess: the key exchange packet goes once more.
#[tokio::test]
async fn a_cold_command_takes_six_writes_on_openssh() {
    let Some(sshd) = require("writes to sshd", Sshd::start(SshdOptions::default()).await) else {
        return;
    };
    let key = sshd.client_key_file(None).unwrap();
    let client = || crate::util::sshd_client(&sshd).key_file(&key);
    assert_eq!(cold_writes(client(), RoundTripCuts::default()).await, 6);
    assert_eq!(cold_writes(client(), newkeys_alone()).await, 7);
}
