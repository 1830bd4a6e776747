//! ClusterShell's node groups: `@group` in expressions, `-g`, `-X`, `-a`, and `nodeset`
//! listing them, from a `groups.conf` with a YAML autodir and an upcall source.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use sshfan_testkit::Fleet;

use crate::util::{sorted_lines, sshfan, text};

/// A ClusterShell configuration directory: `roles` (YAML, the default source) with
/// `web` (hosts 0-1), `db` (host 2) and `both`; `local` resolved by shell upcalls over a
/// flat `groups` file, as ClusterShell's own example does.
fn write_config(dir: &Path, hosts: &[String]) {
    std::fs::create_dir_all(dir.join("groups.d")).unwrap();
    std::fs::write(
        dir.join("groups.conf"),
        "[Main]\ndefault: roles\nautodir: $CFGDIR/groups.d\n\n[local]\n\
         map: sed -n \"s/^$GROUP: *//p\" $CFGDIR/groups\n\
         list: sed -n 's/^\\([a-z]*\\):.*/\\1/p' $CFGDIR/groups\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("groups.d/cluster.yaml"),
        format!(
            "roles:\n    web: '{},{}'   # front ends\n    db:\n        - '{}'\n    both: '@web,@db'\n",
            hosts[0], hosts[1], hosts[2]
        ),
    )
    .unwrap();
    std::fs::write(dir.join("groups"), format!("db: {}\n", hosts[2])).unwrap();
}

fn with_groups(fleet: &Fleet, dir: &Path) -> Command {
    let mut command = sshfan(fleet);
    command.env("CLUSTERSHELL_CFGDIR", dir).stdin(Stdio::null());
    command
}

fn ran_on(out: &Output) -> Vec<String> {
    sorted_lines(&out.stdout)
        .into_iter()
        .map(|line| line.trim_end_matches(": ok").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn groups_select_hosts_in_expressions_and_flags() {
    let fleet = Fleet::start(3).await.unwrap();
    let hosts = fleet.host_specs();
    let dir = fleet.dir().join("clustershell");
    write_config(&dir, &hosts);
    let run = |args: &[&str]| {
        with_groups(&fleet, &dir)
            .args(args)
            .args(["--", "echo ok"])
            .output()
            .unwrap()
    };
    let sorted = |indexes: &[usize]| {
        let mut names: Vec<String> = indexes.iter().map(|&i| hosts[i].clone()).collect();
        names.sort();
        names
    };
    let out = run(&["-w", "@web"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(ran_on(&out), sorted(&[0, 1]));
    assert_eq!(ran_on(&run(&["-g", "web,db"])), sorted(&[0, 1, 2]));
    assert_eq!(ran_on(&run(&["-a", "-X", "db"])), sorted(&[0, 1]));
    assert_eq!(ran_on(&run(&["-w", "@both!@roles:web"])), sorted(&[2]));
    assert_eq!(ran_on(&run(&["-w", "@local:db"])), sorted(&[2]));
    let connections: usize = (0..3).map(|i| fleet.connections(i)).sum();

    // A group that does not exist: one usage error naming it, no host contacted.
    let out = run(&["-w", "@nosuch"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("unknown node group `@roles:nosuch`"),
        "{stderr}"
    );
    assert!(stderr.contains("web, db, both"), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("sshfan:")).count(),
        1,
        "{stderr}"
    );
    let out = run(&["-g", "web", "-w", "@local:nosuch"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // Without any configuration, a group is an error saying so (not "empty user").
    let out = sshfan(&fleet)
        .env("CLUSTERSHELL_CFGDIR", fleet.dir().join("empty"))
        .env("XDG_CONFIG_HOME", fleet.dir().join("empty"))
        .args(["-w", "@web", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no node groups are configured"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        (0..3).map(|i| fleet.connections(i)).sum::<usize>(),
        connections,
        "a bad group touched a host"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nodeset_lists_and_resolves_groups() {
    let fleet = Fleet::start(3).await.unwrap();
    let hosts = fleet.host_specs();
    let dir = fleet.dir().join("clustershell");
    write_config(&dir, &hosts);
    let nodeset = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_sshfan"))
            .arg("nodeset")
            .args(args)
            .env("CLUSTERSHELL_CFGDIR", &dir)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    };
    assert_eq!(nodeset(&["-l"]), "@web\n@db\n@both\n");
    assert_eq!(nodeset(&["-s", "local", "-l"]), "@local:db\n");
    assert_eq!(nodeset(&["-L"]), "@web\n@db\n@both\n@local:db\n");
    assert_eq!(
        nodeset(&["-ll"]).lines().nth(1),
        Some(format!("@db {}", hosts[2]).as_str())
    );
    assert_eq!(nodeset(&["-c", "@both"]), "3\n");
    assert_eq!(nodeset(&["-c", "-a"]), "3\n");
    assert_eq!(
        nodeset(&["-s", "local", "-e", "@db"]),
        format!("{}\n", hosts[2])
    );

    // Without a groups.conf, `$CLUSTERSHELL_CFGDIR/groups.d` is still read (ClusterShell's
    // default autodir), as a user keeping only YAML files there expects.
    let yaml_only = fleet.dir().join("yaml-only");
    std::fs::create_dir_all(yaml_only.join("groups.d")).unwrap();
    std::fs::write(
        yaml_only.join("groups.d/a.yaml"),
        "racks:\n  r1: 'n[1-3]'\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sshfan"))
        .args(["nodeset", "-f", "@r1"])
        .env("CLUSTERSHELL_CFGDIR", &yaml_only)
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "n[1-3]\n", "{}", text(&out.stderr));
}
