"""HTTP/1.1 server of the fake grok.com: connection handling, auth checks, control API, accounting."""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import re
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import accounts, api, build, media, mgw
from . import scenarios as sc
from .statsig import DEFAULT_HEADER_HEX, header_bytes, verify
from .wire import ClientGone, Resp, Stream, StreamResp, dumps

REST_CHAT = re.compile(r"^/rest/app-chat/conversations/(new|[^/]+/responses)$")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

DEFAULT_CONFIG = {
    "sso": "test-sso",
    "sso_rw": "test-sso-rw",
    "header_hex": DEFAULT_HEADER_HEX,
    "suffix": "!test-suffix",
    "trailer": 3,
    "clock_window": 30,
    "stale_build": False,
    "auth_failure_status": 401,
    "base_url": None,  # filled with http://<host>:<port> at start
    "model_hash": "fakegrok-model-hash-0001",
    "user_id": "00000000-0000-4000-8000-00000000f00d",
    "known_models": list(api.KNOWN_MODELS),  # null = accept any modelName
    "reuse_grace": 10.0,  # see consume_token
    "page": "ok",  # build.PAGE_MODES: how grok.com's page looks (build.py)
    "accept_static_pair": True,  # also accept tokens of header_hex/suffix, whatever the build
    "modes": None,  # POST /rest/modes list (null = build.DEFAULT_MODES)
    "temporary_ttl": 3600.0,  # see threads.py
    # REST chat endpoints answer like retired ones: None (live), "404", "410" or "outdated" (400)
    "rest_chat_retired": None,
    # the mgw WebSocket lane (mgw.py)
    "mgw_strict": True,
    "mgw_handshake": None,  # None, "cloudflare" or "forbidden_json"
    "mgw_batch": 3,
    "mgw_fragment": 0,
    "mgw_require_castle": False,
}

_CONFIG_TYPES = {
    "sso": str,
    "sso_rw": str,
    "suffix": str,
    "base_url": str,
    "model_hash": str,
    "user_id": str,
    "header_hex": str,
    "trailer": int,
    "clock_window": (int, float),
    "stale_build": bool,
    "auth_failure_status": int,
    "known_models": (list, type(None)),
    "reuse_grace": (int, float),
    "page": str,
    "accept_static_pair": bool,
    "modes": (list, type(None)),
    "temporary_ttl": (int, float),
    "rest_chat_retired": (str, type(None)),
    "mgw_strict": bool,
    "mgw_handshake": (str, type(None)),
    "mgw_batch": int,
    "mgw_fragment": int,
    "mgw_require_castle": bool,
}

NOT_FOUND_HTML = (
    b"<!DOCTYPE html><html><head><title>404: This page could not be found.</title></head><body>"
    b"<h1>404</h1><h2>This page could not be found.</h2></body></html>"
)


def validate_config(patch: dict) -> str | None:
    if not isinstance(patch, dict):
        return "config must be a JSON object"
    for k, v in patch.items():
        if k not in _CONFIG_TYPES:
            return f"unknown config key {k!r}"
        t = _CONFIG_TYPES[k]
        ok = isinstance(v, bool) if t is bool else (isinstance(v, t) and not isinstance(v, bool))
        if not ok:
            return f"bad type for {k!r}"
    if "header_hex" in patch:
        try:
            header_bytes(patch["header_hex"])
        except ValueError as exc:
            return str(exc)
    if "trailer" in patch and not 0 <= patch["trailer"] <= 255:
        return "trailer must be 0..255"
    if "auth_failure_status" in patch and patch["auth_failure_status"] not in (401, 403):
        return "auth_failure_status must be 401 or 403"
    if "clock_window" in patch and patch["clock_window"] < 0:
        return "clock_window must be >= 0"
    if "reuse_grace" in patch and patch["reuse_grace"] < 0:
        return "reuse_grace must be >= 0"
    if "page" in patch and patch["page"] not in build.PAGE_MODES:
        return f"page must be one of {', '.join(build.PAGE_MODES)}"
    if patch.get("rest_chat_retired") not in (None, "404", "410", "outdated"):
        return "rest_chat_retired must be null, 404, 410 or outdated"
    if patch.get("mgw_handshake") not in (None, "cloudflare", "forbidden_json"):
        return "mgw_handshake must be null, cloudflare or forbidden_json"
    if patch.get("mgw_batch", 1) < 1 or patch.get("mgw_fragment", 0) < 0:
        return "mgw_batch must be >= 1 and mgw_fragment >= 0"
    return None


class State:
    """Everything shared between connection threads; guarded by ``lock``."""

    def __init__(self, config: dict, verbose: bool = False):
        self.lock = threading.RLock()
        self.config = dict(DEFAULT_CONFIG)
        self.config.update(config)
        self.verbose = verbose
        self.store = api.Store()
        self.accounts: dict[str, accounts.FakeAccount] = {}  # more accounts (accounts.py)
        self.builds = build.Builds()
        self.log: list[dict] = []
        self.seq = 0
        self.queue: list[dict] = []
        self.used_tokens: dict[str, tuple[float, set]] = {}
        self.conn_seq = 0
        self.connections_open = 0
        self.active_streams = 0
        self.reset_stats()

    def reset_stats(self):
        with self.lock:
            self.connections_accepted = 0
            self.requests = 0
            self.streams_started = 0
            self.streams_completed = 0
            self.streams_aborted = 0
            self.streams_dropped = 0
            self.last_abort_time = None
            self.aborts: list[dict] = []

    def reset(self):
        with self.lock:
            self.store.reset()
            self.accounts.clear()
            self.builds = build.Builds()
            self.log.clear()
            self.queue.clear()
            self.reset_stats()

    # accounting
    def connection_opened(self) -> int:
        """Counted at the FIRST non-control request of a TCP connection (control API calls from the harness
        never count), so connections_accepted measures the client-under-test's connection reuse."""
        with self.lock:
            self.conn_seq += 1
            self.connections_accepted += 1
            self.connections_open += 1
            return self.conn_seq

    def connection_closed(self):
        with self.lock:
            self.connections_open -= 1

    def stream_started(self):
        with self.lock:
            self.streams_started += 1
            self.active_streams += 1

    def stream_ended(self, kind: str, path: str, lines: int):
        with self.lock:
            self.active_streams -= 1
            if kind == "completed":
                self.streams_completed += 1
            elif kind == "dropped":
                self.streams_dropped += 1
            else:
                self.streams_aborted += 1
                self.last_abort_time = time.time()
                self.aborts.append({"path": path, "time": self.last_abort_time, "lines_sent": lines})
                del self.aborts[:-1000]

    def stats(self) -> dict:
        with self.lock:
            return {
                "connections_accepted": self.connections_accepted,
                "connections_open": self.connections_open,
                "requests": self.requests,
                "active_streams": self.active_streams,
                "streams_started": self.streams_started,
                "streams_completed": self.streams_completed,
                "streams_aborted": self.streams_aborted,
                "streams_dropped": self.streams_dropped,
                "last_abort_time": self.last_abort_time,
                "aborts": list(self.aborts),
                "queued": len(self.queue),
                "inflight": len(self.store.inflight),
            }

    # statsig token reuse
    def consume_token(self, token: str, request_id: str) -> bool:
        """Remember ``token``; False if this is a reuse.

        A correct signer draws one random XOR byte per request, so two honest requests to the same
        METHOD+path signed in the same second produce the SAME string with probability 1/256. To stay
        strict without flaking, a repeated token counts as reused when it comes with an
        x-xai-request-id already seen with it (a replayed request) or when it was first seen more than
        ``reuse_grace`` seconds ago (a cached token). ``reuse_grace: 0`` = any repeat is a reuse.
        """
        now = time.time()
        with self.lock:
            seen = self.used_tokens.get(token)
            if seen is not None:
                first, ids = seen
                if request_id in ids or now - first >= float(self.config["reuse_grace"]):
                    return False
                ids.add(request_id)
                return True
            self.used_tokens[token] = (now, {request_id})
            if len(self.used_tokens) % 1000 == 0:
                horizon = now - 2 * float(self.config["clock_window"]) - 120
                for t, (ts, _) in list(self.used_tokens.items()):
                    if ts < horizon:
                        del self.used_tokens[t]
            return True

    def take_canned(self, method: str, path: str) -> dict | None:
        with self.lock:
            for item in self.queue:
                if item.get("method") and item["method"].upper() != method:
                    continue
                if not path.startswith(item["path"]):
                    continue
                item["times"] -= 1
                if item["times"] <= 0:
                    self.queue.remove(item)
                return dict(item)
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cloudflare"
    sys_version = ""
    timeout = 300  # idle keep-alive / per-write socket timeout

    # -- connection lifecycle ----------------------------------------------------------------------
    def version_string(self):
        return self.server_version

    def setup(self):
        super().setup()
        self.state: State = self.server.state
        self.conn_id = None  # assigned at the first non-control request
        self._entry = None

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        finally:
            if self.conn_id is not None:
                self.state.connection_closed()

    def log_message(self, fmt, *args):
        if self.state.verbose:
            sys.stderr.write("fakegrok: %s - %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def entry_status(self, status: int):
        if self._entry is not None:
            self._entry["status"] = status

    # -- request parsing ---------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"x", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline(3)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        n = int(length)
        if n < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(n)

    def _headers_dict(self) -> dict:
        out: dict[str, str] = {}
        for k, v in self.headers.items():
            k = k.lower()
            if k in out:
                out[k] = out[k] + ("; " if k == "cookie" else ", ") + v
            else:
                out[k] = v
        return out

    # -- dispatch ------------------------------------------------------------------------------------
    def _dispatch(self):
        method = self.command
        path, _, qs = self.path.partition("?")
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._write(Resp(400, {"code": 3, "message": "Bad request body framing", "details": []}))
            return
        if path == "/__fake" or path.startswith("/__fake/"):
            self._control(method, path, qs, body)
            return
        if self.conn_id is None:
            self.conn_id = self.state.connection_opened()
        headers = self._headers_dict()
        json_value, json_ok = None, True
        if body:
            try:
                json_value = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                json_ok = False
        state = self.state
        with state.lock:
            state.seq += 1
            state.requests += 1
            entry = {
                "seq": state.seq,
                "time": time.time(),
                "conn": self.conn_id,
                "method": method,
                "path": path,
                "query": urllib.parse.parse_qs(qs, keep_blank_values=True),
                "headers": headers,
                "body": (json_value if json_ok else {"base64": base64.b64encode(body).decode()}) if body else None,
                "bytes": len(body),
                "statsig": None,
                "status": None,
                "scenario": None,
                "reject": None,
                "canned": False,
                "stream": None,
                "account": None,  # the name of a non-default account (accounts.py)
            }
            state.log.append(entry)
        self._entry = entry
        try:
            resp = self._route(method, path, entry, headers, body, json_value, json_ok)
        except Exception:
            entry["reject"] = "fakegrok_internal_error"
            self._write(Resp(500, {"code": 13, "message": "fakegrok internal error", "details": []}))
            raise
        self._write(resp)

    def _statsig(self, method: str, path: str, headers: dict) -> str:
        cfg = self.state.config
        token = headers.get("x-statsig-id")
        with self.state.lock:
            verdict = self.state.builds.verify(token, method, path, float(cfg["clock_window"])) if token else None
        if verdict is None and not cfg["accept_static_pair"]:
            verdict = "unknown_seed" if token else "missing"
        if verdict is not None:
            if verdict == "ok" and not self.state.consume_token(token.strip(), headers.get("x-xai-request-id", "")):
                return "reused"
            return verdict
        ok, reason = verify(
            headers.get("x-statsig-id"),
            method,
            path,
            cfg["header_hex"],
            cfg["suffix"],
            cfg["trailer"],
            float(cfg["clock_window"]),
        )
        if ok and not self.state.consume_token(headers["x-statsig-id"].strip(), headers.get("x-xai-request-id", "")):
            return "reused"
        return reason

    def _route(self, method, path, entry, headers, body, json_value, json_ok):
        state = self.state
        cfg = state.config
        canned = state.take_canned(method, path)
        forced = None
        if canned is not None:
            if canned.get("scenario"):
                forced = canned["scenario"]
            else:
                entry["canned"] = True
                entry["statsig"] = self._statsig(method, path, headers) if path.startswith("/rest/") else "n/a"
                return self._canned(canned)
        if media.asset_path(path) is not None:
            entry["statsig"] = "n/a"
            return self._asset(method, media.asset_path(path), entry, headers)
        page = build.serve(state, method, path, headers)
        if page is not None:
            entry["statsig"] = "n/a"
            return page
        if path in mgw.PATHS:
            entry["statsig"] = "n/a"  # neither the session endpoint nor the upgrade carries one
            return mgw.route(self, method, path, entry, headers)
        if not path.startswith("/rest/"):
            entry["statsig"] = "n/a"
            entry["reject"] = "not_rest"
            return Resp(404, NOT_FOUND_HTML, "text/html; charset=utf-8")
        # 1. Cloudflare: browser-looking UA
        if "Chrome/" not in headers.get("user-agent", ""):
            entry["reject"] = "cloudflare_ua"
            return sc.cloudflare_resp()
        # 2. session cookies: the default account's, or another account's (accounts.py)
        account = self._account(headers)
        if account is False:
            entry["reject"] = "cookie"
            return Resp(cfg["auth_failure_status"], sc.BAD_CREDENTIALS)
        if account is not None:
            entry["account"] = account.name
            refused = accounts.refusal(account, state)
            if refused is not None:
                entry["reject"] = "account_" + account.status
                return refused
        # 3. anti-bot challenge token
        verdict = self._statsig(method, path, headers)
        entry["statsig"] = verdict
        if cfg["stale_build"] or verdict == "stale_build":
            entry["reject"] = "stale_build"
            return Resp(403, sc.OUT_OF_DATE)
        if verdict != "ok":
            entry["reject"] = "statsig:" + verdict
            return Resp(403, sc.ANTI_BOT)
        # 4. browser request shape
        if not UUID_RE.match(headers.get("x-xai-request-id", "")):
            entry["reject"] = "x-xai-request-id"
            return Resp(403, sc.ANTI_BOT)
        base = cfg["base_url"]
        if headers.get("origin") != base:
            entry["reject"] = "origin"
            return Resp(403, sc.ANTI_BOT)
        if headers.get("referer") not in (base + "/", base + "/imagine"):  # the chat page or the Imagine page
            entry["reject"] = "referer"
            return Resp(403, sc.ANTI_BOT)
        if body:
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                entry["reject"] = "content-type"
                return Resp(400, sc.INVALID_REQUEST)
            if not json_ok:
                entry["reject"] = "json"
                return Resp(400, sc.INVALID_REQUEST)
        # 5. the endpoint
        retired = cfg.get("rest_chat_retired")
        if retired and method == "POST" and REST_CHAT.match(path):
            entry["reject"] = "rest_chat_retired"
            if retired == "outdated":
                return Resp(400, sc.INVALID_REQUEST)
            return Resp(int(retired), {"code": 5, "message": "Not found", "details": []})
        found = api.match(method, path)
        if found is None:
            entry["reject"] = "no_route"
            return sc.not_found()
        if found[0] == "405":
            entry["reject"] = "method"
            return Resp(
                405,
                {"code": 12, "message": "Method not allowed", "details": []},
                headers={"Allow": ", ".join(found[1])},
            )
        fn, params = found
        seen_as = state if account is None else accounts.AccountState(state, account)
        req = api.Req(self, seen_as, method, path, entry["query"], headers, body, json_value, entry)
        req.params = params
        req.forced_scenario = forced
        with state.lock:
            if account is None:
                return fn(req)
            if fn is api.rate_limits:
                return accounts.rate_limits(account, req)
            chat_start = accounts.is_chat_start(method, path)
            if chat_start:
                refused = accounts.refuse_when_spent(account, req)
                if refused is not None:
                    return refused
            resp = fn(req)
            if chat_start and isinstance(resp, StreamResp):
                accounts.spend(account, req)
            return resp

    def _session_cookies_ok(self, headers: dict) -> bool:
        """The default account's cookies (the mgw lane serves that account only)."""
        return self._account(headers) is None

    def _account(self, headers: dict):
        """None for the default account's cookies, the FakeAccount of another's, False for none."""
        cfg = self.state.config
        cookies: dict[str, str] = {}
        for part in headers.get("cookie", "").split(";"):
            name, eq, value = part.strip().partition("=")
            if eq and name not in cookies:
                cookies[name] = value
        if cookies.get("sso") == cfg["sso"] and cookies.get("sso-rw") == cfg["sso_rw"]:
            return None
        with self.state.lock:
            found = accounts.by_cookies(self.state, cookies)
        return found if found is not None else False

    def _asset(self, method: str, path: str, entry: dict, headers: dict):
        """The asset host (assets.grok.com): a browser-looking UA and the session cookies, no statsig."""
        if method not in ("GET", "HEAD"):
            entry["reject"] = "method"
            return Resp(405, b"Method Not Allowed", "text/plain", {"Allow": "GET, HEAD"})
        if "Chrome/" not in headers.get("user-agent", ""):
            entry["reject"] = "cloudflare_ua"
            return sc.cloudflare_resp()
        account = self._account(headers)
        if account is False:
            entry["reject"] = "cookie"
            return Resp(self.state.config["auth_failure_status"], sc.BAD_CREDENTIALS)
        if account is not None:
            entry["account"] = account.name
            refused = accounts.refusal(account, self.state)
            if refused is not None:
                entry["reject"] = "account_" + account.status
                return refused
        with self.state.lock:
            store = self.state.store if account is None else account.store
            found = store.assets.get(path)
        if found is None:
            entry["reject"] = "no_asset"
            return Resp(
                404, b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code></Error>', "application/xml"
            )
        data, ctype = found
        return Resp(200, data, ctype, {"Cache-Control": "private, max-age=31536000, immutable"})

    def _canned(self, item: dict):
        if item.get("delay"):
            try:
                Stream(self, self.state, "").wait(float(item["delay"]))
            except ClientGone:
                self.close_connection = True
                return None
        headers = dict(item.get("headers") or {})
        ctype = None
        for k in list(headers):
            if k.lower() == "content-type":
                ctype = headers.pop(k)
        status = int(item.get("status", 200))
        if item.get("lines") is not None:
            lines = item["lines"]
            delay = float(item.get("line_delay") or 0)

            def run(stream: Stream):
                stream.start(status, ctype or "application/json", headers)
                for i, ln in enumerate(lines):
                    if i and delay:
                        stream.wait(delay)
                    stream.line(ln.encode("utf-8") if isinstance(ln, str) else dumps(ln))
                stream.finish()

            return StreamResp(run)
        if item.get("body_base64") is not None:
            return Resp(status, base64.b64decode(item["body_base64"]), ctype, headers)
        b = item.get("body")
        if isinstance(b, str):
            return Resp(status, b.encode("utf-8"), ctype or "text/plain; charset=utf-8", headers)
        return Resp(status, b, ctype, headers)

    # -- output ----------------------------------------------------------------------------------
    def _write(self, resp):
        if resp is None:
            return
        if isinstance(resp, mgw.Upgrade):
            resp.run(self)
            return
        if isinstance(resp, StreamResp):
            self._write_stream(resp)
            return
        entry = self._entry
        if entry is not None:
            entry["status"] = resp.status
        try:
            self.send_response(resp.status)
            no_body = resp.status in (204, 304) or resp.status < 200
            has_ctype = any(k.lower() == "content-type" for k in resp.headers)
            if not no_body:
                if resp.content_type and not has_ctype:
                    self.send_header("Content-Type", resp.content_type)
                self.send_header("Content-Length", str(len(resp.raw)))
            for k, v in resp.headers.items():
                self.send_header(k, v)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if not no_body and self.command != "HEAD" and resp.raw:
                self.wfile.write(resp.raw)
        except OSError:
            self.close_connection = True

    def _write_stream(self, resp: StreamResp):
        stream = Stream(self, self.state, self._entry["path"] if self._entry else self.path)
        try:
            resp.func(stream)
        except ClientGone:
            stream.abort()
        except Exception:
            if not stream.started:
                self._write(Resp(500, {"code": 13, "message": "fakegrok internal error", "details": []}))
            raise
        finally:
            stream.ensure_closed()
            if self._entry is not None:
                self._entry["stream"] = stream.outcome
            if stream.outcome != "completed":
                self.close_connection = True

    # -- control API ----------------------------------------------------------------------------
    def _control(self, method, path, qs, body):
        state = self.state
        query = urllib.parse.parse_qs(qs, keep_blank_values=True)
        try:
            data = json.loads(body.decode("utf-8")) if body else {}
        except (UnicodeDecodeError, ValueError):
            self._write(Resp(400, {"error": "body is not JSON"}))
            return
        route = (method, path.rstrip("/"))
        if route == ("GET", "/__fake/requests"):
            prefix = (query.get("path_prefix") or [None])[0]
            with state.lock:
                out = [dict(e) for e in state.log if not prefix or e["path"].startswith(prefix)]
            self._write(Resp(200, out))
        elif route == ("DELETE", "/__fake/requests"):
            with state.lock:
                state.log.clear()
            self._write(Resp(200, {"cleared": True}))
        elif route == ("GET", "/__fake/config"):
            with state.lock:
                self._write(Resp(200, dict(state.config)))
        elif route == ("POST", "/__fake/config"):
            err = validate_config(data)
            if err:
                self._write(Resp(400, {"error": err}))
                return
            with state.lock:
                state.config.update(data)
                cfg = dict(state.config)
            self._write(Resp(200, cfg))
        elif route == ("POST", "/__fake/enqueue"):
            if not isinstance(data, dict) or not isinstance(data.get("path"), str) or not data["path"].startswith("/"):
                self._write(Resp(400, {"error": "enqueue needs a 'path' starting with '/'"}))
                return
            item = {
                "path": data["path"],
                "method": data.get("method"),
                "status": int(data.get("status", 200)),
                "body": data.get("body"),
                "body_base64": data.get("body_base64"),
                "headers": data.get("headers") or {},
                "times": int(data.get("times", 1) or 1),
                "delay": float(data.get("delay") or 0),
                "scenario": data.get("scenario"),
                "lines": data.get("lines"),
                "line_delay": float(data.get("line_delay") or 0),
            }
            if item["scenario"] and not sc.known(sc.parse_spec(item["scenario"])[0]):
                self._write(Resp(400, {"error": f"unknown scenario {item['scenario']!r}"}))
                return
            with state.lock:
                state.queue.append(item)
                n = len(state.queue)
            self._write(Resp(200, {"queued": n}))
        elif route == ("GET", "/__fake/enqueue"):
            with state.lock:
                self._write(Resp(200, [dict(i) for i in state.queue]))
        elif route == ("DELETE", "/__fake/enqueue"):
            with state.lock:
                state.queue.clear()
            self._write(Resp(200, {"cleared": True}))
        elif route == ("GET", "/__fake/stats"):
            self._write(Resp(200, state.stats()))
        elif route == ("POST", "/__fake/reset"):
            state.reset()
            self._write(Resp(200, {"reset": True}))
        elif route == ("GET", "/__fake/store"):
            with state.lock:
                st = state.store
                out = {
                    "conversations": [dict(c) for c in st.conversations.values()],
                    "responses": list(st.responses.values()),
                    "share_links": list(st.share_links.values()),
                    "memories": list(st.memories.values()),
                    "artifacts": [api.artifact_pub(a) for a in st.artifacts.values()],
                    "files": list(st.files.values()),
                    "images": list(st.images),
                    "assets": {
                        p: {"size": len(d), "content_type": t, "sha256": hashlib.sha256(d).hexdigest()}
                        for p, (d, t) in st.assets.items()
                    },
                    "inflight": list(st.inflight),
                }
                raw = dumps(out)
            self._write(Resp(200, raw, "application/json"))
        elif route == ("GET", "/__fake/asset"):
            with state.lock:
                found = state.store.assets.get((query.get("path") or [""])[0])
            self._write(Resp(200, found[0], found[1]) if found else Resp(404, {"error": "no such asset"}))
        elif route == ("POST", "/__fake/accounts"):
            err = accounts.validate(data, creating=True)
            if err:
                self._write(Resp(400, {"error": err}))
                return
            with state.lock:
                made = accounts.add(state, data).describe()
            self._write(Resp(200, made))
        elif route == ("GET", "/__fake/accounts"):
            with state.lock:
                self._write(Resp(200, [a.describe() for a in state.accounts.values()]))
        elif method == "POST" and path.startswith("/__fake/accounts/"):
            name = path[len("/__fake/accounts/") :]
            err = accounts.validate(data, creating=False)
            with state.lock:
                account = state.accounts.get(name)
                if account is not None and not err:
                    accounts.change(account, data)
                    described = account.describe()
            if err or account is None:
                self._write(Resp(400 if err else 404, {"error": err or f"no account {name!r}"}))
                return
            self._write(Resp(200, described))
        elif route == ("GET", "/__fake/build"):
            with state.lock:
                self._write(Resp(200, state.builds.current.info()))
        elif route == ("POST", "/__fake/build"):
            with state.lock:
                try:
                    new = state.builds.rotate(
                        data.get("spec"), data.get("generator") or "plain", form=data.get("form") or "2026"
                    )
                except ValueError as exc:
                    self._write(Resp(400, {"error": str(exc)}))
                    return
                self._write(Resp(200, new.info()))
        elif route == ("GET", "/__fake/health"):
            self._write(Resp(200, {"ok": True}))
        else:
            self._write(Resp(404, {"error": f"no control route {method} {path}"}))


class FakeGrokServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 2048

    def __init__(self, address, state: State):
        self.state = state
        super().__init__(address, Handler)

    def get_request(self):
        sock, addr = super().get_request()
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        return sock, addr

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, ClientGone)):
            return
        if isinstance(exc, OSError) and exc.errno in (errno.EBADF, errno.ENOTCONN, errno.EPIPE, errno.ECONNRESET):
            return
        super().handle_error(request, client_address)


def make_server(host: str, port: int, config: dict, verbose: bool = False) -> FakeGrokServer:
    state = State(config, verbose)
    server = FakeGrokServer((host, port), state)
    real_port = server.server_address[1]
    if not state.config.get("base_url"):
        state.config["base_url"] = f"http://{host}:{real_port}"
    return server
