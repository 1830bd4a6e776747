//! File transfer over SFTP and SCP against the testkit fleet (each fleet host has its own
//! root directory; the fleet's SCP is the real `scp` run by its real shell).
//! Real-sshd counterparts are in `interop`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use sshfan::copy::{CopyOptions, DownloadLayout, Protocol};
use sshfan_testkit::{Fault, Fleet};

use crate::util::collect;

fn sha256(path: &Path) -> String {
    let output = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A file of `size` pseudo-random bytes.
fn random_file(path: &Path, size: usize) {
    std::fs::write(path, sshfan_testkit::data::pseudo_random(size)).unwrap();
}

async fn fleet_for(protocol: Protocol, hosts: usize) -> Fleet {
    // SCP needs a real `scp` on the host side: the fleet's real shell provides it.
    Fleet::builder(hosts)
        .real_shell(protocol == Protocol::Scp)
        .start()
        .await
        .unwrap()
}

fn options(protocol: Protocol) -> CopyOptions {
    CopyOptions::new().protocol(protocol)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_empty_and_100mb_files_arrive_intact_on_every_host() {
    for protocol in [Protocol::Sftp, Protocol::Scp] {
        let fleet = fleet_for(protocol, 3).await;
        let client = fleet.client().build().unwrap();
        let local = fleet.dir().join("big.bin");
        random_file(&local, 100 * 1024 * 1024);
        let empty = fleet.dir().join("empty");
        std::fs::write(&empty, "").unwrap();
        for (source, remote) in [(&local, "srv/data/big.bin"), (&empty, "srv/empty")] {
            let run = client.upload(source, remote, options(protocol));
            run.join(None).await.unwrap();
            let size = std::fs::metadata(source).unwrap().len();
            assert_eq!(
                run.joiner().progress().bytes,
                3 * size,
                "{protocol:?}: bytes counted for progress"
            );
            for host in run.outputs() {
                let report = host.copy_report().expect("a report per host");
                assert_eq!((report.files, report.bytes), (1, size));
            }
            let hosts = collect(run).await;
            for (index, host) in hosts.iter().enumerate() {
                assert!(
                    host.outcome.is_ok(),
                    "{protocol:?} {}: {:?}",
                    host.label,
                    host.outcome
                );
                let arrived = fleet.host_root(index).join(remote);
                assert_eq!(
                    sha256(&arrived),
                    sha256(source),
                    "{protocol:?} host{index} {remote}"
                );
            }
        }
    }
}

#[tokio::test]
async fn trees_keep_structure_and_modes() {
    let local = tempfile::tempdir().unwrap();
    let tree = local.path().join("app");
    std::fs::create_dir_all(tree.join("bin")).unwrap();
    std::fs::create_dir_all(tree.join("etc/conf.d")).unwrap();
    std::fs::write(tree.join("bin/run"), "#!/bin/sh\necho run\n").unwrap();
    std::fs::set_permissions(tree.join("bin/run"), std::fs::Permissions::from_mode(0o750)).unwrap();
    // An old mtime, so that keeping it is visible.
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(tree.join("bin/run"))
        .unwrap()
        .set_times(
            std::fs::FileTimes::new()
                .set_modified(old)
                .set_accessed(old),
        )
        .unwrap();
    std::fs::write(tree.join("etc/conf.d/a.conf"), "a=1\n").unwrap();
    std::fs::set_permissions(
        tree.join("etc/conf.d/a.conf"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    for protocol in [Protocol::Sftp, Protocol::Scp] {
        let fleet = fleet_for(protocol, 2).await;
        let client = fleet.client().build().unwrap();
        let run = client.upload(
            &tree,
            "opt/app",
            options(protocol).recursive(true).preserve(true),
        );
        for host in collect(run).await {
            assert!(host.outcome.is_ok(), "{protocol:?}: {:?}", host.outcome);
        }
        let whole_seconds = |path: &Path| {
            std::fs::metadata(path)
                .unwrap()
                .modified()
                .unwrap()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        };
        for index in 0..2 {
            let root = fleet.host_root(index).join("opt/app");
            assert_eq!(
                whole_seconds(&root.join("bin/run")),
                whole_seconds(&tree.join("bin/run")),
                "{protocol:?}: mtime kept"
            );
            let mode = |p: &str| {
                std::fs::metadata(root.join(p))
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o777
            };
            assert_eq!(
                std::fs::read_to_string(root.join("bin/run")).unwrap(),
                "#!/bin/sh\necho run\n"
            );
            assert_eq!(mode("bin/run"), 0o750, "{protocol:?}");
            assert_eq!(mode("etc/conf.d/a.conf"), 0o640, "{protocol:?}");
        }
        // And back: a tree per host, named after the host.
        let back = local.path().join(format!("back-{protocol:?}"));
        let run = client.download(
            "opt/app",
            &back,
            options(protocol).recursive(true).preserve(true),
        );
        let hosts = collect(run).await;
        for host in &hosts {
            assert!(host.outcome.is_ok(), "{protocol:?}: {:?}", host.outcome);
            let copy = Path::new(&format!("{}_{}", back.display(), host.label)).to_owned();
            assert_eq!(
                std::fs::read_to_string(copy.join("etc/conf.d/a.conf")).unwrap(),
                "a=1\n"
            );
            assert_eq!(
                std::fs::metadata(copy.join("bin/run"))
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o777,
                0o750
            );
        }
    }
}

#[tokio::test]
async fn downloads_are_named_per_host() {
    for protocol in [Protocol::Sftp, Protocol::Scp] {
        let fleet = fleet_for(protocol, 3).await;
        for index in 0..3 {
            std::fs::create_dir_all(fleet.host_root(index).join("var/log")).unwrap();
            std::fs::write(
                fleet.host_root(index).join("var/log/app.log"),
                format!("log of host{index}\n"),
            )
            .unwrap();
        }
        let client = fleet.client().build().unwrap();
        let out = fleet.dir().join("logs");
        std::fs::create_dir(&out).unwrap();
        let run = client.download("var/log/app.log", out.join("app.log"), options(protocol));
        let hosts = collect(run).await;
        for (index, host) in hosts.iter().enumerate() {
            let report = host.outcome.as_ref().map(|_| ()).map_err(|e| e.to_string());
            assert!(report.is_ok(), "{protocol:?}: {report:?}");
            let path = out.join(format!("app.log_{}", host.label));
            assert_eq!(
                std::fs::read_to_string(path).unwrap(),
                format!("log of host{index}\n")
            );
        }
        let per_dir = fleet.dir().join("per-host");
        let run = client.download(
            "var/log/app.log",
            &per_dir,
            options(protocol).layout(DownloadLayout::PerHostDir),
        );
        let hosts = collect(run).await;
        for (index, host) in hosts.iter().enumerate() {
            let path = per_dir.join(&host.label).join("app.log");
            assert_eq!(
                std::fs::read_to_string(path).unwrap(),
                format!("log of host{index}\n"),
                "{protocol:?}"
            );
        }
    }
}

#[tokio::test]
async fn transfer_errors_are_clear_per_host() {
    for protocol in [Protocol::Sftp, Protocol::Scp] {
        let fleet = fleet_for(protocol, 2).await;
        let client = fleet.client().build().unwrap();
        // A missing local file fails every host, naming the file.
        let hosts = collect(client.upload("/nonexistent/file", "x", options(protocol))).await;
        for host in &hosts {
            let text = host.outcome.as_ref().unwrap_err().to_string();
            assert!(
                text.contains("/nonexistent/file") && text.contains("cannot read"),
                "{text}"
            );
        }
        // A missing remote file.
        let hosts =
            collect(client.download("no/such/file", fleet.dir().join("x"), options(protocol)))
                .await;
        for host in &hosts {
            assert_eq!(
                host.error_code(),
                "transfer",
                "{protocol:?} {:?}",
                host.outcome
            );
            let text = host.outcome.as_ref().unwrap_err().to_string();
            assert!(text.contains("no/such/file"), "{text}");
        }
        // A directory where a file is wanted, without recursion.
        std::fs::create_dir_all(fleet.host_root(0).join("adir")).unwrap();
        std::fs::create_dir_all(fleet.host_root(1).join("adir")).unwrap();
        let hosts =
            collect(client.download("adir", fleet.dir().join("y"), options(protocol))).await;
        for host in &hosts {
            assert_eq!(
                host.error_code(),
                "transfer",
                "{protocol:?} {:?}",
                host.outcome
            );
        }
    }
    // A file to a directory (existing, or a path ending in `/`) goes into it under its
    // own name, both ways and over both protocols, as parallel-ssh's copies do.
    for protocol in [Protocol::Sftp, Protocol::Scp] {
        let fleet = fleet_for(protocol, 1).await;
        std::fs::create_dir_all(fleet.host_root(0).join("target")).unwrap();
        let local = fleet.dir().join("f");
        std::fs::write(&local, "x").unwrap();
        let client = fleet.client().build().unwrap();
        for remote in ["target", "target/", "fresh/"] {
            let hosts = collect(client.upload(&local, remote, options(protocol))).await;
            assert!(
                hosts[0].outcome.is_ok(),
                "{protocol:?} {remote}: {:?}",
                hosts[0].outcome
            );
            let written = fleet
                .host_root(0)
                .join(remote.trim_end_matches('/'))
                .join("f");
            assert_eq!(
                std::fs::read_to_string(&written).unwrap(),
                "x",
                "{protocol:?} {remote}"
            );
        }
        let into = fleet.dir().join("into");
        std::fs::create_dir_all(&into).unwrap();
        let exact = options(protocol).layout(DownloadLayout::Exact);
        let hosts = collect(client.download("target/f", &into, exact)).await;
        assert!(
            hosts[0].outcome.is_ok(),
            "{protocol:?}: {:?}",
            hosts[0].outcome
        );
        assert_eq!(std::fs::read_to_string(into.join("f")).unwrap(), "x");
    }
    let fleet = fleet_for(Protocol::Sftp, 1).await;
    let local = fleet.dir().join("f");
    std::fs::write(&local, "x").unwrap();
    let client = fleet.client().build().unwrap();
    // Overwrite off: an existing file is kept.
    std::fs::write(fleet.host_root(0).join("keep"), "old").unwrap();
    let hosts = collect(client.upload(&local, "keep", CopyOptions::new().overwrite(false))).await;
    assert!(
        hosts[0]
            .outcome
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("already exists")
    );
    assert_eq!(
        std::fs::read_to_string(fleet.host_root(0).join("keep")).unwrap(),
        "old"
    );
}

#[tokio::test]
async fn a_connection_lost_mid_file_leaves_no_complete_looking_file() {
    for protocol in [Protocol::Sftp, Protocol::Scp] {
        let fleet = Fleet::builder(2)
            .real_shell(protocol == Protocol::Scp)
            .fault(
                1,
                Fault::DropMidUpload {
                    after_bytes: 2 * 1024 * 1024,
                },
            )
            .start()
            .await
            .unwrap();
        let local = fleet.dir().join("ten.bin");
        random_file(&local, 10 * 1024 * 1024);
        let client = fleet.client().build().unwrap();
        let hosts = collect(client.upload(&local, "dst/ten.bin", options(protocol))).await;
        assert!(
            hosts[0].outcome.is_ok(),
            "{protocol:?}: {:?}",
            hosts[0].outcome
        );
        assert_eq!(
            sha256(&fleet.host_root(0).join("dst/ten.bin")),
            sha256(&local)
        );
        let err = hosts[1].outcome.as_ref().unwrap_err();
        assert!(
            ["connection_lost", "transfer", "channel"].contains(&err.kind().code()),
            "{protocol:?}: {err:?}"
        );
        let partial = fleet.host_root(1).join("dst/ten.bin");
        if protocol == Protocol::Sftp {
            assert!(
                !partial.exists(),
                "the final name appears only once the file is complete"
            );
        } else if partial.exists() {
            // scp writes in place: the size shows the file is incomplete.
            assert!(std::fs::metadata(&partial).unwrap().len() < 10 * 1024 * 1024);
        }
    }
}

/// A server without SFTP refuses the subsystem: the copy fails at once saying so (and
/// how to copy anyway), instead of waiting out the idle timeout.
#[tokio::test]
async fn a_server_without_sftp_fails_at_once_with_a_hint() {
    let fleet = Fleet::builder(2)
        .fault(0, Fault::NoSftp)
        .start()
        .await
        .unwrap();
    std::fs::write(fleet.host_root(1).join("f"), "x").unwrap();
    let client = fleet.client().build().unwrap();
    let out = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let hosts = collect(client.download("f", out.path().join("f"), CopyOptions::new())).await;
    let message = hosts[0].outcome.as_ref().unwrap_err().to_string();
    assert!(
        message.contains("no SFTP subsystem") && message.contains("--scp"),
        "{message}"
    );
    assert!(hosts[1].outcome.is_ok(), "{:?}", hosts[1].outcome);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
