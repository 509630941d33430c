"""/v1/chat/ws: a conversation over one WebSocket (flask-sock; runs under gunicorn's gevent worker).

Client -> server, JSON text frames:
  {"type": "chat", ...POST /v1/chat body}           start a conversation (a "turn")
  {"type": "message", "conversationId"?: id, ...POST /v1/chat/{id}/message body}
                                                    continue one (default: this socket's conversation)
  {"type": "stop"}                                  abort the turn's upstream stream and tell grok.com to stop
  {"type": "ping"}                                  answered with {"type": "pong"}
Server -> client:
  {"type": "event", "event": <name>, "data": {...}} one per upstream event, as it arrives
  {"type": "done", "reason": "completed"|"stopped", "conversationId", "responseId", "userResponseId",
   "title", ("upstreamStopped": bool, after a stop)}  the turn ended
  {"type": "error", "problem": {type, title, status, detail, ...}}  the turn failed, or a frame was refused
  {"type": "pong"}
Every turn ends with exactly one "done" or "error" frame; one turn at a time per socket.
The server sends WebSocket pings every HEARTBEAT_SECS; a socket that stops answering, closes
or cannot be written to aborts its upstream transfer.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time

import gevent
from flask import request
from gevent.lock import Semaphore
from marshmallow import ValidationError
from simple_websocket import ConnectionClosed
from werkzeug.routing.exceptions import WebsocketMismatch

from ..grok import events as ev
from ..grok.accounts import mode_of
from ..grok.errors import GrokError, inband_error
from ..problems import Problem, from_grok_error, validation_problem
from ..routing import CONVERSATION, OwnedStream, Routed, for_owned, for_request, pool, requested_account, run_on_pool
from ..runtime import EXTENSION, Runtime, runtime, settings
from ..web.blueprint import Blueprint, json_value_refusal
from ..web.extensions import sock
from ..web.request_limits import MAX_JSON_DEPTH, nests_too_deeply
from .chat_schemas import CONTINUE_CHAT_EXAMPLE, NEW_CHAT_EXAMPLE, ContinueChatSchema, NewChatSchema
from .params import id_problem

log = logging.getLogger(__name__)
# The route label of the turns in the metrics: each turn counts as a stream of the WebSocket route.
WS_ROUTE = "/v1/chat/ws"

blp = Blueprint("chat_ws", __name__, url_prefix="/v1/chat", description="Native grok.com chat over a WebSocket")

MAX_FRAME_BYTES = 2 * 1024 * 1024
JOIN_TIMEOUT = 5.0

# Upstream event -> frame "event" name (camelCase like the bodies; Done is grok.com's soft stop).
EVENT_NAMES = {
    cls: cls.__name__[0].lower() + cls.__name__[1:]
    for cls in (
        ev.ConversationCreated,
        ev.ResponseIds,
        ev.Token,
        ev.ReasoningToken,
        ev.ToolUsage,
        ev.SearchResults,
        ev.Card,
        ev.ImageProgress,
        ev.ImageGenerated,
        ev.VideoGenerated,
        ev.ModelResponse,
        ev.Title,
        ev.Metadata,
        ev.UpstreamError,
        ev.ParseError,
    )
}
EVENT_NAMES[ev.Done] = "softStop"


def _camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def event_frame(event: ev.Event) -> dict:
    data = {_camel(k): v for k, v in dataclasses.asdict(event).items()}
    return {"type": "event", "event": EVENT_NAMES.get(type(event), type(event).__name__), "data": data}


def error_frame(problem: Problem) -> dict:
    body = problem.body()
    body.pop("error", None)  # the OpenAI-style copy is for HTTP clients
    return {"type": "error", "problem": body}


class SendAllSocket:
    """simple_websocket writes with socket.send(), which on a gevent socket may write only part of
    a large frame; this writes whole frames, one writer at a time (the reader thread answers pings)."""

    def __init__(self, sock):
        self._sock = sock
        self._lock = Semaphore()

    def send(self, data: bytes) -> int:
        with self._lock:
            self._sock.sendall(data)
        return len(data)

    def __getattr__(self, name):
        return getattr(self._sock, name)


@dataclasses.dataclass
class Turn:
    """One upstream chat stream relayed to the socket."""

    conversation_id: str | None = None
    response_id: str | None = None
    user_response_id: str | None = None
    title: str | None = None
    stream: object = None
    greenlet: gevent.Greenlet | None = None
    stopped: bool = False
    finished: bool = False

    def track(self, event: ev.Event) -> None:
        if isinstance(event, ev.ConversationCreated):
            self.conversation_id = event.conversation_id
            self.title = event.title or self.title
        elif isinstance(event, ev.ResponseIds):
            self.response_id = event.response_id or self.response_id
            self.user_response_id = event.user_response_id or self.user_response_id
        elif isinstance(event, ev.ModelResponse):
            self.response_id = event.response_id or self.response_id
        elif isinstance(event, ev.Title):
            self.title = event.title

    def summary(self, reason: str) -> dict:
        return {
            "type": "done",
            "reason": reason,
            "conversationId": self.conversation_id,
            "responseId": self.response_id,
            "userResponseId": self.user_response_id,
            "title": self.title,
        }


class ChatSocket:
    """The frames of one socket. Runs in the request's greenlet; each turn's upstream relay runs
    in a greenlet of its own, so stop and ping frames are read while an answer streams."""

    def __init__(self, ws, routed: Routed, rt: Runtime, heartbeat: float, route=None, new_chat=None):
        self.ws = ws
        ws.sock = SendAllSocket(ws.sock)
        self.routed = routed
        self.client = routed.client
        # conversation id -> the Routed of the account that owns it (default: this socket's)
        self.route = route or (lambda conversation_id: routed)
        # a chat frame's body -> its stream, opened in the turn's greenlet (default: this socket's account)
        self.new_chat = new_chat or (lambda body: self.owned(routed, routed.client.new_conversation(body)))
        self.rt = rt
        self.heartbeat = heartbeat
        self.conversation_id: str | None = None
        self.turn: Turn | None = None
        self.dead = False
        self._send_lock = Semaphore()  # whole messages in order (permessage-deflate shares state)

    # ----------------------------------------------------------------- sending
    def send(self, frame: dict) -> bool:
        if self.dead:
            return False
        try:
            with self._send_lock:
                self.ws.send(json.dumps(frame, ensure_ascii=False))
            return True
        except (ConnectionClosed, OSError) as exc:
            log.info("websocket chat: the client is gone (%s)", type(exc).__name__)
            self.dead = True
            return False

    def refuse(self, problem: Problem) -> None:
        self.send(error_frame(problem))

    # ----------------------------------------------------------------- the receive loop
    def serve(self) -> None:
        try:
            while not self.dead:
                try:
                    data = self.ws.receive(timeout=self.heartbeat)
                except ConnectionClosed:
                    break
                if data is not None:
                    self.handle(data)
        finally:
            self.end_turn(reason=None)

    def handle(self, data) -> None:
        if not isinstance(data, str):
            return self.refuse(Problem(400, "bad_request", "frames must be JSON text frames"))
        if nests_too_deeply(data.encode()):
            # json.loads recurses per level: a deep frame would end the socket with 1011 (RecursionError).
            return self.refuse(
                Problem(400, "bad_request", f"the frame nests arrays/objects deeper than {MAX_JSON_DEPTH} levels")
            )
        try:
            frame = json.loads(data)
        except json.JSONDecodeError:
            return self.refuse(Problem(400, "bad_request", "the frame is not valid JSON"))
        except ValueError as exc:  # valid syntax Python will not read, e.g. a 5000-digit number
            return self.refuse(Problem(400, "bad_request", json_value_refusal(exc).replace("the JSON", "the frame")))
        kind = frame.get("type") if isinstance(frame, dict) else None
        handler = {"chat": self.on_chat, "message": self.on_message, "stop": self.on_stop, "ping": self.on_ping}.get(
            kind
        )
        if handler is None:
            return self.refuse(
                Problem(
                    400,
                    "bad_request",
                    "a frame is a JSON object whose type is chat, message, stop or ping",
                    param="type",
                )
            )
        body = {k: v for k, v in frame.items() if k != "type"}
        handler(body)

    def on_ping(self, _body: dict) -> None:
        self.send({"type": "pong"})

    def on_chat(self, body: dict) -> None:
        loaded = self.load(NewChatSchema(), body)
        if loaded is not None:
            # The account the pool chooses for this chat; the conversation is recorded as its own.
            self.start(lambda: self.new_chat(loaded), None)

    def on_message(self, body: dict) -> None:
        conversation_id = body.pop("conversationId", None) or self.conversation_id
        if conversation_id is None:
            return self.refuse(
                Problem(
                    422,
                    "invalid_request",
                    "conversationId is required: this socket has no conversation yet",
                    param="conversationId",
                )
            )
        reason = id_problem(conversation_id) if isinstance(conversation_id, str) else "must be a string"
        if reason:
            return self.refuse(
                Problem(422, "invalid_request", f"invalid conversationId: {reason}", param="conversationId")
            )
        loaded = self.load(ContinueChatSchema(), body)
        if loaded is not None:
            routed = self.route(conversation_id)  # the account that owns the conversation
            self.start(lambda: self.owned(routed, routed.client.add_response(conversation_id, loaded)), conversation_id)

    def owned(self, routed: Routed, stream):
        return OwnedStream(stream, routed.label, self.rt.pool)

    def load(self, schema, body: dict) -> dict | None:
        try:
            return schema.load(body)
        except ValidationError as exc:
            self.refuse(validation_problem({"json": exc.messages}))
            return None

    def on_stop(self, _body: dict) -> None:
        turn = self.turn
        if turn is None or turn.finished:
            return self.refuse(
                Problem(409, "no_active_turn", "there is no answer streaming to stop", title="No Active Turn")
            )
        self.end_turn(reason="stopped")

    # ----------------------------------------------------------------- turns
    def start(self, open_stream, conversation_id: str | None) -> None:
        if self.turn is not None and not self.turn.finished:
            return self.refuse(
                Problem(
                    409,
                    "turn_in_progress",
                    'an answer is still streaming; send {"type":"stop"} first or wait for its done frame',
                    title="Turn In Progress",
                )
            )
        turn = Turn(conversation_id=conversation_id)
        self.turn = turn
        turn.greenlet = gevent.spawn(self.relay, turn, open_stream)

    def relay(self, turn: Turn, open_stream) -> None:
        """The turn's greenlet: upstream events -> frames, then done or error."""
        self.rt.metrics.stream_started(WS_ROUTE)
        started, outcome = time.perf_counter(), "closed_early"
        stream = None
        try:
            stream = turn.stream = open_stream()
            for event in stream.events():
                if turn.stopped or self.dead:
                    return
                turn.track(event)
                if isinstance(event, ev.UpstreamError):
                    raise inband_error(event.message, event.code)
                if not self.send(event_frame(event)):
                    return
            if not turn.stopped:
                self.send(turn.summary("completed"))
                outcome = "completed"
        except GrokError as exc:
            outcome = "error"
            if not turn.stopped:
                log.warning("websocket chat turn failed: %s", exc.message)
                self.send(error_frame(from_grok_error(exc)))
        except Problem as problem:  # no account of the pool can serve the chat now
            outcome = "error"
            if not turn.stopped:
                self.send(error_frame(problem))
        finally:
            turn.finished = True
            if stream is not None:
                stream.close()
            self.rt.metrics.stream_finished(WS_ROUTE, time.perf_counter() - started, outcome)
            if turn.conversation_id:
                self.conversation_id = turn.conversation_id

    def end_turn(self, reason: str | None) -> None:
        """Abort the running turn's upstream; with a reason, also tell grok.com and send done."""
        turn = self.turn
        if turn is None or turn.finished:
            return
        turn.stopped = True
        if turn.stream is not None:
            turn.stream.close()  # aborts the transfer and wakes the relay greenlet
            turn.greenlet.join(JOIN_TIMEOUT)
        if not turn.greenlet.dead:  # still waiting for response headers (or stuck writing)
            turn.greenlet.kill(block=True, timeout=JOIN_TIMEOUT)
        if reason is None:
            log.info("websocket chat: socket closed, upstream stream aborted")
            return
        frame = turn.summary(reason)
        frame["upstreamStopped"] = self.stop_upstream(turn.conversation_id)
        self.send(frame)

    def stop_upstream(self, conversation_id: str | None) -> bool:
        if conversation_id is None:
            return False  # stopped before grok.com named the conversation: the abort is all we can do
        try:
            self.route(conversation_id).client.stop_inflight_responses(conversation_id)
            return True
        except GrokError as exc:
            log.warning("websocket chat: grok.com's stop-inflight-responses failed: %s", exc.message)
            return False


# --------------------------------------------------------------------- the route
@blp.record_once
def _configure(state) -> None:
    rt = state.app.extensions[EXTENSION]
    # simple_websocket's reader pings every HEARTBEAT_SECS and closes a socket whose pong is late.
    state.app.config.setdefault(
        "SOCK_SERVER_OPTIONS", {"ping_interval": rt.settings.heartbeat_interval, "max_message_size": MAX_FRAME_BYTES}
    )
    state.app.register_error_handler(WebsocketMismatch, _needs_upgrade)


def _needs_upgrade(_exc):
    return Problem(
        426,
        "upgrade_required",
        "this route is a WebSocket: connect with a WebSocket client",
        title="Upgrade Required",
        headers={"Upgrade": "websocket"},
    ).response()


WS_DOC = __doc__.split("\n", 2)[2]
FRAME_EXAMPLES = {
    "client_chat": {"summary": "client: start a conversation", "value": {"type": "chat", **NEW_CHAT_EXAMPLE}},
    "client_message": {"summary": "client: continue it", "value": {"type": "message", **CONTINUE_CHAT_EXAMPLE}},
    "client_stop": {"summary": "client: stop the answer", "value": {"type": "stop"}},
    "server_event": {
        "summary": "server: an upstream event",
        "value": {"type": "event", "event": "token", "data": {"text": "HTTP/2 ", "softStop": False}},
    },
    "server_done": {
        "summary": "server: the turn ended",
        "value": {
            "type": "done",
            "reason": "completed",
            "conversationId": "c0ffee00-1111-4222-8333-444455556666",
            "responseId": "bbbb1111-2222-4333-8444-555566667777",
            "userResponseId": "aaaa1111-2222-4333-8444-555566667777",
            "title": "HTTP/2 multiplexing",
        },
    },
    "server_error": {
        "summary": "server: the turn failed",
        "value": error_frame(from_grok_error(inband_error("You've reached your usage limit. Please try again later."))),
    },
}


def pooled_chats():
    """A socket's new conversations, each placed by the pool as a POST /v1/chat is (the header's
    account when the socket was opened with one). Read now, in the handshake's request: the
    turns run in greenlets of their own."""
    accounts, pinned, retries = pool(), requested_account(), settings().account_retries

    def new_chat(body: dict):
        stream, _ = run_on_pool(
            accounts,
            mode_of(body),
            lambda r: OwnedStream(r.client.new_conversation(body), r.label, accounts),
            pinned=pinned,
            retries=retries,
        )
        return stream

    return new_chat


@sock.route("/ws", bp=blp)
@blp.doc(
    summary="Chat over a WebSocket",
    description=WS_DOC,
    responses={
        101: {
            "description": "Switching Protocols: the socket carries the JSON text frames described above",
            "content": {"application/json": {"schema": {"type": "object"}, "examples": FRAME_EXAMPLES}},
        },
        401: {"description": "Missing or invalid API key (before the handshake)"},
        426: {"description": "Not a WebSocket upgrade request"},
    },
)
def chat_socket(ws):
    try:
        routed = for_request()  # the X-Grok-Account header's account, else the pool's default
    except Problem as problem:  # not configured: say why, then close
        ws.send(json.dumps(error_frame(problem)))
        return
    session = ChatSocket(
        ws,
        routed,
        runtime(),
        settings().heartbeat_interval,
        lambda cid: for_owned(CONVERSATION, cid),
        pooled_chats(),
    )
    log.info("websocket chat opened from %s", request.remote_addr)
    try:
        session.serve()
    except Exception:  # the socket is hijacked: an HTTP error page can no longer be sent
        log.exception("websocket chat failed")
        session.end_turn(reason=None)
        try:
            ws.close(reason=1011, message="internal error")
        except ConnectionClosed:
            pass
    log.info("websocket chat closed")
