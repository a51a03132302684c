"""Streams one long completion and reports how it ended: exit 0 when the
stream closed with `data: [DONE]` (kiln serve stopping mid-reply must still end
streams cleanly), 1 otherwise. Prints 'streaming' once the first tokens came,
so the caller knows when to stop the server."""
import json
import sys
import urllib.parse

from common import args, http_request  # noqa: F401 (args parses the common flags)
import http.client

a = args()
u = urllib.parse.urlparse(a.base)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
c.request("POST", "/v1/completions", body=json.dumps({"prompt": "Once upon a time", "max_tokens": 100000,
                                                      "temperature": 0, "stream": True}),
          headers={"Content-Type": "application/json"})
r = c.getresponse()
events, last = 0, None
for line in r:
    line = line.strip()
    if not line.startswith(b"data: "):
        continue
    events += 1
    last = line
    if events == 3:
        print("streaming", flush=True)
print(f"{events} events, last {last!r}", flush=True)
sys.exit(0 if last == b"data: [DONE]" else 1)
