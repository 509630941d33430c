"""The mgw WebSocket chat lane: one socket per turn, as grok.com's page chats since August 2026.

A turn: look up the account's user uuid (the URL's `uid`; from the `x-userid` cookie, else
`GET /api/auth/session`, cached per cookie set), open `wss://grok.com/ws/mgw/?uid=…` with the
browser's TLS profile and cookies (no statsig header: the page sends none on the upgrade),
send `session.create`, wait for `conversation.attached`, send the message and
`response.create`, and return once grok.com has accepted the turn (`response.created`):
an error before that is raised like the REST lane's HTTP errors, so a caller can still
answer with a status, or retry elsewhere, before any byte reached its client.

The returned stream reads the answer as REST-shaped lines (lanes/mgw.py), sends the page's
`ping` event every `ws_ping_interval` seconds while it waits, ends an idle answer after
the idle timeout, and after `response.done` keeps reading briefly for the title. Closing
it closes the socket at once, which is all grok.com is known to understand as "stop".
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections import deque
from typing import Iterator
from urllib.parse import quote

from .. import events as ev
from .. import hooks
from ..errors import (
    ACCOUNT_BLOCKED,
    AntiBotRejected,
    AuthExpired,
    ConfigurationError,
    GrokError,
    StreamError,
    UpstreamConnectionError,
    UpstreamTimeout,
    error_for_status,
    inband_error,
)
from ..websocket import MessageTooBig, WebSocketClosed
from . import mgw

log = logging.getLogger(__name__)

SESSION_PATH = "/api/auth/session"
GATEWAY_PATH = "/ws/mgw/"
# How long the upgrade may take (a browser-like handshake; peers use 20 s).
HANDSHAKE_TIMEOUT = 20.0
SEND_TIMEOUT = 15.0
# After `response.done`, how long the title and follow-ups are waited for.
TAIL_SECONDS = 2.0
METHOD = "WS"  # how the lane's outcomes are recorded (a success proves the session, not statsig)

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


# --------------------------------------------------------------------------------------------
# the account's user uuid
# --------------------------------------------------------------------------------------------
def cookie_value(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, eq, value = part.strip().partition("=")
        if eq and key == name:
            return value
    return None


class UserIds:
    """The user uuid of the configured account: from its `x-userid` cookie, else fetched once per
    cookie set from grok.com's session endpoint; chats starting meanwhile wait for that one fetch.

    The wait goes through `hooks.waits` like any wait for grok.com: a plain lock would keep the
    waiting chats' start slots while the fetching chat needs one back to finish.
    """

    def __init__(self):
        self._key: str | None = None
        self._uid: str | None = None
        self._fetching: dict[str, object] = {}  # cookie-set key -> Event set when its fetch ends

    def get(self, client) -> str:
        header = client.config.cookie_header
        if not header:
            raise ConfigurationError("GROK_SSO_COOKIE is not set")
        given = cookie_value(header, "x-userid")
        if given and _UUID.match(given):
            return given
        key = hashlib.sha256(header.encode()).hexdigest()
        if key == self._key and self._uid:
            return self._uid
        underway = self._fetching.get(key)
        if underway is not None:
            hooks.waits.wait(underway, client.config.request_timeout)
            if key == self._key and self._uid:
                return self._uid
            # that fetch failed: this chat tries again, and raises its own error if it fails too
        from gevent.event import Event

        done = self._fetching[key] = Event()
        try:
            uid = fetch_user_id(client)
            self._key, self._uid = key, uid
            return uid
        finally:
            if self._fetching.get(key) is done:
                del self._fetching[key]
            done.set()


def fetch_user_id(client) -> str:
    """`GET /api/auth/session` (cookies only, as the page's own fetch) -> the account's user uuid."""
    config = client.config
    headers = [
        ("cookie", config.cookie_header),
        ("accept", "*/*"),
        ("referer", config.base_url + "/"),
        ("sec-fetch-dest", "empty"),
        ("sec-fetch-mode", "cors"),
        ("sec-fetch-site", "same-origin"),
        ("priority", "u=1, i"),
        ("upgrade-insecure-requests", None),
        ("sec-fetch-user", None),
    ]
    try:
        reply = client.transport.request(
            "GET", config.base_url + SESSION_PATH, headers, None, config.request_timeout, proxy=config.proxy
        )
    except GrokError as exc:
        client.state.record_failure(exc, "GET", account=config.account)
        raise
    if not 200 <= reply.status < 300:
        error = error_for_status(reply.status, reply.content[:65536].decode("utf-8", "replace"), reply.headers)
        client.state.record_failure(error, "GET", account=config.account)
        raise error
    try:
        data = json.loads(reply.content)
    except ValueError:
        data = None
    error = _session_problem(data)
    if error is not None:
        client.state.record_failure(error, "GET", account=config.account)
        raise error
    uid = user_id_of(data)
    if uid is None:
        error = GrokError("grok.com's session answer names no user id: the WebSocket lane cannot be used")
        client.state.record_failure(error, "GET", account=config.account)
        raise error
    return uid


def _session_problem(data) -> GrokError | None:
    status = data.get("status") if isinstance(data, dict) else None
    if status == "unauthenticated" or data is None or data == {}:
        return AuthExpired(401, json.dumps(data), "grok.com session cookies expired (no session for them)")
    if status == "blocked":
        return AntiBotRejected(
            403, json.dumps(data), "grok.com reports the account as blocked", failure_class=ACCOUNT_BLOCKED
        )
    return None


def user_id_of(data) -> str | None:
    """The user uuid in a session answer (the shapes peers accept), or None."""
    if not isinstance(data, dict):
        return None
    places = []
    for holder in (data.get("session"), data.get("user"), data):
        if isinstance(holder, dict):
            places.extend(holder.get(k) for k in ("userId", "id", "sub"))
    for value in places:
        if isinstance(value, str) and _UUID.match(value):
            return value.lower()
    return None


# --------------------------------------------------------------------------------------------
# the turn
# --------------------------------------------------------------------------------------------
def gateway_url(base_url: str, uid: str) -> str:
    scheme, _, rest = base_url.partition("://")
    ws_scheme = "wss" if scheme == "https" else "ws"
    return f"{ws_scheme}://{rest.rstrip('/')}{GATEWAY_PATH}?uid={quote(uid, safe='')}"


def upgrade_headers(config, uid: str) -> list[tuple[str, str | None]]:
    """The page's upgrade request: origin, cookies (+ x-userid), no statsig, no Authorization."""
    cookie = config.cookie_header
    if cookie_value(cookie, "x-userid") is None:
        cookie = f"{cookie}; x-userid={uid}"
    return [
        ("cookie", cookie),
        ("origin", config.base_url),
        ("cache-control", "no-cache"),
        ("pragma", "no-cache"),
        ("sec-fetch-dest", "websocket"),
        ("sec-fetch-mode", "websocket"),
        ("sec-fetch-site", "same-origin"),
        # Navigation-only headers of the impersonation profile; a WebSocket upgrade has none.
        ("accept", None),
        ("upgrade-insecure-requests", None),
        ("sec-fetch-user", None),
        ("priority", None),
    ]


def open_ws(client, body: dict, conversation_id: str | None = None, instructions_known: bool = False) -> "WsChatStream":
    """Start a turn on the WebSocket lane and return its stream once grok.com accepted it
    (`instructions_known`: the conversation's messages hold the custom instructions already)."""
    config = client.config
    state = client.state
    uid = client.user_ids.get(client)
    try:
        socket = client.transport.websocket(
            gateway_url(config.base_url, uid),
            upgrade_headers(config, uid),
            timeout=min(HANDSHAKE_TIMEOUT, config.stream_idle_timeout),
            proxy=config.proxy,
        )
    except GrokError as exc:
        state.record_failure(exc, METHOD, account=config.account)
        raise
    stream = WsChatStream(
        socket,
        mgw.Translator("cont" if conversation_id else "new", conversation_id),
        idle_timeout=config.stream_idle_timeout,
        ping_interval=config.ws_ping_interval,
        state=state,
        account=config.account,
    )
    try:
        stream.start(body, conversation_id, instructions_known)
    except GrokError as exc:
        stream.close()
        state.record_failure(exc, METHOD, account=config.account)
        raise
    except BaseException:
        stream.close()
        raise
    state.record_success(101, METHOD, account=config.account)
    return stream


class WsChatStream:
    """One turn's answer over the WebSocket; the interface of the REST lane's ChatStream.

    `events()` yields the typed events, `raw()` the same answer as REST NDJSON bytes (for the
    native routes that relay grok.com's lines); with a `heartbeat`, None is yielded for each
    such interval of silence. Close it (or use `with`) to end the turn.
    """

    lane = "ws"

    def __init__(
        self,
        socket,
        translator: mgw.Translator,
        *,
        idle_timeout: float,
        ping_interval: float,
        state=None,
        max_message_bytes: int = ev.DEFAULT_MAX_LINE_BYTES,
        account: str | None = None,
    ):
        self.socket = socket
        self.translator = translator
        self.idle_timeout = idle_timeout
        self.ping_interval = ping_interval
        self.state = state
        self.account = account
        self.status = 101
        self.headers = socket.headers
        self.splitter = mgw.EventSplitter(max_message_bytes)
        self.pending: deque = deque()  # REST-shaped lines (dicts) and ParseError events
        self.finished = False
        self._failure: GrokError | None = None  # raised once the pending lines are out
        self._next_ping = time.monotonic() + ping_interval
        self._last_activity = time.monotonic()
        self._tail_until: float | None = None

    # ------------------------------------------------------------------ the turn's start
    def start(self, body: dict, conversation_id: str | None, instructions_known: bool = False) -> None:
        t = self.translator
        self._send(mgw.session_create(body, conversation_id))
        self._read_until(lambda: t.attached, "the conversation to be attached")
        self._send(mgw.item_create(body, t.conversation_id or conversation_id, fold=not instructions_known))
        self._send(mgw.response_create(t.conversation_id or conversation_id))
        self._read_until(lambda: t.created, "the answer to start")

    def _read_until(self, ready, what: str) -> None:
        t = self.translator
        deadline = time.monotonic() + self.idle_timeout
        while not ready():
            if t.refused is not None:
                raise t.refused
            if t.ended or self.finished:
                raise UpstreamConnectionError(
                    t.dropped or f"grok.com ended the WebSocket turn before {what}", dropped=True
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise UpstreamTimeout(f"grok.com did not answer on the WebSocket within {self.idle_timeout:g} s")
            self._receive(min(remaining, self.ping_interval))
            if self._failure is not None:
                raise self._failure
        if t.refused is not None:
            raise t.refused

    # ------------------------------------------------------------------ socket plumbing
    def _send(self, frame: dict) -> None:
        self.socket.send_text(mgw.encode(frame), SEND_TIMEOUT)

    def _receive(self, timeout: float) -> bool:
        """Read at most one message (pinging when due); False when none came in time."""
        now = time.monotonic()
        if now >= self._next_ping:
            self._send(mgw.ping())
            self._next_ping = now + self.ping_interval
        wait = max(0.0, min(timeout, self._next_ping - now))
        try:
            message = self.socket.recv(wait)
        except WebSocketClosed as exc:
            self._closed_by_server(exc)
            return False
        except UpstreamConnectionError:
            if not self.translator.done:
                raise
            self.finished = True  # the answer was complete: a broken tail loses nothing
            return False
        except MessageTooBig as exc:
            self.pending.append(ev.ParseError(f"line exceeds {_mib(self.splitter.max_bytes)} limit", exc.message))
            self.finished = True
            return False
        if message is None:
            return False
        self._consume(message.decode("utf-8", "replace"))
        return True

    def _consume(self, text: str) -> None:
        objects, garbage = self.splitter.feed(text)
        for skipped in garbage:
            self.pending.append(ev.ParseError("invalid JSON in a WebSocket message", skipped[:200]))
        t = self.translator
        active = False
        for obj in objects:
            if not active:
                event = obj.get("event") if isinstance(obj, dict) else None
                active = not (isinstance(event, dict) and event.get("type") == "pong")
            self.pending.extend(t.feed(obj))
        if active:
            self._last_activity = time.monotonic()
        if t.done and self._tail_until is None:
            self._tail_until = time.monotonic() + TAIL_SECONDS
        if t.dropped and self._failure is None:
            self._failure = UpstreamConnectionError(t.dropped, dropped=True)
        if t.complete():
            self.finished = True

    def _closed_by_server(self, exc: WebSocketClosed) -> None:
        self.finished = True
        if not self.translator.done and not self.translator.ended and self._failure is None:
            self._failure = UpstreamConnectionError(
                f"the WebSocket closed before the answer was complete ({exc.message})", dropped=True
            )

    # ------------------------------------------------------------------ reading the answer
    def lines(self, heartbeat: float | None = None) -> Iterator[object]:
        """REST-shaped lines (and ParseError events) as they arrive; None per `heartbeat` of silence."""
        pending = self.pending
        last_beat = time.monotonic()
        ended = True  # False while a reader that stopped early may come back (opening, then raw)
        try:
            while True:
                if pending:
                    while pending:
                        ended = False
                        yield pending.popleft()
                        ended = True
                    last_beat = time.monotonic()
                if self._failure is not None:
                    failure, self._failure = self._failure, None
                    raise failure
                if self.finished:
                    return
                now = time.monotonic()
                if self._tail_until is not None and now >= self._tail_until:
                    return
                wait = self._last_activity + self.idle_timeout - now
                if heartbeat:
                    wait = min(wait, last_beat + heartbeat - now)
                if self._tail_until is not None:
                    wait = min(wait, self._tail_until - now)
                if self._receive(max(0.0, wait)):
                    continue
                now = time.monotonic()
                if pending or self.finished or self._failure is not None:
                    continue
                if now - self._last_activity >= self.idle_timeout - 0.001:
                    raise UpstreamTimeout(f"no data from grok.com's WebSocket for {self.idle_timeout:g} s")
                if heartbeat and now - last_beat >= heartbeat - 0.001:
                    last_beat = now
                    ended = False
                    yield None
                    ended = True
        finally:
            if ended:  # the answer is complete, failed or timed out: nothing more to read
                self.close()

    def events(self, heartbeat: float | None = None) -> Iterator[ev.Event | None]:
        decoder = ev.NDJSONDecoder()
        for item in self.lines(heartbeat):
            if item is None:
                yield None
            elif isinstance(item, dict):
                for event in decoder.decode_object(item):
                    if isinstance(event, ev.UpstreamError):
                        self._note(event)
                    yield event
            else:
                yield item
                if isinstance(item, ev.ParseError) and item.message.startswith("line exceeds"):
                    self.close()
                    return
        for skipped in self.splitter.finish():
            yield ev.ParseError("invalid JSON at the end of the WebSocket answer", skipped)

    def raw(self, heartbeat: float | None = None) -> Iterator[bytes | None]:
        # The lines that arrived together go out as one chunk, as a REST read gives them: a relay
        # then handles (and writes to its client) one chunk per message, not one per line.
        batch: list[str] = []
        pending = self.pending
        for item in self.lines(heartbeat):
            if isinstance(item, dict):
                batch.append(mgw.compact_json(item))
                if pending and isinstance(pending[0], dict):
                    continue
                yield ("\n".join(batch) + "\n").encode()
                batch.clear()
            elif item is None:
                yield None
            elif isinstance(item, ev.ParseError) and item.message.startswith("line exceeds"):
                self.close()
                raise StreamError(f"grok.com sent an oversized WebSocket message ({item.message})")

    def opening(self, heartbeat: float | None = None, limit: int = 1024 * 1024):
        """The answer up to its first event (as ChatStream.opening): its REST lines as bytes, and
        the error grok.com reported before answering, if it did. `raw()` goes on after them."""
        from ..client import Opening

        decoder = ev.NDJSONDecoder()
        parts: list[bytes] = []
        size = 0
        for item in self.lines(heartbeat):
            if item is None:
                break
            if not isinstance(item, dict):
                if isinstance(item, ev.ParseError) and item.message.startswith("line exceeds"):
                    self.pending.appendleft(item)  # raw() reports it
                    break
                continue
            data = _line_bytes(item)
            parts.append(data)
            size += len(data)
            for event in decoder.decode_object(item):
                if isinstance(event, ev.UpstreamError):
                    self._note(event)
                    return Opening(b"".join(parts), inband_error(event.message, event.code))
                if not isinstance(event, ev.BOOKKEEPING_EVENTS):
                    return Opening(b"".join(parts))
            if size >= limit:
                break
        return Opening(b"".join(parts))

    def _note(self, event: ev.Event) -> None:
        # In-band errors (usage limit, overload, ...) are failures too, for /status and metrics.
        if self.state is not None and isinstance(event, ev.UpstreamError):
            self.state.record_failure(inband_error(event.message, event.code), METHOD, account=self.account)

    def close(self) -> None:
        self.finished = True
        self.socket.close()

    def __enter__(self) -> "WsChatStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _line_bytes(line: dict) -> bytes:
    return (mgw.compact_json(line) + "\n").encode()


def _mib(limit: int) -> str:
    mib = 1024 * 1024
    return f"{limit // mib} MiB" if limit >= mib and limit % mib == 0 else f"{limit} bytes"
