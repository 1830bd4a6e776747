//! Output modes, with the exact text they print.

use serde_json::Value;
use sshfan_testkit::{Fault, Fleet};

use crate::util::{folded, run_all, sorted_lines, text};

#[tokio::test(flavor = "multi_thread")]
async fn gather_groups_identical_output_under_folded_hosts() {
    let fleet = Fleet::start(4).await.unwrap();
    let hosts = fleet.host_specs();
    // host3 prints the same but exits differently: it stays apart.
    let out = run_all(
        &fleet,
        &["-b"],
        "echo same; echo line two; hostname >&2; exit 0",
    );
    let expected = format!(
        "---------------\n{} (4)\n---------------\nsame\nline two\n",
        folded(&hosts)
    );
    assert_eq!(text(&out.stdout), expected);
    assert_eq!(
        sorted_lines(&out.stderr).len(),
        4,
        "stderr is streamed with prefixes"
    );
    assert_eq!(out.status.code(), Some(0));

    let fleet = Fleet::builder(3)
        .fault(2, Fault::DropMidOutput { after_bytes: 5 })
        .start()
        .await
        .unwrap();
    let hosts = fleet.host_specs();
    let out = run_all(&fleet, &["--gather"], "echo same");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("{} (2)\n", folded(&hosts[..2]))),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{} (1) connection lost\n", hosts[2])),
        "{stdout}"
    );
}

/// `--diff`: the largest group in full, each other group as a unified diff against it.
#[tokio::test(flavor = "multi_thread")]
async fn diff_shows_how_the_odd_hosts_differ() {
    let fleet = Fleet::builder(4).real_shell(true).start().await.unwrap();
    for index in 0..4 {
        let text = if index == 2 { "a\nB\nc\n" } else { "a\nb\nc\n" };
        std::fs::write(fleet.host_root(index).join("f.txt"), text).unwrap();
    }
    let hosts = fleet.host_specs();
    let out = run_all(&fleet, &["--diff"], "cat f.txt");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let same = folded(&[&hosts[0], &hosts[1], &hosts[3]]);
    assert_eq!(
        text(&out.stdout),
        format!(
            "---------------\n{same} (3)\n---------------\na\nb\nc\n\
             --- {same} (3)\n+++ {} (1)\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n",
            hosts[2]
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn json_lines_describe_every_event() {
    let fleet = Fleet::builder(2)
        .fault(1, Fault::RejectAuth)
        .start()
        .await
        .unwrap();
    let hosts = fleet.host_specs();
    let out = run_all(&fleet, &["--json"], "echo hi; raw ff; echo err >&2; exit 3");
    let events: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    let of =
        |event: &str| -> Vec<&Value> { events.iter().filter(|e| e["event"] == event).collect() };
    let lines = of("line");
    assert_eq!(lines.len(), 3);
    assert!(
        lines
            .iter()
            .any(|l| l["text"] == "hi" && l["stream"] == "stdout" && l["host"] == hosts[0])
    );
    assert!(
        lines
            .iter()
            .any(|l| l["base64"] == "/w==" && l["eol"] == false)
    );
    assert!(
        lines
            .iter()
            .any(|l| l["text"] == "err" && l["stream"] == "stderr")
    );
    let exit = of("exit");
    assert_eq!(exit.len(), 1);
    assert_eq!(exit[0]["code"], 3);
    assert!(exit[0]["total_ms"].as_f64().unwrap() > 0.0);
    let error = of("error");
    assert_eq!(error[0]["kind"], "auth");
    assert_eq!(error[0]["index"], 1);
    let summary = events.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["hosts"], 2);
    assert_eq!(summary["outcomes"]["exit_3"][0], hosts[0]);
    assert_eq!(summary["outcomes"]["auth"][0], hosts[1]);
    assert!(
        text(&out.stderr).is_empty(),
        "JSON mode keeps stderr quiet: {}",
        text(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(3));
}

#[tokio::test(flavor = "multi_thread")]
async fn outdir_and_errdir_write_one_file_per_host() {
    let fleet = Fleet::start(2).await.unwrap();
    let outdir = fleet.dir().join("out");
    let errdir = fleet.dir().join("err");
    let out = run_all(
        &fleet,
        &[
            "--outdir",
            outdir.to_str().unwrap(),
            "--errdir",
            errdir.to_str().unwrap(),
        ],
        "hostname; raw ff0a; echo oops >&2; echo -n tail",
    );
    assert_eq!(out.status.code(), Some(0));
    for (index, host) in fleet.host_specs().iter().enumerate() {
        let stdout = std::fs::read(outdir.join(host)).unwrap();
        assert_eq!(
            stdout,
            [format!("host{index}\n").as_bytes(), b"\xff\ntail"].concat()
        );
        assert_eq!(
            std::fs::read_to_string(errdir.join(host)).unwrap(),
            "oops\n"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_prefix_and_colour() {
    let fleet = Fleet::start(1).await.unwrap();
    let host = &fleet.host_specs()[0];
    let out = run_all(&fleet, &["-N"], "echo plain");
    assert_eq!(text(&out.stdout), "plain\n");
    let out = run_all(&fleet, &["--color", "always"], "echo c");
    assert_eq!(text(&out.stdout), format!("\x1b[36m{host}\x1b[0m: c\n"));
    // Not a terminal: no colour by default.
    let out = run_all(&fleet, &[], "echo c");
    assert_eq!(text(&out.stdout), format!("{host}: c\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn progress_line_on_request_and_summary_on_request() {
    let fleet = Fleet::start(3).await.unwrap();
    let out = run_all(
        &fleet,
        &["--progress", "always", "--summary"],
        "sleep 1.5; echo done",
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("\r\x1b[2K[0/3] ok 0  failed 0  running 3  pending 0"),
        "{stderr:?}"
    );
    assert!(
        stderr.contains(&format!("sshfan: ok: {} (3)", folded(&fleet.host_specs()))),
        "{stderr:?}"
    );
    // Piped (the default here): no progress, and no summary when everything succeeded.
    let out = run_all(&fleet, &[], "echo done");
    assert!(text(&out.stderr).is_empty(), "{:?}", text(&out.stderr));
}
