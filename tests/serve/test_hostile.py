"""Hostile clients against kiln serve (started with --api-key, --max-body 65536
and --timeout 2): truncated bodies, huge Content-Length, invalid UTF-8, binary
garbage, slow partial headers, 1000 rapid connects, a client that leaves
mid-stream, wrong keys. Each is answered or refused cleanly, and afterwards
the server still answers correctly."""
import json
import socket
import time
import urllib.parse

from common import args, check, http_request, kiln_run_greedy, metric

a = args()
u = urllib.parse.urlparse(a.base)
AUTH = {"Authorization": f"Bearer {a.api_key}", "Content-Type": "application/json"}


def raw(data, read=True, timeout=10):
    """Sends bytes on a fresh connection; returns what comes back until close (or timeout)."""
    s = socket.create_connection((u.hostname, u.port), timeout=timeout)
    s.sendall(data)
    out = b""
    if read:
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (socket.timeout, ConnectionResetError):
            pass
    s.close()
    return out


def status_of(resp):
    try:
        return int(resp.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def alive():
    want = kiln_run_greedy(a.kiln, a.model, "Once upon a time", 8)
    st, r = http_request(a.base, "POST", "/v1/completions",
                         {"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0}, AUTH)
    check(st == 200 and r["choices"][0]["text"] == want, f"server answers correctly: {st} {r}")

key = f"Authorization: Bearer {a.api_key}\r\n".encode()

# authentication
st, r = http_request(a.base, "GET", "/v1/models")
check(st == 401 and r["error"]["type"] == "authentication_error", f"no key: {st} {r}")
st, _ = http_request(a.base, "GET", "/v1/models", headers={"Authorization": "Bearer wrong"})
check(st == 401, f"wrong key: {st}")
st, _ = http_request(a.base, "GET", "/health")
check(st == 200, "/health needs no key")

# a huge Content-Length is refused before the body is sent
resp = raw(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n" + key + b"Content-Length: 99999999999\r\n\r\n")
check(status_of(resp) == 413 and b"error" in resp, f"huge Content-Length: {resp[:200]!r}")
# a body over the limit without a Content-Length (chunked) is refused at its end
body = b'{"prompt":"' + b"a" * 70000 + b'"}'
chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
resp = raw(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n" + key + b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
check(status_of(resp) == 413, f"chunked body over the limit: {resp[:200]!r}")
# a truncated body: the client says 100 bytes, sends 10 and leaves
raw(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n" + key + b"Content-Length: 100\r\n\r\n{\"prompt\":", read=False)
# invalid UTF-8 inside the JSON
bad = b'{"prompt":"\xff\xfe\xc3(","n":1}'
resp = raw(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + key +
           b"Content-Length: %d\r\n\r\n" % len(bad) + bad)
check(status_of(resp) == 400 and b"invalid_request_error" in resp, f"invalid UTF-8: {resp[:300]!r}")
# wrong types, absurd values, garbage JSON
for body, what in [(b'{"prompt": 5}', "a number prompt"), (b'{"prompt":"x","max_tokens":"many"}', "string max_tokens"),
                   (b'{"prompt":"x","stop":[1]}', "a number stop"), (b'[1,2]', "an array body"),
                   (b'{"messages":"hi"}', "string messages"), (b"\x00\x01\x02garbage", "binary body"),
                   (b'{"prompt":"x","stream":1}', "a number stream"), (b'{"prompt":"x","ignore_eos":"yes"}', "string ignore_eos")]:
    path = "/v1/chat/completions" if b"messages" in body else "/v1/completions"
    st, r = http_request(a.base, "POST", path, body, AUTH)
    check(st == 400 and "error" in r, f"{what}: {st} {r}")
# binary garbage instead of a request line
resp = raw(bytes(range(256)) * 4)
check(resp == b"" or status_of(resp) in (400, 413, 414, 431, 501, 505), f"binary garbage: {resp[:200]!r}")
# unknown endpoint, wrong method
st, _ = http_request(a.base, "GET", "/v1/nothing", headers=AUTH)
check(st == 404, f"unknown endpoint: {st}")
st, _ = http_request(a.base, "GET", "/v1/completions", headers=AUTH)
check(st == 405, f"GET on a POST endpoint: {st}")

# slow-loris: partial headers, then nothing; closed after --timeout (2 s), and others are served meanwhile
t0 = time.time()
s = socket.create_connection((u.hostname, u.port), timeout=20)
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n")
alive()
try:
    gone = s.recv(1024) == b""
except (socket.timeout, ConnectionResetError):
    gone = True
waited = time.time() - t0
s.close()
check(gone and waited < 15, f"a stalled client is dropped within bounds ({waited:.1f} s)")

# 1000 rapid connects and disconnects
for i in range(1000):
    c = socket.create_connection((u.hostname, u.port), timeout=5)
    if i % 3 == 0:
        c.sendall(b"GET /health HT")
    c.close()

# a client that leaves mid-stream frees its sequence at the next step (long before max_tokens)
generated = metric(a.base, "kiln_generated_tokens_total", AUTH)
s = socket.create_connection((u.hostname, u.port), timeout=20)
body = json.dumps({"prompt": "Once upon a time", "max_tokens": 100, "temperature": 0, "stream": True}).encode()
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n" + key + b"Content-Type: application/json\r\n" +
          b"Content-Length: %d\r\n\r\n" % len(body) + body)
got = b""
while got.count(b"data: ") < 3:
    got += s.recv(4096)
s.close()
t0 = time.time()
while metric(a.base, "kiln_requests_running", AUTH) != 0 and time.time() - t0 < 20:
    time.sleep(0.1)
check(metric(a.base, "kiln_requests_running", AUTH) == 0, "the abandoned stream left the batch")
check(metric(a.base, "kiln_kv_blocks_used", AUTH) == 0, "its KV blocks went back")
spent = metric(a.base, "kiln_generated_tokens_total", AUTH) - generated
check(spent < 60, f"the abandoned stream was cancelled ({spent:.0f} of 100 tokens generated)")

# ... and so does one that leaves before a reply it did not ask to stream. On a
# fast machine stories260K makes its 100 tokens in tens of milliseconds, and
# the client may see the request only once it is done: such a try proves
# nothing and is made again. What counts is that generation stops soon after
# the close and the request never reaches its max_tokens.
body = json.dumps({"prompt": "Once upon a time", "max_tokens": 100, "temperature": 0}).encode()
caught = False
for attempt in range(8):
    generated = metric(a.base, "kiln_generated_tokens_total", AUTH)
    s = socket.create_connection((u.hostname, u.port), timeout=20)
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n" + key + b"Content-Type: application/json\r\n" +
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    t0 = time.time()
    while metric(a.base, "kiln_requests_running", AUTH) == 0 and time.time() - t0 < 2:
        time.sleep(0.002)
    s.close()
    at_close = metric(a.base, "kiln_generated_tokens_total", AUTH)
    if at_close - generated >= 100:
        continue  # finished before the client saw it running: try again
    caught = True
    t0 = time.time()
    while metric(a.base, "kiln_requests_running", AUTH) != 0 and time.time() - t0 < 20:
        time.sleep(0.1)
    final = metric(a.base, "kiln_generated_tokens_total", AUTH)
    spent = final - generated
    check(spent < 100 and final - at_close < 40,
          f"the abandoned request was cancelled ({spent:.0f} of 100 tokens generated, {final - at_close:.0f} after the close)")
    break
check(caught, "a non-streamed request was seen running before it finished (8 tries)")

alive()
print("hostile: ok")
