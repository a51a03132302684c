#!/usr/bin/env bash
# kernels/cuda/tools/device_run.sh [tests|bench|all] — one call on a lent GPU machine:
# build in /root/build with Criterion from .gpu/ (carried: libcriterion and its
# libraries + headers, since the GPU image has none), run the CUDA and op tests
# on cuda:0, then the benchmarks. Logs go to $OUT; a short summary is printed last.
set -uo pipefail
what=${1:-all}
root=$(pwd)
out=${OUT:-/tmp/out}
mkdir -p "$out"
export LD_LIBRARY_PATH="$root/.gpu/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export XDG_CACHE_HOME=/root/cache
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv > "$out/gpu.txt" 2>&1
cmake -S . -B /root/build -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_FLAGS="-I$root/.gpu/include" -DCMAKE_LIBRARY_PATH="$root/.gpu/lib" \
  -DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$root/.gpu/lib" > "$out/build.log" 2>&1 &&
  cmake --build /root/build -j16 >> "$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
summary=""
if [ "$what" != bench ]; then
  export KILN_TEST_BACKENDS=cuda KILN_REQUIRE_BACKENDS=cuda
  timeout 90 /root/build/bin/kiln_tests --jobs 8 --filter "${CUDA_FILTER:-cuda_*/*}" > "$out/tests_cuda.log" 2>&1
  timeout 240 /root/build/bin/kiln_tests --jobs 16 --filter "${OP_FILTER:-op_*/*}" > "$out/tests_op.log" 2>&1
  summary+="cuda tests: $(grep Synthesis "$out/tests_cuda.log")"$'\n'
  summary+="op tests:   $(grep Synthesis "$out/tests_op.log")"$'\n'
  grep -E "FAIL|CRASH|Assertion|rel err|expected" "$out/tests_op.log" "$out/tests_cuda.log" | head -60 > "$out/failures.txt"
fi
if [ "$what" != tests ]; then
  timeout 150 /root/build/bin/kiln-cuda-bench ${BENCH_ARGS:-} > "$out/bench.md" 2> "$out/bench.err"
  summary+="bench: exit $?"$'\n'
fi
cat "$out/failures.txt" 2>/dev/null | cut -c1-300 | head -40
cat "$out/bench.md" "$out/bench.err" 2>/dev/null
echo "$summary"
