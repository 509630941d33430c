"""A small HTTP client for streamed bodies: lines as they arrive, with arrival times."""

from __future__ import annotations

import http.client
import json
import socket
import time
from urllib.parse import urlsplit


class LineStream:
    """One request whose response body is read line by line (http.client, chunked-aware)."""

    def __init__(
        self,
        base_url: str,
        method: str,
        path: str,
        body=None,
        headers: dict | None = None,
        timeout: float = 30.0,
        raw_body: bytes | None = None,
    ):
        url = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
        data = raw_body if raw_body is not None else (None if body is None else json.dumps(body).encode())
        sent = dict(headers or {})
        if data is not None and raw_body is None:
            sent.setdefault("Content-Type", "application/json")
        self.started = time.monotonic()
        # skip_host/accept-encoding defaults are fine; the path is sent exactly as given.
        self.conn.request(method, path, body=data, headers=sent)
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.headers = self.response.headers

    def lines(self):
        """(seconds since the request, line without its newline) for each line, empty ones included."""
        while True:
            line = self.response.readline()
            if not line:
                return
            yield time.monotonic() - self.started, line.rstrip(b"\n")

    def read(self) -> bytes:
        return self.response.read()

    def disconnect(self) -> None:
        """Drop the connection abruptly, as a client that went away."""
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()

    def close(self) -> None:
        self.conn.close()


def json_lines(stream: LineStream) -> list[dict]:
    """Every non-empty line of the rest of the body, parsed."""
    return [json.loads(line) for _, line in stream.lines() if line.strip()]
