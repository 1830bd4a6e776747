//! Output streams and exit statuses, over TCP against the testkit fleet.

use std::time::Duration;

use sshfan::ExitStatus;
use sshfan_testkit::{Fault, Fleet};

use crate::util::{collect, collect_host};

#[tokio::test]
async fn stdout_and_stderr_stay_separate_and_exit_code_arrives() {
    let fleet = Fleet::start(3).await.unwrap();
    let client = fleet.client().build().unwrap();
    let hosts = collect(client.run("echo out one; echo err one >&2; echo out two; exit 3")).await;
    assert_eq!(hosts.len(), 3);
    for host in hosts {
        assert_eq!(host.stdout_text(), "out one\nout two\n", "{}", host.label);
        assert_eq!(host.stderr_text(), "err one\n", "{}", host.label);
        assert_eq!(host.status(), &ExitStatus::Code(3));
    }
}

#[tokio::test]
async fn signal_and_missing_status_are_reported() {
    let fleet = Fleet::start(2).await.unwrap();
    let client = fleet.client().build().unwrap();
    let killed = collect(client.run("echo before; kill TERM")).await;
    for host in &killed {
        assert_eq!(host.stdout_text(), "before\n");
        assert!(
            matches!(host.status(), ExitStatus::Signal { name, .. } if name == "TERM"),
            "{:?}",
            host.outcome
        );
    }
    let silent = collect(client.run("echo x; noexit")).await;
    for host in &silent {
        assert_eq!(host.status(), &ExitStatus::NoStatus);
        assert_eq!(host.stdout_text(), "x\n");
    }
}

#[tokio::test]
async fn non_utf8_bytes_are_preserved_exactly() {
    let fleet = Fleet::start(2).await.unwrap();
    let client = fleet.client().build().unwrap();
    let mut run = client.run("raw 68 69 ff fe 00 0a c3 28 0a 80");
    run.join(None).await.unwrap();
    for host in run.outputs_mut() {
        assert_eq!(
            host.stdout.next_line().await.unwrap(),
            &b"hi\xff\xfe\x00"[..]
        );
        assert_eq!(host.stdout.next_line().await.unwrap(), &b"\xc3\x28"[..]);
        // The final line has no newline and is still a line.
        assert_eq!(host.stdout.next_line().await.unwrap(), &b"\x80"[..]);
        assert_eq!(host.stdout.next_line().await, None);
    }
}

#[tokio::test]
async fn output_streams_while_the_command_runs() {
    let fleet = Fleet::start(1).await.unwrap();
    let client = fleet.client().build().unwrap();
    let mut run = client.run("echo first; sleep 30; echo never");
    let host = &mut run.outputs_mut()[0];
    let first = tokio::time::timeout(Duration::from_secs(10), host.stdout.next_line())
        .await
        .expect("the first line arrives long before the command ends");
    assert_eq!(first.unwrap(), &b"first"[..]);
    assert!(host.outcome().is_none(), "the command is still running");
    run.cancel();
    let outcome = run.outputs()[0].wait().await;
    assert_eq!(outcome.unwrap_err().kind().code(), "cancelled");
}

#[tokio::test]
async fn large_output_arrives_complete() {
    let fleet = Fleet::start(4).await.unwrap();
    let client = fleet.client().build().unwrap();
    let size = 8 * 1024 * 1024;
    let hosts = collect(client.run(format!("flood {size}; echo end >&2"))).await;
    for host in hosts {
        assert_eq!(host.stdout.len(), size, "{}", host.label);
        assert!(
            host.stdout
                .chunks(64)
                .all(|line| line == [&[b'y'; 63][..], b"\n"].concat())
        );
        assert_eq!(host.stderr_text(), "end\n");
        assert!(host.status().success());
    }
}

#[tokio::test]
async fn an_unread_host_is_slowed_by_flow_control_not_buffered() {
    let fleet = Fleet::start(1).await.unwrap();
    let limit = 64 * 1024;
    let client = fleet.client().output_buffer_limit(limit).build().unwrap();
    let total = 64 * 1024 * 1024;
    let mut run = client.run(format!("flood {total}"));
    // Nobody reads: the buffer fills to its limit, then the host is held there.
    let waiting = std::time::Instant::now();
    while run.outputs()[0].stdout.buffered() < limit && waiting.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held = run.outputs()[0].stdout.buffered();
    // At most one packet (32 KiB) beyond the limit is held.
    assert!(
        held >= limit && held <= limit + 32 * 1024,
        "{held} bytes buffered"
    );
    assert!(
        run.outputs()[0].outcome().is_none(),
        "64 MiB cannot fit in the buffers"
    );
    // Reading drains it all, in order.
    let host = &mut run.outputs_mut()[0];
    let collected = collect_host(host).await;
    assert_eq!(collected.stdout.len(), total);
    assert!(collected.status().success());
}

#[tokio::test]
async fn join_timeout_reports_finished_and_unfinished_hosts() {
    let fleet = Fleet::builder(4)
        .fault(2, Fault::Hang)
        .start()
        .await
        .unwrap();
    let client = fleet.client().build().unwrap();
    let mut run = client.run("echo done");
    let timeout = run.join(Some(Duration::from_secs(2))).await.unwrap_err();
    let finished: Vec<usize> = timeout.finished.iter().map(|(i, _)| *i).collect();
    let unfinished: Vec<usize> = timeout.unfinished.iter().map(|(i, _)| *i).collect();
    assert_eq!(finished, [0, 1, 3]);
    assert_eq!(unfinished, [2]);
    assert!(
        timeout.to_string().contains("1 of 4 hosts still running"),
        "{timeout}"
    );
    // The finished hosts stay readable after the timeout.
    for index in finished {
        let host = collect_host(&mut run.outputs_mut()[index]).await;
        assert_eq!(host.stdout_text(), "done\n");
    }
    run.cancel();
}

#[tokio::test]
async fn duplicate_hosts_are_told_apart_by_index_and_alias() {
    let fleet = Fleet::start(1).await.unwrap();
    let spec = fleet.host_specs()[0].clone();
    let client = fleet
        .client()
        .host(sshfan::Host::parse(&spec).unwrap().with_alias("again"))
        .build()
        .unwrap();
    let hosts = collect(client.run("hostname")).await;
    assert_eq!(hosts.len(), 2);
    assert_eq!(hosts[0].label, spec);
    assert_eq!(hosts[1].label, "again");
    for host in hosts {
        assert_eq!(host.stdout_text(), "host0\n");
    }
}

#[tokio::test]
async fn in_memory_transport_runs_without_sockets() {
    let fleet = Fleet::builder(50).in_memory().start().await.unwrap();
    let client = fleet.memory_client().build().unwrap();
    let hosts = collect(client.run("hostname")).await;
    for (index, host) in hosts.iter().enumerate() {
        assert_eq!(host.stdout_text(), format!("host{index}\n"));
        assert!(host.status().success());
    }
}

#[tokio::test]
async fn stdin_data_reaches_every_host_then_eof() {
    let fleet = Fleet::start(20).await.unwrap();
    let client = fleet.client().build().unwrap();
    let input = "line one\nline two\n".repeat(5000);
    let run = client.run_with(
        "cat; echo after-eof",
        sshfan::RunOptions::default().stdin(input.clone()),
    );
    for host in collect(run).await {
        assert_eq!(
            host.stdout_text(),
            format!("{input}after-eof\n"),
            "{}",
            host.label
        );
        assert!(host.status().success());
    }
}

#[tokio::test]
async fn stop_pending_lets_running_hosts_finish_and_starts_no_more() {
    let fleet = Fleet::start(6).await.unwrap();
    let client = fleet.client().pool_size(2).build().unwrap();
    let mut run = client.run("sleep 0.5; echo done");
    // Wait until the first two are running, then stop.
    while run.joiner().progress().running < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    run.joiner().stop_pending();
    run.join(None).await.unwrap();
    let progress = run.joiner().progress();
    assert_eq!(
        (
            progress.succeeded,
            progress.failed,
            progress.pending,
            progress.running
        ),
        (2, 4, 0, 0)
    );
    for host in &mut run.outputs_mut()[..2] {
        assert_eq!(host.stdout.lines_lossy().await, ["done"]);
        let timing = host.timing().expect("started");
        assert!(timing.connect.unwrap() <= timing.total);
        assert!(timing.total >= Duration::from_millis(500));
    }
    for host in &run.outputs()[2..] {
        assert_eq!(
            host.outcome().unwrap().unwrap_err().kind().code(),
            "cancelled"
        );
        assert!(host.timing().is_none(), "never started");
    }
}
