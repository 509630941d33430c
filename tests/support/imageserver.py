"""A local HTTP server standing in for "a remote image host" in media tests (stdlib, own thread).

Routes: /img.png, /photo.jpg (a real JPEG), /doc.pdf, /big?n=<bytes> (chunked, no length),
/declared?n=<bytes> (a Content-Length it never fulfils), /redirect?to=<url>[&status=302],
/loop (redirects to itself), /missing (404). Every request is recorded in `requests`.
"""

from __future__ import annotations

import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.fakegrok.media import jpeg

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
PHOTO = jpeg("remote photo")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        path, _, qs = self.path.partition("?")
        query = dict(urllib.parse.parse_qsl(qs))
        self.server.requests.append(
            {"path": path, "query": query, "host": self.headers.get("Host"), "headers": dict(self.headers)}
        )
        if path == "/img.png":
            return self._send(200, PNG, "image/png")
        if path == "/photo.jpg":
            return self._send(200, PHOTO, "image/png")  # a wrong claim: sniffing must not believe it
        if path == "/doc.pdf":
            return self._send(200, b"%PDF-1.4 remote document", "application/pdf")
        if path == "/redirect":
            self.send_response(int(query.get("status", 302)))
            self.send_header("Location", query["to"])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if path == "/big":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            left = int(query.get("n", 1 << 20))
            try:
                while left > 0:
                    piece = min(left, 16384)
                    self.wfile.write(b"%x\r\n" % piece + b"\xff" * piece + b"\r\n")
                    left -= piece
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                self.close_connection = True
            return None
        if path == "/declared":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", query.get("n", "100000000"))
            self.end_headers()
            self.wfile.write(PNG)  # then the connection ends: the client must refuse at the header
            self.close_connection = True
            return None
        return self._send(404, b"not here", "text/plain")

    def _send(self, status, body, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ImageServer:
    def __init__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.requests = []
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def requests(self) -> list[dict]:
        return self.httpd.requests

    def url(self, path: str) -> str:
        return self.base + path

    def __enter__(self) -> "ImageServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- pytest fixtures (import them into a test module to use them) -------------------------------
import pytest  # noqa: E402


@pytest.fixture(scope="module")
def remote():
    """The remote image host of a test module."""
    with ImageServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def other():
    """A second host, e.g. a redirect target that is not allowed."""
    with ImageServer() as srv:
        yield srv
