#!/usr/bin/env bash
# sshfan against parallel-ssh, asyncssh, pdsh and clush on the same workloads, in one run.
# Installs the peers (PyPI into bench/.venv, Debian packages), builds sshfan in release,
# runs bench/harness.py and writes the tables into BENCHMARKS.md.
#   bash bench/run.sh            # full sizes (about 30-40 minutes on 2 cores)
#   bash bench/run.sh --quick    # smaller sizes (about 10 minutes)
# Needs root (sshd targets on 127.2.0.x, raising limits). See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v pdsh >/dev/null || ! command -v clush >/dev/null || [ ! -x /usr/sbin/sshd ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq pdsh clustershell openssh-server openssh-client >/dev/null
fi
if [ ! -x bench/.venv/bin/python ]; then
  python3 -m venv bench/.venv
fi
bench/.venv/bin/pip install -q parallel-ssh asyncssh
cargo build --release -q -p sshfan-cli -p sshfan-testkit -p sshfan-bench
ulimit -n "$(ulimit -Hn)"
exec python3 bench/harness.py --write "$@"
