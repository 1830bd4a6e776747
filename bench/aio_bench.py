#!/usr/bin/env python3
"""The same asyncio program on asyncssh and on ``sshfan.aio``, in one run.

    python bench/aio_bench.py [--fleet-hosts 1000,10000] [--sshd-hosts 200] [--repeat 3]

Each measurement runs the program in a fresh child process: connect to every host
(fan-out 200 at a time), run ``echo hello``, read stdout line by line, wait for the exit
status. asyncssh: one coroutine per host under ``asyncio.gather`` with a semaphore (its
documented pattern); sshfan: ``ParallelClient.run`` then ``as_completed``. Targets: the
``sshfan-fleet`` (its own process, hosts on 127.1.x.y) and real OpenSSH sshd on
127.2.0.x (needs root). Reports the child's wall time (process start to exit), CPU
(user+sys of all its threads, interpreter start included) and peak RSS, with asyncssh / sshfan ratios. A run over 300 s is stopped and reported as
not finished. Needs asyncssh and the bindings (``pip install asyncssh ./python``) in the
running interpreter.
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

sys.path.insert(0, os.path.dirname(__file__))

PROGRAM = r"""
import asyncio, json, sys, time
tool, config_path = sys.argv[1:3]
cfg = json.load(open(config_path))
hosts = cfg["hosts"]

async def with_asyncssh():
    import asyncssh
    sem = asyncio.Semaphore(cfg["fanout"])
    async def one(spec):
        host, port = spec.rsplit(":", 1)
        async with sem:
            try:
                async with asyncssh.connect(host, port=int(port), username=cfg["user"],
                                            client_keys=[cfg["key"]],
                                            known_hosts=cfg["known_hosts"], agent_path=None,
                                            connect_timeout=60) as conn:
                    async with conn.create_process("echo hello") as proc:
                        lines = [line async for line in proc.stdout]
                        status = await proc.wait()
                        return status.exit_status == 0, len(lines)
            except (OSError, asyncssh.Error, asyncio.TimeoutError):
                return False, 0
    results = await asyncio.gather(*(one(h) for h in hosts))
    return sum(ok for ok, _ in results), sum(n for _, n in results)

async def with_sshfan():
    from sshfan.aio import ParallelClient
    names = [h.rsplit(":", 1)[0] for h in hosts]
    port = int(hosts[0].rsplit(":", 1)[1])
    ok = lines = 0
    async with ParallelClient(names, user=cfg["user"], port=port, pkey=cfg["key"],
                              known_hosts=cfg["known_hosts"], ssh_config=False,
                              allow_agent=False, identity_auth=False, num_retries=1,
                              pool_size=cfg["fanout"], timeout=60) as client:
        run = await client.run("echo hello")
        async for host in run.as_completed():
            lines += len([line async for line in host.stdout])
            ok += host.exit_code == 0
    return ok, lines

started = time.monotonic()
ok, lines = asyncio.run(with_asyncssh() if tool == "asyncssh" else with_sshfan())
import resource
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"ok": ok, "lines": lines, "wall": time.monotonic() - started,
                  "cpu": usage.ru_utime + usage.ru_stime, "rss_mib": usage.ru_maxrss / 1024}))
"""

TOOLS = ("sshfan.aio", "asyncssh")
LIMIT = 300


def measure(tool, config_path):
    """Runs the program once: wall, CPU and peak RSS of the child, and its result."""
    started = time.monotonic()
    child = subprocess.Popen([sys.executable, "-c", PROGRAM, tool, config_path],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = child.communicate(timeout=LIMIT)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        return {"tool": tool, "error": "did not finish in %d s" % LIMIT}
    wall = time.monotonic() - started
    if child.returncode != 0:
        return {"tool": tool, "error": err.decode(errors="replace").strip().splitlines()[-1:]}
    result = json.loads(out)
    result.update(tool=tool, process_wall=wall)
    return result


def fleet_target(fleet_bin, count, work):
    state = tempfile.mkdtemp(prefix="aiobench-", dir=work)
    proc = subprocess.Popen([fleet_bin, "--hosts", str(count), "--addresses", "--state-dir",
                             state], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not os.path.exists(os.path.join(state, "ready")):
        if proc.poll() is not None:
            sys.exit("sshfan-fleet did not start")
        time.sleep(0.05)
    hosts = open(os.path.join(state, "hosts")).read().split()
    config = dict(hosts=hosts, user="fleet", key=os.path.join(state, "id_ed25519"),
                  known_hosts=os.path.join(state, "known_hosts"))

    def stop():
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    return config, stop


def sshd_target(count, work):
    from harness import SshdTarget
    key = os.path.join(work, "client_key")
    if not os.path.exists(key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    target = SshdTarget(count, work, key)
    config = dict(hosts=target.hosts, user=target.user, key=key,
                  known_hosts=target.known_hosts)
    return config, target.stop


def bench(name, config, repeat, fanout, work):
    config = dict(config, fanout=fanout)
    path = os.path.join(work, "config.json")
    with open(path, "w") as out:
        json.dump(config, out)
    rows = []
    for _ in range(repeat):
        for tool in TOOLS:
            rows.append(measure(tool, path))
    hosts = len(config["hosts"])
    print("\n#### %s, %d hosts, fan-out %d, %d runs each\n" % (name, hosts, fanout, repeat))
    print("| tool | wall s (median) | client CPU s (median) | CPU ms/host | peak RSS MiB (median) | ok |")
    print("|---|---|---|---|---|---|")
    medians = {}
    for tool in TOOLS:
        mine = [r for r in rows if r["tool"] == tool and "error" not in r]
        if not mine:
            error = next(r for r in rows if r["tool"] == tool)["error"]
            print("| %s | did not finish: %s | | | | |" % (tool, error))
            continue
        wall = sorted(r["process_wall"] for r in mine)[len(mine) // 2]
        cpu = sorted(r["cpu"] for r in mine)[len(mine) // 2]
        rss = sorted(r["rss_mib"] for r in mine)[len(mine) // 2]
        medians[tool] = (wall, cpu)
        print("| %s | %.2f | %.2f | %.3f | %.0f | %d/%d |" % (
            tool, wall, cpu, cpu * 1000 / hosts, rss, mine[0]["ok"], hosts))
    if len(medians) == 2:
        print("\nasyncssh / sshfan.aio: wall %.1fx, client CPU %.1fx (target: CPU >= 10x)" % (
            medians["asyncssh"][0] / medians["sshfan.aio"][0],
            medians["asyncssh"][1] / medians["sshfan.aio"][1]))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--fleet-hosts", default="1000,10000")
    parser.add_argument("--sshd-hosts", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fanout", type=int, default=200)
    parser.add_argument("--fleet", default=os.path.join(
        os.path.dirname(__file__), "..", "target", "release", "sshfan-fleet"))
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE,
                       (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    work = tempfile.mkdtemp(prefix="aiobench-")
    try:
        for count in [int(n) for n in args.fleet_hosts.split(",") if n]:
            config, stop = fleet_target(args.fleet, count, work)
            try:
                bench("sshfan-fleet", config, args.repeat, args.fanout, work)
            finally:
                stop()
        if args.sshd_hosts:
            config, stop = sshd_target(args.sshd_hosts, work)
            try:
                bench("OpenSSH sshd", config, args.repeat, args.fanout, work)
            finally:
                stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
