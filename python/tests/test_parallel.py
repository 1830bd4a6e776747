"""ParallelSSHClient against the testkit fleet over real sockets."""

import asyncio
import gc
import os
import threading

import pytest

from sshfan import exceptions
from sshfan.clients import ParallelSSHClient
from sshfan.clients.native import ParallelSSHClient as NativeParallelSSHClient
from sshfan.config import HostConfig
from sshfan.output import HostOutput
from sshfan.utils import joinall

# The quoting torture test: quotes, `$`, backquotes, backslashes and a newline.
TRICKY = "printf '%s|' \"it's\" '$HOME' '`id`' 'back\\slash' \"two\nlines\""
TRICKY_OUTPUT = ["it's|$HOME|`id`|back\\slash|two", "lines|"]


def test_both_import_paths_give_the_same_class():
    assert ParallelSSHClient is NativeParallelSSHClient


def test_output_exit_codes_and_stderr(fleet):
    client = fleet.client()
    output = client.run_command("echo out; echo err >&2; exit 3")
    assert [type(o) for o in output] == [HostOutput] * len(fleet.names)
    for host_output, name in zip(output, fleet.names):
        assert host_output.host == name
        assert list(host_output.stdout) == ["out"]
        assert list(host_output.stderr) == ["err"]
        assert host_output.exit_code == 3
        assert host_output.exception is None


def test_iterating_again_continues_where_it_stopped(fleet):
    output = fleet.client().run_command("seq 5")
    stdout = output[0].stdout
    assert [next(stdout), next(stdout)] == ["1", "2"]
    assert list(output[0].stdout) == ["3", "4", "5"]
    assert list(output[0].stdout) == []


def test_join_then_read_keeps_all_output_and_exit_codes(fleet):
    client = fleet.client()
    output = client.run_command("flood 3000000")
    client.join()
    assert client.finished()
    for host_output in output:
        assert host_output.exit_code == 0
        assert sum(len(line) + 1 for line in host_output.stdout) == 3000000


def test_join_consume_output(fleet):
    client = fleet.client()
    client.run_command("seq 1000")
    client.join(consume_output=True)
    output = client.get_last_output()
    assert all(list(o.stdout) == [] and o.exit_code == 0 for o in output)


def test_join_timeout_raises_and_output_stays_readable(fleet):
    client = fleet.client()
    output = client.run_command("echo before; sleep 2; echo after")
    with pytest.raises(exceptions.Timeout):
        client.join(timeout=0.3)
    assert not client.finished()
    client.join(output, timeout=10)
    assert client.finished(output)
    assert list(output[0].stdout) == ["before", "after"]


def test_read_timeout_raises_timeout_and_keeps_the_output(fleet):
    client = fleet.client()
    output = client.run_command("echo first; sleep 3; echo second", read_timeout=0.5)
    lines = []
    with pytest.raises(exceptions.Timeout):
        for line in output[0].stdout:
            lines.append(line)
    assert lines == ["first"]
    output[0].read_timeout = None
    assert list(output[0].stdout) == ["second"]


def test_host_args_fill_the_command_per_host(fleet):
    client = fleet.client()
    args = [("host %d" % i,) for i in range(len(fleet.names))]
    output = client.run_command("echo %s", host_args=args)
    assert [list(o.stdout) for o in output] == [["host %d" % i] for i in range(len(args))]
    output = client.run_command("echo %(word)s", host_args=[{"word": "w%d" % i} for i in range(4)])
    assert [list(o.stdout) for o in output] == [["w%d" % i] for i in range(4)]
    with pytest.raises(exceptions.HostArgumentError):
        client.run_command("echo %s", host_args=args[:1])


def test_stop_on_errors_raises_the_first_failure(make_fleet):
    fleet = make_fleet(hosts=3, faults={1: "reject-auth"})
    with pytest.raises(exceptions.AuthenticationError) as raised:
        fleet.client().run_command("echo hi")
    assert raised.value.host == fleet.names[1]
    assert raised.value.kind == "auth"


def test_without_stop_on_errors_failures_land_in_exception(make_fleet):
    fleet = make_fleet(hosts=4, faults={1: "reject-auth", 2: "wrong-host-key",
                                        3: "stall-before-banner"})
    closed = "127.0.0.1"  # nothing listens on the fleet's port there
    client = fleet.client(hosts=fleet.names + [closed], timeout=1)
    output = client.run_command("echo hi", stop_on_errors=False)
    assert list(output[0].stdout) == ["hi"] and output[0].exception is None
    expected = [exceptions.AuthenticationError, exceptions.HostKeyError,
                exceptions.Timeout, ConnectionRefusedError]
    assert all(isinstance(o.exception, kind) for o, kind in zip(output[1:], expected)), \
        [type(o.exception) for o in output[1:]]
    assert isinstance(output[4].exception, exceptions.ConnectionError)
    assert "SHA256:" in str(output[2].exception)
    assert issubclass(exceptions.HostKeyError, exceptions.SSHError)
    for failed in output[1:]:
        assert list(failed.stdout) == [] and failed.exit_code is None


def test_missing_and_bad_keys(fleet, tmp_path):
    with pytest.raises(exceptions.PKeyFileError):
        fleet.client(pkey=str(tmp_path / "missing"))
    output = fleet.client(pkey=b"not a key").run_command("echo", stop_on_errors=False)
    assert all(isinstance(o.exception, exceptions.PKeyFileError) for o in output)


def test_key_bytes_authenticate(fleet):
    with open(fleet.key, "rb") as key:
        data = key.read()
    output = fleet.client(pkey=data).run_command("echo in-memory")
    assert [list(o.stdout) for o in output] == [["in-memory"]] * len(fleet.names)


def test_password_authentication(fleet):
    client = ParallelSSHClient(fleet.names, user="fleet", password="fleet-password",
                               port=fleet.port, known_hosts=fleet.known_hosts,
                               ssh_config=False, allow_agent=False, identity_auth=False)
    assert [o.exit_code for o in client.run_command("exit 0") if client.join() is None] \
        == [0] * len(fleet.names)


def test_host_config_overrides_and_switches_off_global_options(make_fleet):
    fleet = make_fleet(hosts=3, faults={2: "reject-auth"})
    configs = [
        HostConfig(alias="first", allow_agent=False, keepalive_seconds=0),
        HostConfig(user="fleet", port=fleet.port, timeout=5, num_retries=1),
        HostConfig(alias="bad", password="wrong", identity_auth=False),
    ]
    client = ParallelSSHClient(fleet.names, user="fleet", port=fleet.port, pkey=fleet.key,
                               known_hosts=fleet.known_hosts, ssh_config=False,
                               allow_agent=True, host_config=configs)
    assert len(client._fleet.groups) == 3, "different effective settings, different groups"
    output = client.run_command("hostname", stop_on_errors=False)
    assert [o.alias for o in output] == ["first", None, "bad"]
    assert list(output[0].stdout) == ["host0"]
    assert list(output[1].stdout) == ["host1"]
    assert isinstance(output[2].exception, exceptions.AuthenticationError)
    with pytest.raises(exceptions.HostConfigError):
        ParallelSSHClient(fleet.names, host_config=configs[:1])
    with pytest.raises(exceptions.HostConfigError):
        HostConfig(port="22")


def test_sudo_quoting_and_run_as_user(make_fleet, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sudo = bin_dir / "sudo"
    sudo.write_text(
        # Like sudo: prints its -p prompt on stderr, then reads the password.
        '#!/bin/sh\nuser=root\nprompt=Password:\n'
        'while [ $# -gt 0 ]; do case "$1" in -S) shift;; -p) prompt="$2"; shift 2;; '
        '-u) user="$2"; shift 2;; --) shift; break;; *) break;; esac; done\n'
        'printf "%s" "$prompt" >&2\nread -r password\n[ "$password" = "s3cret" ] || '
        '{ echo "sudo: wrong password" >&2; exit 1; }\n'
        'echo "as $user" >&2\nexec "$@"\n')
    sudo.chmod(0o755)
    fleet = make_fleet(hosts=2, real_shell=True,
                       env={"PATH": "%s:%s" % (bin_dir, os.environ["PATH"])})
    client = fleet.client()
    output = client.run_command(TRICKY, sudo=True)
    for host_output in output:
        host_output.stdin.write("s3cret\n")
        host_output.stdin.flush()
    client.join()
    for host_output in output:
        assert list(host_output.stdout) == TRICKY_OUTPUT
        assert list(host_output.stderr) == ["as root"]
        assert host_output.exit_code == 0
    output = client.run_command(TRICKY, user="web", sudo_password="s3cret")
    client.join()
    assert [list(o.stderr) for o in output] == [["as web"]] * 2
    assert [list(o.stdout) for o in output] == [TRICKY_OUTPUT] * 2
    output = client.run_command("true", sudo=True)
    for host_output in output:
        host_output.stdin.write("wrong\n")
    client.join()
    assert [o.exit_code for o in output] == [1, 1]


def test_custom_shell_and_pty(make_fleet):
    fleet = make_fleet(hosts=1, real_shell=True)
    client = fleet.client()
    output = client.run_command(TRICKY, shell="bash -c")
    assert list(output[0].stdout) == TRICKY_OUTPUT
    output = client.run_command("echo via-pty", use_pty=True)
    assert list(output[0].stdout) == ["via-pty"]
    assert output[0].exit_code == 0


def test_stdin_write_and_close(fleet):
    client = fleet.client()
    output = client.run_command("cat")
    for i, host_output in enumerate(output):
        host_output.stdin.write("line %d\n" % i)
        host_output.stdin.write(b"bytes too\n")
        host_output.stdin.close()
    assert [list(o.stdout) for o in output] == [
        ["line %d" % i, "bytes too"] for i in range(len(output))]


def test_output_survives_the_client(fleet):
    def run():
        return fleet.client().run_command("echo still; sleep 0.5; echo here")
    output = run()
    gc.collect()
    assert [list(o.stdout) for o in output] == [["still", "here"]] * len(fleet.names)
    assert [o.exit_code for o in output] == [0] * len(fleet.names)


def test_non_utf8_output_and_encodings(fleet):
    client = fleet.client()
    output = client.run_command("raw 636166e9")
    assert list(output[0].stdout) == ["caf\ufffd"]
    output = client.run_command("raw 636166e9", encoding="latin-1")
    assert list(output[0].stdout) == ["café"]
    output = client.run_command("raw 636166e9", encoding=None)
    assert list(output[0].stdout) == [b"caf\xe9"]


def test_reading_from_threads_and_asyncio(fleet):
    client = fleet.client()
    output = client.run_command("seq 2000")
    results = {}

    def read(host_output):
        results[host_output.host] = list(host_output.stdout)

    threads = [threading.Thread(target=read, args=(o,)) for o in output]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(lines == [str(i) for i in range(1, 2001)] for lines in results.values())
    assert len(results) == len(fleet.names)

    async def main():
        loop = asyncio.get_running_loop()
        ticks = 0
        out = client.run_command("sleep 0.5; echo late")
        reading = loop.run_in_executor(None, lambda: [list(o.stdout) for o in out])
        while not reading.done():
            ticks += 1
            await asyncio.sleep(0.01)
        return ticks, await reading

    ticks, lines = asyncio.run(main())
    assert lines == [["late"]] * len(fleet.names)
    assert ticks > 10, "the event loop kept running while output was awaited"


def test_connect_auth_returns_tasks(make_fleet):
    fleet = make_fleet(hosts=2, faults={1: "reject-auth"})
    client = fleet.client()
    tasks = client.connect_auth()
    done = joinall(tasks)
    assert len(done) == 2
    # As parallel-ssh: each value is the host's own client.
    host_client = tasks[0].get()
    assert tasks[0].successful() and host_client.host == fleet.names[0]
    assert client.run_command("true", stop_on_errors=False)[0].client is host_client
    assert isinstance(tasks[1].exception, exceptions.AuthenticationError)
    with pytest.raises(exceptions.AuthenticationError):
        joinall(fleet.client().connect_auth(), raise_error=True)


def test_interactive_shells(fleet):
    client = fleet.client()
    shells = client.open_shell()
    client.run_shell_commands(shells, ["echo one", "hostname"])
    client.run_shell_commands(shells, "exit 4")
    client.join_shells(shells, timeout=10)
    for shell, index in zip(shells, range(len(shells))):
        assert list(shell.stdout) == ["one", "host%d" % index]
        assert shell.exit_code == 4


def round_trip(fleet, send, receive, remote, tmp_path):
    local = tmp_path / "payload.bin"
    local.write_bytes(os.urandom(300_000))
    joinall(send(str(local), remote), raise_error=True)
    target = tmp_path / ("back-" + send.__name__)
    joinall(receive(remote, str(target)), raise_error=True)
    for name in fleet.names:
        assert (tmp_path / ("back-%s_%s" % (send.__name__, name))).read_bytes() \
            == local.read_bytes()


def test_scp_send_and_recv(make_fleet, tmp_path):
    # The fleet's SCP runs the real `scp -t/-f` in each host's own directory.
    fleet = make_fleet(hosts=2, real_shell=True)
    client = fleet.client()
    round_trip(fleet, client.scp_send, client.scp_recv, "payload.bin", tmp_path)


def test_file_copies_over_sftp(fleet, tmp_path):
    client = fleet.client()
    round_trip(fleet, client.copy_file, client.copy_remote_file, "/srv/payload.bin", tmp_path)
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "f.txt").write_text("nested")
    joinall(client.copy_file(str(tree), "/srv/tree", recurse=True), raise_error=True)
    joinall(client.copy_remote_file("/srv/tree", str(tmp_path / "tree-back"), recurse=True,
                                    suffix_separator="."), raise_error=True)
    assert (tmp_path / ("tree-back.%s" % fleet.names[0]) / "a" / "b" / "f.txt").read_text() \
        == "nested"
    # A local mistake is the builtin error, raised at once (as parallel-ssh's).
    with pytest.raises(FileNotFoundError):
        client.copy_file(str(tmp_path / "absent"), "/srv/x")
    with pytest.raises(ValueError, match="Recurse must be true"):
        client.copy_file(str(tmp_path), "/srv/x")
    unreadable = tmp_path / "secret"
    unreadable.write_text("x")
    unreadable.chmod(0)
    if os.geteuid() != 0:  # root reads anything
        with pytest.raises(PermissionError):
            client.scp_send(str(unreadable), "/srv/x")
    gone = client.copy_remote_file("/srv/absent", str(tmp_path / "gone"))
    with pytest.raises(exceptions.SFTPIOError):
        joinall(gone, raise_error=True)


def test_copy_args_per_host(fleet, tmp_path):
    client = fleet.client()
    for i in range(len(fleet.names)):
        (tmp_path / ("f%d" % i)).write_text("file %d" % i)
    args = [{"i": i} for i in range(len(fleet.names))]
    joinall(client.copy_file(str(tmp_path / "f%(i)s"), "/srv/f%(i)s", copy_args=args),
            raise_error=True)
    output = client.run_command("echo", stop_on_errors=True)
    client.join(output)
    joinall(client.copy_remote_file("/srv/f%(i)s", str(tmp_path / "g%(i)s"), copy_args=args),
            raise_error=True)
    for i, name in enumerate(fleet.names):
        assert (tmp_path / ("g%d_%s" % (i, name))).read_text() == "file %d" % i
    with pytest.raises(exceptions.HostArgumentError):
        client.copy_file("a", "b", copy_args=args[:1])


def test_hosts_property_setter(fleet):
    client = fleet.client()
    client.hosts = fleet.names[:2]
    assert client.hosts == fleet.names[:2]
    assert len(client.run_command("echo")) == 2


def test_exception_names_match_parallel_ssh():
    for name in ("UnknownHostError", "AuthenticationError", "ConnectionError", "SSHError",
                 "SessionError", "Timeout", "SFTPError", "SFTPIOError", "SCPError",
                 "ProxyError", "HostArgumentError", "PKeyFileError", "ShellError",
                 "HostConfigError", "InvalidAPIUseError", "NoIPv6AddressFoundError"):
        assert issubclass(getattr(exceptions, name), Exception), name


def test_proxy_host_carries_the_connection(make_fleet):
    fleet = make_fleet(hosts=3)
    client = fleet.client(hosts=fleet.names[1:], proxy_host=fleet.names[0],
                          proxy_port=fleet.port, proxy_user="fleet", proxy_pkey=fleet.key)
    output = client.run_command("hostname")
    assert [list(o.stdout) for o in output] == [["host1"], ["host2"]]
    # Without proxy_port, the proxy is reached on the destination's port (parallel-ssh's).
    same_port = fleet.client(hosts=fleet.names[1:], proxy_host=fleet.names[0],
                             proxy_user="fleet", proxy_pkey=fleet.key)
    output = same_port.run_command("hostname")
    assert [list(o.stdout) for o in output] == [["host1"], ["host2"]]
    dead = fleet.client(hosts=fleet.names[1:2], proxy_host="127.0.0.1", proxy_port=1,
                        timeout=2)
    with pytest.raises(exceptions.ProxyError):
        dead.run_command("hostname")


def test_ipv6_only_refuses_ipv4_hosts(fleet):
    output = fleet.client(ipv6_only=True).run_command("echo", stop_on_errors=False)
    # The fleet's addresses are IPv4 literals: connecting over IPv6 cannot reach them.
    assert all(isinstance(o.exception, exceptions.ConnectionError) or
               isinstance(o.exception, exceptions.NoIPv6AddressFoundError) for o in output)


def test_host_logger_logs_each_line(fleet, caplog):
    from sshfan import utils
    utils.enable_host_logger()
    utils.host_logger.propagate = True
    with caplog.at_level("INFO", logger="sshfan.host_logger"):
        output = fleet.client().run_command("echo logged")
        for host_output in output:
            list(host_output.stdout)
    utils.host_logger.propagate = False
    assert sum("logged" in r.getMessage() for r in caplog.records) == len(fleet.names)


def test_post_quantum_key_exchange_on_request(fleet):
    output = fleet.client(post_quantum_kex=True).run_command("echo pq")
    assert [list(o.stdout) for o in output] == [["pq"]] * len(fleet.names)


def test_gather_groups_outputs_after_normalising_them(make_fleet):
    """``client.gather``: outputs that differ only by host name, time and uptime are one
    group; a host on another kernel is an outlier with its diff against the majority."""
    running = make_fleet(hosts=6, named_by_address=True, faults={4: "release:5.10.0-odd"})
    client = running.client()
    output = client.run_command("uname -a; uptime")
    groups = client.gather(output)
    assert [len(group.hosts) for group in groups] == [5, 1]
    majority, outlier = groups
    assert majority.hosts == running.names[:4] + running.names[5:]
    assert majority.output == (
        "Linux <host> 5.15.0-91-generic #101-Ubuntu SMP x86_64 GNU/Linux\n"
        " <time> up <n> days,  load average: 0.00, 0.01, 0.05\n")
    assert majority.diff is None and majority.category == "ok"
    assert outlier.hosts == [running.names[4]]
    assert "+Linux <host> 5.10.0-odd #101" in outlier.diff
    # Without normalising, the uptimes set hosts apart; rules and patterns choose.
    output = client.run_command("uptime")
    assert len(client.gather(output, normalize=False)) > 1
    output = client.run_command("uptime; exit 2")
    groups = client.gather(output, rules=["time"], patterns=[r"up \d+ days"])
    assert len(groups) == 1 and groups[0].category == "exit 2"
    assert groups[0].output == " <time> <*>,  load average: 0.00, 0.01, 0.05\n"
    with pytest.raises(ValueError, match="unknown normalisation rule"):
        client.gather(output, rules=["bogus"])


def test_rollout_waves_budget_gate_and_spread(make_fleet):
    """A rollout from Python: waves halt on the budget (hosts never started say
    ``not_run``, the fleet never saw them), the gate sees each wave, spread interleaves."""
    running = make_fleet(hosts=12, faults={1: "reject-auth", 2: "reject-auth"})
    client = running.client()
    seen = []

    def gate(report):
        seen.append(report)
        return True

    output = client.run_command("echo ok", stop_on_errors=False, waves=[1, 3, "rest"],
                                max_fail=1, gate=gate)
    client.join(output)
    kinds = [getattr(o.exception, "kind", None) for o in output]
    assert kinds[:4] == [None, "auth", "auth", None]
    assert kinds[4:] == ["not_run"] * 8
    assert [report["wave"] for report in seen] == [1]
    assert seen[0]["hosts"] == running.names[:1] and seen[0]["failed"] == 0
    accepted = [accepted for accepted, _ in running.connections()]
    assert accepted[4:] == [0] * 8, accepted

    # The gate halts; spread takes one host of each "rack" of 4 hosts first.
    rack = {name: index // 4 for index, name in enumerate(running.names)}
    output = client.run_command("echo ok", stop_on_errors=False, waves="3,rest",
                                gate=lambda report: False, spread=rack.get)
    client.join(output)
    ran = [name for name, o in zip(running.names, output)
           if getattr(o.exception, "kind", None) != "not_run"]
    assert ran == [running.names[0], running.names[4], running.names[8]]
    with pytest.raises(ValueError, match="invalid wave"):
        client.run_command("true", waves="1,lots")
    with pytest.raises(ValueError, match="apply to a rollout"):
        client.run_command("true", gate=gate)
