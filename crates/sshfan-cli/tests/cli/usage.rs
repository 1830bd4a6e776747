//! No surprises for pdsh, clush and pssh users: a mistyped option is a usage error that
//! never reaches a host, stdin is broadcast to every host, and a local mistake is
//! reported once before any host is touched (asserted on the fleet's side: no
//! connection was made).

use std::io::Write;
use std::process::{Command, Output, Stdio};

use sshfan_testkit::Fleet;

use crate::util::{sshfan, sshfan_subcommand, text};

fn nothing_reached(fleet: &Fleet) {
    let connections: usize = (0..fleet.len()).map(|i| fleet.connections(i)).sum();
    assert_eq!(connections, 0, "a host was contacted");
}

fn run(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_options_are_usage_errors_that_reach_no_host() {
    let fleet = Fleet::start(2).await.unwrap();
    let hosts = fleet.host_specs().join(",");
    let cases: [&[&str]; 4] = [
        &["-w", &hosts, "--fanuot", "3", "true"],
        &["--fanuot", "3", "-w", &hosts, "--", "true"],
        &["-w", &hosts, "-P", "--", "echo", "ok"],
        &["-w", &hosts, "--diff-typo", "--", "true"],
    ];
    for args in cases {
        let out = run(sshfan(&fleet).args(args));
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("unexpected argument"),
            "{}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty());
    }
    let out = run(sshfan(&fleet).args(["-w", &hosts, "--fanuot", "3", "true"]));
    assert!(
        text(&out.stderr).contains("--fanout"),
        "a suggestion: {}",
        text(&out.stderr)
    );
    nothing_reached(&fleet);
}

#[tokio::test(flavor = "multi_thread")]
async fn command_words_that_look_like_subcommands_are_refused() {
    let fleet = Fleet::start(1).await.unwrap();
    let out = run(sshfan(&fleet).args(["nodest", "-e", "n[1-3]"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unrecognized subcommand `nodest` (did you mean `nodeset`?)"),
        "{}",
        text(&out.stderr)
    );
    let host = fleet.host_specs()[0].clone();
    let out = run(sshfan(&fleet).args(["-w", &host, "cp", "app.conf", "/tmp"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`cp` is an sshfan subcommand"),
        "{}",
        text(&out.stderr)
    );
    nothing_reached(&fleet);
    // With `--`, the remote cp it is.
    let out = run(sshfan(&fleet).args(["-w", &host, "-N", "--", "echo", "cp"]));
    assert_eq!(text(&out.stdout), "cp\n", "{}", text(&out.stderr));
}

/// Stdin that is not a terminal is read once and sent to every host (clush, `pssh -I`);
/// `-n` sends nothing.
#[tokio::test(flavor = "multi_thread")]
async fn stdin_is_broadcast_to_every_host_unless_n() {
    let fleet = Fleet::start(500).await.unwrap();
    let hosts = fleet.host_specs().join(",");
    let script = "line one\nline two\n";
    for (extra, expected) in [(None, 2 * 500), (Some("-n"), 0)] {
        let mut child = sshfan(&fleet)
            .args(["-w", &hosts])
            .args(extra)
            .args(["--", "cat"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let lines: Vec<_> = text(&out.stdout).lines().map(str::to_owned).collect();
        assert_eq!(lines.len(), expected, "{extra:?}");
        assert!(
            lines
                .iter()
                .all(|l| l.ends_with(": line one") || l.ends_with(": line two"))
        );
    }
}

/// Local mistakes: one message, exit 2, no host contacted.
#[tokio::test(flavor = "multi_thread")]
async fn local_mistakes_are_reported_once_before_any_host() {
    let fleet = Fleet::start(50).await.unwrap();
    let hosts = fleet.host_specs().join(",");
    let dir = tempfile::tempdir().unwrap();
    let encrypted = dir.path().join("id_encrypted");
    sshfan_testkit::keys::write_private_key(&encrypted, fleet.client_key(), Some("right")).unwrap();
    let askpass = dir.path().join("askpass");
    std::fs::write(&askpass, "#!/bin/sh\necho wrong\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let missing = dir.path().join("missing");
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, "").unwrap();
    let cases: Vec<(Command, &str)> = vec![
        (
            {
                let mut c = sshfan(&fleet);
                c.args(["-w", &hosts, "-i"])
                    .arg(&missing)
                    .args(["--", "true"]);
                c
            },
            "cannot read it",
        ),
        (
            {
                let mut c = sshfan(&fleet);
                c.args(["-w", &hosts, "-i"])
                    .arg(&encrypted)
                    .args(["--", "true"]);
                c.env_remove("SSHFAN_ASKPASS");
                c
            },
            "give it with -A",
        ),
        (
            {
                let mut c = sshfan(&fleet);
                c.args(["-w", &hosts, "-A", "-i"])
                    .arg(&encrypted)
                    .args(["--", "true"])
                    .env("SSHFAN_ASKPASS", &askpass);
                c
            },
            "wrong passphrase",
        ),
        (
            {
                let mut c = sshfan_subcommand(&fleet, Some("cp"));
                c.args(["-w", &hosts]).arg(&missing).arg("/tmp");
                c
            },
            "cannot read",
        ),
        (
            {
                let mut c = sshfan_subcommand(&fleet, Some("cp"));
                c.args(["-w", &hosts]).arg(dir.path()).arg("/tmp");
                c
            },
            "copy it with -r",
        ),
        (
            {
                let mut c = sshfan(&fleet);
                c.args(["-w", &hosts, "--outdir"])
                    .arg(not_a_dir.join("sub"))
                    .args(["--", "true"]);
                c
            },
            "cannot create",
        ),
    ];
    for (mut command, expected) in cases {
        let out = run(&mut command);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{expected}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "once: {stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        nothing_reached(&fleet);
    }
}

/// Unknown host keys end with one line saying how to proceed; accept-new says what it
/// recorded.
#[tokio::test(flavor = "multi_thread")]
async fn host_key_hints_say_how_to_proceed() {
    let fleet = Fleet::start(3).await.unwrap();
    let hosts = fleet.host_specs().join(",");
    let empty = fleet.dir().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    // The fleet's user and key, and only the empty known_hosts file.
    let bare = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sshfan"));
        command
            .args(["-l", sshfan_testkit::FLEET_USER, "-i"])
            .arg(fleet.client_key_path())
            .arg("--known-hosts")
            .arg(&empty)
            .env("SSH_AUTH_SOCK", "/nonexistent")
            .env("HOME", fleet.dir());
        command
    };
    let out = run(bare().args(["-w", &hosts, "--", "true"]));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr.contains("3 hosts have host keys not in known_hosts")
            && stderr.contains("--strict-host-key-checking accept-new"),
        "{stderr}"
    );
    let out = run(bare().args([
        "-w",
        &hosts,
        "--strict-host-key-checking",
        "accept-new",
        "--",
        "true",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("added 3 host keys to {}", empty.display())),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pick_runs_on_that_many_hosts_completions_and_man_are_generated() {
    let fleet = Fleet::start(10).await.unwrap();
    let out = run(sshfan(&fleet).args([
        "-w",
        &fleet.host_specs().join(","),
        "--pick",
        "3",
        "-N",
        "--",
        "hostname",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut names: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    names.dedup();
    assert_eq!(names.len(), 3);
    let ran: usize = (0..10).map(|i| fleet.execs(i)).sum();
    assert_eq!(ran, 3);
    for shell in ["bash", "zsh", "fish"] {
        let out = run(Command::new(env!("CARGO_BIN_EXE_sshfan")).args(["completions", shell]));
        assert_eq!(out.status.code(), Some(0));
        assert!(text(&out.stdout).contains("fanout"), "{shell}");
    }
    let out = run(Command::new(env!("CARGO_BIN_EXE_sshfan")).arg("man"));
    assert!(text(&out.stdout).starts_with(".ie") || text(&out.stdout).contains(".TH sshfan"));
}

/// `-o Key=Value` as in ssh and pdsh: it applies to every host and wins over ssh_config;
/// a keyword sshfan does not act on is one usage error naming it, before any host.
#[tokio::test(flavor = "multi_thread")]
async fn ssh_options_apply_to_every_host_and_unknown_keywords_are_refused() {
    let fleet = Fleet::start(1).await.unwrap();
    let port = fleet.port().unwrap();
    // ssh_config sends the host elsewhere; -o wins.
    let config = fleet.dir().join("ssh_config_wrong_port");
    std::fs::write(&config, "Host *\n  Port 9\n  ConnectTimeout 1\n").unwrap();
    for bad in ["SendEnv=LANG", "Port=none", "ConectTimeout=3"] {
        let out = run(sshfan(&fleet).args(["-w", "127.0.0.1", "-o", bad, "--", "true"]));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        let keyword = bad.split('=').next().unwrap();
        assert!(stderr.contains(keyword), "{bad}: {stderr}");
    }
    nothing_reached(&fleet);
    let out = run(sshfan(&fleet)
        .arg("-F")
        .arg(&config)
        .args(["-w", "127.0.0.1", "-o"])
        .arg(format!("Port={port}"))
        .args(["-o", "ConnectTimeout 5", "--", "echo", "ok"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "127.0.0.1: ok\n");
    assert_eq!(fleet.connections(0), 1);
}
