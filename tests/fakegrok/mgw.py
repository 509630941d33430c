"""The fake grok.com's mgw WebSocket chat lane (`GET /ws/mgw/?uid=<uuid>`) and `GET /api/auth/session`.

What it does, as a faithful fake of the lane must:

* the upgrade: a Chrome UA, the sso/sso-rw cookies, and (config ``mgw_strict``, default on)
  ``Origin`` = the base URL, an ``x-userid`` cookie equal to ``uid`` and to the account's user
  id, no ``Authorization``. Fault switch ``mgw_handshake``: ``cloudflare`` (403 "Just a
  moment..." HTML with cf-mitigated), ``forbidden_json`` (403 JSON);
* ``session.create`` -> ``session.created`` (client_event_id, session echoed) and
  ``conversation.attached`` (a new conversation, or ``x_grok.conversation_id`` with
  ``load_existing``; unknown -> ``error {code:"conversation_not_found"}``);
* ``conversation.item.create`` -> ``conversation.queue.updated``, ``conversation.item.added``;
* ``response.create`` -> the answer: every chat scenario of the REST lane (scenarios.py) is
  written as mgw events by `MgwChat` (text in ``response.chunk`` when the session had
  ``use_chunk``, else ``response.output_text.delta``; search as tool card -> tool result ->
  text with ``render_citation`` between text chunks; images as ``card_attachment``; in-band
  errors as ``stream_error`` then ``response.done`` failed); the REST lane's status
  scenarios become an ``error`` event before ``response.created`` (rate_limited carries a
  google.rpc.RetryInfo detail). Then ``response.done``, a late NOTETAKER heading,
  ``response.persisted``, ``conversation.title.updated`` and follow-ups (unless disabled);
* every ``ping`` event is answered with ``pong``; protocol pings are answered too, and one
  is sent at the start of every answer;
* several events per message: up to ``mgw_batch`` (default 3) events written back to back
  without a separator; ``mgw_fragment`` > 0 sends messages as continuation frames of that
  many bytes;
* ``castle_request_token`` is accepted silently; ``mgw_require_castle`` refuses a
  ``response.create`` without it (``error {code:7, message:"...castle..."}``).

Accounting is the REST lane's: a turn is a stream (started at ``response.created``,
completed at ``response.done``, aborted when the client leaves before, dropped by the
``drop`` scenario). The request log entry of the upgrade carries ``ws``: the client's
frames (a Castle token as its length), its ``ping`` events and protocol pings.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from types import SimpleNamespace

from . import api, threads
from . import scenarios as sc
from .scenarios import Chat, Params
from .wire import ClientGone, Resp, dumps
from .wsframes import OP_TEXT, ProtocolError, WsConn, accept_value

GATEWAY = "/ws/mgw/"
SESSION = "/api/auth/session"
PATHS = (GATEWAY, SESSION)

_RENDER = re.compile(r"<grok:render\b[^>]*>.*?</grok:render>", re.S)
_ATTR = re.compile(r'([A-Za-z_][\w:-]*)\s*=\s*"([^"]*)"')
_ARG = re.compile(r'<argument\s+name="citation_id"\s*>(\d+)</argument>')


def route(handler, method: str, path: str, entry: dict, headers: dict):
    if path == SESSION:
        return _auth_session(handler, method, entry, headers)
    return _upgrade(handler, method, entry, headers)


def _cookies(headers: dict) -> dict:
    out: dict[str, str] = {}
    for part in headers.get("cookie", "").split(";"):
        name, eq, value = part.strip().partition("=")
        if eq and name not in out:
            out[name] = value
    return out


def _auth_session(handler, method: str, entry: dict, headers: dict):
    cfg = handler.state.config
    if method != "GET":
        entry["reject"] = "method"
        return Resp(405, b"Method Not Allowed", "text/plain", {"Allow": "GET"})
    if "Chrome/" not in headers.get("user-agent", ""):
        entry["reject"] = "cloudflare_ua"
        return sc.cloudflare_resp()
    if not handler._session_cookies_ok(headers):
        entry["reject"] = "cookie"
        return Resp(200, {"status": "unauthenticated"})
    expires = api.iso(time.time() + 30 * 86400)
    return Resp(200, {"status": "authenticated", "session": {"userId": cfg["user_id"], "expires": expires}})


def _upgrade(handler, method: str, entry: dict, headers: dict):
    state = handler.state
    cfg = state.config
    if method != "GET" or "websocket" not in headers.get("upgrade", "").lower() or not headers.get("sec-websocket-key"):
        entry["reject"] = "not_websocket"
        return Resp(426, b"Upgrade Required", "text/plain", {"Upgrade": "websocket"})
    fault = cfg.get("mgw_handshake")
    if fault == "cloudflare" or "Chrome/" not in headers.get("user-agent", ""):
        entry["reject"] = "cloudflare"
        return sc.cloudflare_resp()
    if fault == "forbidden_json":
        entry["reject"] = "forbidden"
        return Resp(403, {"code": 7, "message": "Forbidden", "details": []})
    if not handler._session_cookies_ok(headers):
        entry["reject"] = "cookie"
        return Resp(cfg["auth_failure_status"], sc.BAD_CREDENTIALS)
    uid = (entry["query"].get("uid") or [""])[0]
    if cfg.get("mgw_strict", True):
        cookies = _cookies(headers)
        problem = None
        if headers.get("origin") != cfg["base_url"]:
            problem = "origin"
        elif "authorization" in headers:
            problem = "authorization"
        elif uid != cfg["user_id"]:
            problem = "uid"
        elif cookies.get("x-userid") != uid:
            problem = "x-userid"
        if problem:
            entry["reject"] = problem
            return Resp(403, sc.ANTI_BOT)
    return Upgrade(entry, headers)


class Upgrade:
    """The 101 answer; `run` then serves the socket on the connection's own thread."""

    def __init__(self, entry: dict, headers: dict):
        self.entry = entry
        self.headers = headers

    def run(self, handler) -> None:
        handler.close_connection = True
        self.entry["status"] = 101
        try:
            handler.wfile.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + accept_value(self.headers["sec-websocket-key"]).encode() + b"\r\n\r\n"
            )
            handler.wfile.flush()
        except OSError:
            return
        session = MgwSession(handler, WsConn(handler.connection), self.entry)
        try:
            session.serve()
        except (ClientGone, ProtocolError):
            pass
        finally:
            session.turn_gone()


class MgwSession:
    """One socket: its session, conversation and turns (one at a time, like the page)."""

    def __init__(self, handler, conn: WsConn, entry: dict):
        self.handler = handler
        self.state = handler.state
        self.conn = conn
        self.entry = entry
        self.ws = entry["ws"] = {"frames": [], "pings": 0, "protocol_pings": 0, "bytes": 0}
        self.prefix = f"evt_{uuid.uuid4().hex}"
        self.seq = 0
        self.session_id: str | None = None
        self.x_grok: dict = {}
        self.model = "auto"
        self.conv: dict | None = None
        self.new = True
        self.user: dict | None = None
        self.item: dict | None = None
        self.writer: MgwWriter | None = None
        self.writer_chat = None

    # -- output ------------------------------------------------------------------------------------
    def envelope(self, event_type: str, **fields) -> dict:
        self.seq += 1
        event = {"type": event_type, "event_id": f"{self.prefix}_{self.seq}", **fields}
        return {"session_id": self.session_id, "event": event} if self.session_id else {"event": event}

    def send_now(self, event_type: str, **fields) -> None:
        self.conn.send_text(dumps(self.envelope(event_type, **fields)), self._fragment())

    def _fragment(self) -> int:
        return int(self.state.config.get("mgw_fragment") or 0)

    def error(self, code, message: str, **extra) -> None:
        self.send_now("error", error={"code": code, "message": message, **extra})

    # -- input -------------------------------------------------------------------------------------
    def serve(self) -> None:
        idle_deadline = time.monotonic() + 600
        while time.monotonic() < idle_deadline:
            for opcode, payload in self.conn.poll(0.5):
                idle_deadline = time.monotonic() + 600
                if opcode == OP_TEXT:
                    self.handle_message(payload)
            self.ws["protocol_pings"] = self.conn.pings_received

    def handle_message(self, payload: bytes) -> None:
        with self.state.lock:
            self.ws["bytes"] += len(payload)  # what the client sent, as the REST log's "bytes"
        try:
            frame = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            self.error(3, "Invalid request. Please update your client.")
            return
        event = frame.get("event") if isinstance(frame, dict) else None
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            self.error(3, "Invalid request. Please update your client.")
            return
        self.log_frame(frame)
        handler = {
            "session.create": self.on_session_create,
            "conversation.item.create": self.on_item_create,
            "response.create": self.on_response_create,
            "ping": self.on_ping,
            "session.update": self.on_session_update,
        }.get(event["type"])
        if handler is not None:
            handler(frame, event)

    def log_frame(self, frame: dict) -> None:
        logged = json.loads(json.dumps(frame))
        event = logged["event"]
        if isinstance(event.get("castle_request_token"), str):
            event["castle_request_token"] = {"length": len(event["castle_request_token"])}
        with self.state.lock:
            self.ws["frames"].append(logged)

    def on_ping(self, frame: dict, event: dict) -> None:
        with self.state.lock:
            self.ws["pings"] += 1
        pong = self.envelope("pong", client_event_id=event.get("event_id"))
        if self.writer is not None:
            self.writer.urgent(pong)
        else:
            self.conn.send_text(dumps(pong))

    def on_session_update(self, frame: dict, event: dict) -> None:
        session = event.get("session") if isinstance(event.get("session"), dict) else {}
        if isinstance(session.get("model"), str):
            self.model = session["model"]
        self.send_now("session.updated", session={"model": self.model})

    def on_session_create(self, frame: dict, event: dict) -> None:
        session = event.get("session")
        if not isinstance(session, dict) or not isinstance(session.get("model"), str):
            self.error(3, "Invalid request. Please update your client.")
            return
        x_grok = session.get("x_grok") if isinstance(session.get("x_grok"), dict) else {}
        self.model, self.x_grok = session["model"], x_grok
        store = self.state.store
        if x_grok.get("load_existing"):
            with self.state.lock:
                threads.purge_expired(self.state)
                conv = store.live_conv(x_grok.get("conversation_id"))
            if conv is None:
                self.error("conversation_not_found", "Conversation not found")
                return
            self.new = False
        else:
            with self.state.lock:
                conv = store.new_conversation({"temporary": bool(x_grok.get("is_temporary"))})
            self.new = True
        self.conv = conv
        self.session_id = conv["conversationId"]
        self.send_now("session.created", client_event_id=event.get("event_id"), session=session)
        self.send_now(
            "conversation.attached",
            conversation={"id": conv["conversationId"], "object": "realtime.conversation"},
            mode="new" if self.new else "existing",
        )

    def on_item_create(self, frame: dict, event: dict) -> None:
        if self.conv is None:
            self.error(3, "Invalid request. Please update your client.")
            return
        item = event.get("item") if isinstance(event.get("item"), dict) else {}
        x_grok = item.get("x_grok") if isinstance(item.get("x_grok"), dict) else {}
        chunks = x_grok.get("input_chunks")
        texts = [c["text"]["text"] for c in chunks or () if isinstance(c, dict) and isinstance(c.get("text"), dict)]
        if not isinstance(chunks, list) or not texts or not all(isinstance(t, str) for t in texts):
            self.error(3, "Invalid request. Please update your client.")
            return
        files = []
        for c in chunks:
            mention = c.get("mention") if isinstance(c, dict) else None
            target = mention.get("target") if isinstance(mention, dict) else None
            file_mention = target.get("file_mention") if isinstance(target, dict) else None
            if isinstance(file_mention, dict):
                files.append(file_mention.get("file_id"))
        with self.state.lock:
            unknown = [f for f in files if f not in self.state.store.files]
        if unknown:
            self.error(3, "Invalid request. Please update your client.")
            return
        parent = event.get("parent_response_id")
        store = self.state.store
        # The turn has no custom-instructions field: the client puts them in front of the message,
        # and the model reads them as instructions, not as part of what the user said; a message
        # without them is read under the latest ones of its thread (they are in the model's view).
        instructions, message = split_instructions("\n".join(texts))
        with self.state.lock:
            # A follow-up keeps the REST lane's rules (threads.py) and the model reads its thread.
            refused = None if self.new else threads.check_follow_up(self, self.conv, {"parentResponseId": parent})
            if refused is None:
                responses = self.conv["_responses"]
                if not parent and responses:
                    parent = responses[-1]
                thread = message if self.new else threads.thread_text(store, parent, message)
                if not instructions and not self.new:
                    instructions = threads.thread_instructions(store, parent)
                body = {"fileAttachments": files}
                user = store.new_response(self.conv["conversationId"], "human", message, parent, body)
                user["_instructions"] = instructions
        if refused is not None:
            problem = json.loads(refused.raw)
            self.error(problem.get("code", 3), problem.get("message", "Invalid request"))
            return
        self.user, self.item = user, {"text": thread, "files": files, "instructions": instructions}
        self.send_now("conversation.queue.updated", queue={"items": []})
        self.send_now("conversation.item.added", item={"id": user["responseId"], "type": "message", "role": "user"})

    def on_response_create(self, frame: dict, event: dict) -> None:
        if self.user is None or self.item is None:
            self.error(3, "Invalid request. Please update your client.")
            return
        cfg = self.state.config
        if cfg.get("mgw_require_castle") and not event.get("castle_request_token"):
            self.entry["reject"] = "castle"
            self.error(7, "Request rejected: castle_request_token missing (castle verification required)")
            return
        user, item = self.user, self.item
        self.user = self.item = None
        text = item["text"]
        forced = self.state.take_canned("GET", GATEWAY)
        req = SimpleNamespace(state=self.state, entry=self.entry, forced_scenario=(forced or {}).get("scenario"))
        overrides = self.x_grok.get("tool_overrides") if isinstance(self.x_grok.get("tool_overrides"), dict) else {}
        default = "image" if overrides.get("image_gen") is True else "plain"
        picked = api.pick_scenario(req, text, default)
        if isinstance(picked, Resp):
            self.error(3, f"fakegrok: unknown scenario {self.entry['scenario']!r}")
            return
        name, params = picked
        if name == "image" and "count" not in params and self.x_grok.get("image_generation_count") is not None:
            params["count"] = str(self.x_grok["image_generation_count"])
        with self.state.lock:
            params["_attachments"] = [self.state.store.files[f]["fileName"] for f in item["files"]]
        params["_instructions"] = item["instructions"]
        refusal = status_error(name, params, self.state)
        if refusal is not None:
            # refuse_after=S: the refusal comes after S seconds of silence (grok.com queued the turn first)
            time.sleep(min(max(params.float("refuse_after", 0.0), 0.0), 10.0))
            self.error(**refusal)
            return
        self.run_turn(name, params, user, text, event.get("event_id"))

    # -- the answer ----------------------------------------------------------------------------
    def run_turn(self, name: str, params: Params, user: dict, text: str, client_event_id) -> None:
        state = self.state
        store = state.store
        conv = self.conv
        with state.lock:
            model = store.new_response(conv["conversationId"], "ASSISTANT", "", user["responseId"])
            model["metadata"] = {
                "llm_info": {"modelHash": state.config["model_hash"]},
                "request_metadata": {"model": "", "mode": self.model},
            }
            model["model"] = self.model
            title = None
            if self.new:
                title = " ".join(sc.strip_markers(text).split()[:5])[:60] or "New conversation"
                conv["title"] = title
            cancel = threading.Event()
            store.inflight[model["responseId"]] = (conv["conversationId"], cancel)
            store.chat_times.append(time.time())
        writer = self.writer = MgwWriter(self, client_event_id)
        chat = MgwChat(writer, state, "new" if self.new else "cont", None, None, model, text, params, cancel, title)
        chat.use_chunk = self.x_grok.get("use_chunk") is True
        chat.follow_ups = self.x_grok.get("disable_text_follow_ups") is not True
        try:
            if name == "slow_headers":
                writer.wait(params.float("delay", 2.0))
            run_stream(chat, name)
        except ClientGone:
            writer.abort()
            raise
        finally:
            with state.lock:
                store.inflight.pop(model["responseId"], None)
            self.writer = None
            if writer.outcome is None:
                writer.abort()

    def turn_gone(self) -> None:
        if self.writer is not None and self.writer.outcome is None:
            self.writer.abort()


_PREAMBLE = re.compile(r"\A<custom_instructions>\n(.*?)\n</custom_instructions>\n\n", re.S)


def split_instructions(text: str) -> tuple[str, str]:
    """(the instructions in front of a message, the message itself)."""
    found = _PREAMBLE.match(text)
    return (found.group(1), text[found.end() :]) if found else ("", text)


def run_stream(chat: "MgwChat", name: str) -> None:
    """scenarios.run_stream, with the WebSocket's own version of a scenario where the REST one
    writes raw lines (those are REST framing, not events)."""
    fn = WS_SCENARIOS.get(name) or sc.STREAM_SCENARIOS.get(name, sc.STREAM_SCENARIOS["plain"])
    if name == "multi_agent":
        chat.p["_rollouts"] = sc.agents(chat.p)
    try:
        chat.prologue()
        if fn(chat, chat.p) is not True:
            chat.epilogue()
    except sc.Cancelled:
        chat.epilogue(partial=True)


def _invalid_utf8(c: "MgwChat", p: Params):
    c.token("Valid start. ")
    c.w.flush()
    head = dumps(c.w.session.envelope("response.chunk", response_id=c.rid, item_id=c.rid, chunk={}))[:-4]
    c.w.conn.send_text(head + b'{"text":{"text":"bad \xff\xfe\xc3( bytes","channel":"CHANNEL_ASSISTANT_RESPONSE"}}}}')
    c.token("Valid end.")


WS_SCENARIOS = {"invalid_utf8": _invalid_utf8}


def status_error(name: str, params: Params, state) -> dict | None:
    """The REST lane's status scenarios as the error event that refuses the turn."""
    if name == "rate_limited":
        secs = params.int("retry_after", 30)
        retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{secs}s"}
        return {"code": 8, "message": "Too many requests", "details": [retry]}
    if name == "expired":
        return {"code": 16, "message": sc.BAD_CREDENTIALS["message"]}
    if name == "anti_bot":
        return {"code": 7, "message": sc.ANTI_BOT["error"]["message"]}
    if name == "cloudflare":
        return {"code": 7, "message": "<html><title>Just a moment...</title></html>"}
    if name == "blocked":
        return {"code": 7, "message": sc.BLOCKED["message"]}
    if name == "outdated":
        return {"code": 3, "message": sc.INVALID_REQUEST["message"]}
    if name == "model_not_found":
        return {"code": 7, "message": sc.MODEL_NOT_FOUND["error"]["message"]}
    if name == "too_long" and params.str("where", "status") == "status":
        return {"code": 3, "message": sc.TOO_LONG_MSG}
    if name == "server_error":
        status = params.int("status", 500)
        if status == 500:
            return {"code": 13, "message": "Internal error"}
        return {"code": 14, "message": "Service unavailable"}
    return None


class MgwWriter:
    """What the REST scenarios write to (`Chat.s`), as mgw events on the socket.

    Events are queued and written up to `mgw_batch` per message, back to back; the queue is
    flushed before any wait and at the end of the turn. Between writes the client's frames
    are read (pings answered, a close noticed), so an abort is seen within ~50 ms.
    """

    def __init__(self, session: MgwSession, client_event_id):
        self.session = session
        self.state = session.state
        self.conn = session.conn
        self.client_event_id = client_event_id
        self.pending: list[bytes] = []
        self.started = False
        self.closed = False
        self.outcome: str | None = None
        self.lines_sent = 0
        self.path = GATEWAY

    # -- events -------------------------------------------------------------------------------------
    def event(self, event_type: str, **fields) -> None:
        self.pending.append(dumps(self.session.envelope(event_type, **fields)))
        self.lines_sent += 1
        batch = max(1, int(self.state.config.get("mgw_batch") or 3))
        if len(self.pending) >= batch:
            self.flush()

    def urgent(self, envelope: dict) -> None:
        self.pending.append(dumps(envelope))

    def flush(self) -> None:
        self.check_alive()
        if self.pending:
            data, self.pending = b"".join(self.pending), []
            self.conn.send_text(data, self.session._fragment())

    def check_alive(self) -> None:
        for opcode, payload in self.conn.poll(0):
            if opcode == OP_TEXT:
                self.session.handle_message(payload)

    def wait(self, seconds: float, cancel=None, slice_s: float = 0.05) -> None:
        self.flush()
        deadline = time.monotonic() + max(0.0, seconds)
        while True:
            if cancel is not None and cancel.is_set():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            for opcode, payload in self.conn.poll(min(remaining, slice_s)):
                if opcode == OP_TEXT:
                    self.session.handle_message(payload)
            if self.pending:
                self.flush()

    # -- the turn's accounting ----------------------------------------------------------------------
    def start(self, *args, **kwargs) -> None:
        if not self.started:
            self.started = True
            self.state.stream_started()

    def completed(self) -> None:
        if self.outcome is None:
            self.outcome = "completed"
            self.state.stream_ended("completed", self.path, self.lines_sent)

    def abort(self) -> None:
        if self.outcome is None and self.started:
            self.outcome = "aborted"
            self.state.stream_ended("aborted", self.path, self.lines_sent)
        self.outcome = self.outcome or "aborted"

    # -- what scenarios call on `Chat.s` ------------------------------------------------------------
    def line(self, obj) -> None:
        if isinstance(obj, (bytes, bytearray)):
            # A raw line of the REST lane (garbage, invalid UTF-8): a message of its own.
            self.flush()
            self.conn.send_text(bytes(obj))
            self.lines_sent += 1
            return
        if isinstance(obj, dict) and isinstance(obj.get("error"), dict):
            self.event("error", error=obj["error"])

    def big_line(self, data: bytes, piece: int = 1 << 20) -> None:
        self.flush()
        chunk = {"metadata": {"step_id": 0}, "text": {"text": "y" * len(data), "channel": "CHANNEL_ASSISTANT_RESPONSE"}}
        envelope = self.session.envelope("response.chunk", response_id="", item_id="", chunk=chunk)
        self.conn.send_text(dumps(envelope), self.session._fragment())
        self.lines_sent += 1

    def finish(self) -> None:
        """The REST body's end: after an in-band error, the turn fails."""
        if self.outcome is None:
            chat = self.session.writer_chat
            self.event("response.done", response={"id": chat.rid, "status": "failed", "output_modalities": ["text"]})
            self.flush()
            self.completed()

    def drop(self, rst: bool = False) -> None:
        self.flush()
        self.conn.shutdown(rst)
        self.closed = True
        if self.outcome is None:
            self.outcome = "dropped"
            self.state.stream_ended("dropped", self.path, self.lines_sent)


class MgwChat(Chat):
    """The REST scenarios' answer written as mgw events (see the module docstring)."""

    use_chunk = True
    follow_ups = True

    def __init__(self, writer: MgwWriter, *args, **kwargs):
        super().__init__(writer, *args, **kwargs)
        writer.session.writer_chat = self
        self.w = writer
        self.citations: dict[str, dict] = {}  # citation cards by id, for the render tags
        self.held = ""  # answer text inside an unfinished <grok:render …> element
        self.tools: list[str] = []

    # -- framing -------------------------------------------------------------------------------------
    def chunk(self, **chunk) -> None:
        self.w.event("response.chunk", response_id=self.rid, item_id=self.rid, chunk=chunk)

    def text(self, text: str, channel: str = "CHANNEL_ASSISTANT_RESPONSE", **meta) -> None:
        if not text:
            return
        if not self.use_chunk:
            thinking = channel != "CHANNEL_ASSISTANT_RESPONSE"
            self.w.event("response.output_text.delta", delta=text, x_grok={"is_thinking": thinking})
            return
        phase = 2 if channel == "CHANNEL_ASSISTANT_RESPONSE" else 1  # the capture's thinking / answer phases
        self.chunk(metadata={"step_id": 0, "phase_index": phase, **meta}, text={"text": text, "channel": channel})

    def output(self, **output) -> None:
        self.w.event("response.grok.output", response_id=self.rid, output=output)

    def prologue(self) -> None:
        self.w.start()
        self.w.conn.ping(b"fakegrok")
        self.w.event(
            "response.created",
            client_event_id=self.w.client_event_id,
            response={
                "id": self.rid,
                "status": "in_progress",
                "output_modalities": ["text"],
                "x_grok": {"created_at": time.time() * 1000, "model": self.w.session.model},
            },
        )
        layout = {"reasoning_ui_layout": "UNIFIED", "effort": "LOW", "steer_model_id": "grok-4"}
        if self.p.get("_rollouts"):
            layout["rollout_ids"] = self.p["_rollouts"]
        self.chunk(metadata={"phase_index": 0}, ui_layout=layout)

    def resp(self, payload: dict) -> None:
        self.check_cancel()
        error = payload.get("error")
        if isinstance(error, dict):
            problem = {"kind": "STREAM_ERROR_KIND_GENERIC", "message": error.get("message", "")}
            if error.get("code") is not None:
                problem["code"] = error["code"]
            problem["severity"] = error.get("severity") or "fatal"
            if "usage limit" in problem["message"].lower():
                problem["usageLimitReached"] = True
            self.output(stream_error=problem)
        card = payload.get("toolUsageCard")
        if isinstance(card, dict):
            card_id = card.get("toolUsageCardId") or f"tool-{len(self.tools) + 1}"
            self.tools.append(card_id)
            converted = {"tool_usage_card_id": card_id}
            for key, value in card.items():
                if key != "toolUsageCardId":
                    converted[_snake(key)] = value
            self.chunk(metadata={"step_id": 0}, tool_usage_card=converted)
            return
        results = payload.get("webSearchResults")
        if isinstance(results, dict):
            pages = [_page(r) for r in results.get("results") or ()]
            call = {"tool_call_id": self.tools[-1]} if self.tools else {}
            self.chunk(metadata={"step_id": 0}, tool_result={**call, "web_search": {"webpages": pages}})
        posts = payload.get("xSearchResults")
        if isinstance(posts, dict):
            converted = [_post(p) for p in posts.get("results") or ()]
            self.chunk(metadata={"step_id": 1}, tool_result={"x_post": {"posts": converted}})
        attachment = payload.get("cardAttachment")
        if isinstance(attachment, dict):
            data = json.loads(attachment["jsonData"]) if isinstance(attachment.get("jsonData"), str) else {}
            if data.get("cardType") == "citation_card":
                self.citations[data.get("id")] = data
            else:
                self.output(card_attachment={"jsonData": attachment["jsonData"]})
        image = payload.get("streamingImageGenerationResponse")
        if isinstance(image, dict):
            fields = {k: v for k, v in image.items() if k != "imageId"}
            fields["imageUuid"] = image.get("imageId")
            self.output(card_attachment={"image_chunk": fields})
        layout = payload.get("uiLayout")
        if isinstance(layout, dict) and layout.get("rolloutIds"):
            pass  # the prologue's ui_layout already named the agents
        token = payload.get("token")
        if isinstance(token, str) and token:
            self._token(payload, token)

    def _token(self, payload: dict, token: str) -> None:
        tag = payload.get("messageTag") or "final"
        if tag in ("tool_usage_card", "raw_function_result"):
            return
        meta = {}
        if isinstance(payload.get("messageStepId"), int):
            meta["step_id"] = payload["messageStepId"]
        if isinstance(payload.get("rolloutId"), str):
            meta["rollout_id"] = payload["rolloutId"]
        if payload.get("isThinking") or tag in ("analysis", "summary"):
            self.text(token, "CHANNEL_ASSISTANT_THINKING", **meta)
            return
        self.answer_text(token)

    def answer_text(self, token: str) -> None:
        data = self.held + token
        self.held = ""
        while data:
            start = data.find("<grok:render")
            if start < 0:
                self.text(data)
                return
            if start:
                self.text(data[:start])
            match = _RENDER.match(data, start)
            if match is None:
                self.held = data[start:]
                return
            self.render(match.group(0))
            data = data[match.end() :]

    def render(self, element: str) -> None:
        attrs = dict(_ATTR.findall(element[: element.find(">") + 1]))
        card = self.citations.get(attrs.get("card_id"))
        if attrs.get("type") == "render_inline_citation" and card is not None and self.use_chunk:
            number = _ARG.search(element)
            citation = {
                "id": card["id"],
                "kind": "CITATION_KIND_WEB_PAGE",
                "url": card.get("url"),
                "citation_id": int(number.group(1)) if number else 0,
            }
            self.chunk(metadata={"step_id": 3}, render_citation=citation)
            return
        if attrs.get("type") == "render_inline_citation" and card is not None:
            self.output(card_attachment={"id": card["id"], "url": card.get("url")})
        self.text(element)  # image placeholders stay in the text, as on the real lane

    def epilogue(self, partial: bool = False) -> None:
        if self.held:
            self.text(self.held)
            self.held = ""
        mr = self.model_response_obj(partial)
        w = self.w
        w.event("response.output_text.done", response_id=self.rid, text=mr["message"])
        w.event(
            "response.done",
            response={
                "id": self.rid,
                "status": "cancelled" if partial else "completed",
                "output_modalities": ["text"],
                "usage": {},
            },
        )
        w.flush()
        w.completed()
        try:
            w.event(
                "response.chunk",
                response_id="",
                item_id="",
                chunk={
                    "metadata": {"step_id": 1, "phase_index": 1},
                    "text": {"text": "Wrapping up", "channel": "CHANNEL_ASSISTANT_NOTETAKER_HEADER"},
                },
            )
            w.event("response.persisted", response_id=self.rid, status="ok")
            if self.framing == "new" and self.title:
                w.event("conversation.title.updated", title=self.title)
            if self.follow_ups:
                suggestion = {
                    "properties": {"message_type": "TEXT", "follow_up_type": "DIVE_DEEPER"},
                    "label": "Tell me more",
                    "tool_overrides": {"image_gen": False},
                }
                self.chunk(follow_up_suggestions={"suggestions": [suggestion]})
            w.flush()
        except ClientGone:
            pass  # the answer was complete; a client may leave without the tail


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _page(result: dict) -> dict:
    page = {"url": result.get("url"), "title": result.get("title"), "snippet": result.get("preview", "")}
    for key in ("siteName", "description", "favicon"):
        if result.get(key):
            page[_snake(key)] = result[key]
    return page


def _post(post: dict) -> dict:
    return {
        "userhandle": post.get("username"),
        "name": post.get("name"),
        "text": post.get("text"),
        "post_id": post.get("postId"),
        "create_time": post.get("createTime"),
        "view_count": post.get("viewCount"),
    }
