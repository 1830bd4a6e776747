"""gevent programs, as parallel-ssh's are: waits yield to the hub, copies are greenlets.

Each program runs in a fresh interpreter (``monkey.patch_all()`` must come first, and a
program without gevent must never import it), against the fleet or real sshd.
"""

import json
import subprocess
import sys

import pytest

pytest.importorskip("gevent", reason="SKIPPED: gevent is not installed (pip install gevent)")

GEVENT_PROGRAM = r"""
from gevent import monkey
monkey.patch_all()

import json, sys, time
import gevent
from sshfan.clients import ParallelSSHClient
from sshfan import exceptions

args = json.loads(sys.argv[1])
client = ParallelSSHClient(args["hosts"], **args["kwargs"])
ticks = []

def tick():
    while True:
        ticks.append(time.monotonic())
        gevent.sleep(0.01)

ticker = gevent.spawn(tick)
result = {}

# join and reading block only this greenlet: the ticker keeps ticking.
output = client.run_command(args["slow"])
before = len(ticks)
client.join(output)
result["ticks_during_join"] = len(ticks) - before
result["lines"] = [list(o.stdout) for o in output]
result["exit_codes"] = [o.exit_code for o in output]

before = len(ticks)
output = client.run_command(args["slow"])
result["read"] = [list(o.stdout) for o in output]
result["ticks_during_read"] = len(ticks) - before

# gevent.Timeout interrupts a blocking read; what was read is kept, reading resumes.
late = client.run_command(args["late"])
started = time.monotonic()
try:
    with gevent.Timeout(0.3):
        for line in late[0].stdout:
            pass
    result["timed_out"] = False
except gevent.Timeout:
    result["timed_out"] = True
result["timeout_after"] = time.monotonic() - started
result["after_timeout"] = list(late[0].stdout)

# Copies and connect_auth return real greenlets, for gevent.joinall.
cmds = client.copy_file(args["local"], args["remote"])
result["greenlets"] = all(isinstance(c, gevent.Greenlet) for c in cmds)
gevent.joinall(cmds, raise_error=True)
result["copy_values"] = [c.get() for c in cmds]
bad = client.copy_remote_file("/nonexistent/file", args["local"] + "-back")
try:
    gevent.joinall(bad, raise_error=True)
    result["copy_error"] = None
except exceptions.SFTPIOError as error:
    result["copy_error"] = error.args[2]
auth = client.connect_auth()
gevent.joinall(auth, raise_error=True)
result["connect_values"] = [g.get().host for g in auth]
result["cmds"] = [c.get().host for c in client.cmds]
result["pool"] = type(client.pool).__name__
ticker.kill()
print(json.dumps(result))
"""

PLAIN_PROGRAM = r"""
import json, sys
from sshfan.clients import ParallelSSHClient
from sshfan.utils import joinall

args = json.loads(sys.argv[1])
client = ParallelSSHClient(args["hosts"], **args["kwargs"])
output = client.run_command("echo plain")
client.join(output)
joinall(client.copy_file(args["local"], args["remote"]), raise_error=True)
imported = "gevent" in sys.modules
print(json.dumps({"lines": [list(o.stdout) for o in output], "gevent_imported": imported,
                  "pool": type(client.pool).__name__}))
"""


def run_program(program, hosts, kwargs, **extra):
    args = dict(hosts=hosts, kwargs=kwargs, **extra)
    done = subprocess.run([sys.executable, "-c", program, json.dumps(args)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_gevent_program(result, hosts):
    assert result["lines"] == [["done"]] * hosts
    assert result["exit_codes"] == [0] * hosts
    assert result["read"] == [["done"]] * hosts
    # The commands take 1 s; a ticker at 10 ms ticks ~100 times if never blocked.
    assert result["ticks_during_join"] >= 40, result
    assert result["ticks_during_read"] >= 40, result
    assert result["timed_out"] and result["timeout_after"] < 2.0, result
    assert result["after_timeout"] == ["late"]
    assert result["greenlets"] and result["copy_values"] == [None] * hosts
    assert result["copy_error"] is not None
    assert result["pool"] == "Pool"


def test_a_gevent_program_against_the_fleet(make_fleet, tmp_path):
    fleet = make_fleet(hosts=3)
    local = tmp_path / "f.txt"
    local.write_text("payload\n")
    result = run_program(GEVENT_PROGRAM, fleet.names, fleet.client_args(),
                         slow="sleep 1; echo done", late="sleep 1.5; echo late",
                         local=str(local), remote="f.txt")
    check_gevent_program(result, 3)
    assert result["connect_values"] == fleet.names
    assert result["cmds"] == fleet.names
    # Everything ran on one connection per host (closed when the program exited).
    assert [accepted for accepted, _ in fleet.connections()] == [1] * 3


def test_a_gevent_program_against_sshd(sshd, tmp_path):
    local = tmp_path / "f.txt"
    local.write_text("payload\n")
    kwargs = dict(user=sshd["user"], port=sshd["port"], pkey=sshd["pkey"],
                  known_hosts=sshd["known_hosts"], ssh_config=False, allow_agent=False,
                  identity_auth=False, num_retries=1)
    result = run_program(GEVENT_PROGRAM, [sshd["host"]] * 2, kwargs,
                         slow="sleep 1; echo done", late="sleep 1.5; echo late",
                         local=str(local), remote=str(tmp_path / "copied.txt"))
    check_gevent_program(result, 2)
    assert (tmp_path / "copied.txt").read_text() == "payload\n"


def test_without_gevent_nothing_imports_it(make_fleet, tmp_path):
    fleet = make_fleet(hosts=2)
    local = tmp_path / "f.txt"
    local.write_text("x")
    result = run_program(PLAIN_PROGRAM, fleet.names, fleet.client_args(), local=str(local),
                         remote="f.txt")
    assert result["lines"] == [["plain"]] * 2
    assert result["gevent_imported"] is False
    assert result["pool"] == "Pool", "asking for client.pool is asking for gevent"
