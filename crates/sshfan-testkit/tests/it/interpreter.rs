//! What fleet hosts do with commands, seen through the sshfan client.

use std::time::Duration;

use sshfan::ExitStatus;
use sshfan_testkit::{Fault, Fleet};

async fn run_one(fleet: &Fleet, command: &str) -> (Vec<u8>, Vec<u8>, ExitStatus) {
    let client = fleet.client().build().unwrap();
    let mut run = client.run(command);
    run.join(None).await.unwrap();
    let host = &mut run.outputs_mut()[0];
    let stdout = host.stdout.read_to_end().await;
    let stderr = host.stderr.read_to_end().await;
    (stdout, stderr, host.wait().await.unwrap())
}

#[tokio::test]
async fn builtins() {
    let fleet = Fleet::start(1).await.unwrap();
    let cases: &[(&str, &[u8], &[u8], ExitStatus)] = &[
        ("echo -n a 'b  c'", b"a b  c", b"", ExitStatus::Code(0)),
        ("seq 3", b"1\n2\n3\n", b"", ExitStatus::Code(0)),
        ("raw 00ff 0a", b"\x00\xff\n", b"", ExitStatus::Code(0)),
        ("line 3", b"zzz\n", b"", ExitStatus::Code(0)),
        (
            "flood 130",
            &[[b'y'; 63].as_slice(), b"\n", &[b'y'; 63], b"\n", b"yy"].concat(),
            b"",
            ExitStatus::Code(0),
        ),
        ("hostname; false", b"host0\n", b"", ExitStatus::Code(1)),
        (
            "nosuch",
            b"",
            b"fleet-sh: nosuch: command not found\n",
            ExitStatus::Code(127),
        ),
        ("exit 9; echo unreachable", b"", b"", ExitStatus::Code(9)),
        (
            "sleep 0.01\necho after",
            b"after\n",
            b"",
            ExitStatus::Code(0),
        ),
    ];
    for (command, stdout, stderr, status) in cases {
        let (out, err, got) = run_one(&fleet, command).await;
        assert_eq!(&out, stdout, "{command}");
        assert_eq!(&err, stderr, "{command}");
        assert_eq!(&got, status, "{command}");
    }
    let (_, _, killed) = run_one(&fleet, "kill USR1").await;
    assert!(matches!(killed, ExitStatus::Signal { name, .. } if name == "USR1"));
}

#[tokio::test]
async fn real_shell_mode_runs_sh() {
    let fleet = Fleet::builder(1).real_shell(true).start().await.unwrap();
    let (out, err, status) = run_one(&fleet, "echo $((6*7)); echo oops >&2; exit 4").await;
    assert_eq!(out, b"42\n");
    assert_eq!(err, b"oops\n");
    assert_eq!(status, ExitStatus::Code(4));
    let (_, _, status) = run_one(&fleet, "kill -TERM $$").await;
    assert!(
        matches!(&status, ExitStatus::Signal { name, .. } if name == "TERM"),
        "{status:?}"
    );
}

#[tokio::test]
async fn trickle_sends_one_line_at_a_time() {
    let fleet = Fleet::builder(1)
        .fault(
            0,
            Fault::Trickle {
                delay: Duration::from_millis(30),
            },
        )
        .start()
        .await
        .unwrap();
    let client = fleet.client().build().unwrap();
    let mut run = client.run("seq 4");
    let host = &mut run.outputs_mut()[0];
    for expected in ["1\n", "2\n", "3\n", "4\n"] {
        assert_eq!(host.stdout.next_chunk().await.unwrap(), expected.as_bytes());
    }
    assert!(host.wait().await.unwrap().success());
}
