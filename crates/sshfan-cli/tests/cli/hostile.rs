//! Hostile hosts seen from the command line: output that tries to drive the terminal is
//! shown escaped there and byte-exact elsewhere; a flooding host and a 1 GiB download keep
//! the client's memory bounded; `get /` never writes at the filesystem root.

use std::process::{Command, Stdio};

use sshfan_testkit::Fleet;

use crate::util::{sshfan, sshfan_subcommand, text};

/// Escape sequences a host might send: clipboard (OSC 52), screen clear, a cursor
/// report request, and a `\r` that would overwrite the `host:` prefix.
const NASTY: &str = "raw 1b 5d 35 32 3b 63 3b 63 48 64 75 0a 1b 5b 32 4a 1b 5b 36 6e 0a 66 61 6b 65 0d 77 65 62 39 3a 20 6f 6b 0a";

fn command_line(fleet: &Fleet, extra: &[&str]) -> Vec<String> {
    let command = sshfan(fleet);
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    words.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.extend(["-w".to_owned(), fleet.host_specs()[0].clone()]);
    words.extend(extra.iter().map(|s| (*s).to_owned()));
    words.extend(["--".to_owned(), NASTY.to_owned()]);
    words
}

/// Runs `words` on a pseudo-terminal (`script`), returning what the terminal received.
fn on_a_terminal(fleet: &Fleet, words: &[String]) -> Option<Vec<u8>> {
    let quoted: Vec<String> = words.iter().map(|w| sshfan::command::quote(w)).collect();
    let output = Command::new("script")
        .args(["-qec", &quoted.join(" "), "/dev/null"])
        .env("HOME", fleet.dir())
        .env("SSH_AUTH_SOCK", "/nonexistent")
        .env("SSHFAN_CONNECT_TIMEOUT", "5")
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("no `script` ({err}): apt-get install util-linux"));
    sshfan_testkit::require("terminal escapes", output).map(|output| output.stdout)
}

#[tokio::test(flavor = "multi_thread")]
async fn escape_sequences_are_shown_escaped_on_a_terminal_and_exact_in_pipes() {
    let fleet = Fleet::start(1).await.unwrap();
    let host = fleet.host_specs()[0].clone();
    if let Some(screen) = on_a_terminal(&fleet, &command_line(&fleet, &["--color", "never"])) {
        let screen = text(&screen);
        assert!(!screen.contains('\u{1b}'), "{screen:?}");
        assert!(
            screen.contains(&format!("{host}: ^[]52;c;cHdu")),
            "{screen:?}"
        );
        assert!(screen.contains("^[[2J^[[6n"), "{screen:?}");
        assert!(screen.contains("fake^Mweb9: ok"), "{screen:?}");
        // --raw: as sent.
        let raw = on_a_terminal(
            &fleet,
            &command_line(&fleet, &["--color", "never", "--raw"]),
        )
        .unwrap();
        assert!(text(&raw).contains("\u{1b}[2J"), "{:?}", text(&raw));
    }
    // A pipe and --outdir get the bytes exactly.
    let outdir = tempfile::tempdir().unwrap();
    let out = sshfan(&fleet)
        .args(["-w", &host, "-N", "--outdir"])
        .arg(outdir.path())
        .args(["--", NASTY])
        .output()
        .unwrap();
    let exact = b"\x1b]52;c;cHdu\n\x1b[2J\x1b[6n\nfake\rweb9: ok\n";
    assert_eq!(out.stdout, exact);
    let written = std::fs::read_dir(outdir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(std::fs::read(written).unwrap(), exact);
}

/// A child's peak resident memory, in KiB, from `wait4`.
fn run_measured(mut command: Command) -> (std::process::ExitStatus, u64) {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = std::process::Command::new("sh")
        .arg("-c")
        // Poll the child's VmHWM until it exits (std has no wait4).
        .arg(format!(
            "peak=0; while [ -e /proc/{pid}/status ]; do \
               v=$(awk '/VmHWM/ {{print $2}}' /proc/{pid}/status 2>/dev/null); \
               [ -n \"$v\" ] && [ \"$v\" -gt \"$peak\" ] && peak=$v; \
               grep -q '^State:.*Z' /proc/{pid}/status 2>/dev/null && break; \
               sleep 0.05; done; echo $peak"
        ))
        .output()
        .unwrap();
    let mut child = child;
    let status = child.wait().unwrap();
    let peak = text(&output.stdout).trim().parse().unwrap_or(0);
    (status, peak)
}

/// One host printing 300 MB without a newline, beside 20 healthy hosts, to a pipe: the
/// healthy output arrives complete and the client's memory stays bounded.
#[tokio::test(flavor = "multi_thread")]
async fn a_flooding_host_keeps_client_memory_bounded() {
    let fleet = Fleet::start(21).await.unwrap();
    let hosts = fleet.host_specs();
    let mut command = sshfan(&fleet);
    command.args(["-w", &hosts[0], "--", "bytes 300000000"]);
    let (status, peak_kib) = run_measured(command);
    assert!(status.success());
    assert!(peak_kib < 200 * 1024, "peak RSS {peak_kib} KiB");
    // Healthy hosts beside it: complete.
    let out = sshfan(&fleet)
        .arg("-w")
        .arg(hosts.join(","))
        .args(["--", "seq 3"])
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout).lines().count(), 21 * 3);
}

/// A 1 GiB download keeps the client under 64 MiB of resident memory (it streams).
#[tokio::test(flavor = "multi_thread")]
async fn a_1_gib_download_streams_in_bounded_memory() {
    let fleet = Fleet::start(1).await.unwrap();
    let big = fleet.host_root(0).join("big.bin");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut command = sshfan_subcommand(&fleet, Some("get"));
    command
        .args(["-w", &fleet.host_specs()[0], "big.bin"])
        .arg(out.path());
    let (status, peak_kib) = run_measured(command);
    assert!(status.success());
    let written = std::fs::read_dir(out.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(written.metadata().unwrap().len(), 1 << 30);
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB");
}

/// `get /` (a path without a base name) saves under a safe name inside the destination,
/// never at the filesystem root.
#[tokio::test(flavor = "multi_thread")]
async fn get_of_a_path_without_a_name_stays_in_the_destination() {
    let fleet = Fleet::start(1).await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let host = fleet.host_specs()[0].clone();
    let result = sshfan_subcommand(&fleet, Some("get"))
        .args(["-w", &host, "-r", "/"])
        .arg(out.path())
        .output()
        .unwrap();
    let stray = format!("/.{host}");
    assert!(
        !std::path::Path::new(&stray).exists(),
        "{}",
        text(&result.stderr)
    );
    let names: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [format!("download.{host}")],
        "{}",
        text(&result.stderr)
    );
}

/// Sizes a hostile server announces (2^64-1 and 1 TiB over SFTP) fail that host at once,
/// beside 20 healthy hosts whose files arrive; the client process lives on, prints its
/// summary, and stays small (no allocation is sized by the server).
#[tokio::test(flavor = "multi_thread")]
async fn announced_sizes_fail_one_host_in_bounded_memory() {
    use sshfan_testkit::{Fault, SftpTrick};
    for size in [u64::MAX, 1 << 40] {
        let fleet = Fleet::builder(21)
            .fault(0, Fault::HostileSftp(SftpTrick::Size(size)))
            .start()
            .await
            .unwrap();
        for index in 0..21 {
            std::fs::write(fleet.host_root(index).join("f.txt"), "data\n").unwrap();
        }
        let out = tempfile::tempdir().unwrap();
        let mut command = sshfan_subcommand(&fleet, Some("get"));
        command
            .arg("-w")
            .arg(fleet.host_specs().join(","))
            .arg("f.txt")
            .arg(out.path());
        let (status, peak_kib) = run_measured(command);
        assert_eq!(status.code(), Some(3), "{size}");
        assert!(peak_kib < 64 * 1024, "{size}: peak RSS {peak_kib} KiB");
        let received = std::fs::read_dir(out.path()).unwrap().count();
        assert_eq!(received, 20, "{size}");
    }
}

/// 4 MiB lines while nobody reads sshfan's stdout: the writer blocks, and every queue
/// before it is bounded in bytes, so the client's memory stays bounded (it reached 9 GB
/// before), and the host is slowed down by flow control instead.
#[tokio::test(flavor = "multi_thread")]
async fn long_lines_into_an_unread_stdout_keep_memory_bounded() {
    let fleet = Fleet::start(3).await.unwrap();
    let command = (0..100)
        .map(|_| "line 4194304")
        .collect::<Vec<_>>()
        .join("; ");
    let mut child = sshfan(&fleet)
        .arg("-w")
        .arg(fleet.host_specs().join(","))
        .args(["--", &command])
        .stdin(Stdio::null())
        .stdout(Stdio::piped()) // never read
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let text = std::fs::read_to_string(&status).unwrap_or_default();
        if let Some(kib) = text
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        {
            peak_kib = peak_kib.max(kib);
        }
    }
    child.kill().unwrap();
    let _ = child.wait();
    assert!(peak_kib > 0, "the client was measured");
    assert!(peak_kib < 256 * 1024, "peak RSS {peak_kib} KiB");
}
