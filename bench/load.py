"""What every bench scenario shares: a streaming client for one target, percentiles, tables."""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path


def pct(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(q / 100 * (len(values) - 1)))))
    return values[k]


class Target:
    """Where a request goes: the app (OpenAI or native route), the raw relay, or the fake itself."""

    def __init__(self, name, host, port, path, body_for, headers_for=None):
        self.name, self.host, self.port, self.path = name, host, port, path
        self.body_for = body_for
        self.headers_for = headers_for or (lambda: {"content-type": "application/json"})

    def stream(self, message, on_first=None, deadline=120.0):
        """POST and read the body line by line; returns (status, t_first_token, t_end, tokens, complete)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=deadline)
        start = time.perf_counter()
        try:
            conn.request("POST", self.path, body=json.dumps(self.body_for(message)), headers=self.headers_for())
            resp = conn.getresponse()
            first = None
            tokens = 0
            complete = False
            while True:
                line = resp.readline()
                if not line:
                    break
                if _is_token(line):
                    tokens += 1
                    if first is None:
                        first = time.perf_counter() - start
                if (
                    line.startswith(b"data: [DONE]")
                    or b'"isSoftStop":true' in line
                    or b'"finish_reason":"stop"' in line
                ):
                    complete = True
            return resp.status, first, time.perf_counter() - start, tokens, complete
        finally:
            conn.close()

    def once(self, message):
        """Non-streaming: POST and read the whole body; returns (status, seconds)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        start = time.perf_counter()
        try:
            conn.request(
                "POST", self.path, body=json.dumps(self.body_for(message, stream=False)), headers=self.headers_for()
            )
            resp = conn.getresponse()
            resp.read()
            return resp.status, time.perf_counter() - start
        finally:
            conn.close()


def _is_token(line: bytes) -> bool:
    # OpenAI chunk with content, or an upstream NDJSON answer token line
    if line.startswith(b"data: "):
        return b'"content":"' in line and b'"content":""' not in line
    return b'"token":"' in line and b'"token":""' not in line and b'"isThinking":true' not in line


def openai_body(model="auto"):
    def body(message, stream=True):
        return {"model": model, "stream": stream, "messages": [{"role": "user", "content": message}]}

    return body


def native_body(message, stream=True):
    return {"message": message}


def print_table(title, rows):
    print(f"\n== {title}")
    if not rows:
        return
    cols = list(dict.fromkeys(k for r in rows.values() for k in r))
    width = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows.values())) + 2 for c in cols}
    first = max(14, *(len(name) for name in rows))
    print(f"{'':{first}}" + "".join(f"{c:>{width[c]}}" for c in cols))
    for name, r in rows.items():
        print(f"{name:{first}}" + "".join(f"{_fmt(r.get(c)):>{width[c]}}" for c in cols))


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.2f}"
    return "-" if v is None else str(v)


def write_report(path, report: dict) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {out}")
