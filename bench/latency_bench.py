#!/usr/bin/env python3
"""Round trips on a slow link: every tool behind a 100 ms round trip, in one run.

    bench/.venv/bin/python bench/latency_bench.py [--hosts 1,1000] [--rtt-ms 100] [--repeat 5]

What a fleet across regions pays is round trips × RTT, not CPU. The testkit fleet
(`sshfan-fleet --addresses`) serves the hosts; `sshfan-relay` puts one loopback address
per host in front of it, adds half the RTT to every chunk each way and holds each new
connection for one RTT, as TCP's handshake would on a real link. Each tool runs `true`
on every host with the fanout equal to the host count, in a fresh process:
- sshfan-lib: `sshfan-bench --runs 2` (cold: the first run, connecting; warm: the second,
  on the kept sessions), timed inside the process;
- sshfan-lib-spare: the same with spare channels on (`--spare-channels`, a 1 s pause
  between the runs while the spares open): warm costs one round trip;
- sshfan-cli: the binary's whole process; warm is a second invocation through
  `sshfan agent`;
- sshfan-py: sshfan's Python bindings (`sshfan.clients.ParallelSSHClient`), and
  parallel-ssh 2.x with the same program; asyncssh 2.x (one coroutine per host): each
  timed after its imports, cold the first `run_command` + join, warm the second;
- pdsh -R ssh (OpenSSH's `ssh`, one process per host; no warm run).
Best of REPEAT runs (the relay makes the floor a fixed number of RTTs; noise only adds).
`--kex-first curve25519-sha256` makes the fleet list that key exchange first, as OpenSSH
6.5 to 8.9 and Dropbear do (russh's default, like OpenSSH 9.9 and later, is ML-KEM): the
fleet then takes sshfan's key exchange guess, one round trip less.
The interpreter must have `sshfan` (pip install ./python), `parallel-ssh` and `asyncssh`.
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
import harness  # noqa: E402  (FleetTarget, RELEASE)

PYTHON_RUN = r"""
import json, sys, time
tool, hosts_file, user, key, known_hosts = sys.argv[1:6]
specs = open(hosts_file).read().split()
hosts = [s.rsplit(':', 1)[0] for s in specs]
port = int(specs[0].rsplit(':', 1)[1])
times = []
if tool == 'asyncssh':
    import asyncio, asyncssh
    async def main():
        started = time.monotonic()
        async def connect(host):
            return await asyncssh.connect(host, port=port, username=user, client_keys=[key],
                                          known_hosts=known_hosts, agent_path=None,
                                          config=None)
        conns = await asyncio.gather(*(connect(h) for h in hosts))
        results = await asyncio.gather(*(c.run('true') for c in conns))
        times.append(time.monotonic() - started)
        started = time.monotonic()
        results = await asyncio.gather(*(c.run('true') for c in conns))
        times.append(time.monotonic() - started)
        for c in conns:
            c.close()
        return sum(1 for r in results if r.exit_status == 0)
    ok = asyncio.run(main())
else:
    if tool == 'parallel-ssh':
        from pssh.clients import ParallelSSHClient
        extra = {}
    else:
        from sshfan.clients import ParallelSSHClient
        extra = dict(known_hosts=known_hosts, ssh_config=False)
    started = time.monotonic()
    client = ParallelSSHClient(hosts, user=user, port=port, pkey=key, pool_size=len(hosts),
                               num_retries=1, allow_agent=False, identity_auth=False, **extra)
    for _ in range(2):
        output = client.run_command('true', stop_on_errors=False)
        client.join(output)
        times.append(time.monotonic() - started)
        started = time.monotonic()
    ok = sum(1 for o in output if o.exit_code == 0)
print(json.dumps({'ok': ok, 'run_seconds': times}))
"""


def relay(targets, work, rtt_ms):
    targets_file = work / "targets"
    targets_file.write_text("\n".join(targets) + "\n")
    out = work / "relayed"
    ready = work / "ready"
    ready.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [str(harness.RELEASE / "sshfan-relay"), "--targets", str(targets_file),
         "--delay-ms", str(rtt_ms // 2), "--charge-connect", "--hosts-out", str(out)],
        start_new_session=True)
    while not ready.exists():
        if proc.poll() is not None:
            raise RuntimeError("sshfan-relay did not start")
        time.sleep(0.02)
    return proc, out.read_text().split()


def known_hosts_for(relayed, fleet_known_hosts, work):
    """The fleet's host key under each relayed address."""
    key = " ".join(Path(fleet_known_hosts).read_text().split("\n")[0].split()[1:3])
    path = work / "known_hosts"
    lines = []
    for spec in relayed:
        address, port = spec.rsplit(":", 1)
        lines.append(f"[{address}]:{port} {key}\n")
    path.write_text("".join(lines))
    return str(path)


def timed(argv, env=None):
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
    return time.monotonic() - started, done


def run_tools(relayed, fleet, known_hosts, work, python, tools):
    hosts_file = work / f"hosts-{len(relayed)}"
    hosts_file.write_text("\n".join(relayed) + "\n")
    n = len(relayed)
    port = relayed[0].rsplit(":", 1)[1]
    rows = []

    def row(tool, cold, warm, ok, error=""):
        rows.append({"tool": tool, "hosts": n, "cold": cold, "warm": warm, "ok": ok,
                     "error": error})
        print(json.dumps(rows[-1]), file=sys.stderr)

    env = dict(os.environ, SSH_AUTH_SOCK="/nonexistent")
    # The library: sshfan-bench runs twice on one client (cold, then warm); with spare
    # channels on, warm is the second run once the spares are open.
    lib_variants = (("sshfan-lib", []),
                    ("sshfan-lib-spare", ["--spare-channels", "--pause-ms", "1000"]))
    for tool, extra in lib_variants:
        if tool not in tools:
            continue
        _, done = timed([str(harness.RELEASE / "sshfan-bench"), "--hosts-file", str(hosts_file),
                         "--user", fleet.user, "--key", fleet.key, "--known-hosts", known_hosts,
                         "--fanout", str(n), "--max-handshakes", str(n), "--runs", "2",
                         *extra, "--no-gather", "true"], env)
        try:
            result = json.loads(done.stdout.strip().splitlines()[-1])
            row(tool, *result["run_seconds"][:2], result["ok"])
        except (ValueError, IndexError, KeyError):
            row(tool, None, None, 0, done.stderr[-300:])
    if "sshfan-cli" in tools:
        runtime = Path(tempfile.mkdtemp(prefix="latency-agent-", dir=work))
        os.chmod(runtime, 0o700)
        cli_env = dict(env, XDG_RUNTIME_DIR=str(runtime))
        argv = [str(harness.RELEASE / "sshfan"), "-l", fleet.user, "-i", fleet.key,
                "--known-hosts", known_hosts, "--no-journal", "-f", str(n), "-w",
                f"^{hosts_file}"]
        cold, done = timed(argv + ["--", "true"], cli_env)
        agent = subprocess.Popen([str(harness.RELEASE / "sshfan"), "agent", "serve"],
                                 env=cli_env, stderr=subprocess.DEVNULL, start_new_session=True)
        while not (runtime / "sshfan" / "agent.sock").exists():
            time.sleep(0.02)
        timed(argv + ["--agent", "--", "true"], cli_env)  # connects
        warm, warm_done = timed(argv + ["--agent", "--", "true"], cli_env)
        agent.terminate()
        agent.wait()
        shutil.rmtree(runtime, ignore_errors=True)
        ok = n if done.returncode == 0 and warm_done.returncode == 0 else 0
        row("sshfan-cli", cold, warm, ok, done.stderr[-300:] if not ok else "")
    for tool in ("sshfan-py", "parallel-ssh", "asyncssh"):
        if tool not in tools:
            continue
        _, done = timed([python, "-c", PYTHON_RUN, tool, str(hosts_file), fleet.user, fleet.key,
                         known_hosts], env)
        try:
            result = json.loads(done.stdout.strip().splitlines()[-1])
            row(tool, *result["run_seconds"][:2], result["ok"])
        except (ValueError, IndexError, KeyError):
            row(tool, None, None, 0, done.stderr[-300:])
    if "pdsh" in tools and shutil.which("pdsh"):
        pdsh_env = dict(env, PDSH_SSH_ARGS=(
            f"-p {port} -i {fleet.key} -o UserKnownHostsFile={known_hosts} "
            "-o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes "
            "-o GlobalKnownHostsFile=/dev/null %h"), PDSH_RCMD_TYPE="ssh")
        addresses = work / f"addresses-{n}"
        addresses.write_text("\n".join(s.rsplit(":", 1)[0] for s in relayed) + "\n")
        cold, done = timed(["pdsh", "-R", "ssh", "-l", fleet.user, "-f", str(n), "-w",
                            f"^{addresses}", "true"], pdsh_env)
        ok = n if done.returncode == 0 else 0
        row("pdsh", cold, None, ok, done.stderr[-300:] if not ok else "")
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", default="1,1000")
    parser.add_argument("--rtt-ms", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--kex-first", default=None)
    parser.add_argument("--tools", default="sshfan-lib,sshfan-cli,sshfan-py,parallel-ssh,"
                                           "asyncssh,pdsh")
    args = parser.parse_args()
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    tools = args.tools.split(",")
    counts = [int(n) for n in args.hosts.split(",")]
    work = Path(tempfile.mkdtemp(prefix="latency-bench-"))
    extra = ["--kex-first", args.kex_first] if args.kex_first else []
    fleet = harness.FleetTarget(max(counts), work, extra)
    relay_proc, relayed = relay(fleet.hosts, work, args.rtt_ms)
    known_hosts = known_hosts_for(relayed, fleet.known_hosts, work)
    results = []
    try:
        for _ in range(args.repeat):
            for n in counts:
                results += run_tools(relayed[:n], fleet, known_hosts, work, args.python, tools)
    finally:
        os.killpg(relay_proc.pid, 15)
        relay_proc.wait()
        fleet.stop()
    rtt = args.rtt_ms / 1000
    kex = f"; the fleet lists {args.kex_first} first" if args.kex_first else ""
    print(f"`true` on every host behind a {args.rtt_ms} ms round trip (TCP connect charged "
          f"one RTT), fanout = hosts, best of {args.repeat}{kex}:\n")
    print("| hosts | tool | cold s | ≈ RTTs | warm s | ≈ RTTs | ok |")
    print("|---|---|---|---|---|---|---|")
    best = {}
    for n in counts:
        for tool in tools:
            mine = [r for r in results if r["tool"] == tool and r["hosts"] == n]
            good = [r for r in mine if r["cold"] is not None and r["ok"] == n]
            if not good:
                errors = [r["error"] for r in mine if r["error"]]
                print(f"| {n} | {tool} | failed: {errors[:1]} | | | | 0/{n} |")
                continue
            cold = min(r["cold"] for r in good)
            warms = [r["warm"] for r in good if r["warm"] is not None]
            warm = min(warms) if warms else None
            best[(n, tool)] = cold
            warm_text = f"{warm:.3f} | {warm / rtt:.1f}" if warm is not None else "– | –"
            print(f"| {n} | {tool} | {cold:.3f} | {cold / rtt:.1f} | {warm_text} | {n}/{n} |")
        for peer in ("sshfan-py", "parallel-ssh", "asyncssh", "pdsh"):
            if (n, peer) in best and (n, "sshfan-cli") in best and peer != "sshfan-cli":
                ratio = best[(n, peer)] / best[(n, "sshfan-cli")]
                print(f"| {n} | {peer} / sshfan-cli (cold) | {ratio:.2f}x | | | | |")
    Path(__file__).with_name("latency_results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
