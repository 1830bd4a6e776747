//! Many hosts at once over loopback TCP.

use std::collections::HashMap;

use sshfan::ExitStatus;
use sshfan_testkit::Fleet;

use crate::util::collect;

/// 1000 hosts, pool size 200: every host's own output (its name) and exit code arrive, on
/// the right handle, in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_hosts_each_get_their_own_output_and_exit_code() {
    let fleet = Fleet::start(1000).await.unwrap();
    let client = fleet.client().pool_size(200).build().unwrap();
    let hosts = collect(client.run("hostname; seq 20; echo warn >&2; exit 7")).await;
    assert_eq!(hosts.len(), 1000);
    let expected_tail: String = (1..=20).map(|i| format!("{i}\n")).collect();
    let mut seen = HashMap::new();
    for (index, host) in hosts.iter().enumerate() {
        assert_eq!(host.label, fleet.host_specs()[index]);
        assert_eq!(
            host.stdout_text(),
            format!("host{index}\n{expected_tail}"),
            "{}",
            host.label
        );
        assert_eq!(host.stderr_text(), "warn\n");
        assert_eq!(host.status(), &ExitStatus::Code(7));
        *seen.entry(host.stdout_text()).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 1000, "no two hosts got the same output");
}

/// Starting a large pool's hosts does not hold the runtime: on a current-thread runtime,
/// a task spawned beside a run of 1,000 hosts (all in the pool at once) runs before the
/// run has started them all. The hosts are a refused port: no host waits on a server.
#[tokio::test(flavor = "current_thread")]
async fn starting_a_large_pool_lets_other_tasks_run() {
    let (addr, _reserved) = sshfan_testkit::refused_address().unwrap();
    let fleet = Fleet::start(1).await.unwrap();
    let client = fleet
        .client()
        .hosts(std::iter::repeat_n(addr.to_string(), 999))
        .unwrap()
        .pool_size(1000)
        .build()
        .unwrap();
    let run = client.run("true");
    let joiner = run.joiner().clone();
    let seen = tokio::spawn(async move { joiner.progress() })
        .await
        .unwrap();
    assert!(
        seen.pending > 0,
        "every host had started before another task ran: {seen:?}"
    );
    let hosts = collect(run).await;
    assert_eq!(hosts.len(), 1000);
    assert_eq!(hosts[0].status(), &ExitStatus::Code(0));
    assert!(hosts[1..].iter().all(|host| host.error_code() == "refused"));
}
