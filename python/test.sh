#!/usr/bin/env bash
# The Python bindings' tests, the second half of the README's test command
# (`cargo test --workspace && bash python/test.sh`): builds the bindings with maturin into
# a virtualenv under target/ (first run: a few minutes, and PyPI for maturin and pytest),
# then runs pytest. Without python3's venv module it prints SKIPPED and passes, except
# under CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/python-venv
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "SKIPPED python bindings: python3 with the venv module is needed (apt-get install python3-venv)" >&2
  [ "${CI:-}" = true ] && exit 1
  exit 0
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet ./python pytest gevent mypy uvloop anyio
# The tests start `sshfan-fleet` (built by `cargo test`, or by conftest.py) and a real sshd.
SSHFAN_FLEET_BIN="$PWD/target/debug/sshfan-fleet" "$venv/bin/python" -m pytest -q python/tests
