//! One job split into shards (`--shard K/N`, as a Slurm array or Kubernetes Indexed Job
//! would run it) and merged (`sshfan merge`) prints what one run prints.

use std::process::{Output, Stdio};

use serde_json::Value;
use sshfan_testkit::{Fault, Fleet};

use crate::util::{run_all, sshfan, text};

const COMMAND: &str = "echo same; echo more; hostname >&2";

/// Everything but the line with the wall time, which differs between runs.
fn without_timing(stderr: &[u8]) -> Vec<String> {
    let mut lines: Vec<String> = text(stderr)
        .lines()
        .filter(|line| !line.contains(" failed in "))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

fn json_events(output: &[u8]) -> Vec<Value> {
    text(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// `sshfan merge` (which takes no connection options).
fn merge(extra: &[&str], files: &[std::path::PathBuf]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sshfan"))
        .arg("merge")
        .args(extra)
        .args(files)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn merged_shards_print_what_one_run_prints() {
    let fleet = Fleet::builder(7)
        .fault(4, Fault::RejectAuth)
        .start()
        .await
        .unwrap();
    let whole = run_all(&fleet, &["-b", "--summary", "--color", "never"], COMMAND);
    assert_eq!(whole.status.code(), Some(3), "{}", text(&whole.stderr));

    // Three shard processes side by side, each writing its --json output to a file.
    let dir = tempfile::tempdir().unwrap();
    let shards: Vec<_> = (1..=3)
        .map(|k| {
            let file = dir.path().join(format!("shard-{k}.jsonl"));
            let child = sshfan(&fleet)
                .arg("-w")
                .arg(fleet.host_specs().join(","))
                .args(["--json", "--shard", &format!("{k}/3"), "--", COMMAND])
                .stdout(std::fs::File::create(&file).unwrap())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            (file, child)
        })
        .collect();
    let mut files = Vec::new();
    let mut sizes = Vec::new();
    let mut seen = Vec::new();
    for (file, mut child) in shards {
        child.wait().unwrap();
        let events = json_events(&std::fs::read(&file).unwrap());
        let summary = events.last().unwrap();
        assert_eq!(summary["event"], "summary");
        sizes.push(summary["hosts"].as_u64().unwrap());
        seen.extend(
            events
                .iter()
                .filter(|e| e["event"] == "exit" || e["event"] == "error")
                .map(|e| e["host"].as_str().unwrap().to_owned()),
        );
        files.push(file);
    }
    assert_eq!(sizes, [3, 2, 2], "even shards");
    seen.sort();
    let mut all = fleet.host_specs();
    all.sort();
    assert_eq!(seen, all, "every host in exactly one shard");

    let merged = merge(&["--summary"], &files);
    assert_eq!(text(&merged.stdout), text(&whole.stdout), "gathered output");
    assert_eq!(
        without_timing(&merged.stderr),
        without_timing(&whole.stderr)
    );
    assert_eq!(merged.status.code(), whole.status.code());

    // --json: one stream, one summary for all seven hosts; -S: the largest remote code.
    let json = merge(&["--json"], &files);
    let events = json_events(&json.stdout);
    let summary = events.last().unwrap();
    assert_eq!(
        (summary["hosts"].as_u64(), summary["ok"].as_u64()),
        (Some(7), Some(6))
    );
    assert_eq!(events.iter().filter(|e| e["event"] == "summary").count(), 1);
    assert_eq!(merge(&["-S", "-q"], &files).status.code(), Some(255));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_shard_succeeds_and_a_cut_short_shard_fails_its_hosts() {
    let fleet = Fleet::start(2).await.unwrap();
    let empty = run_all(&fleet, &["--json", "--shard", "5/8"], "echo hi");
    assert_eq!(empty.status.code(), Some(0), "{}", text(&empty.stderr));
    let events = json_events(&empty.stdout);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["hosts"], 0);

    // A shard killed after its output but before its outcomes: its hosts are failures.
    let full = run_all(&fleet, &["--json"], "echo hi");
    let cut: String = text(&full.stdout)
        .lines()
        .filter(|line| line.contains("\"event\":\"line\""))
        .map(|line| format!("{line}\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cut.jsonl");
    std::fs::write(&file, cut).unwrap();
    let merged = merge(&[], std::slice::from_ref(&file));
    assert_eq!(merged.status.code(), Some(3));
    assert!(
        text(&merged.stderr).contains("no outcome in the merged output"),
        "{}",
        text(&merged.stderr)
    );

    // Not JSON: a usage error naming the file and line.
    std::fs::write(&file, "{\"event\":\"line\"}\nnot json\n").unwrap();
    let bad = merge(&[], std::slice::from_ref(&file));
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("cut.jsonl:1:"),
        "{}",
        text(&bad.stderr)
    );

    let bad = run_all(&fleet, &["--shard", "0/3"], "true");
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("K must be between 1 and N"));
}

/// The documented Slurm array script and Kubernetes Indexed Job, run here as their
/// schedulers would run them (each task with its index in the environment).
#[tokio::test(flavor = "multi_thread")]
async fn slurm_array_and_kubernetes_indexed_job_run_the_shards() {
    let fleet = Fleet::start(5).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, fleet.host_specs().join("\n")).unwrap();
    let binary = std::path::PathBuf::from(env!("CARGO_BIN_EXE_sshfan"));
    let options = format!(
        "-l {} -i {} --known-hosts {}",
        sshfan_testkit::FLEET_USER,
        fleet.client_key_path().display(),
        fleet.known_hosts_path().display()
    );
    let whole = run_all(&fleet, &["-b"], COMMAND);
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let environment = |command: &mut std::process::Command, out: &std::path::Path| {
        command
            .env("SSHFAN_HOSTS", &hosts)
            .env("SSHFAN_COMMAND", COMMAND)
            .env("SSHFAN_OUT", out)
            .env("SSHFAN_ARGS", &options)
            .env("HOME", fleet.dir())
            .env("SSH_AUTH_SOCK", "/nonexistent")
            .env("NO_COLOR", "1")
            .stderr(Stdio::null());
    };

    // Slurm: `--array=1-3`, so task IDs 1..3 with SLURM_ARRAY_TASK_MIN=1.
    let out = dir.path().join("slurm");
    let tasks: Vec<_> = (1..=3)
        .map(|id| {
            let mut command = std::process::Command::new("bash");
            command
                .arg(deploy.join("slurm/sshfan-shards.sbatch"))
                .env("SSHFAN", &binary)
                .env("SLURM_ARRAY_TASK_ID", id.to_string())
                .env("SLURM_ARRAY_TASK_COUNT", "3")
                .env("SLURM_ARRAY_TASK_MIN", "1");
            environment(&mut command, &out);
            command.spawn().unwrap()
        })
        .collect();
    for mut task in tasks {
        task.wait().unwrap();
    }
    let files: Vec<_> = (1..=3)
        .map(|id| out.join(format!("shard-{id}.jsonl")))
        .collect();
    let merged = merge(&[], &files);
    assert_eq!(text(&merged.stdout), text(&whole.stdout), "slurm");
    assert_eq!(merged.status.code(), Some(0));

    // Kubernetes: the container's script, with JOB_COMPLETION_INDEX 0..SHARDS-1.
    let manifest =
        std::fs::read_to_string(deploy.join("kubernetes/sshfan-indexed-job.yaml")).unwrap();
    for field in ["completions: 8", "parallelism: 8", "value: \"8\""] {
        assert!(
            manifest.contains(field),
            "the manifest keeps 8 shards: {field}"
        );
    }
    let script = block_scalar(&manifest);
    assert!(script.contains("JOB_COMPLETION_INDEX"), "{script}");
    let out = dir.path().join("k8s");
    std::fs::create_dir_all(&out).unwrap();
    let path = format!(
        "{}:{}",
        binary.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let pods: Vec<_> = (0..3)
        .map(|index| {
            let mut command = std::process::Command::new("sh");
            command
                .args(["-c", &script])
                .env("PATH", &path)
                .env("SHARDS", "3")
                .env("JOB_COMPLETION_INDEX", index.to_string());
            environment(&mut command, &out);
            command.spawn().unwrap()
        })
        .collect();
    for mut pod in pods {
        assert!(pod.wait().unwrap().success());
    }
    let files: Vec<_> = (0..3)
        .map(|index| out.join(format!("shard-{index}.jsonl")))
        .collect();
    let merged = merge(&[], &files);
    assert_eq!(text(&merged.stdout), text(&whole.stdout), "kubernetes");
    assert_eq!(merged.status.code(), Some(0));
}

/// The text of the manifest's one `- |` block scalar (the container script), dedented.
fn block_scalar(yaml: &str) -> String {
    let mut lines = yaml
        .lines()
        .skip_while(|line| !line.trim_end().ends_with("- |"));
    let marker = lines.next().expect("a `- |` block in the manifest");
    let outer = marker.len() - marker.trim_start().len();
    let body: Vec<&str> = lines
        .take_while(|line| line.trim().is_empty() || line.len() - line.trim_start().len() > outer)
        .collect();
    let indent = body
        .iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    body.iter()
        .map(|line| format!("{}\n", line.get(indent..).unwrap_or("")))
        .collect()
}
