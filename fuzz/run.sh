#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 30) each, from the committed seed corpora.
# cargo-fuzz wants nightly for its sanitizer flags; on a stable toolchain this uses
# RUSTC_BOOTSTRAP=1 and no sanitizer (panics and assertion failures are still caught).
# Longer runs: `SECONDS_PER_TARGET=3600 bash fuzz/run.sh`.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${SECONDS_PER_TARGET:-30}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz: SKIPPED: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)"
  # CI must run what it claims to run.
  [ "${CI:-}" = true ] && exit 1
  exit 0
fi
sanitizer=(--sanitizer none)
if rustc --version | grep -q nightly; then sanitizer=(); else export RUSTC_BOOTSTRAP=1; fi
for target in hostlist nodeset_fold known_hosts ssh_config output_lines json_events; do
  echo "fuzz: $target for ${seconds}s"
  mkdir -p "corpus/$target"
  # Work on a copy so that CI runs do not grow the committed corpus.
  work=$(mktemp -d)
  cp -r "corpus/$target/." "$work/"
  if ! cargo fuzz run "${sanitizer[@]}" "$target" "$work" -- -max_total_time="$seconds" -max_len=4096 > "$work.log" 2>&1; then
    # Show the failure: the panic, the input, how to reproduce.
    grep -v -E '^ +[0-9]+: |^ +at ' "$work.log" | tail -n 40
    echo "fuzz: $target FAILED (input saved under fuzz/artifacts/$target)"
    exit 1
  fi
  tail -n 2 "$work.log"
  rm -f "$work.log"
  rm -rf "$work"
done
echo "fuzz: all targets ran without a crash"
