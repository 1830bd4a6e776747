//! Helpers shared by the integration tests.

use sshfan::{ExitStatus, HostOutput, Outcome, Run};

/// Everything one host produced, read after the run.
#[derive(Debug)]
pub struct Collected {
    pub label: String,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub outcome: Outcome,
    /// From the host's start to its outcome.
    pub elapsed: Option<std::time::Duration>,
}

impl Collected {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    pub fn status(&self) -> &ExitStatus {
        match &self.outcome {
            Ok(status) => status,
            Err(err) => panic!("{}: expected an exit status, got error: {err}", self.label),
        }
    }

    pub fn error_code(&self) -> &'static str {
        match &self.outcome {
            Ok(status) => panic!("{}: expected an error, got {status}", self.label),
            Err(err) => err.kind().code(),
        }
    }
}

pub async fn collect_host(host: &mut HostOutput) -> Collected {
    let stdout = host.stdout.read_to_end().await;
    let stderr = host.stderr.read_to_end().await;
    let outcome = host.wait().await;
    Collected {
        label: host.label().to_owned(),
        stdout,
        stderr,
        outcome,
        elapsed: host.timing().map(|timing| timing.total),
    }
}

/// Joins the run, then reads every host.
pub async fn collect(mut run: Run) -> Vec<Collected> {
    run.join(None).await.expect("join without timeout");
    let mut all = Vec::new();
    for host in run.outputs_mut() {
        all.push(collect_host(host).await);
    }
    all
}

/// Shell-quotes a host argument (host_args are inserted as given).
pub fn quote_for_test(text: &str) -> String {
    sshfan::command::quote(text)
}

/// This process's peak resident memory (VmHWM), in KiB.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Runs one `#[ignore]`d test of this binary in a child process, optionally under a
/// wrapper command (such as `unshare -n` for an empty network namespace).
pub fn run_inner(test: &str, wrapper: &[&str]) -> Result<std::process::Output, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let (program, args) = match wrapper.split_first() {
        Some((program, rest)) => (
            program.to_string(),
            rest.iter().map(|s| s.to_string()).collect(),
        ),
        None => (exe.display().to_string(), Vec::new()),
    };
    let mut command = std::process::Command::new(program);
    command.args(args);
    if !wrapper.is_empty() {
        command.arg(&exe);
    }
    let output = command
        .args([test, "--exact", "--ignored", "--nocapture"])
        .output()
        .map_err(|e| format!("cannot run {wrapper:?}: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !wrapper.is_empty() && stderr.contains("unshare failed") {
        return Err(format!("cannot create a network namespace: {stderr}"));
    }
    Ok(output)
}

pub fn assert_inner_passed(test: &str, output: std::process::Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{test} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A client for a real sshd: its host as root, its known_hosts, no agent or ~/.ssh.
pub fn sshd_client(sshd: &sshfan_testkit::Sshd) -> sshfan::ClientBuilder {
    sshfan::ParallelClient::builder()
        .hosts([sshd.host_spec()])
        .expect("the sshd's host spec parses")
        .user("root")
        .known_hosts_files(vec![sshd.known_hosts_path().to_owned()])
        .agent(sshfan::AgentSocket::Off)
        .default_identities(false)
}

/// Waits up to 5 s for `done` (a server-side count that settles after a run).
pub async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < until {
        if done() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    done()
}

/// A client built from `builder` over a [`sshfan_testkit::FlightTransport`] (its
/// connections' flights and writes counted), after one `true` on its one host, checked
/// to succeed (`what` names the case in the failure).
pub async fn after_one_true(
    builder: sshfan::ClientBuilder,
    what: &dyn std::fmt::Debug,
) -> (
    sshfan::ParallelClient,
    std::sync::Arc<sshfan_testkit::FlightTransport>,
) {
    let transport = sshfan_testkit::FlightTransport::new();
    let client = builder.transport(transport.clone()).build().unwrap();
    let hosts = collect(client.run("true")).await;
    assert!(
        hosts[0].outcome.as_ref().unwrap().success(),
        "{what:?}: {:?}",
        hosts[0].outcome
    );
    (client, transport)
}

/// A real sshd that allows 10 channels per connection (`MaxSessions 10`, OpenSSH's
/// default, set explicitly), or `None` with a skip message for `what` (a failure under CI).
pub async fn sshd_with_max_sessions_10(what: &str) -> Option<sshfan_testkit::Sshd> {
    let options = sshfan_testkit::SshdOptions {
        extra_config: vec!["MaxSessions 10".to_owned()],
        ..Default::default()
    };
    sshfan_testkit::require(what, sshfan_testkit::Sshd::start(options).await)
}

/// 30 runs at once on `client` (one host), each `sleep 0.2; echo <tag><i>`; every one
/// must print its own line.
pub async fn thirty_concurrent_runs(client: &std::sync::Arc<sshfan::ParallelClient>, tag: &str) {
    let runs: Vec<_> = (0..30)
        .map(|i| {
            let client = client.clone();
            let command = format!("sleep 0.2; echo {tag}{i}");
            tokio::spawn(async move { collect(client.run(command)).await })
        })
        .collect();
    for (i, run) in runs.into_iter().enumerate() {
        let hosts = run.await.unwrap();
        assert_eq!(
            hosts[0].stdout_text(),
            format!("{tag}{i}\n"),
            "{:?}",
            hosts[0].outcome
        );
    }
}

/// Runs `echo <round>` on every host of `client`; each must print it.
pub async fn every_host_echoes(client: &sshfan::ParallelClient, round: usize) {
    for host in collect(client.run(format!("echo {round}"))).await {
        assert_eq!(
            host.stdout_text(),
            format!("{round}\n"),
            "{:?}",
            host.outcome
        );
    }
}

/// The first connection's (flights, writes) once nothing has moved for 200 ms: the close
/// that answers a command's end goes out at most 100 ms after the command's result is in
/// (`RoundTripCuts::close_answer_with_next_write`).
pub async fn settled(transport: &sshfan_testkit::FlightTransport) -> (usize, usize) {
    let now = || (transport.flights()[0], transport.writes()[0]);
    let mut last = now();
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let current = now();
        if current == last {
            return current;
        }
        last = current;
    }
}
