//! `sshfan cp` and `sshfan get`, SFTP and SCP.

use std::time::{Duration, Instant};

use sshfan_testkit::{Fault, Fleet, SftpTrick};

use crate::util::{sshfan_subcommand, text};

#[tokio::test(flavor = "multi_thread")]
async fn cp_and_get_over_sftp_and_scp() {
    for scp in [false, true] {
        let fleet = Fleet::builder(3).real_shell(scp).start().await.unwrap();
        let hosts = fleet.host_specs().join(",");
        let a = fleet.dir().join("a.txt");
        let tree = fleet.dir().join("conf");
        std::fs::write(&a, "alpha\n").unwrap();
        std::fs::create_dir_all(tree.join("d")).unwrap();
        std::fs::write(tree.join("d/x"), "x\n").unwrap();
        let protocol: &[&str] = if scp { &["--scp"] } else { &[] };

        let out = sshfan_subcommand(&fleet, Some("cp"))
            .args(["-w", &hosts, "-r", "--mkdir", "--summary"])
            .args(protocol)
            .arg(&a)
            .arg(&tree)
            .arg("srv") // relative: the fleet's real scp works in the host's own directory
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "scp {scp}: {}",
            text(&out.stderr)
        );
        // One run (and summary) per source: a.txt, then the tree, on 3 hosts each.
        assert_eq!(
            text(&out.stderr).matches("sshfan: copied 3 files").count(),
            2,
            "{}",
            text(&out.stderr)
        );
        for index in 0..3 {
            let root = fleet.host_root(index);

            assert_eq!(
                std::fs::read_to_string(root.join("srv/a.txt")).unwrap(),
                "alpha\n"
            );
            assert_eq!(
                std::fs::read_to_string(root.join("srv/conf/d/x")).unwrap(),
                "x\n"
            );
        }

        let local = fleet.dir().join("fetched");
        std::fs::create_dir(&local).unwrap();
        let out = sshfan_subcommand(&fleet, Some("get"))
            .args(["-w", &hosts])
            .args(protocol)
            .args(["srv/a.txt"])
            .arg(&local)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "scp {scp}: {}",
            text(&out.stderr)
        );
        for spec in fleet.host_specs() {
            assert_eq!(
                std::fs::read_to_string(local.join(format!("a.txt.{spec}"))).unwrap(),
                "alpha\n"
            );
        }

        let out = sshfan_subcommand(&fleet, Some("cp"))
            .args(["-w", &hosts])
            .args(protocol)
            .args(["/nonexistent/file", "srv"])
            .output()
            .unwrap();
        // A local mistake: once, exit 2, before any host is touched.
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(
            text(&out.stderr).lines().count(),
            1,
            "{}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("cannot read `/nonexistent/file`"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn cp_needs_sources_and_a_destination() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sshfan"))
        .args(["cp", "-w", "a", "only-one"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("at least one source"));
}

/// pdcp's and scp's rules: one source to a path that is not a directory is a rename;
/// into an existing directory (or `dir/`) it keeps its name, a directory too; a missing
/// destination directory is an error unless `--mkdir`, and nothing is written then.
#[tokio::test(flavor = "multi_thread")]
async fn cp_renames_copies_into_directories_and_creates_them_only_when_asked() {
    for scp in [false, true] {
        let fleet = Fleet::builder(2).real_shell(scp).start().await.unwrap();
        let hosts = fleet.host_specs().join(",");
        let a = fleet.dir().join("a.txt");
        let tree = fleet.dir().join("conf");
        std::fs::write(&a, "alpha\n").unwrap();
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::write(tree.join("x"), "x\n").unwrap();
        for index in 0..2 {
            std::fs::create_dir_all(fleet.host_root(index).join("existing")).unwrap();
        }
        let protocol: &[&str] = if scp { &["--scp"] } else { &[] };
        let cp = |args: &[&std::ffi::OsStr]| {
            sshfan_subcommand(&fleet, Some("cp"))
                .args(["-w", &hosts])
                .args(protocol)
                .args(args)
                .output()
                .unwrap()
        };
        let os = |text: &'static str| std::ffi::OsStr::new(text);
        let ok = |out: &std::process::Output| {
            assert_eq!(
                out.status.code(),
                Some(0),
                "scp {scp}: {}",
                text(&out.stderr)
            );
        };
        ok(&cp(&[a.as_os_str(), os("renamed.txt")]));
        ok(&cp(&[a.as_os_str(), os("existing")]));
        ok(&cp(&[os("-r"), tree.as_os_str(), os("existing")]));
        ok(&cp(&[os("-r"), tree.as_os_str(), os("conf-copy")]));
        ok(&cp(&[
            os("--mkdir"),
            os("-r"),
            a.as_os_str(),
            tree.as_os_str(),
            os("made/deep"),
        ]));
        let missing = cp(&[a.as_os_str(), os("missing/a.txt")]);
        assert_ne!(missing.status.code(), Some(0), "scp {scp}");
        let missing_dir = cp(&[a.as_os_str(), os("missing/")]);
        assert_ne!(missing_dir.status.code(), Some(0), "scp {scp}");
        for index in 0..2 {
            let root = fleet.host_root(index);
            let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap();
            assert_eq!(read("renamed.txt"), "alpha\n", "scp {scp}");
            assert_eq!(read("existing/a.txt"), "alpha\n", "scp {scp}");
            assert_eq!(read("existing/conf/x"), "x\n", "scp {scp}");
            assert_eq!(read("conf-copy/x"), "x\n", "scp {scp}");
            assert_eq!(read("made/deep/a.txt"), "alpha\n", "scp {scp}");
            assert_eq!(read("made/deep/conf/x"), "x\n", "scp {scp}");
            assert!(
                !root.join("missing").exists(),
                "scp {scp}: created without --mkdir"
            );
        }
    }
}

/// `get`: one source to a path that is not a directory saves `PATH.HOST`; several
/// sources need a directory, made only with `--mkdir` (else one usage error, no host).
#[tokio::test(flavor = "multi_thread")]
async fn get_renames_and_needs_a_directory_for_several_sources() {
    let fleet = Fleet::start(2).await.unwrap();
    let hosts = fleet.host_specs().join(",");
    for index in 0..2 {
        std::fs::write(fleet.host_root(index).join("a.txt"), "alpha\n").unwrap();
        std::fs::write(fleet.host_root(index).join("b.txt"), "beta\n").unwrap();
    }
    let get = |args: &[&str]| {
        sshfan_subcommand(&fleet, Some("get"))
            .args(["-w", &hosts])
            .args(args)
            .output()
            .unwrap()
    };
    let local = fleet.dir().join("mine");
    let local = local.to_str().unwrap();
    let out = get(&["a.txt", local]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let several = format!("{local}-dir");
    let out = get(&["a.txt", "b.txt", &several]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--mkdir"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(fleet.connections(0), 1, "a local mistake touches no host");
    let out = get(&["--mkdir", "a.txt", "b.txt", &several]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for spec in fleet.host_specs() {
        assert_eq!(
            std::fs::read_to_string(format!("{local}.{spec}")).unwrap(),
            "alpha\n"
        );
        assert_eq!(
            std::fs::read_to_string(format!("{several}/b.txt.{spec}")).unwrap(),
            "beta\n"
        );
    }
}

/// Ctrl-C during an upload: the temporary file it was writing is removed from the host
/// before sshfan exits, and no complete-looking file is left.
#[tokio::test(flavor = "multi_thread")]
async fn an_upload_interrupted_by_ctrl_c_leaves_no_temporary_file() {
    let fleet = Fleet::builder(1)
        .fault(
            0,
            Fault::HostileSftp(SftpTrick::SlowWrites(Duration::from_millis(500))),
        )
        .start()
        .await
        .unwrap();
    let local = fleet.dir().join("f.bin");
    std::fs::write(&local, vec![7u8; 200 * 1024]).unwrap();
    let child = sshfan_subcommand(&fleet, Some("cp"))
        .args(["-w", &fleet.host_specs()[0]])
        .arg(&local)
        .arg("f.bin")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let root = fleet.host_root(0);
    let temporary = || {
        std::fs::read_dir(&root)
            .unwrap()
            .filter_map(Result::ok)
            .any(|entry| entry.file_name().to_string_lossy().ends_with(".sshfan-tmp"))
    };
    let until = Instant::now() + Duration::from_secs(10);
    while !temporary() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(temporary(), "the upload never started");
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(!temporary(), "the temporary file stayed on the host");
    assert!(!root.join("f.bin").exists());
}
