//! `sshfan-fleet` serves hosts from a separate process and prints their addresses.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn serves_the_hosts_it_prints() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sshfan-fleet"))
        .args(["--hosts", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut hosts = Vec::new();
    for _ in 0..3 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        hosts.push(line.trim().to_owned());
    }
    // The stderr lines name the known_hosts file and the client key.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut paths = std::collections::HashMap::new();
    for _ in 0..3 {
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        for name in ["known_hosts", "client key"] {
            if let Some(path) = line.trim().strip_prefix(&format!("fleet: {name} ")) {
                paths.insert(name, path.to_owned());
            }
        }
    }
    let client = sshfan::ParallelClient::builder()
        .hosts(&hosts)
        .unwrap()
        .user(sshfan_testkit::FLEET_USER)
        .key_file(&paths["client key"])
        .known_hosts_files(vec![paths["known_hosts"].clone().into()])
        .agent(sshfan::AgentSocket::Off)
        .default_identities(false)
        .build()
        .unwrap();
    let mut run = client.run("hostname");
    run.join(None).await.unwrap();
    for (index, host) in run.outputs_mut().iter_mut().enumerate() {
        assert_eq!(host.stdout.lines_lossy().await, [format!("host{index}")]);
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
