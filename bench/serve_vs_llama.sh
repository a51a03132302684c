#!/usr/bin/env bash
# bench/serve_vs_llama.sh KILN LLAMA_SERVER MODEL.gguf [ROUNDS] — kiln serve
# beside llama-server on the same GGUF, same slots, same threads, measured in
# the same run and alternating (kiln, llama, kiln, llama, ...), so the noise of
# a shared machine falls on both (docs/PERF.md quotes the ratios).
#
# Each round: bench/serve_bench.py with 8 streaming clients, 32 requests of 64
# tokens (ignore_eos) on each server, then one shared-prefix run per server
# (a ~1,000-token prefix: cold TTFT against the cached one). Prints one JSON
# line per run and the medians' ratios at the end.
#   bash bench/serve_vs_llama.sh build/bin/kiln /work/llama.cpp-build/bin/llama-server \
#        ~/.cache/kiln/models/SmolLM2-135M-Instruct.Q4_1.gguf 3
set -euo pipefail
kiln=${1:?usage: bench/serve_vs_llama.sh KILN LLAMA_SERVER MODEL.gguf [ROUNDS]}
llama=${2:?llama-server path}
model=${3:?model path}
rounds=${4:-3}
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-$here/../build/venv/bin/python}
clients=8 ctx=2048 threads=$(nproc)
kport=$((20000 + RANDOM % 20000)) lport=$((kport + 1))
out=$(mktemp -d /tmp/kiln-serve-vs-XXXXXX)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $threads cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$kiln" serve -m "$model" --port $kport --parallel $clients -c $ctx -t "$threads" >"$out/kiln.log" 2>&1 &
kpid=$!
"$llama" -m "$model" --port $lport -np $clients -c $((clients * ctx)) -t "$threads" >"$out/llama.log" 2>&1 &
lpid=$!
trap 'kill $kpid $lpid 2>/dev/null; wait 2>/dev/null' EXIT
for port in $kport $lport; do # both up (llama-server answers 503 while loading)
  for _ in $(seq 120); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.5; done
done
run() { # NAME PORT EXTRA...
  local name=$1 port=$2; shift 2
  "$py" "$here/serve_bench.py" --base "http://127.0.0.1:$port" --clients $clients --max-tokens 64 --json "$@" |
    sed "s/^{/{\"server\": \"$name\", /" | tee -a "$out/runs.jsonl"
}
for r in $(seq "$rounds"); do
  run kiln $kport --requests 32
  run llama $lport --requests 32
done
run kiln $kport --requests 8 --shared-prefix 750
run llama $lport --requests 8 --shared-prefix 750
"$py" - "$out/runs.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
def med(server, key, prefix=False):
    xs = [r[key] for r in runs if r["server"] == server and bool(r["shared_prefix_words"]) == prefix and key in r]
    return statistics.median(xs) if xs else float("nan")
for key in ("tokens_per_s", "itl_ms_p50", "itl_ms_p99", "ttft_ms_p50"):
    k, l = med("kiln", key), med("llama", key)
    print(f"{key:20s} kiln {k:9.2f}  llama-server {l:9.2f}  kiln/llama {k / l:5.2f}")
for s in ("kiln", "llama"):
    print(f"{s}: cold-prefix TTFT / cached TTFT p50 = {med(s, 'ttft_cold_over_cached_p50', True)}")
PY
