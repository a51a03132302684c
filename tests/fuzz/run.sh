#!/usr/bin/env bash
# tests/fuzz/run.sh BUILD [SECONDS] — run every libFuzzer target built in BUILD
# (make fuzz) for SECONDS each (default $FUZZ_SECONDS, else 60), starting from
# its seed corpus tests/fuzz/corpus/<target>/ (copied: what the run finds stays
# in BUILD/fuzz-corpus/<target>/, the repository is not written). Prints the
# executions of each target; a crash leaves its input in
# BUILD/fuzz-artifacts/<target>/ and makes the script fail (exit 1) — that
# input then becomes a regression seed in tests/fuzz/regressions/<target>/,
# which every run replays first.
set -uo pipefail
build=${1:?usage: tests/fuzz/run.sh BUILD [SECONDS]}
seconds=${2:-${FUZZ_SECONDS:-60}}
here=$(cd "$(dirname "$0")" && pwd)
status=0
for bin in "$build"/bin/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  corpus="$build/fuzz-corpus/$name" artifacts="$build/fuzz-artifacts/$name"
  mkdir -p "$corpus" "$artifacts"
  seeds=("$here/corpus/$name")
  [ -d "$here/regressions/$name" ] && seeds+=("$here/regressions/$name")
  # the regressions first, each once: a fixed crash must stay fixed
  if [ -d "$here/regressions/$name" ] && ! "$bin" -runs=0 "$here/regressions/$name" > "$build/$name.replay.log" 2>&1; then
    echo "fuzz $name: a regression input fails again (see $build/$name.replay.log)"
    status=1
    continue
  fi
  log="$build/$name.log"
  "$bin" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=4096 -timeout=20 -print_final_stats=1 \
         -artifact_prefix="$artifacts/" "$corpus" "${seeds[@]}" > "$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  if [ $rc -ne 0 ]; then
    echo "fuzz $name: FAILED after ${execs:-?} executions (${cov:-no coverage line}); input in $artifacts/, log $log"
    grep -m3 -E 'ERROR: |runtime error|SUMMARY' "$log" | sed 's/^/  /'
    status=1
  else
    echo "fuzz $name: ${execs:-?} executions in ${seconds} s, ${cov:-?}, no crash"
  fi
done
exit $status
