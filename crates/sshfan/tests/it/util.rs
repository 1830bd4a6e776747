//! Helpers shared by the integration tests.

use sshfan::{ExitStatus, HostOutput, Outcome, Run};

/// Everything one host produced, read after the run.
#[derive(Debug)]
pub struct Collected {
    pub label: String,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub outcome: Outcome,
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
    Collected {
        label: host.label().to_owned(),
        stdout,
        stderr,
        outcome: host.wait().await,
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
