#!/usr/bin/env python3
"""The same Python program on parallel-ssh and on sshfan's bindings, in one run.

    python bench/python_bench.py [--hosts 1000] [--repeat 3] [--fleet PATH]

Starts `sshfan-fleet` (its own process) with N hosts on 127.1.x.y, then runs, each in a
fresh child process: `run_command('echo hello')`, read every host's stdout line by line
and its exit code. The child's wall time and CPU (user+sys, from wait4) are reported per
tool, with ratios against sshfan. Needs `pip install parallel-ssh` and the bindings
(`pip install ./python`) in the running interpreter.
"""

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

WORKLOAD = r"""
import json, sys, time
tool, hosts_file, port, key, known_hosts = sys.argv[1:6]
hosts = [line.rsplit(':', 1)[0] for line in open(hosts_file).read().split()]
started = time.monotonic()
if tool == 'parallel-ssh':
    from pssh.clients import ParallelSSHClient
    client = ParallelSSHClient(hosts, user='fleet', port=int(port), pkey=key,
                               pool_size=len(hosts), num_retries=1, allow_agent=False,
                               identity_auth=False)
else:
    from sshfan.clients import ParallelSSHClient
    client = ParallelSSHClient(hosts, user='fleet', port=int(port), pkey=key,
                               pool_size=len(hosts), num_retries=1, allow_agent=False,
                               identity_auth=False, known_hosts=known_hosts,
                               ssh_config=False)
output = client.run_command('echo hello', stop_on_errors=False)
ok = lines = 0
for host_output in output:
    for line in host_output.stdout:
        lines += 1
    if host_output.exit_code == 0:
        ok += 1
print(json.dumps({'ok': ok, 'lines': lines, 'wall': time.monotonic() - started}))
"""


def measure(tool, state, port):
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-c", WORKLOAD, tool, os.path.join(state, "hosts"), str(port),
         os.path.join(state, "id_ed25519"), os.path.join(state, "known_hosts")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = child.communicate(timeout=600)
    status = child.returncode
    wall = time.monotonic() - started
    if status != 0:
        return {"tool": tool, "error": err.decode(errors="replace").strip().splitlines()[-1:]}
    result = json.loads(out)
    result.update(tool=tool, process_wall=wall)
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fleet", default=os.path.join(
        os.path.dirname(__file__), "..", "target", "release", "sshfan-fleet"))
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    state = tempfile.mkdtemp(prefix="pybench-")
    fleet = subprocess.Popen([args.fleet, "--hosts", str(args.hosts), "--addresses",
                              "--state-dir", state], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        while not os.path.exists(os.path.join(state, "ready")):
            if fleet.poll() is not None:
                sys.exit("sshfan-fleet did not start")
            time.sleep(0.05)
        port = int(open(os.path.join(state, "hosts")).read().split()[0].rsplit(":", 1)[1])
        rows = []
        for _ in range(args.repeat):
            for tool in ("sshfan", "parallel-ssh"):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                row = measure(tool, state, port)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                row["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                rows.append(row)
        print("| tool | wall s (median) | client CPU s (median) | CPU ms/host | ok |")
        print("|---|---|---|---|---|")
        medians = {}
        for tool in ("sshfan", "parallel-ssh"):
            mine = [r for r in rows if r["tool"] == tool and "error" not in r]
            if not mine:
                print("| %s | did not finish: %s | | | |" % (
                    tool, next(r for r in rows if r["tool"] == tool)["error"]))
                continue
            wall = sorted(r["process_wall"] for r in mine)[len(mine) // 2]
            cpu = sorted(r["cpu"] for r in mine)[len(mine) // 2]
            medians[tool] = (wall, cpu)
            print("| %s | %.2f | %.2f | %.2f | %d/%d |" % (
                tool, wall, cpu, cpu * 1000 / args.hosts, mine[0]["ok"], args.hosts))
        if len(medians) == 2:
            print("\nparallel-ssh / sshfan: wall %.1fx, client CPU %.1fx (targets: 5x, 10x)" % (
                medians["parallel-ssh"][0] / medians["sshfan"][0],
                medians["parallel-ssh"][1] / medians["sshfan"][1]))
    finally:
        fleet.send_signal(signal.SIGTERM)
        fleet.wait(10)
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
