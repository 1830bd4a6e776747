//! `--waves`, `--max-fail`, `--gate`: a rollout halts before later waves touch their
//! hosts (asserted on the server side), says why, and exits 5.

use serde_json::Value;
use sshfan_testkit::{Fault, Fleet};

use crate::util::{folded, run_all, text};

#[tokio::test(flavor = "multi_thread")]
async fn a_rollout_halts_when_its_failure_budget_is_exceeded() {
    let mut builder = Fleet::builder(30);
    for index in [3, 4, 5] {
        builder = builder.fault(index, Fault::RejectAuth);
    }
    let fleet = builder.start().await.unwrap();
    let hosts = fleet.host_specs();
    let out = run_all(
        &fleet,
        &["--waves", "1,5,rest", "--max-fail", "2"],
        "echo ok",
    );
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "sshfan: halted: the failure budget was exceeded (3 hosts failed, at most 2 allowed)"
        ),
        "{stderr}"
    );
    let never = folded(&hosts[6..]);
    assert!(
        stderr.contains(&format!("sshfan: not run: {never} (24)")),
        "{stderr}"
    );
    assert!(
        stderr.contains("30 hosts, 3 ok, 3 failed, 24 not run"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("not run:").count(), 1, "said once: {stderr}");
    for index in 6..30 {
        assert_eq!(fleet.connections(index), 0, "host {index} was contacted");
    }
    // The same in --json.
    let out = run_all(
        &fleet,
        &["--waves", "1,5,rest", "--max-fail", "5%", "--json"],
        "echo ok",
    );
    assert_eq!(out.status.code(), Some(5));
    let last = text(&out.stdout).lines().last().unwrap().to_owned();
    let summary: Value = serde_json::from_str(&last).unwrap();
    assert_eq!(summary["not_run"], 24);
    assert_eq!(summary["outcomes"]["not_run"].as_array().unwrap().len(), 24);
    assert!(
        summary["halted"]
            .as_str()
            .unwrap()
            .contains("at most 1 allowed")
    );
    // Within budget, every wave runs.
    let out = run_all(
        &fleet,
        &["--waves", "1,5,rest", "--max-fail", "3"],
        "echo ok",
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 27);
}

/// The issue's rollout: `1,1%,10%,rest` over 1,000 hosts is waves of 1, 10, 100 and 889;
/// three hosts of the third wave fail against a budget of 2, so the fourth wave never
/// touches its 889 hosts.
#[tokio::test(flavor = "multi_thread")]
async fn a_four_wave_rollout_over_1000_hosts_halts_at_the_third_wave() {
    let mut builder = Fleet::builder(1000);
    for index in [20, 40, 60] {
        builder = builder.fault(index, Fault::RejectAuth);
    }
    let fleet = builder.start().await.unwrap();
    let out = run_all(
        &fleet,
        &["--waves", "1,1%,10%,rest", "--max-fail", "2", "-f", "200"],
        "echo ok",
    );
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 108);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("1000 hosts, 108 ok, 3 failed, 889 not run"),
        "{stderr}"
    );
    let contacted: usize = (111..1000).map(|index| fleet.connections(index)).sum();
    assert_eq!(contacted, 0, "the fourth wave touched a host");
    assert!((0..111).all(|index| fleet.connections(index) == 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gate_sees_each_wave_and_halts_on_failure() {
    let fleet = Fleet::start(4).await.unwrap();
    let hosts = fleet.host_specs();
    let report = fleet.dir().join("gate.json");
    let gate = format!(
        "cat > {}; echo gate ran wave $SSHFAN_WAVE of $SSHFAN_WAVES; test $SSHFAN_WAVE -ge 2",
        report.display()
    );
    let out = run_all(&fleet, &["--waves", "1,1,rest", "--gate", &gate], "echo ok");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("gate ran wave 1 of 3"), "{stderr}");
    assert!(
        stderr.contains("sshfan: halted: the wave gate halted the rollout after wave 1 of 3"),
        "{stderr}"
    );
    let seen: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(seen["wave"], 1);
    assert_eq!(seen["hosts"][0], hosts[0].as_str());
    assert_eq!(seen["failed"], 0);
    assert_eq!(seen["total"], 4);
    assert_eq!((1..4).map(|i| fleet.connections(i)).sum::<usize>(), 0);
    let out = run_all(
        &fleet,
        &["--waves", "1,1,rest", "--gate", "true"],
        "echo ok",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 4);
    // A gate needs waves; a bad size is a usage error.
    for args in [
        &["--gate", "true"][..],
        &["--waves", "1,0"],
        &["--max-fail", "x"],
    ] {
        let out = run_all(&fleet, args, "echo ok");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

/// `--spread`: the first wave takes one host of each rack (a group source's groups, or a
/// pattern's captures), so a wave that fails never took out a whole rack.
#[tokio::test(flavor = "multi_thread")]
async fn spread_waves_take_one_host_per_rack_first() {
    let fleet = Fleet::builder(20)
        .fault(0, Fault::RejectAuth)
        .start()
        .await
        .unwrap();
    let hosts = fleet.host_specs();
    // Racks r0..r3 of 5 hosts each, in host order.
    let config = fleet.dir().join("clustershell");
    std::fs::create_dir_all(config.join("groups.d")).unwrap();
    let racks: String = (0..4)
        .map(|rack| {
            format!(
                "    r{rack}: '{}'\n",
                hosts[rack * 5..rack * 5 + 5].join(",")
            )
        })
        .collect();
    std::fs::write(
        config.join("groups.d/racks.yaml"),
        format!("rack:\n{racks}"),
    )
    .unwrap();
    let out = crate::util::sshfan(&fleet)
        .env("CLUSTERSHELL_CFGDIR", &config)
        .arg("-w")
        .arg(hosts.join(","))
        .args(["--waves", "4,rest", "--max-fail", "0", "--spread", "@rack"])
        .args(["--", "echo ok"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    for (index, _) in hosts.iter().enumerate() {
        let expected = usize::from(index % 5 == 0);
        assert_eq!(fleet.connections(index), expected, "host {index}");
    }
    // Without --spread, the first wave is the first rack.
    let out = run_all(&fleet, &["--waves", "4,rest", "--max-fail", "0"], "echo ok");
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(fleet.connections(1), 1);
    assert_eq!(fleet.connections(6), 0);
    // A pattern's capture names the group: the port's last digit makes 10 groups of 2.
    // With one host at a time, output comes in start order: one host per group first.
    let out = run_all(
        &fleet,
        &["--waves", "10,rest", "--spread", r":\d*(\d)$", "-f", "1"],
        "echo ok",
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let started: Vec<String> = text(&out.stdout)
        .lines()
        .map(|line| line.trim_end_matches(": ok").to_owned())
        .collect();
    let groups = |hosts: &[String]| {
        let mut digits: Vec<char> = hosts.iter().map(|h| h.chars().last().unwrap()).collect();
        digits.sort();
        digits.dedup();
        digits.len()
    };
    // Host 0, first of its group, fails and prints nothing.
    let first_wave = groups(&hosts) - 1;
    assert_eq!(groups(&started[..first_wave]), first_wave, "{started:?}");
    // A bad pattern is one usage error.
    let out = run_all(&fleet, &["--waves", "2", "--spread", "("], "true");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--spread: bad pattern `(`"));
}
