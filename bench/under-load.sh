#!/usr/bin/env bash
# bench/under-load.sh KILN [MODEL.gguf] [LLAMA_BENCH] — decode speed idle and on
# a busy machine, kiln against llama.cpp in the same run (docs/PERF.md, "Under
# load"). For each model (the tiny synthetic one; the GGUF if given) and each
# thread count (the cores this process may use, and 1), tg64 idle and with N
# spinning background processes (N = those cores), by kiln bench and, for the
# GGUF, by llama-bench under the same load. Needs a machine nothing else runs
# on: the "idle" rows assume it.
#   bash bench/under-load.sh build/bin/kiln $XDG_CACHE_HOME/kiln/models/SmolLM2-135M-Instruct.Q4_1.gguf \
#        /work/llama.cpp-build/bin/llama-bench
set -uo pipefail
kiln=${1:?usage: bench/under-load.sh KILN [MODEL.gguf] [LLAMA_BENCH]}
gguf=${2:-}
llama_bench=${3:-}
cores=$(nproc)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $cores cores available, load $(cut -d' ' -f1-3 /proc/loadavg)"
pids=()
load_on() { for _ in $(seq "$cores"); do (while :; do :; done) & pids+=($!); done; sleep 1; }
load_off() { kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null; pids=(); }
trap load_off EXIT
# tokens/s of the tg row of a llama-bench-style jsonl (kiln bench -o jsonl prints the same fields)
avg_ts() { python3 -c 'import json,sys
rows=[json.loads(l) for l in sys.stdin if l.startswith("{")]
print(" ".join("%.1f" % r["avg_ts"] for r in rows if r.get("n_gen")))'; }
models=(synthetic:tiny-q4_0)
[ -n "$gguf" ] && models+=("$gguf")
printf '%-42s %-6s %-8s %12s\n' model load threads "tg64 tok/s"
for model in "${models[@]}"; do
  for load in idle busy; do
    [ $load = busy ] && load_on
    for t in "$cores" 1; do
      tg=$("$kiln" bench -m "$model" -p 0 -n 64 -r 3 -t "$t" -o jsonl 2>/dev/null | avg_ts)
      printf '%-42s %-6s %-8s %12s\n' "kiln $(basename "$model")" $load "$t" "${tg:-failed}"
      if [ -n "$llama_bench" ] && [ "$model" = "$gguf" ]; then
        tg=$("$llama_bench" -m "$model" -p 0 -n 64 -r 3 -t "$t" -o jsonl 2>/dev/null | avg_ts)
        printf '%-42s %-6s %-8s %12s\n' "llama.cpp $(basename "$model")" $load "$t" "${tg:-failed}"
      fi
    done
    [ $load = busy ] && load_off
  done
done
