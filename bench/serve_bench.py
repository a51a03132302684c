#!/usr/bin/env python3
"""bench/serve_bench.py — load test for an OpenAI-compatible server (kiln serve,
llama-server, vLLM), in the manner of vLLM's benchmark_serving.

N clients at once, each sending streaming completion requests one after the
other until R requests are done in all. Reports requests/s, generated
tokens/s over the whole run, time to first token (TTFT) and inter-token
latency (ITL) percentiles. With --shared-prefix T, every prompt starts with
the same T-word text and the first request runs alone first, so the TTFT of
a cold prefix and of a cached one can be compared (prefix caching).

Needs the openai package (build/venv after `make deps`):
    build/venv/bin/python bench/serve_bench.py --base http://127.0.0.1:8080 --clients 8 --requests 64
Start the servers alike, e.g.
    build/bin/kiln serve -m MODEL.gguf --parallel 8 --port 8080
    llama-server -m MODEL.gguf --parallel 8 --port 8081 (-c = 8 x the per-request context)
and give each the same --max-tokens and prompts. Figures need a quiet machine.
"""
import argparse
import json
import statistics
import threading
import time

import openai

WORDS = ("once upon a time there was a little girl named lily who loved to play in the park with her "
         "friends and one day she found a shiny red ball under a big green tree").split()


def prompt_of(i, words, prefix):
    body = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(words))
    return (prefix + " " + body) if prefix else body


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def one_request(client, model, prompt, max_tokens):
    """(ttft_s, [itl_s...], tokens) of one streamed completion."""
    t0 = time.perf_counter()
    last, ttft, itl, tokens = None, None, [], 0
    stream = client.completions.create(model=model, prompt=prompt, max_tokens=max_tokens, temperature=0,
                                       stream=True, extra_body={"ignore_eos": True})
    for chunk in stream:
        if not chunk.choices or not chunk.choices[0].text:
            continue
        now = time.perf_counter()
        if ttft is None:
            ttft = now - t0
        else:
            itl.append(now - last)
        last = now
        tokens += 1
    return ttft if ttft is not None else time.perf_counter() - t0, itl, tokens


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="server URL, e.g. http://127.0.0.1:8080")
    ap.add_argument("--model", help="model id (default: the first /v1/models lists)")
    ap.add_argument("--api-key", default="none")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients")
    ap.add_argument("--requests", type=int, default=32, help="requests in all")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--prompt-words", type=int, default=32)
    ap.add_argument("--shared-prefix", type=int, default=0, help="words of a prefix every prompt shares")
    ap.add_argument("--json", action="store_true", help="one JSON object instead of text")
    a = ap.parse_args()
    if a.clients < 1 or a.requests < 1 or a.max_tokens < 1:
        ap.error("--clients, --requests and --max-tokens must be positive")

    client = openai.OpenAI(base_url=a.base.rstrip("/") + "/v1", api_key=a.api_key, max_retries=0, timeout=600)
    model = a.model or client.models.list().data[0].id
    prefix = " ".join(WORDS[k % len(WORDS)] for k in range(a.shared_prefix))

    cold_ttft = None
    if prefix:  # the shared prefix once alone: its TTFT is the uncached one
        cold_ttft, _, _ = one_request(client, model, prompt_of(10**6, a.prompt_words, prefix), a.max_tokens)

    lock = threading.Lock()
    next_req, results, errors = [0], [], []

    def client_loop():
        while True:
            with lock:
                i = next_req[0]
                if i >= a.requests:
                    return
                next_req[0] += 1
            try:
                r = one_request(client, model, prompt_of(i, a.prompt_words, prefix), a.max_tokens)
                with lock:
                    results.append(r)
            except Exception as e:  # counted and reported
                with lock:
                    errors.append(repr(e))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client_loop) for _ in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0

    ttft = [r[0] for r in results]
    itl = [x for r in results for x in r[1]]
    tokens = sum(r[2] for r in results)
    out = {
        "base": a.base, "model": model, "clients": a.clients, "requests": len(results), "errors": len(errors),
        "max_tokens": a.max_tokens, "prompt_words": a.prompt_words, "shared_prefix_words": a.shared_prefix,
        "wall_s": round(wall, 3), "requests_per_s": round(len(results) / wall, 3),
        "tokens_per_s": round(tokens / wall, 2),
        "ttft_ms_p50": round(pct(ttft, 50) * 1e3, 2), "ttft_ms_p99": round(pct(ttft, 99) * 1e3, 2),
        "itl_ms_p50": round(pct(itl, 50) * 1e3, 2), "itl_ms_p99": round(pct(itl, 99) * 1e3, 2),
    }
    if cold_ttft is not None:
        out["ttft_ms_cold_prefix"] = round(cold_ttft * 1e3, 2)
        out["ttft_cold_over_cached_p50"] = round(cold_ttft / pct(ttft, 50), 2) if ttft else None
    if a.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:28s} {v}")
        for e in errors[:5]:
            print("error:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
