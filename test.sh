#!/usr/bin/env bash
# The test command (README "Set-up"): every Rust test of the workspace, then the Python
# bindings' pytest suite. The bindings are built with maturin into a virtualenv under
# target/ (first run: a few minutes, and PyPI for maturin and pytest). Without python3's
# venv module the Python part prints SKIPPED and passes, except under CI=true.
set -euo pipefail
cd "$(dirname "$0")"

cargo test --workspace

venv=target/python-venv
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "SKIPPED python bindings: python3 with the venv module is needed (apt-get install python3-venv)" >&2
  [ "${CI:-}" = true ] && exit 1
  exit 0
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet ./python pytest
# The tests start `sshfan-fleet` (built by `cargo test` above) and a real sshd.
SSHFAN_FLEET_BIN="$PWD/target/debug/sshfan-fleet" "$venv/bin/python" -m pytest -q python/tests
