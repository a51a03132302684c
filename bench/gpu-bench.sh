#!/usr/bin/env bash
# bench/gpu-bench.sh BUILD_DIR [kiln-cuda-bench args...] — the GPU rows of docs/PERF.md.
# Called by `make gpu-bench`. Needs a CUDA GPU; prints one markdown table
# (event-timed medians, inputs rotated beyond L2, copy ceiling first).
set -euo pipefail
build=${1:-build}; shift || true
bench="$build/bin/kiln-cuda-bench"
if [ ! -x "$bench" ]; then
  echo "gpu-bench: $bench not built (run make first)" >&2
  exit 1
fi
exec "$bench" "$@"
