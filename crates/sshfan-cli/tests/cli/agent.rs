//! `sshfan agent`: sessions kept between invocations, counted on the fleet's side, and
//! runs through the agent compared byte for byte with direct runs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sshfan_testkit::{Fleet, require};

use crate::util::{sshfan, sshfan_local, sshfan_subcommand, text};

/// An agent serving in its own runtime directory, stopped when dropped.
struct Agent {
    runtime: tempfile::TempDir,
    child: Child,
}

impl Agent {
    fn start(fleet: &Fleet) -> Agent {
        Agent::start_with(fleet, &[])
    }

    fn start_with(fleet: &Fleet, options: &[&str]) -> Agent {
        let runtime = tempfile::tempdir().unwrap();
        let child = sshfan_local(fleet)
            .env("XDG_RUNTIME_DIR", runtime.path())
            .args(["agent", "serve"])
            .args(options)
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let agent = Agent { runtime, child };
        agent.wait_ready();
        agent
    }

    fn wait_ready(&self) {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if self.socket().exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the agent did not start");
    }

    fn socket(&self) -> PathBuf {
        self.runtime.path().join("sshfan/agent.sock")
    }

    /// `sshfan --agent` set up for the fleet.
    fn sshfan(&self, fleet: &Fleet) -> Command {
        let mut command = sshfan(fleet);
        self.point_at(&mut command);
        command.arg("--agent");
        command
    }

    fn point_at(&self, command: &mut Command) {
        command.env("XDG_RUNTIME_DIR", self.runtime.path());
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn all_hosts(fleet: &Fleet) -> String {
    fleet.host_specs().join(",")
}

/// Output with what varies between runs (elapsed times) blanked.
fn steady(bytes: &[u8]) -> String {
    let times = regex::Regex::new(r"[0-9]+(\.[0-9]+)? ?(ms|s)\b").unwrap();
    let json_times = regex::Regex::new(r#""(connect|total|elapsed)_ms":[0-9.]+,?"#).unwrap();
    let text = text(bytes);
    let text = json_times.replace_all(&text, "");
    times.replace_all(&text, "T").into_owned()
}

fn sorted(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// Each output mode gives through the agent what it gives directly: gathered, JSON,
/// streamed, per-host files, exit codes, summaries, non-UTF-8 lines, an unreachable
/// host. Five invocations through the agent make one connection per host.
#[tokio::test(flavor = "multi_thread")]
async fn runs_through_the_agent_match_direct_runs_and_reuse_one_connection_per_host() {
    let fleet = Fleet::start(12).await.unwrap();
    let agent = Agent::start(&fleet);
    // Host 12 is unreachable (nothing listens on port 1).
    let hosts = format!("{},127.0.0.1:1", all_hosts(&fleet));
    let command = "hostname; echo warn >&2; raw ff fe 0a; exit 3";
    let out_dir = tempfile::tempdir().unwrap();
    let modes: [&[&str]; 4] = [&["-b"], &["--json"], &[], &["--outdir"]];
    let mut agent_runs = 0;
    for mode in modes {
        let run = |through_agent: bool| -> (Output, Option<PathBuf>) {
            let mut command_line = match through_agent {
                true => agent.sshfan(&fleet),
                false => sshfan(&fleet),
            };
            let dir = (mode == ["--outdir"]).then(|| {
                out_dir
                    .path()
                    .join(if through_agent { "agent" } else { "direct" })
            });
            command_line.args(mode.iter().filter(|m| **m != "--outdir"));
            if let Some(dir) = &dir {
                command_line.arg("--outdir").arg(dir);
            }
            let output = command_line
                .args(["--summary", "-w", &hosts, "--", command])
                .output()
                .unwrap();
            (output, dir)
        };
        let (direct, direct_dir) = run(false);
        let (through, agent_dir) = run(true);
        agent_runs += 1;
        assert_eq!(direct.status.code(), Some(3), "{mode:?}");
        assert_eq!(through.status.code(), direct.status.code(), "{mode:?}");
        let stderr = text(&through.stderr);
        assert!(!stderr.contains("connecting directly"), "{stderr}");
        match mode {
            // Gathered stdout is in a set order; stderr lines stream as they come.
            ["-b"] => {
                assert_eq!(steady(&through.stdout), steady(&direct.stdout));
                assert_eq!(
                    sorted(&steady(&through.stderr)),
                    sorted(&steady(&direct.stderr))
                );
            }
            _ => {
                assert_eq!(
                    sorted(&steady(&through.stdout)),
                    sorted(&steady(&direct.stdout)),
                    "{mode:?}"
                );
                assert_eq!(
                    sorted(&steady(&through.stderr)),
                    sorted(&steady(&direct.stderr)),
                    "{mode:?}"
                );
            }
        }
        if let (Some(direct_dir), Some(agent_dir)) = (direct_dir, agent_dir) {
            let mut names: Vec<_> = std::fs::read_dir(&direct_dir)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            names.sort();
            assert_eq!(names.len(), 13, "{names:?}");
            for name in names {
                assert_eq!(
                    std::fs::read(direct_dir.join(&name)).unwrap(),
                    std::fs::read(agent_dir.join(&name)).unwrap(),
                    "{name:?}"
                );
            }
        }
    }
    // The non-UTF-8 line came through as bytes.
    let out = agent
        .sshfan(&fleet)
        .args(["-N", "-w", &fleet.host_specs()[0], "--", "raw ff fe 0a"])
        .output()
        .unwrap();
    agent_runs += 1;
    assert_eq!(out.stdout, b"\xff\xfe\n");
    // Direct runs made 4 connections per host; the 5 runs through the agent made one.
    assert_eq!(agent_runs, 5);
    assert!(
        (0..fleet.len()).all(|i| fleet.connections(i) == 4 + 1),
        "{:?}",
        (0..fleet.len())
            .map(|i| fleet.connections(i))
            .collect::<Vec<_>>()
    );
    // Its status says what it holds.
    let mut status = sshfan_local(&fleet);
    agent.point_at(&mut status);
    let out = status.args(["agent", "status"]).output().unwrap();
    let shown = text(&out.stdout);
    assert!(shown.contains("sessions: 12 open"), "{shown}");
    assert!(shown.contains("settings: 1"), "{shown}");
}

/// Copies go through the agent too: files land on every host (read on the server side)
/// and come back; no new connection is made for them.
#[tokio::test(flavor = "multi_thread")]
async fn copies_through_the_agent_use_its_sessions() {
    let fleet = Fleet::start(4).await.unwrap();
    let agent = Agent::start(&fleet);
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("payload.txt");
    std::fs::write(&local, "payload\n").unwrap();
    let warm = agent
        .sshfan(&fleet)
        .args(["-w", &all_hosts(&fleet), "--", "true"])
        .output()
        .unwrap();
    assert_eq!(warm.status.code(), Some(0), "{}", text(&warm.stderr));
    let mut cp = sshfan_subcommand(&fleet, Some("cp"));
    agent.point_at(&mut cp);
    // A relative source: the agent runs elsewhere, the CLI makes it absolute.
    let out = cp
        .current_dir(work.path())
        .args([
            "--agent",
            "-w",
            &all_hosts(&fleet),
            "payload.txt",
            "payload.txt",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for i in 0..fleet.len() {
        let written = std::fs::read(fleet.host_root(i).join("payload.txt")).unwrap();
        assert_eq!(written, b"payload\n");
    }
    let mut get = sshfan_subcommand(&fleet, Some("get"));
    agent.point_at(&mut get);
    let back = work.path().join("back");
    std::fs::create_dir(&back).unwrap();
    let out = get
        .args(["--agent", "-w", &all_hosts(&fleet), "payload.txt"])
        .arg(&back)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_dir(&back).unwrap().count(), fleet.len());
    assert!((0..fleet.len()).all(|i| fleet.connections(i) == 1));
}

/// Ctrl-C through the agent cancels that run (the remote commands end; the same exit
/// code and summary as a direct run), not the sessions: the next run makes no new
/// connection.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_through_the_agent_cancels_the_run_not_the_sessions() {
    let fleet = Fleet::start(3).await.unwrap();
    let agent = Agent::start(&fleet);
    let mut child = agent
        .sshfan(&fleet)
        .args(["-w", &all_hosts(&fleet), "--", "echo started; hang"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    for _ in 0..3 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert!(line.ends_with(": started\n"), "{line}");
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("sshfan: 3 hosts, 0 ok, 0 failed, 3 cancelled in "),
        "{stderr}"
    );
    let until = Instant::now() + Duration::from_secs(5);
    while (0..3).any(|i| fleet.running(i) > 0) && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!((0..3).all(|i| fleet.running(i) == 0), "remote commands end");
    let again = agent
        .sshfan(&fleet)
        .args(["-w", &all_hosts(&fleet), "--", "echo again"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!((0..3).all(|i| fleet.connections(i) == 1));
}

/// A session the server cut is noticed and made again by the next run.
#[tokio::test(flavor = "multi_thread")]
async fn a_session_cut_by_the_server_is_reconnected() {
    let fleet = Fleet::start(3).await.unwrap();
    let agent = Agent::start(&fleet);
    let run = |hosts: &str, command: &str| {
        agent
            .sshfan(&fleet)
            .args(["-w", hosts, "--", command])
            .output()
            .unwrap()
    };
    assert_eq!(run(&all_hosts(&fleet), "true").status.code(), Some(0));
    // The server cuts host 0's connection.
    let cut = run(&fleet.host_specs()[0], "drop");
    assert_eq!(cut.status.code(), Some(3), "{}", text(&cut.stderr));
    let out = run(&all_hosts(&fleet), "echo back");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fleet.connections(0), 2);
    assert!((1..3).all(|i| fleet.connections(i) == 1));
}

/// `sshfan agent serve --spare-channels`: between invocations each host holds one
/// channel opened ahead, and each later invocation starts its command on it.
#[tokio::test(flavor = "multi_thread")]
async fn the_agent_keeps_a_spare_channel_with_spare_channels() {
    let fleet = Fleet::start(3).await.unwrap();
    let agent = Agent::start_with(&fleet, &["--spare-channels"]);
    for round in 1..=3 {
        let out = agent
            .sshfan(&fleet)
            .args(["-w", &all_hosts(&fleet), "--", "echo", "spare"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout).matches("spare").count(), 3);
        // Each command's channel closed, and one open ahead.
        let until = Instant::now() + Duration::from_secs(5);
        let settled = || {
            (0..3)
                .all(|i| fleet.opened_channels(i) == round + 1 && fleet.closed_channels(i) == round)
        };
        while !settled() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            settled(),
            "round {round}: opened {}, closed {}",
            fleet.opened_channels(0),
            fleet.closed_channels(0)
        );
    }
    assert!((0..3).all(|i| fleet.connections(i) == 1 && fleet.execs(i) == 3));
}

/// Sessions are keyed by credentials: another `-i` key file or `-l` user never reuses a
/// session made with other ones.
#[tokio::test(flavor = "multi_thread")]
async fn sessions_are_not_shared_across_credentials() {
    let fleet = Fleet::start(3).await.unwrap();
    let agent = Agent::start(&fleet);
    let copy = fleet.dir().join("copy_of_key");
    std::fs::copy(fleet.client_key_path(), &copy).unwrap();
    let run = |extra: &[&str]| {
        agent
            .sshfan(&fleet)
            .args(extra)
            .args(["-w", &all_hosts(&fleet), "--", "true"])
            .output()
            .unwrap()
    };
    for _ in 0..2 {
        assert_eq!(run(&[]).status.code(), Some(0));
        let other_key = run(&["-i", copy.to_str().unwrap()]);
        assert_eq!(other_key.status.code(), Some(0));
    }
    // Fanout and command timeout are per run: the same sessions serve them.
    assert_eq!(run(&["-f", "1", "-u", "30"]).status.code(), Some(0));
    assert!((0..3).all(|i| fleet.connections(i) == 2));
    // Another user: its own connection, refused by the fleet (only `fleet` may log in).
    let mut command = sshfan_local(&fleet);
    agent.point_at(&mut command);
    let other_user = command
        .args(["--agent", "-l", "mallory", "-i"])
        .arg(fleet.client_key_path())
        .arg("--known-hosts")
        .arg(fleet.known_hosts_path())
        .args(["-w", &all_hosts(&fleet), "--", "true"])
        .output()
        .unwrap();
    assert_eq!(other_user.status.code(), Some(3));
    assert!((0..3).all(|i| fleet.connections(i) == 3));
}

/// With no agent running, --agent and SSHFAN_AGENT=auto connect directly, saying so once.
#[tokio::test(flavor = "multi_thread")]
async fn without_an_agent_runs_connect_directly_with_a_note() {
    let fleet = Fleet::start(3).await.unwrap();
    let runtime = tempfile::tempdir().unwrap();
    for via_env in [false, true] {
        let mut command = sshfan(&fleet);
        command.env("XDG_RUNTIME_DIR", runtime.path());
        match via_env {
            true => command.env("SSHFAN_AGENT", "auto"),
            false => command.arg("--agent"),
        };
        let out = command
            .args(["-w", &all_hosts(&fleet), "--", "echo hi"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(text(&out.stdout).lines().count(), 3);
        let stderr = text(&out.stderr);
        assert_eq!(stderr.matches("no agent is running").count(), 1, "{stderr}");
        assert!(stderr.contains("connecting directly"), "{stderr}");
    }
}

/// The agent's socket serves its own user only: a peer of another uid (here root,
/// which file modes do not stop) is refused by the agent, and the CLI refuses an agent
/// of another uid and connects directly.
#[tokio::test(flavor = "multi_thread")]
async fn another_uid_is_refused_on_the_socket() {
    let Some(setpriv) = require("another_uid_is_refused_on_the_socket", root_with_setpriv()) else {
        return;
    };
    let fleet = Fleet::start(2).await.unwrap();
    let runtime = tempfile::tempdir().unwrap();
    let nobody = 65534;
    std::os::unix::fs::chown(runtime.path(), Some(nobody), Some(nobody)).unwrap();
    let mut child = Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_sshfan"))
        .args(["agent", "serve"])
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env("HOME", runtime.path())
        .spawn()
        .unwrap();
    let socket = runtime.path().join("sshfan/agent.sock");
    let until = Instant::now() + Duration::from_secs(10);
    while !socket.exists() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let refused = raw_exchange(&socket);
    let out = sshfan(&fleet)
        .env("XDG_RUNTIME_DIR", runtime.path())
        .args(["--agent", "-w", &all_hosts(&fleet), "--", "echo hi"])
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        refused.contains("refused") && refused.contains("not uid 0"),
        "{refused}"
    );
    assert_eq!(out.status.code(), Some(0));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("is served by uid 65534, not by you; connecting directly"),
        "{stderr}"
    );
}

fn root_with_setpriv() -> Result<PathBuf, String> {
    if nix_uid() != 0 {
        return Err("needs root (to run the agent as another user)".to_owned());
    }
    ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .ok_or_else(|| "setpriv (util-linux) is not installed".to_owned())
}

fn nix_uid() -> u32 {
    let out = Command::new("id").arg("-u").output().unwrap();
    text(&out.stdout).trim().parse().unwrap()
}

/// Sends a status request and returns the raw reply frame's text. An agent that refuses
/// the peer answers and hangs up at once, maybe before the request is written: a write
/// that finds the socket closed is fine, the answer is still there to read.
fn raw_exchange(socket: &Path) -> String {
    use std::io::{Read, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
    let body = br#"{"request":"status"}"#;
    let mut request = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    request.extend_from_slice(body);
    let _ = stream.write_all(&request);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    String::from_utf8_lossy(reply.get(4..).unwrap_or_default()).into_owned()
}

/// Interactive mode through the agent: two sessions one after the other, lines on all
/// hosts and on some, one connection per host in all.
#[tokio::test(flavor = "multi_thread")]
async fn interactive_mode_through_the_agent_reuses_its_sessions() {
    let fleet = Fleet::start(3).await.unwrap();
    let agent = Agent::start(&fleet);
    let hosts = fleet.host_specs();
    for _ in 0..2 {
        let mut command = agent.sshfan(&fleet);
        command
            .args(["-w", &hosts.join(","), "-b"])
            .env("XDG_STATE_HOME", fleet.dir().join("state"))
            .env("TERM", "dumb");
        let all = crate::util::folded(&hosts);
        let first = hosts[0].clone();
        let status = tokio::task::spawn_blocking(move || {
            let mut session = expectrl::Session::spawn(command).unwrap();
            session.set_expect_timeout(Some(Duration::from_secs(20)));
            session.expect("sshfan> ").unwrap();
            session.send_line("echo hi").unwrap();
            session.expect(format!("{all} (3)").as_str()).unwrap();
            session.expect("sshfan> ").unwrap();
            session.send_line(format!("-{first}")).unwrap();
            session.send_line("echo again").unwrap();
            session.expect("(2)").unwrap();
            session.expect("again").unwrap();
            session.expect("sshfan> ").unwrap();
            session.send_line("quit").unwrap();
            session.expect(expectrl::Eof).unwrap();
            session.get_process_mut().wait().unwrap()
        })
        .await
        .unwrap();
        assert!(
            matches!(status, expectrl::WaitStatus::Exited(_, 0)),
            "{status:?}"
        );
    }
    assert!((0..3).all(|i| fleet.connections(i) == 1));
}

/// `agent start` puts the agent in the background (its own process group) and returns;
/// a second start finds it; `status` describes it; `stop` ends it and removes the socket;
/// `status` then says none runs (exit 1).
#[tokio::test(flavor = "multi_thread")]
async fn agent_start_status_stop() {
    let fleet = Fleet::start(1).await.unwrap();
    let runtime = tempfile::tempdir().unwrap();
    let agent = |action: &str| {
        sshfan_local(&fleet)
            .env("XDG_RUNTIME_DIR", runtime.path())
            .args(["agent", action])
            .output()
            .unwrap()
    };
    let started = agent("start");
    // Stopped however this test ends: the agent is not this test's child.
    struct StopOnDrop<F: Fn(&str) -> Output>(F);
    impl<F: Fn(&str) -> Output> Drop for StopOnDrop<F> {
        fn drop(&mut self) {
            (self.0)("stop");
        }
    }
    let _stop = StopOnDrop(&agent);
    assert_eq!(started.status.code(), Some(0), "{}", text(&started.stderr));
    assert!(text(&started.stderr).contains("agent started (pid "));
    let again = agent("start");
    assert!(
        text(&again.stderr).contains("already running"),
        "{}",
        text(&again.stderr)
    );
    let socket = runtime.path().join("sshfan/agent.sock");
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&socket), 0o600);
    assert_eq!(mode(socket.parent().unwrap()), 0o700);
    let status = agent("status");
    assert_eq!(status.status.code(), Some(0));
    assert!(
        text(&status.stdout).contains("sessions: 0 open"),
        "{}",
        text(&status.stdout)
    );
    let stopped = agent("stop");
    assert!(
        text(&stopped.stderr).contains("agent stopped"),
        "{}",
        text(&stopped.stderr)
    );
    assert!(!socket.exists());
    let none = agent("status");
    assert_eq!(none.status.code(), Some(1));
    assert!(text(&none.stderr).contains("no agent is running"));
}

/// `--idle` closes sessions unused that long; `--max-sessions` keeps at most that many
/// open (a run over more hosts still completes).
#[tokio::test(flavor = "multi_thread")]
async fn the_agent_closes_idle_sessions_and_keeps_to_its_cap() {
    let fleet = Fleet::start(4).await.unwrap();
    let idle = Agent::start_with(&fleet, &["--idle", "0.5"]);
    let out = idle
        .sshfan(&fleet)
        .args(["-w", &all_hosts(&fleet), "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(fleet.open_connections_total(), 4);
    let until = Instant::now() + Duration::from_secs(5);
    while fleet.open_connections_total() > 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fleet.open_connections_total(), 0, "idle sessions closed");
    drop(idle);
    let capped = Agent::start_with(&fleet, &["--max-sessions", "2"]);
    let out = capped
        .sshfan(&fleet)
        .args(["-w", &all_hosts(&fleet), "--", "echo capped"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).matches("capped").count(), 4);
    let until = Instant::now() + Duration::from_secs(5);
    while fleet.open_connections_total() > 2 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(fleet.open_connections_total() <= 2);
}

/// Stdin too large for the agent's frames is a usage error naming --no-agent, before
/// any host runs.
#[tokio::test(flavor = "multi_thread")]
async fn stdin_too_large_for_the_agent_is_one_clear_error() {
    let fleet = Fleet::start(2).await.unwrap();
    let agent = Agent::start(&fleet);
    let mut child = agent
        .sshfan(&fleet)
        .args(["-w", &all_hosts(&fleet), "--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..33 {
            if stdin.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.matches("--no-agent").count(), 1, "{stderr}");
    assert!((0..2).all(|i| fleet.execs(i) == 0));
}
