//! `-J` jump hosts and `-F` ssh_config from the command line.

use sshfan_testkit::{FLEET_USER, Fleet};

use crate::util::{sorted_lines, sshfan, text};

#[tokio::test(flavor = "multi_thread")]
async fn jump_host_and_ssh_config() {
    let fleet = Fleet::start(3).await.unwrap();
    let specs = fleet.host_specs();
    let out = sshfan(&fleet)
        .args([
            "-J",
            &format!("{FLEET_USER}@{}", specs[0]),
            "-w",
            &specs[1..].join(","),
            "--",
            "hostname",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut expected = vec![
        format!("{}: host1", specs[1]),
        format!("{}: host2", specs[2]),
    ];
    expected.sort();
    assert_eq!(sorted_lines(&out.stdout), expected);
    assert_eq!(fleet.connections(0), 1);
    assert_eq!(fleet.forwards(0), 2);

    let config = fleet.dir().join("config");
    std::fs::write(
        &config,
        format!(
            "Host app\n  HostName 127.0.0.1\n  Port {}\n",
            fleet.addrs()[2].port()
        ),
    )
    .unwrap();
    let out = sshfan(&fleet)
        .arg("-F")
        .arg(&config)
        .args(["-w", "app", "--", "hostname"])
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "app: host2\n", "{}", text(&out.stderr));
    let out = sshfan(&fleet)
        .args(["-F", "/nonexistent/config", "-w", "app", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
