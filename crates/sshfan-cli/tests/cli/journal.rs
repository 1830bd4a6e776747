//! The run journal: `sshfan runs`, `runs show`, `rerun`, a run killed mid-way finished
//! by `rerun --not-run`, and shards' journals merged.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use sshfan_testkit::{Fault, Fleet};

use crate::util::{run_all, sshfan, sshfan_local, text};

/// The journal files under the fleet's state directory (HOME is the fleet's), oldest first.
fn journals(fleet: &Fleet) -> Vec<PathBuf> {
    journals_in(&fleet.dir().join(".local/state/sshfan/runs"))
}

fn journals_in(root: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.path().join("journal.jsonl"))
                .filter(|path| path.is_file())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// The journal's events, parsed. A last line without its newline is still being written
/// (or was cut short by a kill) and is left out, as `sshfan runs` leaves it out.
fn events(journal: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(journal).unwrap();
    let whole = &text[..text.rfind('\n').map_or(0, |end| end + 1)];
    whole
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Labels of the hosts with an outcome (`exit` or `error`) in the journal.
fn finished(journal: &Path) -> Vec<String> {
    events(journal)
        .iter()
        .filter(|event| event["event"] == "exit" || event["event"] == "error")
        .map(|event| event["host"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_run_is_journaled_and_listed_and_shown_again() {
    let fleet = Fleet::builder(5)
        .named_by_address()
        .fault(2, Fault::RejectAuth)
        .start()
        .await
        .unwrap();
    let first = run_all(&fleet, &["-b", "--color", "never"], "echo same; hostname");
    assert_eq!(first.status.code(), Some(3));
    let found = journals(&fleet);
    assert_eq!(found.len(), 1);
    let events = events(&found[0]);
    let plan = &events[0];
    assert_eq!(plan["event"], "plan");
    assert_eq!(plan["command"], "echo same; hostname");
    assert_eq!(plan["hosts"].as_array().unwrap().len(), 5);
    assert_eq!(events.last().unwrap()["event"], "summary");
    assert_eq!(finished(&found[0]).len(), 5);
    let dir = found[0].parent().unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the journal is private");

    // `runs show` prints what `-b` printed, byte for byte.
    let shown = sshfan_local(&fleet)
        .args(["runs", "show", "--color", "never"])
        .output()
        .unwrap();
    assert_eq!(text(&shown.stdout), text(&first.stdout));
    assert_eq!(shown.status.code(), Some(3));
    assert!(text(&shown.stderr).contains("auth failed"));
    // …and as an outlier gather: each host's name normalised, one group.
    let shown = sshfan_local(&fleet)
        .args(["runs", "show", "-B", "--color", "never", "-q"])
        .output()
        .unwrap();
    let hosts = fleet.host_specs();
    let ran: Vec<&String> = hosts
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, h)| h)
        .collect();
    assert_eq!(
        text(&shown.stdout),
        format!(
            "---------------\n{} (4)\n---------------\nsame\n<host>\n",
            crate::util::folded(&ran)
        )
    );

    let listed = sshfan_local(&fleet).arg("runs").output().unwrap();
    let listing = text(&listed.stdout);
    let id = plan["id"].as_str().unwrap();
    let row = listing.lines().find(|line| line.starts_with(id)).unwrap();
    let columns: Vec<&str> = row.split_whitespace().collect();
    // id, date, time, state, hosts, ok, failed, not run, command…
    assert_eq!(&columns[3..8], ["done", "5", "4", "1", "0"], "{listing}");
    assert!(row.ends_with("echo same; hostname"), "{row}");

    // --no-journal writes none.
    run_all(&fleet, &["--no-journal"], "true");
    assert_eq!(journals(&fleet).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn rerun_runs_again_only_where_it_failed() {
    let fleet = Fleet::builder(8)
        .fault(1, Fault::RejectAuth)
        .fault(4, Fault::Hang)
        .start()
        .await
        .unwrap();
    let out = run_all(&fleet, &["-u", "1"], "echo ran");
    assert_eq!(out.status.code(), Some(4));
    let execs_before: Vec<usize> = (0..8).map(|index| fleet.execs(index)).collect();
    let connections_before: Vec<usize> = (0..8).map(|index| fleet.connections(index)).collect();

    // --failed: the host whose command timed out, nothing else.
    let out = sshfan_local(&fleet)
        .args(["rerun", "--failed"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let hosts = fleet.host_specs();
    assert!(
        text(&out.stderr).contains("rerun of ") && text(&out.stderr).contains("on 1 host (failed)"),
        "{}",
        text(&out.stderr)
    );
    for (index, before) in execs_before.iter().enumerate() {
        let expected = before + usize::from(index == 4);
        assert_eq!(fleet.execs(index), expected, "host {index}");
    }
    // The rerun has a journal of its own, with the same arguments and only that host.
    let found = journals(&fleet);
    assert_eq!(found.len(), 2);
    let plan = &events(&found[1])[0];
    assert_eq!(plan["hosts"], serde_json::json!([hosts[4]]));

    // --unreached of the first run (given by its id): only the host that refused the key
    // is contacted again, with another command.
    let first_id = events(&found[0])[0]["id"].as_str().unwrap().to_owned();
    let out = sshfan_local(&fleet)
        .args(["rerun", "--unreached", "--command", "echo again"])
        .arg(&first_id[..first_id.len() - 2])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    for (index, before) in connections_before.iter().enumerate() {
        let expected = before + usize::from(index == 1 || index == 4);
        assert_eq!(fleet.connections(index), expected, "host {index}");
    }
    // Nothing left to do is said once, and is not an error.
    let out = sshfan_local(&fleet)
        .args(["rerun", "--not-run", &first_id])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stderr),
        format!("sshfan: nothing to rerun: no host of run {first_id} is not run\n")
    );
    // An unknown run is one usage error.
    let out = sshfan_local(&fleet)
        .args(["rerun", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no run `nope` in the journal"));
}

/// `kill -9` mid-run leaves a journal; `rerun --not-run` finishes exactly the rest: every
/// host whose outcome was recorded ran once, every host ran at least once.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_run_is_finished_by_rerun_not_run() {
    let fleet = Fleet::start(60).await.unwrap();
    let hosts = fleet.host_specs();
    let mut child = sshfan(&fleet)
        .arg("-w")
        .arg(hosts.join(","))
        .args(["-f", "5", "--", "sleep 0.1; echo done"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let journal = loop {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the run never got going"
        );
        if let Some(journal) = journals(&fleet).pop()
            && finished(&journal).len() >= 15
        {
            break journal;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let done_before = finished(&journal);
    assert!(
        done_before.len() < 60,
        "the run finished before it was killed"
    );
    assert_ne!(events(&journal).last().unwrap()["event"], "summary");

    let listed = text(&sshfan_local(&fleet).arg("runs").output().unwrap().stdout);
    assert!(listed.contains("incomplete"), "{listed}");

    let out = sshfan_local(&fleet)
        .args(["rerun", "--not-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rest = finished(journals(&fleet).last().unwrap());
    assert_eq!(rest.len() + done_before.len(), 60);
    for (index, host) in hosts.iter().enumerate() {
        let recorded = done_before.contains(host);
        assert_ne!(recorded, rest.contains(host), "{host}: in exactly one run");
        if recorded {
            assert_eq!(fleet.execs(index), 1, "{host} finished, then ran again");
        } else {
            assert!(fleet.execs(index) >= 1, "{host} never ran");
        }
    }
}

/// Shards on several machines each keep their journal; `merge` of the journals gives the
/// report of one unsharded run.
#[tokio::test(flavor = "multi_thread")]
async fn shard_journals_merge_into_one_report() {
    let fleet = Fleet::start(9).await.unwrap();
    let whole = run_all(
        &fleet,
        &["-b", "--color", "never", "--no-journal"],
        "echo same",
    );
    let scratch = tempfile::tempdir().unwrap();
    for shard in ["1/2", "2/2"] {
        let dir = scratch.path().join(shard.replace('/', "-"));
        let out = run_all(
            &fleet,
            &["--shard", shard, "--journal", dir.to_str().unwrap()],
            "echo same",
        );
        assert!(out.status.success());
    }
    let mut files = journals_in(&scratch.path().join("1-2"));
    files.extend(journals_in(&scratch.path().join("2-2")));
    assert_eq!(files.len(), 2);
    let merged = sshfan_local(&fleet)
        .arg("merge")
        .args(["--color", "never"])
        .args(&files)
        .output()
        .unwrap();
    assert_eq!(text(&merged.stdout), text(&whole.stdout));
    assert!(merged.status.success());
    assert!(journals(&fleet).is_empty(), "--journal DIR kept them there");
}

/// A run that prints more than the journal keeps (64 MiB of lines by default, here 2 MiB
/// set by `SSHFAN_JOURNAL_OUTPUT_MIB`): the journal keeps the first part, says so, and
/// every outcome.
#[tokio::test(flavor = "multi_thread")]
async fn the_journal_keeps_only_so_much_output() {
    let fleet = Fleet::start(2).await.unwrap();
    let out = sshfan(&fleet)
        .env("SSHFAN_JOURNAL_OUTPUT_MIB", "2")
        .arg("-w")
        .arg(fleet.host_specs().join(","))
        .args(["-N", "--", "flood 2000000"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        out.stdout.len(),
        2 * 2_000_000,
        "the run itself printed everything"
    );
    let journal = journals(&fleet).pop().unwrap();
    let events = events(&journal);
    let kept: usize = events
        .iter()
        .filter(|event| event["event"] == "line")
        .map(|event| event["text"].as_str().unwrap().len())
        .sum();
    assert!(kept <= 2 << 20, "{kept}");
    assert!(kept > 3 << 19, "{kept}");
    let notes: Vec<&Value> = events.iter().filter(|e| e["event"] == "note").collect();
    assert_eq!(notes.len(), 1);
    assert!(notes[0]["text"].as_str().unwrap().contains("first 2 MiB"));
    assert_eq!(finished(&journal).len(), 2);
    // Shown again, the note is said on stderr.
    let shown = sshfan_local(&fleet)
        .args(["runs", "show", "--lines"])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(
        text(&shown.stderr).contains("sshfan: the journal kept the first 2 MiB of output"),
        "{}",
        text(&shown.stderr)
    );
}

/// A journal that cannot be written is said once; the run goes on.
#[tokio::test(flavor = "multi_thread")]
async fn an_unwritable_journal_does_not_stop_the_run() {
    let fleet = Fleet::start(2).await.unwrap();
    let blocker = fleet.dir().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let out = sshfan(&fleet)
        .arg("-w")
        .arg(fleet.host_specs().join(","))
        .arg("--journal")
        .arg(blocker.join("runs"))
        .args(["--", "echo ok"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).lines().count(), 2);
    let stderr = text(&out.stderr);
    assert_eq!(
        stderr.matches("cannot write the run journal").count(),
        1,
        "{stderr}"
    );
}
