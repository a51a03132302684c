#!/usr/bin/env bash
# bench/compare/make_reference.sh — llama.cpp's greedy ids and top-2 margins on
# SmolLM2-135M-Instruct Q4_1, written to tests/data/smollm2_llama_greedy.txt
# for tests/test_llama_agreement.c, and the logits of the first forwards (with
# llama.cpp's flash attention off and on) for the relative errors in docs/QUALITY.md.
#
#   LLAMA_SRC=/path/to/llama.cpp LLAMA_BUILD=/path/to/llama.cpp/build \
#     bench/compare/make_reference.sh MODEL.gguf [OUT_DIR]
#
# llama_ref.c is compiled OUTSIDE the repository (in OUT_DIR, default
# /tmp/kiln-llama-ref) against the llama.cpp build; nothing of llama.cpp is
# committed. Runs on one thread with an f32 KV cache.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
model=${1:?usage: make_reference.sh MODEL.gguf [OUT_DIR]}
out=${2:-/tmp/kiln-llama-ref}
: "${LLAMA_SRC:?set LLAMA_SRC to the llama.cpp source tree}"
: "${LLAMA_BUILD:?set LLAMA_BUILD to its build directory (with bin/libllama.so)}"
mkdir -p "$out"
cc -O2 -std=c11 -I"$LLAMA_SRC/include" -I"$LLAMA_SRC/ggml/include" "$here/llama_ref.c" \
   -L"$LLAMA_BUILD/bin" -lllama -lggml -lggml-base -Wl,-rpath,"$LLAMA_BUILD/bin" -o "$out/llama_ref"

# name|prompt — raw text, and ChatML written out by hand. No runs of spaces
# before digits (kiln's smollm pre-tokenizer differs there; the test feeds ids anyway).
prompts=(
  "raw_france|The capital of France is"
  "raw_story|Once upon a time, there was a little girl who"
  "raw_code|def fibonacci(n):"
  "chat_mountain|<|im_start|>user
What is the tallest mountain in the world?<|im_end|>
<|im_start|>assistant
"
  "chat_haiku|<|im_start|>user
Write a haiku about the sea.<|im_end|>
<|im_start|>assistant
"
)
n_predict=${N_PREDICT:-24}
data=$repo/tests/data/smollm2_llama_greedy.txt
{
  echo "# llama.cpp greedy reference for SmolLM2-135M-Instruct.Q4_1.gguf (f32 KV cache, 1 thread, flash attention off)"
  echo "# made by: LLAMA_SRC=... LLAMA_BUILD=... bench/compare/make_reference.sh SmolLM2-135M-Instruct.Q4_1.gguf"
  echo "# llama.cpp: ${LLAMA_VERSION:-$LLAMA_SRC}, $(date -u +%Y-%m-%d)"
  echo "# per case: 'case NAME', 'prompt IDS' (llama.cpp's tokens), 'gen ID:MARGIN ...' (MARGIN: top-1 minus top-2 logit)"
  for p in "${prompts[@]}"; do
    name=${p%%|*}; text=${p#*|}
    echo "case $name"
    "$out/llama_ref" "$model" "$n_predict" 0 "$text" "$out/$name.fa0.logits" 4
    "$out/llama_ref" "$model" 4 1 "$text" "$out/$name.fa1.logits" 4 > /dev/null
  done
} > "$data"
echo "wrote $data; logits of the first 4 forwards in $out/*.fa{0,1}.logits" >&2
