#!/usr/bin/env python3
"""bench/compare/logits_error.py — relative L2 error of kiln's logits of the
first forwards against llama.cpp's (made by make_reference.sh), and llama.cpp's
own flash-attention on/off spread for scale.

    bench/compare/logits_error.py KILN MODEL REF_DIR [BACKEND ...]

For each case of tests/data/smollm2_llama_greedy.txt, runs
`kiln run --prompt-ids PROMPT -n 4 --temp 0 --kv-type f32 --dump-logits` on
each backend (default: cpu-generic cpu-avx2) and compares forward i (the
prompt's, then the decode steps) with REF_DIR/CASE.fa0.logits, the same
forwards of llama.cpp with flash attention off (fa1: on). Reports per backend
the worst and mean ‖kiln − llama‖ / ‖llama‖ over the cases and forwards whose
inputs agree (kiln's greedy ids equal llama.cpp's so far)."""
import math
import os
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(here, "..", "..", "tests", "data", "smollm2_llama_greedy.txt")


def cases():
    out, cur = [], None
    for line in open(DATA):
        w = line.split()
        if not w or w[0].startswith("#"):
            continue
        if w[0] == "case":
            cur = {"name": w[1]}
            out.append(cur)
        elif w[0] == "prompt":
            cur["prompt"] = [int(x) for x in w[1:]]
        elif w[0] == "gen":
            cur["gen"] = [int(x.split(":")[0]) for x in w[1:]]
    return out


def load(path):
    return [[float(x) for x in line.split()] for line in open(path)]


def rel(a, b):
    num = sum((x - y) ** 2 for x, y in zip(a, b))
    den = sum(y * y for y in b)
    return math.sqrt(num / den)


def argmax(v):
    return max(range(len(v)), key=v.__getitem__)


def kiln_logits(kiln, model, backend, prompt, n):
    env = dict(os.environ)
    args = [kiln, "run", "-m", model, "--prompt-ids", ",".join(map(str, prompt)), "-n", str(n), "--temp", "0",
            "--kv-type", "f32", "--ids"]
    if backend.startswith("cpu-"):
        env["KILN_CPU_ISA"] = backend[4:]
    else:
        args += ["--backend", backend]
    with tempfile.NamedTemporaryFile(suffix=".logits") as f:
        subprocess.run(args + ["--dump-logits", f.name], env=env, check=True, capture_output=True)
        return load(f.name)


def main():
    kiln, model, ref = sys.argv[1:4]
    backends = sys.argv[4:] or ["cpu-generic", "cpu-avx2"]
    if backends == ["none"]:
        backends = []
    errs = {b: [] for b in backends + ["llama fa on vs off"]}
    for c in cases():
        fa0 = load(os.path.join(ref, c["name"] + ".fa0.logits"))
        fa1 = load(os.path.join(ref, c["name"] + ".fa1.logits"))
        n = len(fa0)
        for i in range(n):
            errs["llama fa on vs off"].append(rel(fa1[i], fa0[i]))
            if argmax(fa1[i]) != c["gen"][i]:
                break  # a near-tie went the other way: later forwards have other inputs
        for b in backends:
            got = kiln_logits(kiln, model, b, c["prompt"], n)
            for i in range(n):
                errs[b].append(rel(got[i], fa0[i]))
                if argmax(got[i]) != c["gen"][i]:
                    break  # later forwards have other inputs
    for b, e in errs.items():
        print(f"{b:24s} forwards {len(e):3d}  worst {max(e):.2e}  mean {sum(e) / len(e):.2e}")


if __name__ == "__main__":
    main()
