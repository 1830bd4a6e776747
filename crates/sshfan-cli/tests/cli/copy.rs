//! `sshfan cp` and `sshfan get`, SFTP and SCP.

use sshfan_testkit::Fleet;

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
            .args(["-w", &hosts, "-r", "--summary"])
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
