//! Rollouts: waves in order, a failure budget that halts before later waves touch their
//! hosts (counted on the server side), a gate between waves, cancelling running hosts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sshfan::rollout::{Rollout, WaveReport, parse_waves};
use sshfan::{ErrorKind, RunOptions};
use sshfan_testkit::{Fault, Fleet};

use crate::util::collect;

fn rollout(waves: &str, max_fail: Option<&str>) -> Rollout {
    Rollout {
        waves: parse_waves(waves).unwrap(),
        max_fail: max_fail.map(|budget| budget.parse().unwrap()),
        ..Rollout::default()
    }
}

fn not_run_reason(kind: &ErrorKind) -> Option<&str> {
    match kind {
        ErrorKind::NotRun { reason } => Some(reason),
        _ => None,
    }
}

/// `1,1%,10%,rest` over 200 hosts is waves of 1, 2, 20 and 177. Four hosts of the third
/// wave fail against a budget of 2: the third wave finishes, the fourth never starts
/// (no connection reaches its hosts), and its hosts say why.
#[tokio::test(flavor = "multi_thread")]
async fn the_failure_budget_halts_before_the_next_wave() {
    let mut builder = Fleet::builder(200);
    for index in [5, 9, 14, 20] {
        builder = builder.fault(index, Fault::RejectAuth);
    }
    let fleet = builder.start().await.unwrap();
    let client = fleet.client().pool_size(200).build().unwrap();
    let options = RunOptions::default().rollout(rollout("1,1%,10%,rest", Some("2")));
    let hosts = collect(client.run_with("echo ok", options)).await;
    for (index, host) in hosts.iter().enumerate() {
        match index {
            5 | 9 | 14 | 20 => assert_eq!(host.error_code(), "auth", "{index}"),
            0..23 => assert_eq!(host.stdout_text(), "ok\n", "{index}"),
            _ => {
                let kind = host.outcome.as_ref().unwrap_err().kind();
                let reason = not_run_reason(kind).unwrap_or_else(|| panic!("{index}: {kind:?}"));
                assert!(reason.contains("failure budget"), "{reason}");
                assert!(reason.contains("at most 2 allowed"), "{reason}");
                assert_eq!(fleet.connections(index), 0, "host {index} was contacted");
            }
        }
    }
}

/// A gate between waves sees each wave's counts; refusing halts the rollout.
#[tokio::test(flavor = "multi_thread")]
async fn the_gate_sees_each_wave_and_can_halt() {
    let fleet = Fleet::builder(10)
        .fault(2, Fault::RejectAuth)
        .start()
        .await
        .unwrap();
    let client = fleet.client().build().unwrap();
    let seen: Arc<Mutex<Vec<WaveReport>>> = Arc::default();
    let mut plan = rollout("1,2,3", None);
    let reports = seen.clone();
    plan.gate = Some(Arc::new(move |report: &WaveReport| {
        reports.lock().unwrap().push(report.clone());
        report.failed == 0
    }));
    let hosts = collect(client.run_with("echo ok", RunOptions::default().rollout(plan))).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        seen[0],
        WaveReport {
            wave: 1,
            waves: 5,
            hosts: vec![0],
            succeeded: 1,
            failed: 0,
            failed_so_far: 0,
            total: 10
        }
    );
    assert_eq!(
        (seen[1].wave, seen[1].failed, &seen[1].hosts[..]),
        (2, 1, &[1, 2][..])
    );
    for (index, host) in hosts.iter().enumerate().skip(3) {
        let kind = host.outcome.as_ref().unwrap_err().kind();
        let reason = not_run_reason(kind).unwrap_or_else(|| panic!("{index}: {kind:?}"));
        assert!(
            reason.contains("gate halted the rollout after wave 2 of 5"),
            "{reason}"
        );
        assert_eq!(fleet.connections(index), 0);
    }
}

/// Waves run in order: with `1,rest`, the first host finishes before any other starts.
#[tokio::test(flavor = "multi_thread")]
async fn a_wave_starts_when_the_previous_one_has_finished() {
    let fleet = Fleet::start(6).await.unwrap();
    let client = fleet.client().build().unwrap();
    let options = RunOptions::default().rollout(rollout("1,rest", None));
    let mut run = client.run_with("sleep 0.3; echo done", options);
    let mut completions = run.completions().unwrap();
    assert_eq!(completions.next().await, Some(0));
    let hosts = collect(run).await;
    assert!(hosts.iter().all(|host| host.stdout_text() == "done\n"));
}

/// With `abort_running`, exceeding the budget cancels the hosts still running.
#[tokio::test(flavor = "multi_thread")]
async fn abort_running_cancels_the_running_hosts() {
    let fleet = Fleet::builder(4)
        .fault(1, Fault::Hang)
        .fault(2, Fault::RejectAuth)
        .start()
        .await
        .unwrap();
    let client = fleet.client().build().unwrap();
    let mut plan = rollout("1,rest", Some("0"));
    plan.abort_running = true;
    let started = std::time::Instant::now();
    let hosts = collect(client.run_with("echo ok", RunOptions::default().rollout(plan))).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(hosts[0].stdout_text(), "ok\n");
    assert_eq!(hosts[1].error_code(), "cancelled");
    assert_eq!(hosts[2].error_code(), "auth");
}
