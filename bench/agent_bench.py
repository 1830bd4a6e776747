#!/usr/bin/env python3
"""A warm fleet: `sshfan` invocations through `sshfan agent` against direct ones, one run.

    python bench/agent_bench.py [--fleet-hosts 1000,10000] [--sshd-hosts 100]
                                [--invocations 5] [--repeat 3]

Each invocation is `sshfan -w ^HOSTS -f 1000 -- true` (the CLI, release build), in a
fresh process, as a user types it again and again:
- direct: every invocation connects to every host;
- agent: `sshfan agent serve` is started fresh, then INVOCATIONS runs with --agent: the
  first connects (the agent keeps the sessions), the others only open channels.
Measured per invocation: wall, the CLI's CPU, the agent's CPU (utime + stime from /proc,
before and after), and the servers' CPU (the fleet processes, or every sshd with its
reaped per-connection children). The agent's resident memory is read after its first
and its last invocation (memory per session = RSS / hosts).
Targets: the testkit fleet (`sshfan-fleet --addresses`; 10,000 hosts are two fleets of
5,000, since one process may hold 20,000 descriptors and a fleet needs one per address
and one per connection), and real OpenSSH sshd (16 addresses per sshd, as
`bench/harness.py` starts them).
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import harness  # noqa: E402  (FleetTarget, SshdTarget, RELEASE)

TICKS = os.sysconf("SC_CLK_TCK")
SSHFAN = os.environ.get("SSHFAN_BIN", str(harness.RELEASE / "sshfan"))


def process_cpu(pid):
    """utime + stime + cutime + cstime of `pid`, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICKS


def rss_mib(pid):
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


class Fleets:
    """One or more fleet processes seen as one target."""

    def __init__(self, count, work):
        per = 5000
        self.parts = [harness.FleetTarget(min(per, count - start), Path(work) / f"part{start}")
                      for start in range(0, count, per)]
        self.hosts = [h for part in self.parts for h in part.hosts]
        self.user = "fleet"
        self.keys = [part.key for part in self.parts]
        self.known_hosts = str(Path(work) / f"known_hosts-{count}")
        Path(self.known_hosts).write_text(
            "".join(Path(part.known_hosts).read_text() for part in self.parts))
        self.pids = [part.proc.pid for part in self.parts]

    def stop(self):
        for part in self.parts:
            part.stop()


class Sshds:
    def __init__(self, count, work, key):
        self.target = harness.SshdTarget(count, work, key)
        self.hosts = self.target.hosts
        self.user = self.target.user
        self.keys = [key]
        self.known_hosts = self.target.known_hosts
        self.pids = [p.pid for p in self.target.procs]

    def stop(self):
        self.target.stop()


def server_cpu(target):
    """CPU of the server processes and all their descendants: sshd's per-connection
    children (which call setsid) live as long as the agent's sessions, so their CPU is
    not yet in the listener's cutime."""
    parents = {}
    cpu = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents.setdefault(int(fields[1]), []).append(pid)
        cpu[pid] = sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICKS
    total = 0.0
    todo = list(target.pids)
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0.0)
        todo.extend(parents.get(pid, []))
    return total


def invoke(target, hosts_file, env, agent_pid, through_agent):
    argv = [SSHFAN, "-l", target.user, "--known-hosts", target.known_hosts, "--no-journal",
            "-f", "1000", "-w", f"^{hosts_file}"]
    for key in target.keys:
        argv += ["-i", key]
    if through_agent:
        argv.append("--agent")
    argv += ["--", "true"]
    before_server = server_cpu(target)
    before_agent = process_cpu(agent_pid) if agent_pid else 0.0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    time.sleep(0.5)  # let the servers reap their per-connection children
    return {
        "wall": wall,
        "cli_cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "agent_cpu": (process_cpu(agent_pid) - before_agent) if agent_pid else 0.0,
        "server_cpu": server_cpu(target) - before_server,
        "exit": done.returncode,
        "error": "" if done.returncode == 0 else done.stderr.strip()[-300:],
    }


def with_agent(target, hosts_file, invocations, scratch):
    runtime = Path(tempfile.mkdtemp(prefix="agent-rt-", dir=scratch))
    os.chmod(runtime, 0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), SSH_AUTH_SOCK="/nonexistent")
    agent = subprocess.Popen([SSHFAN, "agent", "serve"], env=env, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    socket = runtime / "sshfan" / "agent.sock"
    while not socket.exists():
        time.sleep(0.02)
    rows = []
    server_before = server_cpu(target)
    try:
        for n in range(invocations):
            row = invoke(target, hosts_file, env, agent.pid, True)
            row["invocation"] = n + 1
            row["agent_rss_mib"] = rss_mib(agent.pid)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    finally:
        agent.terminate()
        agent.wait()
        shutil.rmtree(runtime, ignore_errors=True)
    # Once the sessions are closed the servers' per-connection processes are reaped and
    # all their CPU is counted: the whole series' server cost.
    time.sleep(1.0)
    rows.append({"series_server_cpu": server_cpu(target) - server_before})
    return rows


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--fleet-hosts", default="1000,10000")
    parser.add_argument("--sshd-hosts", type=int, default=100)
    parser.add_argument("--invocations", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    scratch = tempfile.mkdtemp(prefix="agent-bench-")
    targets = [(f"fleet", int(n)) for n in args.fleet_hosts.split(",") if n]
    if args.sshd_hosts:
        targets.append(("sshd", args.sshd_hosts))
    key = str(Path(scratch) / "id_client")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    table = []
    for kind, count in targets:
        work = Path(scratch) / f"{kind}-{count}"
        work.mkdir()
        target = Fleets(count, work) if kind == "fleet" else Sshds(count, work, key)
        hosts_file = work / "hosts"
        hosts_file.write_text("\n".join(target.hosts) + "\n")
        env = dict(os.environ, SSH_AUTH_SOCK="/nonexistent")
        try:
            for _ in range(args.repeat):
                direct = invoke(target, hosts_file, env, None, False)
                direct["mode"] = "direct"
                print(json.dumps(direct), file=sys.stderr)
                agent = with_agent(target, hosts_file, args.invocations, scratch)
                table.append((kind, count, direct, agent))
        finally:
            target.stop()
    print(f"`sshfan -w HOSTS -f 1000 -- true`, median of {args.repeat} (agent: invocation 1 "
          f"connects, 2–{args.invocations} are warm):\n")
    print("| target | hosts | invocation | wall s | CLI CPU s | agent CPU s | server CPU s | "
          "server CPU ms/host | agent RSS MiB (KiB/session) | failed |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for kind, count in targets:
        rows = [(d, a) for k, c, d, a in table if (k, c) == (kind, count)]
        directs = [d for d, _ in rows]
        firsts = [a[0] for _, a in rows]
        warms = [w for _, a in rows for w in a[1:-1]]
        series = median(a[-1]["series_server_cpu"] for _, a in rows)
        for label, group in (("direct", directs), ("agent, first", firsts),
                             ("agent, warm", warms)):
            wall, cli, agent_cpu, server = (median(r[k] for r in group) for k in
                                            ("wall", "cli_cpu", "agent_cpu", "server_cpu"))
            failed = sum(1 for r in group if r["exit"] != 0)
            rss = median(r.get("agent_rss_mib", 0.0) for r in group)
            memory = f"{rss:.0f} ({rss * 1024 / count:.0f})" if rss else ""
            print(f"| {kind} | {count} | {label} | {wall:.2f} | {cli:.2f} | {agent_cpu:.2f} | "
                  f"{server:.2f} | {server * 1000 / count:.2f} | {memory} | {failed} |")
        d = median(r["wall"] for r in directs)
        w = median(r["wall"] for r in warms)
        ds = median(r["server_cpu"] for r in directs)
        ws = median(r["server_cpu"] for r in warms)
        per = series / args.invocations
        print(f"| {kind} | {count} | agent, all {args.invocations} (server CPU counted once "
              f"the sessions closed) | | | | {series:.2f} ({per:.2f} per invocation) | "
              f"{per * 1000 / count:.2f} | | |")
        print(f"|  |  | direct / agent warm | {d / w:.1f}x | | | {ds / max(ws, 1e-3):.1f}x | | | |")
        print(f"|  |  | direct / agent (series average) | | | | {ds / max(per, 1e-3):.1f}x | | | |")
    Path(__file__).with_name("agent_results.json").write_text(
        json.dumps([{"target": k, "hosts": c, "direct": d, "agent": a} for k, c, d, a in table],
                   indent=1))


if __name__ == "__main__":
    main()
