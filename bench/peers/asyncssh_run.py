"""asyncssh on one benchmark workload: one coroutine per host under asyncio.gather (a
semaphore as the fan-out), reading stdout line by line. Prints one JSON result line."""
import asyncio
import json
import sys

import asyncssh

# The configuration file (a JSON object; too big for argv at 10,000 hosts).
with open(sys.argv[1]) as config:
    cfg = json.load(config)


async def one(spec, sem):
    host, port = spec.rsplit(":", 1)
    async with sem:
        try:
            async with asyncssh.connect(
                    host, port=int(port), username=cfg["user"], client_keys=[cfg["key"]],
                    known_hosts=cfg["known_hosts"], agent_path=None,
                    connect_timeout=cfg["timeout"]) as conn:
                async with conn.create_process(cfg["command"], encoding=None) as proc:
                    lines = size = 0
                    kept = []
                    async for line in proc.stdout:
                        lines += 1
                        size += len(line)
                        if cfg["gather"]:
                            kept.append(line)
                    status = await proc.wait()
                    return status.exit_status == 0, lines, size, b"".join(kept)
        except (OSError, asyncssh.Error, asyncio.TimeoutError):
            return False, 0, 0, b""


async def main():
    sem = asyncio.Semaphore(cfg["fanout"])
    results = await asyncio.gather(*(one(h, sem) for h in cfg["hosts"]))
    print(json.dumps({
        "hosts": len(results), "ok": sum(r[0] for r in results),
        "lines": sum(r[1] for r in results), "bytes": sum(r[2] for r in results),
        "distinct_outputs": len({r[3] for r in results})}))

asyncio.run(main())
