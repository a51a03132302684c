"""16 clients at once, each its own prompt, greedy: every answer equals that
prompt's answer alone; nothing lost or mixed up. Prints the batched and the
one-client throughput (a figure, not a check: no timed tests)."""
import threading
import time

import openai

from common import args, check, metric

a = args()
client = openai.OpenAI(base_url=a.base + "/v1", api_key=a.api_key, max_retries=0, timeout=120)
model = client.models.list().data[0].id
N, TOKENS = 16, 24
prompts = [f"Once upon a time there was a {w}" for w in
           ["cat", "dog", "bird", "girl", "boy", "king", "queen", "tree", "fish", "frog", "bear", "ship", "star",
            "moon", "sun", "car"]]


def ask(p, stream):
    if stream:
        return "".join(c.choices[0].text for c in client.completions.create(
            model=model, prompt=p, max_tokens=TOKENS, temperature=0, stream=True))
    return client.completions.create(model=model, prompt=p, max_tokens=TOKENS, temperature=0).choices[0].text


t0 = time.time()
alone = [ask(p, False) for p in prompts]
t_alone = time.time() - t0
check(len(set(alone)) > 1, "different prompts give different texts")

results = [None] * N
def worker(i):
    try:
        results[i] = ask(prompts[i], stream=i % 2 == 0)  # half streamed, half not
    except Exception as e:  # recorded, checked below
        results[i] = e

threads = [threading.Thread(target=worker, args=(i,)) for i in range(N)]
t0 = time.time()
for t in threads:
    t.start()
for t in threads:
    t.join()
t_together = time.time() - t0
for i in range(N):
    check(results[i] == alone[i], f"client {i}: {results[i]!r} != alone {alone[i]!r}")
check(metric(a.base, "kiln_requests_running") == 0 and metric(a.base, "kiln_requests_queued") == 0,
      "every request has left the batch")
print(f"concurrency: ok; {N} clients x {TOKENS} tokens: one at a time {N * TOKENS / t_alone:.1f} tok/s, "
      f"all at once {N * TOKENS / t_together:.1f} tok/s")
