//! `--waves` and friends: the rollout a run asks for, and `--gate`, a local command asked
//! between waves.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use sshfan::rollout::{Rollout, WaveReport};

use crate::args::RunArgs;
use crate::exit::UsageError;

/// The rollout the arguments ask for (`None`: an ordinary run). `labels` name the hosts
/// for the gate.
pub fn rollout(args: &RunArgs, labels: Vec<String>) -> anyhow::Result<Option<Rollout>> {
    if args.waves.is_none() && args.max_fail.is_none() {
        return Ok(None);
    }
    let pause = match args.wave_pause {
        Some(seconds) => Some(
            Duration::try_from_secs_f64(seconds)
                .map_err(|_| UsageError(format!("--wave-pause takes seconds, not {seconds}")))?,
        ),
        None => None,
    };
    let spread = match &args.spread {
        Some(key) => Some(crate::spread::groups(key, &labels)?),
        None => None,
    };
    Ok(Some(Rollout {
        spread,
        waves: args.waves.clone().map(|waves| waves.0).unwrap_or_default(),
        max_fail: args.max_fail,
        abort_running: args.abort_running,
        gate: args
            .gate
            .clone()
            .map(|command| gate(command, Arc::new(labels))),
        pause,
    }))
}

/// Runs `command` after each wave: the wave's summary as JSON on stdin, counts in the
/// environment, its output on stderr (stdout is the hosts'); exit 0 lets the next wave go.
fn gate(command: String, labels: Arc<Vec<String>>) -> sshfan::rollout::WaveGate {
    Arc::new(move |report: &WaveReport| {
        let hosts: Vec<&str> = report
            .hosts
            .iter()
            .filter_map(|&index| labels.get(index).map(String::as_str))
            .collect();
        let summary = serde_json::json!({
            "wave": report.wave,
            "waves": report.waves,
            "hosts": hosts,
            "succeeded": report.succeeded,
            "failed": report.failed,
            "failed_so_far": report.failed_so_far,
            "total": report.total,
        });
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(&command)
            .env("SSHFAN_WAVE", report.wave.to_string())
            .env("SSHFAN_WAVES", report.waves.to_string())
            .env("SSHFAN_WAVE_FAILED", report.failed.to_string())
            .env("SSHFAN_FAILED", report.failed_so_far.to_string())
            .env("SSHFAN_HOSTS", report.total.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::from(std::io::stderr()))
            .spawn();
        let Ok(mut child) = child else {
            return false;
        };
        if let Some(mut stdin) = child.stdin.take() {
            // A gate that does not read its stdin is fine.
            let _ = writeln!(stdin, "{summary}");
        }
        child.wait().is_ok_and(|status| status.success())
    })
}
