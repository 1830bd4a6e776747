#!/usr/bin/env python3
"""Ten commands in a row on one client: kept sessions against parallel-ssh, in one run.

    python bench/sessions_bench.py [--fleet-hosts 1000] [--sshd-hosts 160] [--runs 10]
                                   [--repeat 3] [--python PYTHON]

The common library use: a program makes one client, then runs several commands on it.
Each tool runs `echo hello` RUNS times in a row on the same client, reading every host's
stdout line by line and its exit code each time:
- sshfan-lib: `sshfan-bench --runs RUNS` (the Rust library);
- sshfan-py: sshfan's Python bindings, `ParallelSSHClient.run_command` + read + join;
- parallel-ssh: the same program on parallel-ssh 2.x.
Targets: the testkit fleet in its own process (`sshfan-fleet --addresses`), and real
OpenSSH sshd (one sshd per 16 loopback addresses, as `bench/harness.py` starts them).
Then the cost of one command on a warm session (issue 15's target, 0.05 ms of client CPU
per host): `sshfan-bench --runs 21` minus `--runs 1`, plain and with spare channels,
beside `sshfan-bench-russh` (the same command on the vendored russh with nothing of
sshfan: what the SSH library costs alone) and `sshfan-bench-floor` (the same writes and
reads with no SSH, no runtime: the kernel's share alone).
Measured per run, each tool in a fresh process: wall time, client CPU (user + sys, from
wait4) and server CPU (the fleet process, or every sshd with its reaped per-connection
children: utime + stime + cutime + cstime from /proc, read after the client exited).
PYTHON must have both `sshfan` (pip install ./python) and `parallel-ssh` installed.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import harness  # noqa: E402  (FleetTarget, SshdTarget, RELEASE)

WORKLOAD = r"""
import json, sys, time
tool, hosts_file, user, key, known_hosts, runs = sys.argv[1:7]
specs = open(hosts_file).read().split()
hosts = [s.rsplit(':', 1)[0] for s in specs]
port = int(specs[0].rsplit(':', 1)[1])
if tool == 'parallel-ssh':
    from pssh.clients import ParallelSSHClient
    client = ParallelSSHClient(hosts, user=user, port=port, pkey=key, pool_size=len(hosts),
                               num_retries=1, allow_agent=False, identity_auth=False)
else:
    from sshfan.clients import ParallelSSHClient
    client = ParallelSSHClient(hosts, user=user, port=port, pkey=key, pool_size=len(hosts),
                               num_retries=1, allow_agent=False, identity_auth=False,
                               known_hosts=known_hosts, ssh_config=False)
ok = 0
for _ in range(int(runs)):
    output = client.run_command('echo hello', stop_on_errors=False)
    ok = 0
    for host_output in output:
        for line in host_output.stdout:
            pass
    client.join(output)
    ok = sum(1 for o in output if o.exit_code == 0)
print(json.dumps({'ok': ok}))
"""

TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid):
    """utime + stime + cutime + cstime of `pid`, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICKS


def server_cpu(target):
    procs = [target.proc] if hasattr(target, "proc") else target.procs
    return sum(process_cpu(p.pid) for p in procs)


def measure(tool, target, runs, python, scratch, extra=()):
    hosts_file = Path(scratch) / "hosts"
    hosts_file.write_text("\n".join(target.hosts) + "\n")
    if tool == "sshfan-lib":
        argv = [str(harness.RELEASE / "sshfan-bench"), "--hosts-file", str(hosts_file),
                "--user", target.user, "--key", target.key, "--known-hosts",
                target.known_hosts, "--fanout", str(len(target.hosts)), "--runs", str(runs),
                "--no-gather", *extra, "echo hello"]
    else:
        name = "parallel-ssh" if tool == "parallel-ssh" else "sshfan"
        argv = [python, "-c", WORKLOAD, name, str(hosts_file), target.user, target.key,
                target.known_hosts, str(runs)]
    before_server = server_cpu(target)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    time.sleep(0.5)  # let the servers reap their per-connection children
    row = {
        "tool": tool,
        "wall": wall,
        "client_cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "server_cpu": server_cpu(target) - before_server,
    }
    try:
        row["ok"] = json.loads(done.stdout.strip().splitlines()[-1])["ok"]
    except (ValueError, IndexError):
        row["error"] = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return row


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


WARM_RUNS = 20


def warm_command_cpu(target, scratch, repeat, spare=False):
    """Client CPU of one command on a warm session, ms per host: `sshfan-bench --runs
    1+WARM_RUNS` minus `--runs 1` (the first run's handshakes cancel out), each pair
    measured back to back, median over `repeat` pairs; and beside each pair, the same
    command with russh alone (`sshfan-bench-russh`, median over the same `repeat`)."""
    extra = ["--spare-channels"] if spare else []
    costs, alone = [], []
    for _ in range(repeat):
        cold = measure("sshfan-lib", target, 1, None, scratch, extra)
        warm = measure("sshfan-lib", target, 1 + WARM_RUNS, None, scratch, extra)
        if "error" not in cold and "error" not in warm:
            costs.append((warm["client_cpu"] - cold["client_cpu"]) * 1000
                         / WARM_RUNS / len(target.hosts))
        alone.append(russh_alone(target, scratch, spare))
    alone = [a for a in alone if a is not None]
    return (median(costs) if costs else None), (median(alone) if alone else None)


def russh_alone(target, scratch, spare):
    """`sshfan-bench-russh`: the same warm command with the vendored russh and nothing of
    sshfan around it (ms per host), or None when it failed."""
    hosts_file = Path(scratch) / "hosts"
    hosts_file.write_text("\n".join(target.hosts) + "\n")
    done = subprocess.run(
        [str(harness.RELEASE / "sshfan-bench-russh"), "--hosts-file", str(hosts_file),
         "--user", target.user, "--key", target.key, "--known-hosts", target.known_hosts,
         "--rounds", str(WARM_RUNS), *(["--spare"] if spare else [])],
        capture_output=True, text=True, timeout=600)
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])["cpu_ms"]
    except (ValueError, IndexError, KeyError):
        print(f"sshfan-bench-russh failed: {done.stderr.strip()[-300:]}", file=sys.stderr)
        return None


def kernel_floor(hosts, spare=False):
    """`sshfan-bench-floor`: the same writes and reads as a warm command, bare (ms); with
    `spare`, those of a warm command on a spare channel."""
    done = subprocess.run([str(harness.RELEASE / "sshfan-bench-floor"), "--hosts", str(hosts),
                           "--rounds", str(WARM_RUNS), *(["--spare"] if spare else [])],
                          capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout)["cpu_ms_per_command"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--fleet-hosts", type=int, default=1000)
    parser.add_argument("--sshd-hosts", type=int, default=160)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    scratch = tempfile.mkdtemp(prefix="sessions-bench-")
    tools = ("sshfan-lib", "sshfan-py", "parallel-ssh")
    results = []
    warm = {}
    targets = []
    if args.fleet_hosts:
        targets.append(("fleet", lambda: harness.FleetTarget(args.fleet_hosts, scratch)))
    if args.sshd_hosts:
        key = str(Path(scratch) / "id_client")
        if not Path(key).exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        targets.append(("sshd", lambda: harness.SshdTarget(args.sshd_hosts, scratch, key)))
    for name, start in targets:
        target = start()
        try:
            for _ in range(args.repeat):
                for tool in tools:
                    row = measure(tool, target, args.runs, args.python, scratch)
                    row["target"] = name
                    row["hosts"] = len(target.hosts)
                    results.append(row)
                    print(json.dumps(row), file=sys.stderr)
            hosts = len(target.hosts)
            plain, plain_alone = warm_command_cpu(target, scratch, 2 * args.repeat + 1)
            spare, spare_alone = warm_command_cpu(target, scratch, 2 * args.repeat + 1, True)
            warm[name] = (hosts, plain, plain_alone,
                          median(kernel_floor(hosts) for _ in range(args.repeat)),
                          spare, spare_alone,
                          median(kernel_floor(hosts, True) for _ in range(args.repeat)))
            print(json.dumps({"target": name, "warm": warm[name]}), file=sys.stderr)
        finally:
            target.stop()
    print(f"{args.runs} × `echo hello` on one client, median of {args.repeat}:\n")
    print("| target | hosts | tool | wall s | client CPU s | client ms/host/command | server CPU s | ok |")
    print("|---|---|---|---|---|---|---|---|")
    for name, _ in targets:
        rows = [r for r in results if r["target"] == name]
        hosts = rows[0]["hosts"]
        base = {}
        for tool in tools:
            mine = [r for r in rows if r["tool"] == tool and "error" not in r]
            if not mine:
                errors = [r.get("error") for r in rows if r["tool"] == tool]
                print(f"| {name} | {hosts} | {tool} | did not finish: {errors[:1]} | | | | |")
                continue
            wall, cpu, server = (median(r[k] for r in mine) for k in ("wall", "client_cpu", "server_cpu"))
            base[tool] = (wall, cpu, server)
            per = cpu * 1000 / hosts / args.runs
            print(f"| {name} | {hosts} | {tool} | {wall:.2f} | {cpu:.2f} | {per:.3f} | {server:.2f} | {mine[0]['ok']}/{hosts} |")
        if "parallel-ssh" in base:
            for tool in ("sshfan-lib", "sshfan-py"):
                if tool in base:
                    p = base["parallel-ssh"]
                    m = base[tool]
                    print(f"|  |  | parallel-ssh / {tool} | {p[0] / m[0]:.1f}x | {p[1] / m[1]:.1f}x | | {p[2] / m[2]:.1f}x | |")
    print(f"\nOne command on a warm session, sshfan-lib client CPU in ms per host (`--runs "
          f"{1 + WARM_RUNS}` minus `--runs 1`, median of {2 * args.repeat + 1} pairs); "
          f"russh alone is `sshfan-bench-russh`, the same command on russh with nothing of "
          f"sshfan (median of {2 * args.repeat + 1}, each beside a pair); the floor is "
          f"`sshfan-bench-floor`, the same writes and reads bare (median of {args.repeat}); "
          f"target 0.05:\n")
    print("| target | hosts | warm command | russh alone | its floor | with spare channels "
          "| russh alone | its floor |")
    print("|---|---|---|---|---|---|---|---|")
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"
    for name, row in warm.items():
        hosts, cells = row[0], row[1:]
        print(f"| {name} | {hosts} | " + " | ".join(fmt(v) for v in cells) + " |")
    Path(__file__).with_name("sessions_results.json").write_text(
        json.dumps({"runs": results, "warm_command": warm}, indent=1))


if __name__ == "__main__":
    main()
