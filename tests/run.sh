#!/usr/bin/env bash
# Runs the Criterion suite: tests/run.sh BUILD_DIR [FILTER] [criterion args...]
# Criterion forks one process per test and runs them in parallel; its closing
# "Synthesis" line is the summary CI reads.
set -uo pipefail
build=$1; shift
filter=${1:-}; shift || true
args=("$@")
[ -n "$filter" ] && args+=(--filter "$filter")
exec "$build/bin/kiln_tests" --verbose=0 "${args[@]}"
