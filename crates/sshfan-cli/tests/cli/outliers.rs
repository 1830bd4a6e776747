//! Outlier gather (`-B`, `--gather=outliers`): outputs that differ only by what is unique
//! to each host read as one majority group plus the real exceptions.

use serde_json::Value;
use sshfan_testkit::{Fault, Fleet};

use crate::util::{run_all, sshfan, text};

/// The issue's case: 10,000 hosts whose `uname -a; uptime` differ only by host name, the
/// time and a number, and 3 hosts on another kernel: 1 majority group and 3 diffs.
#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_hosts_read_as_one_group_and_three_diffs() {
    let outliers = [17, 4242, 9999];
    let mut builder = Fleet::builder(10_000)
        .bind(sshfan_testkit::Bind::Addresses)
        .named_by_address();
    for (n, index) in outliers.into_iter().enumerate() {
        builder = builder.fault(index, Fault::Release(format!("5.10.0-{n}-generic")));
    }
    let fleet = builder.start().await.unwrap();
    let hosts = fleet.host_specs();
    let host_file = fleet.dir().join("hosts.txt");
    std::fs::write(&host_file, hosts.join("\n")).unwrap();
    let out = sshfan(&fleet)
        .arg("-h")
        .arg(&host_file)
        .args(["-B", "--color", "never", "-f", "128", "--no-journal"])
        .env("SSHFAN_CONNECT_TIMEOUT", "20")
        .args(["--", "uname -a; uptime"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        stderr.lines().rev().take(8).collect::<Vec<_>>().join("\n")
    );
    let stdout = text(&out.stdout);
    let majority = "---------------\n";
    assert!(stdout.starts_with(majority), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[1].ends_with(" (9997)"), "{}", lines[1]);
    assert_eq!(
        &lines[3..5],
        [
            "Linux <host> 5.15.0-91-generic #101-Ubuntu SMP x86_64 GNU/Linux",
            " <time> up <n> days,  load average: 0.00, 0.01, 0.05"
        ]
    );
    assert_eq!(stdout.matches("\n--- ").count(), 3, "{stdout}");
    for (n, index) in outliers.into_iter().enumerate() {
        let diff = format!(
            "+++ {} (1)\n@@ -1,2 +1,2 @@\n\
             -Linux <host> 5.15.0-91-generic #101-Ubuntu SMP x86_64 GNU/Linux\n\
             +Linux <host> 5.10.0-{n}-generic #101-Ubuntu SMP x86_64 GNU/Linux\n",
            hosts[index]
        );
        assert!(stdout.contains(&diff), "{diff} in {stdout}");
    }
    assert!(lines.len() < 30, "one group and three diffs: {stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn outliers_in_json_rules_switched_off_and_patterns_added() {
    let fleet = Fleet::builder(12)
        .named_by_address()
        .fault(5, Fault::Release("6.1.0-odd".to_owned()))
        .start()
        .await
        .unwrap();
    let hosts = fleet.host_specs();
    let out = run_all(
        &fleet,
        &["-B", "--json", "--no-journal"],
        "uname -a; uptime",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let events: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let groups = &events[events.len() - 2];
    assert_eq!(groups["event"], "groups");
    assert_eq!(events.last().unwrap()["event"], "summary");
    let groups = groups["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0]["count"], 11);
    assert_eq!(groups[0]["category"], "ok");
    assert_eq!(groups[0]["diff"], Value::Null);
    assert_eq!(groups[1]["hosts"], serde_json::json!([hosts[5]]));
    assert!(
        groups[1]["diff"]
            .as_str()
            .unwrap()
            .contains("+Linux <host> 6.1.0-odd"),
        "{groups:?}"
    );
    // Without the number rule, the uptimes set every host apart; a pattern of one's own
    // brings them together again.
    let out = run_all(
        &fleet,
        &[
            "--gather=outliers",
            "--no-normalize",
            "number",
            "--color",
            "never",
        ],
        "uptime",
    );
    assert_eq!(text(&out.stdout).matches("---------------\n").count(), 2);
    assert!(text(&out.stdout).matches("\n--- ").count() >= 5);
    let out = run_all(
        &fleet,
        &[
            "-B",
            "--no-normalize",
            "number",
            "--normalize",
            r"up \d+ days",
            "--color",
            "never",
        ],
        "uptime",
    );
    assert_eq!(
        text(&out.stdout),
        "---------------\n".to_owned()
            + &crate::util::folded(&hosts)
            + " (12)\n---------------\n <time> <*>,  load average: 0.00, 0.01, 0.05\n"
    );
    // Mistakes are usage errors, said once.
    for (args, message) in [
        (
            &["--normalize", "x"][..],
            "apply to an outlier gather: add -B",
        ),
        (
            &["-B", "--no-normalize", "bogus"],
            "unknown normalisation rule `bogus`",
        ),
        (&["-B", "--normalize", "("], "--normalize: bad pattern `(`"),
        (&["-b", "--json"], "-b and --json do not go together"),
    ] {
        let out = run_all(&fleet, args, "true");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}
