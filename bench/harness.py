#!/usr/bin/env python3
"""sshfan and its peers on the same workloads, in one run, measured the same way.

Every tool runs as a child process in its own session. Wall time is from start to exit;
client CPU is user+sys from wait4 (which includes the tool's reaped children, so the
`ssh` processes pdsh and clush fork are counted); peak RSS is the largest sum of VmRSS
over the tool's whole process tree, sampled every 50 ms (forking tools are not
under-counted), or wait4's maxrss if larger. The servers (the sshfan-fleet process, or
OpenSSH sshd) run beside the tools on the same machine and are not counted as client.

Results go to bench/results.json and into BENCHMARKS.md between the `peers` markers.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "target" / "release"
VENV_PY = Path(os.environ.get("BENCH_PYTHON", ROOT / "bench" / ".venv" / "bin" / "python"))
TOOLS = ["sshfan-lib", "sshfan-cli", "parallel-ssh", "asyncssh", "pdsh", "clush"]
FORKING = {"pdsh", "clush"}
PYTHON_PEERS = {"parallel-ssh": "pssh_run.py", "asyncssh": "asyncssh_run.py"}


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- targets


class Target:
    """Hosts to run on: host specs, user, key, known_hosts, one port for all."""

    name = ""
    hosts: list
    user: str
    key: str
    known_hosts: str
    port: int

    def stop(self):
        pass


class FleetTarget(Target):
    """`sshfan-fleet --addresses` in its own process: one port, an address per host."""

    def __init__(self, count, work, extra_args=()):
        self.name = "fleet"
        state = Path(work) / f"fleet-{count}"
        shutil.rmtree(state, ignore_errors=True)  # never reuse a stopped fleet's state
        self.proc = subprocess.Popen(
            [str(RELEASE / "sshfan-fleet"), "--hosts", str(count), "--addresses",
             "--state-dir", str(state), *extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 120
        while not (state / "ready").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("sshfan-fleet did not start")
            time.sleep(0.05)
        self.hosts = (state / "hosts").read_text().split()
        self.port = int(self.hosts[0].rsplit(":", 1)[1])
        self.user = "fleet"
        self.key = str(state / "id_ed25519")
        self.known_hosts = str(state / "known_hosts")

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait()


class SshdTarget(Target):
    """Real OpenSSH sshd on 127.2.0.x:2222, 16 addresses per sshd process (its limit)."""

    def __init__(self, count, work, key):
        self.name = "sshd"
        base = Path(work) / f"sshd-{count}"
        base.mkdir(parents=True, exist_ok=True)
        host_key = base / "host_key"
        if not host_key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)],
                           check=True)
        pub = subprocess.run(["ssh-keygen", "-y", "-f", key], check=True,
                             capture_output=True, text=True).stdout
        (base / "authorized_keys").write_text(pub)
        host_pub = (base / "host_key.pub").read_text().split()[:2]
        addresses = [f"127.2.{i // 250}.{1 + i % 250}" for i in range(count)]
        self.port = 2222
        self.hosts = [f"{a}:{self.port}" for a in addresses]
        (base / "known_hosts").write_text(
            "".join(f"[{a}]:{self.port} {' '.join(host_pub)}\n" for a in addresses))
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        self.procs = []
        for group in range(0, count, 16):
            config = base / f"sshd_config.{group}"
            lines = [f"ListenAddress {a}:{self.port}" for a in addresses[group:group + 16]]
            lines += [
                f"HostKey {host_key}", f"PidFile {base}/sshd.{group}.pid",
                f"AuthorizedKeysFile {base}/authorized_keys", "UsePAM no", "StrictModes no",
                "PermitRootLogin yes", "PasswordAuthentication no", "MaxStartups 10000",
                "MaxSessions 1000", "UseDNS no", "LogLevel ERROR", "SetEnv SHLVL=1",
            ]
            config.write_text("\n".join(lines) + "\n")
            self.procs.append(subprocess.Popen(
                ["/usr/sbin/sshd", "-D", "-f", str(config), "-E", str(base / "sshd.log")],
                start_new_session=True))
        self.user = "root"
        self.key = key
        self.known_hosts = str(base / "known_hosts")
        time.sleep(1.0)

    def stop(self):
        for proc in self.procs:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()


# ---------------------------------------------------------------- measuring


def tree_rss_kib(session):
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getsid(int(entry)) != session:
                continue
            with open(f"/proc/{entry}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total


def measure(argv, env, cap, stdout, stderr):
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=stdout, stderr=stderr,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    peak = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - started > cap:
            os.killpg(proc.pid, signal.SIGKILL)
            os.wait4(proc.pid, 0)
            return {"dnf": f"did not finish within the {cap:.0f} s cap"}
        peak = max(peak, tree_rss_kib(proc.pid))
        time.sleep(0.05)
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers of a forking tool
    except ProcessLookupError:
        pass
    return {
        "wall": time.monotonic() - started,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_kib": max(peak, usage.ru_maxrss),
        "exit": os.waitstatus_to_exitcode(status),
    }


# ---------------------------------------------------------------- tools


def run_tool(tool, target, command, fanout, repeat, gather, cap, scratch):
    hosts = target.hosts * repeat
    hosts_file = Path(scratch) / "hosts"
    hosts_file.write_text("\n".join(hosts) + "\n")
    names_file = Path(scratch) / "names"
    names_file.write_text("\n".join(h.rsplit(":", 1)[0] for h in hosts) + "\n")
    out_path, err_path = Path(scratch) / "stdout", Path(scratch) / "stderr"
    env = {"PATH": os.environ["PATH"], "HOME": scratch, "LANG": "C.UTF-8"}
    ssh_options = (f"-i {target.key} -p {target.port} -o UserKnownHostsFile={target.known_hosts}"
                   " -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes"
                   " -F /dev/null")
    keep_output = gather and tool not in ("sshfan-lib", "parallel-ssh", "asyncssh")
    cfg = {"hosts": hosts, "user": target.user, "key": target.key, "port": target.port,
           "known_hosts": target.known_hosts, "fanout": fanout, "timeout": 60,
           "command": command, "gather": gather}
    if tool == "sshfan-lib":
        argv = [str(RELEASE / "sshfan-bench"), "--hosts-file", str(hosts_file), "--user",
                target.user, "--key", target.key, "--known-hosts", target.known_hosts,
                "--fanout", str(fanout), command] + ([] if gather else ["--no-gather"])
    elif tool == "sshfan-cli":
        argv = [str(RELEASE / "sshfan"), "-h", str(hosts_file), "-l", target.user, "-i",
                target.key, "--known-hosts", target.known_hosts, "-f", str(fanout), "-F",
                "none", "-t", "60", "--summary", "--color", "never", "--progress", "never"]
        argv += ["--allow-duplicates"] if repeat > 1 else []
        argv += ["-b"] if gather else []
        argv += ["--", command]
    elif tool in PYTHON_PEERS:
        # In a file: at 10,000 hosts the configuration overflows one argv string (128 KiB).
        config_file = Path(scratch) / "config.json"
        config_file.write_text(json.dumps(cfg))
        argv = [str(VENV_PY), str(ROOT / "bench" / "peers" / PYTHON_PEERS[tool]),
                str(config_file)]
    elif tool == "pdsh":
        if repeat > 1:
            return {"dnf": "not attempted: pdsh removes duplicate hosts and forks one ssh per host"}
        env["PDSH_SSH_ARGS_APPEND"] = ssh_options
        argv = ["pdsh", "-S", "-R", "ssh", "-f", str(fanout), "-l", target.user, "-w",
                f"^{names_file}", command]
    elif tool == "clush":
        if repeat > 1:
            return {"dnf": "not attempted: clush removes duplicate hosts and forks one ssh per host"}
        argv = ["clush", "--hostfile", str(names_file), "-l", target.user, "-f", str(fanout),
                "-o", ssh_options, "-S"] + (["-b"] if gather else []) + [command]
    else:
        raise ValueError(tool)
    if tool in FORKING and fanout > 2000:
        return {"dnf": f"not attempted: {fanout} concurrent ssh processes (one per host)"}
    with open(out_path if (keep_output or tool in ("sshfan-lib", "parallel-ssh", "asyncssh"))
              else os.devnull, "wb") as out, open(err_path, "wb") as err:
        result = measure(argv, env, cap, out, err)
    if "dnf" in result:
        return result
    result["hosts"] = len(hosts)
    stderr = err_path.read_text(errors="replace")
    if tool in ("sshfan-lib", "parallel-ssh", "asyncssh"):
        try:
            reported = json.loads(out_path.read_text().strip().splitlines()[-1])
            result["ok"] = reported["ok"]
            result["bytes"] = reported["bytes"]
        except (IndexError, ValueError, KeyError):
            result["dnf"] = f"exited {result['exit']}: {stderr.strip().splitlines()[-1:]}"
    elif tool == "sshfan-cli":
        found = re.search(r"(\d+) hosts, (\d+) ok", stderr)
        result["ok"] = int(found.group(2)) if found else 0
    else:
        result["ok"] = len(hosts) if result["exit"] == 0 else count_forking_ok(
            tool, stderr, len(hosts))
    return result


def over_cap(results, tool, sessions, cap):
    """Why not to start a run the tool's own CPU cost in this run says cannot finish."""
    if sessions <= 1000:
        return None
    echo = [r for r in results if r["tool"] == tool and r["workload"] == "a"
            and r["target"] == "fleet"]
    failed = [r for r in echo if "dnf" in r and r["sessions"] < sessions]
    if failed:
        return (f"not attempted: did not finish (a) at {failed[0]['sessions']:,} hosts "
                "in this run")
    measured = [r for r in echo if "dnf" not in r and r["sessions"] >= 1000]
    if not measured:
        return None
    per_host = max(r["cpu"] / r["sessions"] for r in measured)
    if per_host * sessions <= cap:
        return None
    return (f"not attempted: at its {1000 * per_host:.1f} ms of CPU per host in (a), "
            f"{sessions:,} hosts need about {per_host * sessions:.0f} s, over the {cap:.0f} s cap")


def in_memory_run(sessions, cap):
    """sshfan-bench-memory: every session open at once in one process, in memory."""
    log(f"f memory {sessions} sshfan-lib ...")
    base = {"workload": "f", "target": "memory", "sessions": sessions, "tool": "sshfan-lib"}
    try:
        done = subprocess.run([str(RELEASE / "sshfan-bench-memory"), "--sessions",
                               str(sessions)], capture_output=True, text=True,
                              timeout=2 * cap)
        report = json.loads(done.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        return {**base, "dnf": f"did not finish within {2 * cap:.0f} s"}
    except (IndexError, ValueError):
        return {**base, "dnf": f"exited {done.returncode}: {done.stderr.strip()[-200:]}"}
    log("   ", report)
    return {**base, **report}


def count_forking_ok(tool, stderr, total):
    failed = set()
    for line in stderr.splitlines():
        found = re.search(r"(\S+?):? ssh exited with exit code|clush: (\S+?): exited with exit code",
                          line)
        if found:
            failed.add(found.group(1) or found.group(2))
    return total - len(failed)


# ---------------------------------------------------------------- workloads


def workloads(quick):
    sizes = [100, 1000] if quick else [100, 1000, 10000]
    yield from (("a", "fleet", n, "echo hello", n if n <= 1000 else 1000, 1, True) for n in sizes)
    yield from (("a", "sshd", n, "echo hello", 100, 1, True) for n in ([100] if quick else [100, 500]))
    yield ("b", "fleet", 200, "seq 5300", 200, 1, True)
    yield ("b", "sshd", 200, "cat {file26k}", 100, 1, True)
    concurrent = 2000 if quick else 10000
    yield ("c", "fleet", 1000, "sleep 5", concurrent, concurrent // 1000, False)
    flood_hosts = 20 if quick else 100
    yield ("d", "fleet", flood_hosts, f"flood {100 * 1024 * 1024}", flood_hosts, 1, False)
    # 100,000 hosts: the fleet holds one socket per address and at most 20,000 descriptors,
    # so 2,000 addresses serve 50 sessions each; 10,000 sessions in flight.
    yield ("e", "fleet", 1000 if quick else 2000, "echo hello", 5000 if quick else 10000,
           10 if quick else 50, True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (about 10 minutes)")
    parser.add_argument("--cap", type=float, default=300, help="seconds per tool run")
    parser.add_argument("--flood-cap", type=float, default=120,
                        help="seconds per tool run in (d), where slow peers would take 10+ minutes")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--only", default="", help="workloads to run, e.g. a,b")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    tools = args.tools.split(",")
    work = tempfile.mkdtemp(prefix="sshfan-bench-")
    file26k = Path(work) / "26k.txt"
    file26k.write_text("".join(f"line {i:05d} of the published parallel-ssh benchmark file\n"
                               for i in range(460))[:26 * 1024])
    results = []
    targets = {}
    try:
        for workload, kind, count, command, fanout, repeat, gather in workloads(args.quick):
            if args.only and workload not in args.only.split(","):
                continue
            key = (kind, count)
            if key not in targets:
                for old in targets.values():
                    old.stop()
                targets.clear()
                if kind == "fleet":
                    targets[key] = FleetTarget(count, work)
                else:
                    key_path = Path(work) / "client_key"
                    if not key_path.exists():
                        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                                        str(key_path)], check=True)
                    targets[key] = SshdTarget(count, work, str(key_path))
            target = targets[key]
            command = command.format(file26k=file26k)
            for tool in tools:
                scratch = tempfile.mkdtemp(dir=work)
                log(f"{workload} {kind} {count}x{repeat} {tool} ...")
                cap = min(args.cap, args.flood_cap) if workload == "d" else args.cap
                too_long = over_cap(results, tool, count * repeat, cap)
                result = {"dnf": too_long} if too_long else run_tool(
                    tool, target, command, fanout, repeat, gather, cap, scratch)
                shutil.rmtree(scratch, ignore_errors=True)
                result.update(workload=workload, target=kind, sessions=count * repeat,
                              tool=tool, command=command, fanout=fanout)
                log("   ", {k: v for k, v in result.items() if k not in ("command",)})
                results.append(result)
        if not args.only or "f" in args.only.split(","):
            results.append(in_memory_run(20000 if args.quick else 100000, args.cap))
    finally:
        for target in targets.values():
            target.stop()
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    report = render(results, args)
    print(report)
    if args.write:
        path = ROOT / "BENCHMARKS.md"
        text = path.read_text()
        begin, end = "<!-- peers:begin -->", "<!-- peers:end -->"
        if begin in text:
            text = text[:text.index(begin)] + begin + "\n" + report + end + text[text.index(end) + len(end):]
        else:
            text += f"\n{begin}\n{report}{end}\n"
        path.write_text(text)


# ---------------------------------------------------------------- report

TITLES = {
    "a": "(a) `echo hello`, output gathered",
    "b": "(b) parallel-ssh's benchmark: 26 KB of lines per session, read line by line",
    "c": "(c) quiet long command (`sleep 5`), all sessions held at once",
    "d": "(d) 100 MB of output per host, aggregate throughput",
    "e": "(e) many hosts over real sockets, `echo hello`, output gathered, up to 10,000 in flight"
         " (fleet addresses each used by several hosts: one process holds at most 20,000"
         " descriptors)",
}


def render(results, args):
    machine = f"{os.cpu_count()} cores"
    lines = [f"Run: `bench/run.sh{' --quick' if args.quick else ''}`, "
             f"{time.strftime('%Y-%m-%d')}, {machine}; servers on the same machine. "
             "Ratios are the peer's figure over sshfan-lib's in the same table (>1: sshfan better).",
             ""]
    groups = {}
    for r in results:
        groups.setdefault((r["workload"], r["target"], r["sessions"]), []).append(r)
    for (workload, target, sessions), rows in groups.items():
        if workload == "f":
            lines += render_in_memory(rows[0])
            continue
        lines.append(f"#### {TITLES[workload]}: {target}, {sessions:,} sessions")
        lines.append("")
        lines.append("| tool | wall s | client CPU s | CPU ms/host | peak RSS MiB | RSS KiB/session"
                     " | ok | MB/s | wall ratio | CPU ratio |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        base = next((r for r in rows if r["tool"] == "sshfan-lib" and "dnf" not in r), None)
        for r in rows:
            if "dnf" in r:
                lines.append(f"| {r['tool']} | {r['dnf']} | | | | | | | | |")
                continue
            mbps = r.get("bytes", 0) / r["wall"] / 1e6 if workload == "d" and r.get("bytes") else None
            wall_ratio = f"{r['wall'] / base['wall']:.1f}x" if base else ""
            cpu_ratio = f"{r['cpu'] / base['cpu']:.1f}x" if base and base["cpu"] > 0 else ""
            lines.append(
                f"| {r['tool']} | {r['wall']:.2f} | {r['cpu']:.2f} | "
                f"{1000 * r['cpu'] / sessions:.2f} | {r['rss_kib'] / 1024:.0f} | "
                f"{r['rss_kib'] / sessions:.0f} | {r['ok']}/{sessions} | "
                f"{'' if mbps is None else f'{mbps:.0f}'} | {wall_ratio} | {cpu_ratio} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def render_in_memory(r):
    lines = [f"#### (f) {r['sessions']:,} concurrent sessions in one process, in memory "
             "(`sshfan-bench-memory`: client and testkit servers over in-process pipes)", ""]
    if "dnf" in r:
        return lines + [r["dnf"], ""]
    return lines + [
        "| sessions up | time until all up s | CPU s (both ends) | RSS with all open MiB"
        " | RSS KiB per session (both ends) |",
        "|---|---|---|---|---|",
        f"| {r['up']:,}/{r['sessions']:,} | {r['ramp_s']:.1f} | {r['cpu_s']:.1f} | "
        f"{r['rss_open_kib'] / 1024:.0f} | {r['rss_per_session_kib']:.1f} |", ""]


if __name__ == "__main__":
    main()
