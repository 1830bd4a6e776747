"""parallel-ssh on one benchmark workload: its documented pattern (run_command, iterate
each host's stdout, join). Prints one JSON result line. Argument: a file holding the
workload as JSON."""
import json
import sys

from pssh.clients import ParallelSSHClient

# The configuration file (a JSON object; too big for argv at 10,000 hosts).
with open(sys.argv[1]) as config:
    cfg = json.load(config)
hosts = [h.rsplit(":", 1)[0] for h in cfg["hosts"]]
client = ParallelSSHClient(
    hosts, user=cfg["user"], pkey=cfg["key"], port=cfg["port"],
    pool_size=cfg["fanout"], num_retries=0, timeout=cfg["timeout"])
output = client.run_command(cfg["command"], stop_on_errors=False)
lines = size = 0
distinct = set()
for host_output in output:
    kept = []
    if host_output.exception is None:
        for line in host_output.stdout:
            lines += 1
            size += len(line) + 1
            if cfg["gather"]:
                kept.append(line)
    distinct.add("\n".join(kept))
client.join(output)
ok = sum(1 for h in output if h.exception is None and h.exit_code == 0)
print(json.dumps({"hosts": len(hosts), "ok": ok, "lines": lines, "bytes": size,
                  "distinct_outputs": len(distinct)}))
