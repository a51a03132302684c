"""Shared by the kiln serve test scripts: arguments, kiln run's greedy text, raw HTTP.

Every script takes --base http://127.0.0.1:PORT (a kiln serve the Criterion
test started), --kiln (the kiln binary) and --model (the file it serves), and
exits non-zero with a message on the first failed check."""
import argparse
import http.client
import json
import subprocess
import sys
import urllib.parse


def args(extra=None):
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--kiln", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--api-key", default="none")
    for a in extra or []:
        p.add_argument(a)
    return p.parse_args()


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


def kiln_run_greedy(kiln, model, prompt, n):
    """The text `kiln run --temp 0` generates after prompt (it echoes the prompt first).
    The servers under test run with --kv-type f32 too (see tests/test_serve.c)."""
    out = subprocess.run([kiln, "run", "-m", model, "-p", prompt, "-n", str(n), "--temp", "0", "--kv-type", "f32"],
                         capture_output=True, check=True).stdout.decode("utf-8", "replace")
    check(out.startswith(prompt), f"kiln run echoes the prompt: {out!r}")
    out = out[len(prompt):]
    return out[:-1] if out.endswith("\n") else out


def http_request(base, method, path, body=None, headers=None, timeout=30):
    """(status, parsed JSON or text) of one plain HTTP request."""
    u = urllib.parse.urlparse(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    c.request(method, path, body=data, headers=headers or {"Content-Type": "application/json"})
    r = c.getresponse()
    raw = r.read()
    c.close()
    try:
        return r.status, json.loads(raw)
    except ValueError:
        return r.status, raw.decode("utf-8", "replace")


def metric(base, name, headers=None):
    status, text = http_request(base, "GET", "/metrics", headers=headers)
    check(status == 200, f"/metrics answers: {status}")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    check(False, f"/metrics has {name}")
