"""``FakeGrok``: run the fake grok.com in a subprocess and drive its control API (stdlib only).

    with FakeGrok() as fake:
        os.environ["GROK_BASE_URL"] = fake.base_url
        ...
        assert fake.requests_log("/rest/app-chat/conversations/new")[0]["statsig"] == "ok"

Plain class: usable from pytest fixtures, benchmarks and scripts alike.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from .statsig import DEFAULT_HEADER_HEX, sign

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHROME_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/136.0.0.0 Safari/537.36"
)


class FakeGrokError(RuntimeError):
    pass


class FakeGrok:
    def __init__(
        self,
        sso: str = "test-sso",
        sso_rw: str = "test-sso-rw",
        header_hex: str = DEFAULT_HEADER_HEX,
        suffix: str = "!test-suffix",
        trailer: int = 3,
        clock_window: float = 30,
        port: int = 0,
        host: str = "127.0.0.1",
        extra_args: list[str] | None = None,
        verbose: bool = False,
        start: bool = False,
        ready_timeout: float = 10.0,
    ):
        self.sso, self.sso_rw = sso, sso_rw
        self.header_hex, self.suffix, self.trailer = header_hex, suffix, trailer
        self.clock_window = clock_window
        self.host = host
        self._want_port = port
        self._extra = list(extra_args or [])
        self._verbose = verbose
        self._ready_timeout = ready_timeout
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        if start:
            self.start()

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> "FakeGrok":
        if self.proc is not None:
            return self
        cmd = [
            sys.executable,
            "-m",
            "tests.fakegrok",
            "--port",
            str(self._want_port),
            "--host",
            self.host,
            "--sso",
            self.sso,
            "--sso-rw",
            self.sso_rw,
            "--header-hex",
            self.header_hex,
            "--suffix",
            self.suffix,
            "--trailer",
            str(self.trailer),
            "--clock-window",
            str(self.clock_window),
        ]
        if self._verbose:
            cmd.append("--verbose")
        cmd += self._extra
        self.proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, bufsize=1
        )
        lines: queue.Queue = queue.Queue()

        def pump(stream):
            for line in stream:  # keep draining so the child never blocks on a full pipe
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, args=(self.proc.stdout,), daemon=True, name="fakegrok-stdout").start()
        deadline = time.monotonic() + self._ready_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise FakeGrokError("fakegrok did not print FAKEGROK_READY within %.0fs" % self._ready_timeout)
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                rc = self.proc.wait()
                self.proc = None
                raise FakeGrokError(f"fakegrok exited early (rc={rc})")
            if line.startswith("FAKEGROK_READY port="):
                self.port = int(line.strip().split("=", 1)[1])
                return self

    def stop(self):
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def __enter__(self) -> "FakeGrok":
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def __del__(self):
        try:
            self.stop()
        except Exception:
            pass

    # -- addresses & helpers ---------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        """Absolute URL for a path such as ``/rest/app-chat/conversations``."""
        return self.base_url + path

    def app_url(self, endpoint: str) -> str:
        """``app_url("conversations/new")`` -> ``<base>/rest/app-chat/conversations/new``."""
        return self.base_url + "/rest/app-chat/" + endpoint.lstrip("/")

    def sign(self, method: str, path: str, now: float | None = None) -> str:
        """A valid x-statsig-id for the fake's CURRENT challenge values (path without query)."""
        return sign(method, path, self.header_hex, self.suffix, self.trailer, now=now)

    def grok_headers(self, method: str, path: str, json_body: bool = True) -> dict:
        """A complete, valid browser-like header set for a direct request to ``path`` (for fake self-tests
        and scripts; product tests go through the product's own client)."""
        h = {
            "user-agent": CHROME_UA,
            "cookie": f"sso={self.sso}; sso-rw={self.sso_rw}",
            "accept": "*/*",
            "origin": self.base_url,
            "referer": self.base_url + "/",
            "x-xai-request-id": str(uuid.uuid4()),
            "x-statsig-id": self.sign(method, path.split("?", 1)[0]),
            "sec-fetch-dest": "empty",
            "sec-fetch-mode": "cors",
            "sec-fetch-site": "same-origin",
        }
        if json_body:
            h["content-type"] = "application/json"
        return h

    # -- control API ------------------------------------------------------------------------------
    def _control(self, method: str, path: str, body=None, query: dict | None = None):
        if self.port is None:
            raise FakeGrokError("fakegrok is not running")
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            url, data=data, method=method, headers={"content-type": "application/json"} if data else {}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                raw = r.read()
        except urllib.error.HTTPError as exc:
            raise FakeGrokError(f"{method} {path} -> {exc.code}: {exc.read().decode(errors='replace')}") from None
        return json.loads(raw) if raw else None

    def requests_log(self, path_prefix: str | None = None) -> list[dict]:
        return self._control("GET", "/__fake/requests", query={"path_prefix": path_prefix} if path_prefix else None)

    def clear(self):
        """Clear the request log only."""
        self._control("DELETE", "/__fake/requests")

    def reset(self):
        """Clear store, log, queue and counters (and the config); the local copies follow."""
        self._control("POST", "/__fake/reset")
        self._sync(self.config())

    def config(self) -> dict:
        return self._control("GET", "/__fake/config")

    def configure(self, **kw) -> dict:
        cfg = self._control("POST", "/__fake/config", kw)
        self._sync(cfg)
        return cfg

    def _sync(self, cfg: dict) -> None:
        self.sso, self.sso_rw = cfg["sso"], cfg["sso_rw"]
        self.header_hex, self.suffix, self.trailer = cfg["header_hex"], cfg["suffix"], cfg["trailer"]
        self.clock_window = cfg["clock_window"]

    def enqueue(
        self,
        path: str,
        method: str | None = None,
        status: int = 200,
        body=None,
        headers: dict | None = None,
        times: int = 1,
        delay: float = 0,
        scenario: str | None = None,
        lines: list | None = None,
        line_delay: float = 0,
        body_base64: str | None = None,
    ) -> int:
        item = {
            "path": path,
            "method": method,
            "status": status,
            "body": body,
            "headers": headers or {},
            "times": times,
            "delay": delay,
            "scenario": scenario,
            "lines": lines,
            "line_delay": line_delay,
            "body_base64": body_base64,
        }
        return self._control("POST", "/__fake/enqueue", item)["queued"]

    def build(self) -> dict:
        """The current grok.com build (build.py): release, index set, chunks, valid (seed, L) pairs."""
        return self._control("GET", "/__fake/build")

    def rotate(self, spec: str | None = None, generator: str = "plain", form: str = "2026") -> dict:
        """Ship a new build: new seeds, index positions, table order, chunk names and release;
        `form` picks the shapes its page and chunks come in (build.py)."""
        body = {"generator": generator, "form": form}
        if spec:
            body["spec"] = spec
        return self._control("POST", "/__fake/build", body)

    def clear_queue(self):
        self._control("DELETE", "/__fake/enqueue")

    def stats(self) -> dict:
        return self._control("GET", "/__fake/stats")

    # -- more accounts (accounts.py) ---------------------------------------------------------------
    def add_account(
        self,
        name: str,
        *,
        quota: dict | None = None,
        status: str = "ok",
        limit: str = "http",
        sso: str | None = None,
        sso_rw: str | None = None,
    ) -> dict:
        """Another grok.com account: its own cookies (returned as sso / sso_rw), store and quota."""
        body = {"name": name, "quota": quota or {}, "status": status, "limit": limit}
        body.update({k: v for k, v in (("sso", sso), ("sso_rw", sso_rw)) if v})
        return self._control("POST", "/__fake/accounts", body)

    def change_account(self, name: str, **changes) -> dict:
        """status=, quota=, limit=, reset_usage=True."""
        return self._control("POST", f"/__fake/accounts/{name}", changes)

    def accounts(self) -> dict[str, dict]:
        return {a["name"]: a for a in self._control("GET", "/__fake/accounts")}

    def store(self) -> dict:
        return self._control("GET", "/__fake/store")

    def asset(self, path: str) -> bytes | None:
        """The bytes the asset host serves for `path` (None if none), without touching the request log."""
        url = self.base_url + "/__fake/asset?" + urllib.parse.urlencode({"path": path})
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return r.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def wait_stats(self, predicate, timeout: float = 2.0, interval: float = 0.02) -> dict:
        """Poll /__fake/stats until predicate(stats) is true; returns the stats or raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.stats()
            if predicate(s):
                return s
            if time.monotonic() >= deadline:
                raise TimeoutError(f"stats condition not met within {timeout}s: {s}")
            time.sleep(interval)
