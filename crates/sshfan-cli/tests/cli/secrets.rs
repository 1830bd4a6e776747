//! `-A` (ask for a password) and `--sudo`, with the secret supplied through SSHFAN_ASKPASS.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sshfan_testkit::{FLEET_PASSWORD, FLEET_USER, Fleet};

use crate::util::text;

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn ask_pass_authenticates_with_the_password() {
    let fleet = Fleet::start(2).await.unwrap();
    let askpass = script(fleet.dir(), "askpass", &format!("echo '{FLEET_PASSWORD}'"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sshfan"))
        .args(["-l", FLEET_USER, "-A", "--known-hosts"])
        .arg(fleet.known_hosts_path())
        .arg("-w")
        .arg(fleet.host_specs().join(","))
        .args(["--", "echo in"])
        .env("SSHFAN_ASKPASS", &askpass)
        .env("SSH_AUTH_SOCK", "/nonexistent")
        .env("HOME", fleet.dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 2);
    assert!(!text(&out.stderr).contains(FLEET_PASSWORD));
}

/// The fleet runs a real `sh`, with a fake `sudo` first on its PATH: like sudo, it prints
/// its `-p` prompt, checks the password read from stdin and runs the rest of its
/// arguments. (No real sudo or root needed.)
#[tokio::test(flavor = "multi_thread")]
async fn sudo_feeds_the_password_and_quotes_the_command() {
    let bin = tempfile::tempdir().unwrap();
    script(
        bin.path(),
        "sudo",
        r#"prompt=Password:
while [ $# -gt 0 ]; do case "$1" in -S) shift;; -p) prompt="$2"; shift 2;; --) shift; break;; *) break;; esac; done
printf '%s' "$prompt" >&2
read -r password
[ "$password" = "sudo-secret" ] || { echo "sudo: wrong password" >&2; exit 1; }
exec "$@""#,
    );
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let fleet = Fleet::builder(2)
        .real_shell(true)
        .shell_env("PATH", path)
        .start()
        .await
        .unwrap();
    let askpass = script(fleet.dir(), "askpass", "echo sudo-secret");
    // Quotes, $, backslashes and a newline must reach the shell verbatim.
    let tricky = "printf '%s|' \"it's\" '$HOME' 'back\\slash' \"two\nlines\"";
    let out = crate::util::sshfan(&fleet)
        .arg("-w")
        .arg(fleet.host_specs().join(","))
        .args(["--sudo", "-N", "--", tricky])
        .env("SSHFAN_ASKPASS", &askpass)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Two hosts, two lines each (the newline was inside the quoted argument): lines of
    // different hosts may interleave, so compare them sorted.
    let mut lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    lines.sort();
    let first = "it's|$HOME|back\\slash|two";
    assert_eq!(lines, [first, first, "lines|", "lines|"]);

    let wrong = script(fleet.dir(), "wrong", "echo nope");
    let out = crate::util::sshfan(&fleet)
        .arg("-w")
        .arg(fleet.host_specs().join(","))
        .args(["--sudo", "--", "true"])
        .env("SSHFAN_ASKPASS", &wrong)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("sudo: wrong password"));
    assert!(!text(&out.stderr).contains("nope"));
}
