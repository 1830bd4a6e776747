//! Every per-host error kind, each with healthy hosts beside it that must finish normally.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sshfan::{ConnectStage, ErrorKind, TcpTransport, Transport};
use sshfan_testkit::{Fault, Fleet, require};
use tokio::io::AsyncWriteExt;

use crate::util::{Collected, assert_inner_passed, collect, run_inner};

/// Runs `command` on a fleet where host 1 has `fault`, checks hosts 0 and 2 are unharmed,
/// and returns host 1.
async fn faulty_middle_host(
    fault: Fault,
    client: impl FnOnce(&Fleet) -> sshfan::ClientBuilder,
) -> Collected {
    let fleet = Fleet::builder(3).fault(1, fault).start().await.unwrap();
    let run = client(&fleet).build().unwrap().run("echo ok");
    let mut hosts = collect(run).await;
    for index in [0, 2] {
        assert_eq!(hosts[index].stdout_text(), "ok\n", "{}", hosts[index].label);
        assert!(hosts[index].status().success());
    }
    hosts.remove(1)
}

#[tokio::test]
async fn stall_before_banner_times_out_within_the_connect_timeout() {
    let started = Instant::now();
    let host = faulty_middle_host(Fault::StallBeforeBanner, |fleet| {
        fleet.client().connect_timeout(Duration::from_secs(1))
    })
    .await;
    let elapsed = started.elapsed();
    assert_eq!(
        host.outcome.as_ref().unwrap_err().kind(),
        &ErrorKind::ConnectTimeout {
            after: Duration::from_secs(1),
            stage: ConnectStage::Handshake
        }
    );
    assert!(elapsed < Duration::from_millis(3000), "took {elapsed:?}");
}

#[tokio::test]
async fn unknown_host_key_is_refused_with_its_fingerprint() {
    let fleet = Fleet::start(2).await.unwrap();
    let empty = fleet.dir().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let client = fleet
        .client()
        .known_hosts_files(vec![empty])
        .build()
        .unwrap();
    for host in collect(client.run("echo ok")).await {
        assert_eq!(host.error_code(), "host_key");
        let text = host.outcome.unwrap_err().to_string();
        assert!(
            text.contains("not known") && text.contains("SHA256:"),
            "{text}"
        );
        assert!(host.stdout.is_empty());
    }
}

#[tokio::test]
async fn accept_new_records_unknown_keys_once() {
    let fleet = Fleet::start(3).await.unwrap();
    let file = fleet.dir().join("new_known_hosts");
    let client = fleet
        .client()
        .known_hosts_files(vec![file.clone()])
        .host_key_policy(sshfan::HostKeyPolicy::AcceptNew)
        .build()
        .unwrap();
    for host in collect(client.run("echo ok")).await {
        assert!(host.status().success());
    }
    let recorded = std::fs::read_to_string(&file).unwrap();
    assert_eq!(recorded.lines().count(), 3, "{recorded}");
    // Now strict checking passes with the recorded file.
    let strict = fleet
        .client()
        .known_hosts_files(vec![file])
        .build()
        .unwrap();
    for host in collect(strict.run("echo ok")).await {
        assert!(host.status().success());
    }
}

#[tokio::test]
async fn changed_host_key_is_refused() {
    let host = faulty_middle_host(Fault::WrongHostKey, Fleet::client).await;
    assert_eq!(host.error_code(), "host_key");
    let text = host.outcome.unwrap_err().to_string();
    assert!(text.contains("CHANGED"), "{text}");
}

#[tokio::test]
async fn refused_port() {
    let (addr, _reserved) = sshfan_testkit::refused_address().unwrap();
    let fleet = Fleet::start(1).await.unwrap();
    let client = fleet
        .client()
        .hosts([addr.to_string()])
        .unwrap()
        .build()
        .unwrap();
    let hosts = collect(client.run("echo ok")).await;
    assert_eq!(hosts[0].stdout_text(), "ok\n");
    assert_eq!(hosts[1].error_code(), "refused");
    assert!(
        hosts[1]
            .outcome
            .as_ref()
            .unwrap_err()
            .to_string()
            .starts_with(&addr.to_string())
    );
}

#[tokio::test]
async fn a_server_that_speaks_garbage_fails_the_handshake() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    let fleet = Fleet::start(1).await.unwrap();
    let client = fleet
        .client()
        .hosts([addr.to_string()])
        .unwrap()
        .build()
        .unwrap();
    let hosts = collect(client.run("echo ok")).await;
    assert_eq!(hosts[0].stdout_text(), "ok\n");
    assert_eq!(hosts[1].error_code(), "handshake", "{:?}", hosts[1].outcome);
}

#[tokio::test]
async fn a_hanging_command_hits_the_command_timeout_while_others_finish() {
    let started = Instant::now();
    let host = faulty_middle_host(Fault::Hang, |fleet| {
        fleet.client().command_timeout(Duration::from_secs(1))
    })
    .await;
    assert_eq!(
        host.outcome.as_ref().unwrap_err().kind(),
        &ErrorKind::CommandTimeout {
            after: Duration::from_secs(1)
        }
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn command_timeout_keeps_the_output_so_far() {
    let fleet = Fleet::start(1).await.unwrap();
    let client = fleet
        .client()
        .command_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let hosts = collect(client.run("echo partial; echo err >&2; sleep 10; echo never")).await;
    assert_eq!(hosts[0].error_code(), "command_timeout");
    assert_eq!(hosts[0].stdout_text(), "partial\n");
    assert_eq!(hosts[0].stderr_text(), "err\n");
}

#[tokio::test]
async fn a_server_that_never_opens_the_channel_hits_the_command_timeout() {
    let host = faulty_middle_host(Fault::StallAfterAuth, |fleet| {
        fleet.client().command_timeout(Duration::from_secs(1))
    })
    .await;
    assert_eq!(host.error_code(), "command_timeout");
}

/// The connect timeout covers everything until the remote command has started: a host
/// that authenticates but never opens the channel fails at the connect timeout, without
/// a command timeout (issue 17).
#[tokio::test]
async fn a_server_that_never_opens_the_channel_hits_the_connect_timeout() {
    let started = Instant::now();
    let host = faulty_middle_host(Fault::StallAfterAuth, |fleet| {
        fleet.client().connect_timeout(Duration::from_secs(1))
    })
    .await;
    assert_eq!(
        host.outcome.as_ref().unwrap_err().kind(),
        &ErrorKind::ConnectTimeout {
            after: Duration::from_secs(1),
            stage: ConnectStage::Start
        }
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(
        host.outcome
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("while starting the command"),
        "{:?}",
        host.outcome
    );
}

#[tokio::test]
async fn connection_lost_mid_output_keeps_what_arrived() {
    let fleet = Fleet::builder(3)
        .fault(1, Fault::DropMidOutput { after_bytes: 6400 })
        .start()
        .await
        .unwrap();
    let client = fleet.client().build().unwrap();
    let hosts = collect(client.run("flood 64000")).await;
    assert_eq!(
        hosts[1].error_code(),
        "connection_lost",
        "{:?}",
        hosts[1].outcome
    );
    assert_eq!(
        hosts[1].stdout.len(),
        6400,
        "every byte sent before the cut arrives"
    );
    for index in [0, 2] {
        assert_eq!(hosts[index].stdout.len(), 64000);
        assert!(hosts[index].status().success());
    }
}

/// Fails the first `failures` connects with `Refused`, then connects over TCP.
struct FlakyTransport {
    failures: u32,
    attempts: AtomicU32,
}

impl Transport for FlakyTransport {
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> sshfan::ConnectFuture<'a> {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst);
        if attempt < self.failures {
            return Box::pin(async { Err(ErrorKind::Refused) });
        }
        TcpTransport.connect(host, port)
    }
}

#[tokio::test]
async fn transient_failures_are_retried_auth_failures_are_not() {
    let fleet = Fleet::start(1).await.unwrap();
    let flaky = Arc::new(FlakyTransport {
        failures: 2,
        attempts: AtomicU32::new(0),
    });
    let client = fleet
        .client()
        .retries(2, Duration::from_millis(50))
        .transport(flaky.clone())
        .build()
        .unwrap();
    let hosts = collect(client.run("echo ok")).await;
    assert_eq!(hosts[0].stdout_text(), "ok\n");
    assert_eq!(flaky.attempts.load(Ordering::SeqCst), 3);

    let counting = Arc::new(FlakyTransport {
        failures: 0,
        attempts: AtomicU32::new(0),
    });
    let client = fleet
        .bare_client()
        .password("wrong")
        .retries(3, Duration::from_millis(10))
        .transport(counting.clone())
        .build()
        .unwrap();
    let hosts = collect(client.run("echo ok")).await;
    assert_eq!(hosts[0].error_code(), "auth");
    assert_eq!(
        counting.attempts.load(Ordering::SeqCst),
        1,
        "auth failures are final"
    );
}

#[test]
fn unresolvable_name_and_unreachable_address_in_an_empty_network_namespace() {
    // In a fresh network namespace nothing but (down) loopback exists: name lookups and
    // connections fail at once, and no packet can leave the machine.
    let test = "errors::inner_unresolvable_and_unreachable";
    if let Some(output) = require(test, run_inner(test, &["unshare", "--net", "--"])) {
        assert_inner_passed(test, output);
    }
}

#[tokio::test]
#[ignore = "run inside an empty network namespace by the test above"]
async fn inner_unresolvable_and_unreachable() {
    let client = sshfan::ParallelClient::builder()
        .hosts(["sshfan-test-host.invalid", "192.0.2.1"])
        .unwrap()
        .agent(sshfan::AgentSocket::Off)
        .default_identities(false)
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let hosts = collect(client.run("echo ok")).await;
    assert_eq!(hosts[0].error_code(), "resolve", "{:?}", hosts[0].outcome);
    assert_eq!(
        hosts[1].error_code(),
        "unreachable",
        "{:?}",
        hosts[1].outcome
    );
}

#[test]
fn running_out_of_file_descriptors_fails_hosts_not_the_run() {
    let test = "errors::inner_too_many_open_files";
    assert_inner_passed(test, run_inner(test, &[]).unwrap());
}

#[tokio::test]
#[ignore = "run in a child process by the test above: it lowers the process's fd limit"]
async fn inner_too_many_open_files() {
    let fleet = Fleet::start(40).await.unwrap();
    // One connection at a time, so that client and fleet (which share this process's
    // descriptors) take one each in turn, and no retries: a refused socket fails the host.
    let client = fleet
        .client()
        .connect_timeout(Duration::from_secs(5))
        .max_handshakes(1)
        .retries(0, Duration::ZERO)
        .build()
        .unwrap();
    // Room for six connections (two descriptors each: client and server side). Sessions
    // run `cat` and stay open until every host has connected or failed, so no descriptor
    // comes free while hosts connect, however slow the machine is.
    // (Descriptors above the limit, inherited ones say, stay usable and leave room alone.)
    let open = open_descriptors();
    let mut limit = 12;
    loop {
        let wanted = open.iter().filter(|&&fd| fd < limit).count() as u64 + 12;
        if wanted == limit {
            break;
        }
        limit = wanted;
    }
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    rlimit::setrlimit(rlimit::Resource::NOFILE, limit, hard).unwrap();
    let run = client.run("cat");
    let mut connected = Vec::new();
    for host in run.outputs() {
        if host.wait_connected().await.is_ok() {
            connected.push(host);
        }
    }
    for host in connected {
        let _ = host.stdin.write("ok\n").await;
        host.stdin.close().await;
    }
    let hosts = collect(run).await;
    let ok = hosts.iter().filter(|h| h.outcome.is_ok()).count();
    let emfile = hosts
        .iter()
        .filter(|h| matches!(&h.outcome, Err(e) if e.kind() == &ErrorKind::TooManyOpenFiles))
        .count();
    assert!(
        ok > 0 && emfile > 0 && ok <= 6,
        "ok {ok}, too-many-open-files {emfile}: {hosts:#?}"
    );
    for host in hosts.iter().filter(|h| h.outcome.is_ok()) {
        assert_eq!(host.stdout_text(), "ok\n");
    }
}

/// The descriptors this process holds (not counting the one that lists them).
fn open_descriptors() -> Vec<u64> {
    let listed: Vec<u64> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    listed
        .into_iter()
        .filter(|fd| std::fs::symlink_metadata(format!("/proc/self/fd/{fd}")).is_ok())
        .collect()
}

/// A host that stops answering mid-command (connection open, nothing moves): keepalives
/// notice after `interval × max` and the host fails as a lost connection, output kept.
#[tokio::test]
async fn keepalives_detect_a_frozen_connection() {
    let fleet = Fleet::start(2).await.unwrap();
    let client = fleet
        .client()
        .keepalive(Duration::from_millis(200), 2)
        .command_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let started = Instant::now();
    let hosts = collect(client.run("echo before; freeze")).await;
    for host in &hosts {
        assert_eq!(host.error_code(), "connection_lost", "{:?}", host.outcome);
        assert_eq!(host.stdout_text(), "before\n");
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// A host that never reads its stdin (its window fills): the command still ends, and the
/// run with it; the unsent stdin does not hold the host.
#[tokio::test]
async fn a_host_that_never_reads_stdin_does_not_stall_the_run() {
    let fleet = Fleet::start(2).await.unwrap();
    let client = fleet
        .client()
        .command_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let started = Instant::now();
    let big = vec![b'x'; 32 * 1024 * 1024];
    let hosts = collect(client.run_with(
        "sleep 0.3; echo done",
        sshfan::RunOptions::default().stdin(big),
    ))
    .await;
    for host in &hosts {
        assert_eq!(host.stdout_text(), "done\n", "{:?}", host.outcome);
        assert!(host.status().success());
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

/// A 64 MB line with no newline arrives complete, in pieces of the longest line (64 KiB
/// by default: no host can grow one line without bound); whole when asked.
#[tokio::test]
async fn a_64_mb_line_without_newline_arrives_in_bounded_pieces() {
    let fleet = Fleet::start(2).await.unwrap();
    let size = 64 * 1024 * 1024;
    let client = fleet.client().build().unwrap();
    let mut run = client.run(format!("bytes {size}"));
    run.join(None).await.unwrap();
    for host in run.outputs_mut() {
        let mut total = 0;
        while let Some(piece) = host.stdout.next_line_raw().await {
            assert!(
                piece.len() <= sshfan::output::DEFAULT_MAX_LINE,
                "{}",
                piece.len()
            );
            assert!(piece.iter().all(|&b| b == b'z'));
            total += piece.len();
        }
        assert_eq!(total, size);
    }
    let whole = fleet.client().max_line_length(usize::MAX).build().unwrap();
    let mut run = whole.run(format!("bytes {size}"));
    run.join(None).await.unwrap();
    for host in run.outputs_mut() {
        assert_eq!(host.stdout.next_line().await.unwrap().len(), size);
        assert_eq!(host.stdout.next_line().await, None);
    }
}

/// After a run (with failures and timeouts) everything is dropped, the runtime is back to
/// the tasks it had before: nothing leaks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_tasks_are_left_behind() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    {
        let fleet = Fleet::builder(20)
            .in_memory()
            .fault(3, Fault::RejectAuth)
            .fault(4, Fault::Hang)
            .fault(5, Fault::DropMidOutput { after_bytes: 3 })
            .fault(6, Fault::WrongHostKey)
            .start()
            .await
            .unwrap();
        let client = fleet
            .memory_client()
            .command_timeout(Duration::from_millis(500))
            .build()
            .unwrap();
        let hosts = collect(client.run("echo hello")).await;
        assert_eq!(hosts.iter().filter(|h| h.outcome.is_ok()).count(), 16);
    }
    let mut alive = metrics.num_alive_tasks();
    for _ in 0..100 {
        if alive <= before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        alive = metrics.num_alive_tasks();
    }
    assert!(
        alive <= before,
        "{alive} tasks alive after the run, {before} before"
    );
}

/// A server that sends its banner and then stalls inside the key exchange: a connect
/// timeout at the handshake stage, within the timeout plus a small margin.
#[tokio::test]
async fn banner_then_stall_mid_key_exchange_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket.write_all(b"SSH-2.0-stalls_after_banner\r\n").await;
            held.push(socket); // never answers the key exchange
        }
    });
    let fleet = Fleet::start(1).await.unwrap();
    let client = fleet
        .client()
        .hosts([addr.to_string()])
        .unwrap()
        .connect_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let started = Instant::now();
    let hosts = collect(client.run("echo ok")).await;
    assert_eq!(hosts[0].stdout_text(), "ok\n");
    assert_eq!(
        hosts[1].outcome.as_ref().unwrap_err().kind(),
        &ErrorKind::ConnectTimeout {
            after: Duration::from_secs(1),
            stage: ConnectStage::Handshake
        }
    );
    assert!(
        started.elapsed() < Duration::from_millis(3000),
        "{:?}",
        started.elapsed()
    );
}

/// 1 GB of output from one host, read as it streams: all of it arrives, and client memory
/// stays near the buffer limits instead of growing with the output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gigabyte_of_output_streams_in_bounded_memory() {
    let fleet = Fleet::builder(1).in_memory().start().await.unwrap();
    let client = fleet.memory_client().build().unwrap();
    let total: usize = 1 << 30;
    let before = crate::util::peak_rss_kib();
    let mut run = client.run(format!("flood {total}"));
    let host = &mut run.outputs_mut()[0];
    let mut received = 0;
    while let Some(chunk) = host.stdout.next_chunk().await {
        received += chunk.len();
    }
    assert_eq!(received, total);
    assert!(host.wait().await.unwrap().success());
    let grown_mib = (crate::util::peak_rss_kib() - before) / 1024;
    assert!(
        grown_mib < 128,
        "peak RSS grew by {grown_mib} MiB for 1 GiB of output"
    );
}
