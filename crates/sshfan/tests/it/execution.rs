//! Remote execution features: sudo / run-as, custom shell, PTY, stdin, host_args, env,
//! interactive shells, read timeouts and completion order, against the testkit fleet.
//! (Real-sshd counterparts are in `interop`.)

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use sshfan::{ExitStatus, RunOptions};
use sshfan_testkit::{Fault, Fleet};

use crate::util::{collect, collect_host};

/// The quoting torture test: quotes, `$`, backquotes, backslashes and a newline.
const TRICKY: &str = "printf '%s|' \"it's\" '$HOME' '`id`' 'back\\slash' \"two\nlines\"";
const TRICKY_OUTPUT: &str = "it's|$HOME|`id`|back\\slash|two\nlines|";

/// A fleet running a real `sh`, with a fake `sudo` first on its PATH: the fake prints its
/// `-p` prompt on stderr and checks the password line on stdin as sudo does (unless
/// `SUDO_NOPASSWD` is set: then, like sudo with NOPASSWD or a cached timestamp, it asks
/// nothing), records `-u USER`, and runs the rest of its arguments.
/// (A test double: no real sudo or root needed.)
async fn sudo_fleet(hosts: usize) -> (Fleet, tempfile::TempDir) {
    sudo_fleet_with(hosts, false).await
}

async fn sudo_fleet_with(hosts: usize, nopasswd: bool) -> (Fleet, tempfile::TempDir) {
    let bin = tempfile::tempdir().unwrap();
    let sudo = bin.path().join("sudo");
    std::fs::write(
        &sudo,
        r#"#!/bin/sh
user=root
prompt=Password:
while [ $# -gt 0 ]; do case "$1" in -S) shift;; -p) prompt="$2"; shift 2;; -u) user="$2"; shift 2;; --) shift; break;; *) break;; esac; done
if [ -z "$SUDO_NOPASSWD" ]; then
  printf '%s' "$prompt" >&2
  read -r password
  [ "$password" = "s3cret" ] || { echo "sudo: wrong password" >&2; exit 1; }
fi
echo "as $user" >&2
exec "$@"
"#,
    )
    .unwrap();
    std::fs::set_permissions(&sudo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut fleet = Fleet::builder(hosts)
        .real_shell(true)
        .shell_env("PATH", path);
    if nopasswd {
        fleet = fleet.shell_env("SUDO_NOPASSWD", "1");
    }
    (fleet.start().await.unwrap(), bin)
}

/// A sudo that asks nothing (NOPASSWD, cached timestamp, root) never gets the password:
/// it would be the command's own stdin, and `cat` would print it.
#[tokio::test]
async fn sudo_that_needs_no_password_never_receives_it() {
    let (fleet, _bin) = sudo_fleet_with(2, true).await;
    let client = fleet.client().build().unwrap();
    let options = RunOptions::default()
        .sudo(None, Some("s3cret"))
        .stdin("mine\n");
    for host in collect(client.run_with("cat", options)).await {
        assert_eq!(host.stdout_text(), "mine\n", "{:?}", host.outcome);
        assert_eq!(host.stderr_text(), "as root\n");
        assert!(host.status().success());
    }
    // With a PTY the prompt and the marker come on the terminal: still gated.
    let options = RunOptions::default().sudo(None, Some("s3cret")).pty(true);
    for host in collect(client.run_with("echo ran", options)).await {
        assert!(
            !host.stdout_text().contains("s3cret"),
            "{}",
            host.stdout_text()
        );
        assert!(host.status().success(), "{:?}", host.outcome);
    }
}

/// A sudo that asks gets the password once, after its prompt; the caller's stdin follows
/// only when sudo let the command run; the prompt never shows in the output.
#[tokio::test]
async fn sudo_gets_the_password_after_its_prompt_then_the_callers_stdin() {
    let (fleet, _bin) = sudo_fleet(2).await;
    let client = fleet.client().build().unwrap();
    let options = RunOptions::default()
        .sudo(None, Some("s3cret"))
        .stdin("input\n");
    for host in collect(client.run_with("cat", options)).await {
        assert_eq!(host.stdout_text(), "input\n", "{:?}", host.outcome);
        assert_eq!(host.stderr_text(), "as root\n");
    }
}

#[tokio::test]
async fn sudo_as_a_user_with_a_password_runs_any_command_verbatim() {
    let (fleet, _bin) = sudo_fleet(2).await;
    let client = fleet.client().build().unwrap();
    let options = RunOptions::default().sudo(Some("web"), Some("s3cret"));
    for host in collect(client.run_with(TRICKY, options)).await {
        assert_eq!(host.stdout_text(), TRICKY_OUTPUT, "{:?}", host.outcome);
        assert_eq!(host.stderr_text(), "as web\n");
        assert!(host.status().success());
    }
    let wrong = RunOptions::default().sudo(None, Some("nope"));
    for host in collect(client.run_with("true", wrong)).await {
        assert_eq!(host.status(), &ExitStatus::Code(1));
        assert_eq!(host.stderr_text(), "sudo: wrong password\n");
    }
}

#[tokio::test]
async fn custom_shell_runs_the_command_verbatim() {
    let fleet = Fleet::builder(1).real_shell(true).start().await.unwrap();
    let client = fleet.client().build().unwrap();
    let hosts = collect(client.run_with(TRICKY, RunOptions::default().shell("sh -c"))).await;
    assert_eq!(hosts[0].stdout_text(), TRICKY_OUTPUT);
    // The shell is really used: `$0` names it.
    let hosts = collect(client.run_with("echo $0", RunOptions::default().shell("sh -c"))).await;
    assert_eq!(hosts[0].stdout_text(), "sh\n");
}

#[tokio::test]
async fn per_host_stdin_write_and_close() {
    let fleet = Fleet::start(3).await.unwrap();
    let client = fleet.client().build().unwrap();
    let mut run = client.run("cat; echo eof");
    for (index, host) in run.outputs().iter().enumerate() {
        host.stdin
            .write(format!("to host {index}\n"))
            .await
            .unwrap();
        host.stdin.write("second line\n").await.unwrap();
        host.stdin.close().await;
    }
    run.join(None).await.unwrap();
    for (index, host) in run.outputs_mut().iter_mut().enumerate() {
        assert_eq!(
            host.stdout.lines_lossy().await,
            [
                format!("to host {index}"),
                "second line".into(),
                "eof".into()
            ]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_broadcast_to_500_hosts() {
    let fleet = Fleet::start(500).await.unwrap();
    let client = fleet.client().pool_size(500).build().unwrap();
    let data: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    let run = client.run_with("cat", RunOptions::default().stdin(data.clone()));
    let hosts = collect(run).await;
    assert_eq!(hosts.len(), 500);
    for host in hosts {
        assert!(
            host.stdout_text() == data,
            "{}: {} bytes",
            host.label,
            host.stdout.len()
        );
    }
}

#[tokio::test]
async fn host_args_substitute_one_set_per_host_and_a_mismatch_runs_nothing() {
    let fleet = Fleet::start(3).await.unwrap();
    let client = fleet.client().build().unwrap();
    let args: Vec<Vec<String>> = (0..3)
        .map(|i| vec![format!("arg{i}"), "100%".into()])
        .collect();
    let run = client
        .run_host_args("echo %s is %s %%", &args, RunOptions::default())
        .unwrap();
    for (index, host) in collect(run).await.iter().enumerate() {
        assert_eq!(host.stdout_text(), format!("arg{index} is 100% %\n"));
    }
    let err = client
        .run_host_args("echo %s", &args[..2], RunOptions::default())
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("2 argument sets for 3 hosts"),
        "{err}"
    );
    let err = client
        .run_host_args("echo %s", &[vec![], vec![], vec![]], RunOptions::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("more `%s`"), "{err}");
    assert!(
        (0..3).all(|i| fleet.execs(i) == 1),
        "nothing ran for the bad calls"
    );
}

#[tokio::test]
async fn environment_variables_are_sent() {
    let fleet = Fleet::start(2).await.unwrap();
    let client = fleet.client().build().unwrap();
    let options = RunOptions::default()
        .env("DEPLOY_ENV", "staging")
        .env("EMPTY", "");
    for host in collect(client.run_with("printenv DEPLOY_ENV; printenv MISSING", options)).await {
        assert_eq!(host.stdout_text(), "staging\n");
        assert_eq!(
            host.status(),
            &ExitStatus::Code(1),
            "the last printenv found nothing"
        );
    }
}

#[tokio::test]
async fn interactive_shells_run_several_commands_then_report_exit_codes() {
    let fleet = Fleet::start(3).await.unwrap();
    let client = fleet.client().build().unwrap();
    let mut run = client.open_shells(RunOptions::default());
    run.run_shell_commands(&["echo one", "hostname"])
        .await
        .unwrap();
    run.run_shell_commands(&["echo two >&2", "false"])
        .await
        .unwrap();
    run.join_shells(Some(Duration::from_secs(10)))
        .await
        .unwrap();
    for (index, host) in run.outputs_mut().iter_mut().enumerate() {
        let collected = collect_host(host).await;
        assert_eq!(collected.stdout_text(), format!("one\nhost{index}\n"));
        assert_eq!(collected.stderr_text(), "two\n");
        assert_eq!(collected.status(), &ExitStatus::Code(1));
    }
    // `exit N` ends a shell with that code.
    let run = client.open_shells(RunOptions::default());
    run.run_shell_commands(&["exit 4", "echo never"])
        .await
        .unwrap();
    run.join_shells(None).await.unwrap();
    assert!(run.outputs().iter().all(|h| h.exit_code() == Some(4)));
}

#[tokio::test]
async fn read_timeout_errors_the_reader_and_keeps_the_output() {
    let fleet = Fleet::start(1).await.unwrap();
    let client = fleet.client().build().unwrap();
    let mut run = client.run_with(
        "echo first; sleep 1; echo second",
        RunOptions::default().read_timeout(Duration::from_millis(300)),
    );
    let host = &mut run.outputs_mut()[0];
    assert_eq!(
        host.stdout.read_line().await.unwrap().unwrap(),
        &b"first"[..]
    );
    let err = host.stdout.read_line().await.unwrap_err();
    assert_eq!(err.to_string(), "no output for 300ms");
    // Nothing was lost: the rest arrives once it is sent.
    assert_eq!(host.stdout.next_line().await.unwrap(), &b"second"[..]);
    assert!(host.wait().await.unwrap().success());
}

#[tokio::test]
async fn completions_arrive_once_per_host_in_completion_order() {
    let fleet = Fleet::start(5).await.unwrap();
    let client = fleet.client().build().unwrap();
    // Half a second between hosts: far more than connection jitter on a loaded machine.
    let args: Vec<Vec<String>> = ["2", "0", "1.5", "0.5", "1"]
        .iter()
        .map(|d| vec![d.to_string()])
        .collect();
    let mut run = client
        .run_host_args("sleep %s", &args, RunOptions::default())
        .unwrap();
    let mut completions = run.completions().unwrap();
    let mut order = Vec::new();
    while let Some(index) = completions.next().await {
        // The host is finished when it is announced.
        assert!(run.outputs()[index].outcome().is_some());
        order.push(index);
    }
    assert_eq!(order, [1, 3, 4, 2, 0]);
    assert!(run.completions().is_none(), "one stream per run");
}

#[tokio::test]
async fn a_command_timeout_ends_the_remote_job() {
    let fleet = Fleet::builder(2)
        .fault(1, Fault::Hang)
        .start()
        .await
        .unwrap();
    let client = fleet
        .client()
        .command_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    for pty in [false, true] {
        let hosts = collect(client.run_with("sleep 30", RunOptions::default().pty(pty))).await;
        assert!(hosts.iter().all(|h| h.error_code() == "command_timeout"));
        // The fleet saw the signal / hang-up: nothing is left running there.
        for _ in 0..250 {
            if fleet.running(0) + fleet.running(1) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!((fleet.running(0), fleet.running(1)), (0, 0), "pty: {pty}");
    }
}

#[tokio::test]
async fn per_host_command_lines_run_each_on_its_host() {
    let fleet = Fleet::start(3).await.unwrap();
    let client = fleet.client().build().unwrap();
    let commands: Vec<String> = (0..3).map(|i| format!("echo host {i}")).collect();
    let run = client
        .run_commands(&commands, RunOptions::default())
        .unwrap();
    for (i, host) in collect(run).await.iter().enumerate() {
        assert_eq!(host.stdout_text(), format!("host {i}\n"));
    }
    let err = client
        .run_commands(&commands[..2], RunOptions::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("2 commands for 3 hosts"), "{err}");
}

#[tokio::test]
async fn connect_auth_checks_every_host_without_running_anything() {
    let fleet = Fleet::builder(3)
        .fault(1, Fault::RejectAuth)
        .start()
        .await
        .unwrap();
    let client = fleet.client().build().unwrap();
    let run = client.connect_auth();
    run.join(None).await.unwrap();
    let codes: Vec<_> = run
        .outputs()
        .iter()
        .map(|host| match host.outcome().unwrap() {
            Ok(status) => status.to_string(),
            Err(err) => err.kind().code().to_owned(),
        })
        .collect();
    let ok = ExitStatus::Code(0).to_string();
    assert_eq!(codes, [ok.clone(), "auth".into(), ok]);
    for index in 0..3 {
        assert_eq!(fleet.execs(index), 0, "connect_auth runs no command");
    }
    assert_eq!(fleet.connections(0), 1);
}

#[tokio::test]
async fn wait_connected_reports_connection_errors_before_the_command_ends() {
    let fleet = Fleet::builder(2)
        .fault(1, Fault::RejectAuth)
        .start()
        .await
        .unwrap();
    let client = fleet.client().build().unwrap();
    let run = client.run("sleep 30");
    let outputs = run.outputs();
    tokio::time::timeout(Duration::from_secs(10), async {
        outputs[0].wait_connected().await.unwrap();
        let err = outputs[1].wait_connected().await.unwrap_err();
        assert_eq!(err.kind().code(), "auth");
    })
    .await
    .expect("connection results arrive while the command still runs");
    assert!(
        outputs[0].outcome().is_none(),
        "the command is still running"
    );
    run.cancel();
}

/// `HostOutput::cancel` stops one host (running, or not yet started) and no other.
#[tokio::test]
async fn cancelling_one_host_stops_only_that_host() {
    let fleet = Fleet::start(3).await.unwrap();
    let client = fleet.client().pool_size(2).build().unwrap();
    let commands = ["sleep 30", "sleep 0.3; echo done", "echo third"].map(String::from);
    let run = client
        .run_commands(&commands, RunOptions::default())
        .unwrap();
    let started = std::time::Instant::now();
    // Host 2 waits for a pool slot: cancelled before it starts, it never runs.
    run.outputs()[2].cancel();
    run.outputs()[0].cancel();
    let (mut outputs, joiner) = run.into_parts();
    joiner.join(Some(Duration::from_secs(10))).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    let mut hosts = Vec::new();
    for host in &mut outputs {
        hosts.push(collect_host(host).await);
    }
    assert_eq!(hosts[0].error_code(), "cancelled");
    assert_eq!(hosts[1].stdout_text(), "done\n");
    assert_eq!(hosts[2].error_code(), "cancelled");
    assert!(hosts[2].stdout.is_empty());
    // A finished host keeps its outcome.
    outputs[1].cancel();
    assert!(matches!(
        outputs[1].outcome(),
        Some(Ok(ExitStatus::Code(0)))
    ));
}

/// Each host keeps its command line as sent: after shell and sudo wrapping.
#[tokio::test]
async fn each_host_keeps_its_command_line_as_sent() {
    let fleet = Fleet::start(1).await.unwrap();
    let client = fleet.client().build().unwrap();
    let plain = client.run("echo hi");
    let line = |run: &sshfan::Run| run.outputs()[0].command_line().map(|line| line.to_string());
    assert_eq!(line(&plain).as_deref(), Some("echo hi"));
    let shell = client.run_with("echo 'hi'", RunOptions::default().shell("bash -c"));
    assert_eq!(line(&shell).as_deref(), Some(r"bash -c 'echo '\''hi'\'''"));
    let sudo = client.run_with("id", RunOptions::default().sudo(Some("web"), None));
    assert_eq!(
        line(&sudo).as_deref(),
        Some("sudo -S -p '' -u 'web' -- sh -c 'id'")
    );
    assert_eq!(line(&client.connect()), None);
}
