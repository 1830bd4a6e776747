//! Interactive mode and keys during a run (clush's), driven through a real
//! pseudo-terminal.

use std::time::Duration;

use expectrl::{Eof, Session};
use sshfan_testkit::Fleet;

use crate::util::{folded, sshfan};

/// `sshfan -w HOSTS` with no command on a terminal: a prompt; each line runs on the
/// selected hosts over sessions kept for the whole session (one connection per host
/// for every line); `-HOST`, `+HOST`, `@HOSTS`, `?`, `=`, `!local` and `quit` as in clush.
#[tokio::test(flavor = "multi_thread")]
async fn interactive_mode_runs_lines_on_warm_sessions() {
    let fleet = Fleet::start(3).await.unwrap();
    let hosts = fleet.host_specs();
    let mut command = sshfan(&fleet);
    command
        .args(["-w", &hosts.join(","), "-b"])
        .env("XDG_STATE_HOME", fleet.dir().join("state"))
        .env("TERM", "dumb");
    let all = folded(&hosts);
    let two = folded(&[&hosts[1], &hosts[2]]);
    let first = hosts[0].clone();
    let fleet = std::sync::Arc::new(fleet);
    let watched = fleet.clone();
    let status = tokio::task::spawn_blocking(move || {
        let fleet = watched;
        let mut session = Session::spawn(command).unwrap();
        session.set_expect_timeout(Some(Duration::from_secs(20)));
        session
            .expect(format!("Working with nodes: {all}").as_str())
            .unwrap();
        session.expect("sshfan> ").unwrap();
        session.send_line("echo hi").unwrap();
        session.expect(format!("{all} (3)").as_str()).unwrap();
        session.expect("hi").unwrap();
        session.expect("sshfan> ").unwrap();
        session.send_line(format!("-{first}")).unwrap();
        session
            .expect(format!("Working with nodes: {two}").as_str())
            .unwrap();
        session.send_line("=").unwrap();
        session.expect("Standard output").unwrap();
        session.send_line("echo again").unwrap();
        session.expect(": again").unwrap();
        session.expect(": again").unwrap();
        session.expect("sshfan> ").unwrap();
        session.send_line(format!("+{first}")).unwrap();
        session
            .expect(format!("Working with nodes: {all}").as_str())
            .unwrap();
        session.send_line("!echo from here").unwrap();
        session.expect("LOCAL: from here").unwrap();
        session.send_line("@nosuch[").unwrap();
        session.expect("missing `]`").unwrap();
        // Two command lines so far: one connection per host.
        let warm: Vec<usize> = (0..3).map(|index| fleet.connections(index)).collect();
        assert_eq!(warm, [1, 1, 1]);
        // Ctrl-C cancels the running line (its channels close, the connections stay) and
        // the session goes on.
        session.send_line("hang").unwrap();
        std::thread::sleep(Duration::from_millis(500));
        session.send(expectrl::ControlCode::EndOfText).unwrap();
        session.expect("interrupted").unwrap();
        session.expect("sshfan> ").unwrap();
        session.send_line("echo back").unwrap();
        session.expect("back").unwrap();
        session.expect("sshfan> ").unwrap();
        session.send_line("quit").unwrap();
        session.expect(Eof).unwrap();
        session.get_process_mut().wait().unwrap()
    })
    .await
    .unwrap();
    assert!(
        matches!(status, expectrl::WaitStatus::Exited(_, 0)),
        "{status:?}"
    );
    // The line after the cancelled one ran on the same connections.
    for index in 0..3 {
        assert_eq!(fleet.connections(index), 1, "host {index}");
    }
    let history = fleet.dir().join("state/sshfan/history");
    let saved = std::fs::read_to_string(history).unwrap();
    assert!(saved.contains("echo again"), "{saved}");
}

/// On a terminal, any key during a run prints the hosts still running (clush's), and the
/// run goes on; Ctrl-C still interrupts.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_during_a_run_prints_the_hosts_still_running() {
    let fleet = Fleet::start(3).await.unwrap();
    let hosts = fleet.host_specs();
    let mut command = sshfan(&fleet);
    command
        .args([
            "-w",
            &hosts.join(","),
            "-f",
            "2",
            "--",
            "echo started; hang",
        ])
        .env("TERM", "dumb");
    let status = tokio::task::spawn_blocking(move || {
        let mut session = Session::spawn(command).unwrap();
        session.set_expect_timeout(Some(Duration::from_secs(20)));
        session.expect(": started").unwrap();
        session.expect(": started").unwrap();
        session.send("x").unwrap();
        session.expect("sshfan: 0/3 done, running: ").unwrap();
        session.expect(" (2), pending: 1").unwrap();
        assert!(session.is_alive().unwrap(), "the run goes on");
        session.send(expectrl::ControlCode::EndOfText).unwrap();
        session.expect("sshfan: interrupted").unwrap();
        session.expect(Eof).unwrap();
        session.get_process_mut().wait().unwrap()
    })
    .await
    .unwrap();
    assert!(
        matches!(status, expectrl::WaitStatus::Exited(_, 130)),
        "{status:?}"
    );
}
