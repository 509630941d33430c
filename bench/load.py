"""What every bench scenario shares: a streaming client for one target, percentiles, tables."""

from __future__ import annotations

import http.client
import json
import socket
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

    def stream(self, message, deadline=120.0):
        """POST and read the answer line by line; returns (status, t_first_token, t_end, tokens, complete).

        The answer is read off the socket in blocks of up to 64 KB and cut into lines in one
        call, not line by line through http.client: in a burst of 1000 streams this client
        shares a core with the fake grok.com, and a client short of CPU reads first tokens
        late and charges its own delay to the server (docs/benchmarks.md, "The load client").
        """
        body = json.dumps(self.body_for(message)).encode()
        start = time.perf_counter()
        with socket.create_connection((self.host, self.port), timeout=deadline) as sock:
            sock.sendall(self._request_head(len(body)) + body)
            status, chunked, rest = _read_head(sock)
            first = None
            tokens = 0
            complete = False
            tail = b""
            for piece in _body(sock, rest, chunked):
                lines = (tail + piece).split(b"\n")
                tail = lines.pop()
                for line in lines:
                    if _is_token(line):
                        tokens += 1
                        if first is None:
                            first = time.perf_counter() - start
                    if _is_end(line):
                        complete = True
            if tail and _is_end(tail):
                complete = True
            return status, first, time.perf_counter() - start, tokens, complete

    def _request_head(self, length: int) -> bytes:
        headers = {**self.headers_for(), "content-length": str(length), "connection": "close"}
        lines = [f"POST {self.path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

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


def _read_head(sock) -> tuple[int, bool, bytes]:
    """The status, whether the body is chunked, and the body bytes already received."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        more = sock.recv(65536)
        if not more:
            raise ConnectionError("connection closed before the answer's headers")
        raw += more
    head, rest = raw.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    chunked = any(
        name.strip().lower() == "transfer-encoding" and "chunked" in value.lower()
        for name, _, value in (line.partition(":") for line in lines[1:])
    )
    return status, chunked, rest


def _body(sock, raw: bytes, chunked: bool):
    """The answer's body in pieces, de-chunked (the request asked the server to close after it)."""
    if not chunked:
        if raw:
            yield raw
        while more := sock.recv(65536):
            yield more
        return
    pos = 0  # where the next chunk's size line starts in `raw`
    while True:
        eol = raw.find(b"\r\n", pos)
        if eol < 0:
            more = sock.recv(65536)
            if not more:
                return
            raw, pos = raw[pos:] + more, 0
            continue
        size = int(raw[pos:eol].split(b";")[0], 16)
        if size == 0:
            return
        while len(raw) < eol + 2 + size + 2:
            more = sock.recv(65536)
            if not more:
                return
            raw, eol, pos = raw[pos:] + more, eol - pos, 0
        yield raw[eol + 2 : eol + 2 + size]
        pos = eol + 2 + size + 2


def _is_end(line: bytes) -> bool:
    return line.startswith(b"data: [DONE]") or b'"isSoftStop":true' in line or b'"finish_reason":"stop"' in line


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
