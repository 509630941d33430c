"""The mgw WebSocket protocol, pure: client frames out, server events in (no I/O, no gevent).

Outgoing, `turn_frames` builds what the grok.com page sends for one chat turn from the
REST chat body the rest of the server already builds (`conversations/new` or
`conversations/{id}/responses`): `session.create`, `conversation.item.create`,
`response.create`. Fields without a known WebSocket twin are documented in
docs/websocket-lane.md; custom instructions, which have none, are folded into the message.

Incoming, `EventSplitter` cuts a WebSocket message into its JSON events (a message may
hold several back to back, or end inside one), and `Translator` turns each event into the
REST NDJSON line grok.com's `conversations/*` endpoints would have sent for it. The lines
go through the very decoder the REST lane uses (`NDJSONDecoder.decode_object`), so both
lanes yield the same typed events, and the native routes can relay them as NDJSON.
Unknown event types and fields are ignored; nothing here raises on bad input.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any, Mapping

from ..errors import GrokError, error_for_status

log = logging.getLogger(__name__)

PROTOCOL_CAPABILITIES = ["conversation_attached", "custom_methods_v1"]

# Text channels: the answer, and the ones that carry reasoning (anything else is dropped).
ANSWER_CHANNEL = "CHANNEL_ASSISTANT_RESPONSE"
_REASONING_CHANNEL = re.compile(r"THINK|ANALYSIS|REASON|NOTETAKER")
# Headings of the reasoning summary: each chunk of a new step is a line of its own.
HEADING_CHANNELS = ("CHANNEL_ASSISTANT_NOTETAKER_HEADER",)

# REST body flag -> session.x_grok field, sent when the body sets the flag.
_X_GROK_FLAGS = (
    ("enableSideBySide", "enable_side_by_side"),
    ("forceSideBySide", "force_side_by_side"),
    ("enableImageGeneration", "enable_image_generation"),
    ("imageGenerationCount", "image_generation_count"),
    ("disableTextFollowUps", "disable_text_follow_ups"),
    ("disableArtifact", "disable_artifact"),
    ("forceConcise", "force_concise"),
)
# The page's defaults for what a body leaves out (the values grok.com's page sends).
_X_GROK_DEFAULTS = {
    "enable_side_by_side": False,
    "force_side_by_side": False,
    "enable_image_generation": True,
    "image_generation_count": 2,
    "disable_text_follow_ups": False,
    "disable_artifact": True,
    "force_concise": False,
}


# --------------------------------------------------------------------------------------------
# client frames
# --------------------------------------------------------------------------------------------
def _ms() -> int:
    return int(time.time() * 1000)


def _envelope(event: dict, session_id: str | None) -> dict:
    return {"session_id": session_id, "event": event} if session_id else {"event": event}


def fold_instructions(message: str, instructions: str | None) -> str:
    """The message with custom instructions in front (the WebSocket turn has no field for them)."""
    if not instructions:
        return message
    return f"<custom_instructions>\n{instructions}\n</custom_instructions>\n\n{message}"


def mode_of(body: Mapping[str, Any]) -> str:
    """The session's mode id: `modeId`, else `modelMode`, else auto (model names have no twin)."""
    for key in ("modeId", "modelMode"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    return "auto"


def session_create(body: Mapping[str, Any], conversation_id: str | None = None) -> dict:
    """`session.create` for a new conversation, or (with `conversation_id`) to continue one."""
    x_grok: dict[str, Any] = {"protocol_capabilities": list(PROTOCOL_CAPABILITIES), "use_chunk": True}
    for rest_name, ws_name in _X_GROK_FLAGS:
        value = body.get(rest_name)
        x_grok[ws_name] = value if value is not None else _X_GROK_DEFAULTS[ws_name]
    if conversation_id:
        x_grok.update(conversation_id=conversation_id, load_existing=True, needs_history=False)
    else:
        x_grok.update(
            is_temporary=bool(body.get("temporary")),
            keep_context=False,
            disable_memory=bool(body.get("disableMemory")),
        )
    if body.get("disableSearch") is True:
        x_grok.update(disable_web_search=True, disable_x_search=True)
    overrides = body.get("toolOverrides")
    if isinstance(overrides, dict) and overrides:
        x_grok["tool_overrides"] = {_snake(k): v for k, v in overrides.items()}
    event = {
        "type": "session.create",
        "event_id": f"evt_init_{uuid.uuid4()}",
        "session": {"model": mode_of(body), "x_grok": x_grok},
    }
    return _envelope(event, conversation_id)


def item_create(body: Mapping[str, Any], conversation_id: str | None, fold: bool = True) -> dict:
    """`conversation.item.create`: the user's message, files first (as the page sends them), with
    the custom instructions in front unless `fold` is False (an earlier message carried them)."""
    message = body.get("message") if isinstance(body.get("message"), str) else ""
    instructions = body.get("customInstructions") if isinstance(body.get("customInstructions"), str) else None
    if not fold:
        instructions = None
    files = [f for f in body.get("fileAttachments") or () if isinstance(f, str) and f]
    chunks: list[dict] = [{"mention": {"target": {"file_mention": {"file_id": f}}}} for f in files]
    chunks.append({"text": {"text": fold_instructions(message, instructions)}})
    item: dict[str, Any] = {
        "type": "message",
        "role": "user",
        "x_grok": {"client_message_id": str(uuid.uuid4()), "input_chunks": chunks},
    }
    event: dict[str, Any] = {"type": "conversation.item.create", "event_id": f"evt_msg_{_ms()}", "item": item}
    if files:
        item["file_attachment_ids"] = files
        event["file_attachment_ids"] = files
    parent = body.get("parentResponseId")
    if isinstance(parent, str) and parent:
        event["parent_response_id"] = parent
    return _envelope(event, conversation_id)


def response_create(conversation_id: str | None) -> dict:
    return _envelope({"type": "response.create", "event_id": f"evt_resp_{_ms()}"}, conversation_id)


def ping() -> dict:
    return {"event": {"type": "ping", "event_id": f"evt_hb_{_ms()}"}}


# json.dumps with options builds a new encoder per call; this one is built once.
compact_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def encode(frame: dict) -> str:
    return compact_json(frame)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _camel_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel(k) if isinstance(k, str) else k: _camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel_keys(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------
# splitting messages into events
# --------------------------------------------------------------------------------------------
class EventSplitter:
    """Cuts WebSocket messages into their JSON events: `{…}{…}` back to back (whitespace
    between them allowed), and an event cut at the end of a message completed by the next.

    `feed` returns (events, garbage): the decoded objects, and the texts skipped because they
    are not JSON (an unfinished tail that the next message shows to be garbage is given up
    then, so one bad message cannot swallow the rest of the stream).
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._tail = ""

    def feed(self, message: str) -> tuple[list, list[str]]:
        skipped: list[str] = []
        if self._tail:
            tail, self._tail = self._tail, ""
            events, garbage, rest, stuck = self._split(tail + message)
            if not stuck or not _starts_an_event(message):
                self._keep(rest, garbage)
                return events, garbage
            skipped.append(tail[:200])  # the tail never completes: the message starts afresh
        events, garbage, rest, _ = self._split(message)
        garbage = skipped + garbage
        self._keep(rest, garbage)
        return events, garbage

    def _keep(self, rest: str, garbage: list[str]) -> None:
        if len(rest) > self.max_bytes:
            garbage.append(rest[:200])
            rest = ""
        self._tail = rest

    def finish(self) -> list[str]:
        tail, self._tail = self._tail, ""
        return [tail[:200]] if tail.strip() else []

    @staticmethod
    def _split(data: str) -> tuple[list, list[str], str, bool]:
        """(objects, garbage, unfinished rest, whether the rest is the whole data from its start)."""
        events: list = []
        garbage: list[str] = []
        pos = 0
        n = len(data)
        while True:
            while pos < n and data[pos] in " \t\r\n":
                pos += 1
            if pos >= n:
                return events, garbage, "", False
            if data[pos] != "{":
                nxt = data.find("{", pos)
                nxt = n if nxt < 0 else nxt
                garbage.append(data[pos:nxt][:200])
                pos = nxt
                continue
            try:
                obj, end = _raw_decode(data, pos)
            except (ValueError, RecursionError):
                end = _object_end(data, pos)
                if end is None:
                    return events, garbage, data[pos:], pos == 0
                garbage.append(data[pos:end][:200])
                pos = end
                continue
            events.append(obj)
            pos = end


_raw_decode = json.JSONDecoder().raw_decode


def _starts_an_event(message: str) -> bool:
    try:
        _raw_decode(message.lstrip())
    except (ValueError, RecursionError):
        return False
    return True


_STRING_STOP = re.compile(r'["\\]')


def _object_end(data: str, start: int) -> int | None:
    """The index after the `{…}` starting at `start` (string-aware), or None if it does not end."""
    depth = 0
    i = start
    n = len(data)
    while i < n:
        ch = data[i]
        if ch == '"':
            i += 1
            while True:  # to the closing quote, skipping escaped characters
                m = _STRING_STOP.search(data, i)
                if m is None:
                    return None
                i = m.start()
                if data[i] == "\\":
                    i += 2
                    continue
                break
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------
# gRPC status codes (grok.com's error bodies are google.rpc.Status JSON) and the error codes
# seen on the WebSocket, as the HTTP status the REST lane would have answered with.
_STATUS_OF_CODE = {3: 400, 4: 504, 5: 404, 7: 403, 8: 429, 13: 500, 14: 503, 16: 401}
_STATUS_OF_WORD = (
    ("castle", 403),
    ("anti_bot", 403),
    ("anti-bot", 403),
    ("not_found", 404),
    ("unauth", 401),
    ("usage", 429),
    ("rate", 429),
    ("quota", 429),
    ("exhausted", 429),
    ("invalid", 400),
    ("unavailable", 503),
)


def status_for(code: Any, message: str) -> int:
    if isinstance(code, int) and not isinstance(code, bool) and code in _STATUS_OF_CODE:
        return _STATUS_OF_CODE[code]
    words = f"{code if isinstance(code, str) else ''} {message}".lower()
    for word, status in _STATUS_OF_WORD:
        if word in words:
            return status
    return 502


def retry_after(error: Mapping[str, Any]) -> float | None:
    """A retry delay carried by an error: google.rpc.RetryInfo in `details`
    (`"retryDelay": "30s"`), or a number of seconds under a retry-ish key."""
    candidates: list[Any] = [error]
    details = error.get("details")
    if isinstance(details, list):
        candidates.extend(details)
    elif isinstance(details, dict):
        candidates.append(details)
    for item in candidates:
        if not isinstance(item, dict):
            continue
        delay = item.get("retryDelay") or item.get("retry_delay")
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(0.0, float(delay[:-1]))
            except ValueError:
                pass
        for key in ("retryAfterSeconds", "retry_after_seconds", "retryAfter", "retry_after"):
            value = item.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
                return float(value)
    return None


def refusal(error: Mapping[str, Any], what: str = "grok.com") -> GrokError:
    """The exception for an error event that refused a turn before its answer started,
    classified exactly as the REST lane classifies the same error as an HTTP answer."""
    message = error.get("message") if isinstance(error.get("message"), str) else ""
    code = error.get("code")
    status = status_for(code, message)
    seconds = retry_after(error)
    headers = {"content-type": "application/json"}
    if seconds is not None:
        headers["retry-after"] = str(int(round(seconds)))
    body = json.dumps({"error": {"code": code, "message": message or f"{what} refused the turn"}})
    return error_for_status(status, body, headers)


# --------------------------------------------------------------------------------------------
# server events -> REST lines
# --------------------------------------------------------------------------------------------
class Translator:
    """One turn's server events, as the REST chat stream's lines.

    `framing` is "new" (lines under `result.response`, as `conversations/new` sends them) or
    "cont" (under `result`, as `conversations/{id}/responses`). State worth knowing:
    `created` (the answer started: `response.created`), `refused` (an error before that:
    the exception to raise), `done` (`response.done` came), `ended` (nothing more will come
    that matters: stop reading), `dropped` (the server ended the session mid-answer).
    """

    def __init__(self, framing: str = "new", conversation_id: str | None = None):
        self.framing = framing
        self.conversation_id = conversation_id
        self.response_id: str | None = None
        self.created = False
        self.attached = False
        self.done = False
        self.ended = False
        self.refused: GrokError | None = None
        self.dropped: str | None = None
        self.title_seen = False
        self.persisted = False
        self.failed = False  # an error was already reported in the stream
        self.dropped_chunks = 0
        self._answer: list[str] = []
        self._final_text: str | None = None
        self._step: tuple | None = None  # (channel, step, rollout) of the last reasoning chunk
        self._reasoning_open = False  # the last reasoning text did not end a line
        self._open_tools: list[str] = []
        self._last_citation: tuple | None = None  # dropped when repeated with no text between
        self._handlers = {
            "conversation.attached": self._attached,
            "conversation.item.added": self._item_added,
            "response.created": self._created,
            "response.chunk": self._chunk,
            "response.output_text.delta": self._delta,
            "response.output_text.done": self._text_done,
            "response.completed": self._completed,
            "response.search.result": self._search_result,
            "response.grok.output": self._grok_output,
            "response.done": self._done,
            "response.persisted": self._persisted,
            "conversation.title.updated": self._title,
            "error": self._error,
            "response.error": self._response_error,
            "session.ended": self._session_ended,
        }

    # -- lines -----------------------------------------------------------------------------
    def _line(self, payload: dict) -> dict:
        if self.framing == "cont":
            return {"result": payload}
        return {"result": {"response": payload}}

    def _token(self, text: str, thinking: bool = False, tag: str = "final", extra: dict | None = None) -> dict:
        payload = {"token": text, "isThinking": thinking, "isSoftStop": False, "messageTag": tag}
        if self.response_id:
            payload["responseId"] = self.response_id
        if extra:
            payload.update(extra)
        return {"result": payload} if self.framing == "cont" else {"result": {"response": payload}}

    # -- events ----------------------------------------------------------------------------
    def feed(self, frame: Any) -> list[dict]:
        if not isinstance(frame, dict):
            return []
        event = frame.get("event")
        if not isinstance(event, dict):
            # Some captures show a bare chunk without its envelope.
            event = {"type": "response.chunk", "chunk": frame["chunk"]} if isinstance(frame.get("chunk"), dict) else {}
        kind = event.get("type")
        session = frame.get("session_id")
        if (
            isinstance(session, str)
            and session
            and self.conversation_id
            and session != self.conversation_id
            and kind != "conversation.attached"
        ):
            return []  # another session's late event on a shared socket
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            if kind not in _IGNORED:
                log.debug("ignoring mgw event %r", kind)
            return []
        return handler(event, frame) or []

    def _attached(self, event: dict, frame: dict) -> list[dict]:
        conversation = event.get("conversation")
        cid = conversation.get("id") if isinstance(conversation, dict) else None
        if not isinstance(cid, str) or not cid:
            cid = frame.get("session_id") if isinstance(frame.get("session_id"), str) else None
        self.attached = True
        if not cid or cid == self.conversation_id:
            return []
        self.conversation_id = cid
        if self.framing == "cont":
            return []
        return [{"result": {"conversation": {"conversationId": cid}}}]

    def _item_added(self, event: dict, frame: dict) -> list[dict]:
        item = event.get("item")
        uid = item.get("id") if isinstance(item, dict) else None
        if not isinstance(uid, str) or not uid:
            return []
        user = {"responseId": uid, "sender": "human"}
        if self.framing == "cont":
            return [{"result": {"userResponse": user}}]
        return [self._line({"userResponse": user, "responseId": uid})]

    def _created(self, event: dict, frame: dict) -> list[dict]:
        response = event.get("response")
        rid = response.get("id") if isinstance(response, dict) else None
        self.created = True
        if isinstance(rid, str) and rid:
            self.response_id = rid
            return [self._line({"responseId": rid})]
        return []

    def _chunk(self, event: dict, frame: dict) -> list[dict]:
        chunk = event.get("chunk")
        if not isinstance(chunk, dict):
            return []
        if not self.response_id:
            rid = event.get("response_id")
            if isinstance(rid, str) and rid:
                self.response_id = rid
        meta = chunk.get("metadata")
        if not isinstance(meta, dict):
            meta = {}
        text = chunk.get("text")
        if isinstance(text, dict) and len(chunk) == (2 if "metadata" in chunk else 1):
            return self._text(text, meta)  # most chunks: a piece of text and nothing else
        lines: list[dict] = []
        if isinstance(text, dict):
            lines.extend(self._text(text, meta))
        layout = chunk.get("ui_layout")
        if isinstance(layout, dict):
            lines.append(self._line({"uiLayout": _camel_keys(layout)}))
        card = chunk.get("tool_usage_card")
        if isinstance(card, dict):
            lines.extend(self._tool_card(card))
        result = chunk.get("tool_result")
        if isinstance(result, dict):
            lines.extend(self._tool_result(result))
        citation = chunk.get("render_citation")
        if isinstance(citation, dict):
            lines.extend(self._citation(citation))
        follow_ups = chunk.get("follow_up_suggestions")
        if isinstance(follow_ups, dict):
            lines.extend(self._follow_ups(follow_ups))
        for key in ("render_generated_image", "render_edited_image"):
            image = chunk.get(key)
            if isinstance(image, dict) and isinstance(image.get("image_chunk"), dict):
                lines.append(self._card({"type": key, "cardType": "generated_image_card", **_camel_image(image)}))
        return lines

    def _text(self, text: dict, meta: dict) -> list[dict]:
        value = text.get("text")
        if not isinstance(value, str) or not value:
            return []
        channel = text.get("channel")
        if channel == ANSWER_CHANNEL or not channel or not isinstance(channel, str):
            self._last_citation = None
            self._answer.append(value)
            return [self._token(value)]
        if not _REASONING_CHANNEL.search(channel):
            self.dropped_chunks += 1
            return []
        step = meta.get("step_id")
        rollout = meta.get("rollout_id") if isinstance(meta.get("rollout_id"), str) else None
        where = (channel, step, rollout)
        if (
            channel in HEADING_CHANNELS
            and self._reasoning_open
            and self._step is not None
            and where != self._step
            and rollout == self._step[2]
        ):
            value = "\n" + value  # a new heading starts a line of its own
        self._step = where
        self._reasoning_open = not value.endswith("\n")
        extra: dict[str, Any] = {}
        if isinstance(step, int) and not isinstance(step, bool):
            extra["messageStepId"] = step
        if rollout:
            extra["rolloutId"] = rollout
        return [self._token(value, thinking=True, tag="summary" if "NOTETAKER" in channel else "analysis", extra=extra)]

    def _tool_card(self, card: dict) -> list[dict]:
        card_id = card.get("tool_usage_card_id")
        if isinstance(card_id, str) and card_id:
            self._open_tools.append(card_id)
        converted = _camel_keys(card)
        return [self._line({"toolUsageCard": converted, "isThinking": True, "messageTag": "tool_usage_card"})]

    def _tool_result(self, result: dict) -> list[dict]:
        call = result.get("tool_call_id")
        if isinstance(call, str) and call in self._open_tools:
            self._open_tools.remove(call)
        elif self._open_tools:
            self._open_tools.pop()  # a result without its id completes the one open call
        lines = []
        web = result.get("web_search")
        if isinstance(web, dict):
            pages = web.get("webpages") or web.get("results")
            if isinstance(pages, list) and pages:
                lines.append(self._results("webSearchResults", [_webpage(p) for p in pages if isinstance(p, dict)]))
        for key in ("web_search_results", "webSearchResults"):
            pages = result.get(key)
            if isinstance(pages, list) and pages:
                lines.append(self._results("webSearchResults", [_webpage(p) for p in pages if isinstance(p, dict)]))
        posts = result.get("x_post")
        if isinstance(posts, dict):
            posts = posts.get("posts")
        if isinstance(posts, list) and posts:
            lines.append(self._results("xSearchResults", [_post(p) for p in posts if isinstance(p, dict)]))
        return lines

    def _results(self, key: str, results: list[dict]) -> dict:
        return self._line({key: {"results": results}, "isThinking": True, "messageTag": "raw_function_result"})

    def _citation(self, citation: dict) -> list[dict]:
        url = citation.get("url")
        if not isinstance(url, str) or not url:
            return []
        card_id = citation.get("id") if isinstance(citation.get("id"), str) and citation.get("id") else None
        number = citation.get("citation_id")
        key = (url, card_id)
        if key == self._last_citation:
            return []  # the same citation again with no text between: transport noise
        self._last_citation = key
        card_id = card_id or f"mgw-cite-{abs(hash(url)) % 10**8}"
        card = {"id": card_id, "type": "render_inline_citation", "cardType": "citation_card", "url": url}
        kind = citation.get("kind")
        if isinstance(kind, str):
            card["citationKind"] = kind
        tag = f'<grok:render card_id="{_attr(card_id)}" card_type="citation_card" type="render_inline_citation">'
        if isinstance(number, int) and not isinstance(number, bool):
            tag += f'<argument name="citation_id">{number}</argument>'
        tag += "</grok:render>"
        return [self._card(card), self._token(tag)]

    def _card(self, data: dict) -> dict:
        return self._line({"cardAttachment": {"jsonData": compact_json(data)}})

    def _follow_ups(self, follow_ups: dict) -> list[dict]:
        suggestions = follow_ups.get("suggestions")
        if not isinstance(suggestions, list):
            return []
        labels = [s["label"] for s in suggestions if isinstance(s, dict) and isinstance(s.get("label"), str)]
        if not labels:
            return []
        return [self._line({"finalMetadata": {"followUpSuggestions": _camel_keys(suggestions)}})]

    # the other dialect (sessions without use_chunk)
    def _delta(self, event: dict, frame: dict) -> list[dict]:
        delta = event.get("delta")
        if not isinstance(delta, str) or not delta:
            return []
        x_grok = event.get("x_grok") if isinstance(event.get("x_grok"), dict) else {}
        if x_grok.get("is_thinking") is True:
            return [self._token(delta, thinking=True, tag="summary")]
        self._answer.append(delta)
        return [self._token(delta)]

    def _text_done(self, event: dict, frame: dict) -> list[dict]:
        text = event.get("text")
        if isinstance(text, str):
            self._final_text = text
        return []

    def _completed(self, event: dict, frame: dict) -> list[dict]:
        response = event.get("response")
        output = response.get("output") if isinstance(response, dict) else None
        parts = []
        for item in output if isinstance(output, list) else ():
            for part in item.get("content") or () if isinstance(item, dict) else ():
                if isinstance(part, dict) and part.get("type") == "output_text" and isinstance(part.get("text"), str):
                    parts.append(part["text"])
        if parts and self._final_text is None:
            self._final_text = "".join(parts)
        return []

    def _search_result(self, event: dict, frame: dict) -> list[dict]:
        result = event.get("result") if isinstance(event.get("result"), dict) else event.get("search_result")
        if not isinstance(result, dict):
            return []
        pages = result.get("web_results")
        if not isinstance(pages, list):
            pages = [result]
        pages = [_webpage(p) for p in pages if isinstance(p, dict) and isinstance(p.get("url"), str)]
        return [self._results("webSearchResults", pages)] if pages else []

    def _grok_output(self, event: dict, frame: dict) -> list[dict]:
        output = event.get("output")
        if not isinstance(output, dict):
            return []
        lines: list[dict] = []
        card = output.get("card_attachment")
        if isinstance(card, dict):
            data = card.get("jsonData", card.get("json_data"))
            if data is None:
                data = card  # a bare card (e.g. only an image_chunk)
            if isinstance(data, dict):
                data = _camel_image(data)
            lines.append(self._line({"cardAttachment": {"jsonData": data}}))
        problem = output.get("stream_error")
        if isinstance(problem, dict):
            lines.extend(self._stream_error(problem))
        card = output.get("tool_usage_card")
        if isinstance(card, dict):
            lines.extend(self._tool_card(card))
        result = output.get("tool_result")
        if isinstance(result, dict):
            lines.extend(self._tool_result(result))
        return lines

    def _stream_error(self, problem: dict) -> list[dict]:
        message = problem.get("message") if isinstance(problem.get("message"), str) else ""
        if not message:
            if problem.get("usageLimitReached") or problem.get("usagePoolExhausted"):
                message = "usage limit reached"
            elif problem.get("globalRateLimit"):
                message = "too many requests (rate limited)"
            else:
                message = "grok.com reported a stream error"
        elif (problem.get("usageLimitReached") or problem.get("usagePoolExhausted")) and "usage limit" not in message:
            message += " (usage limit reached)"
        error: dict[str, Any] = {"message": message}
        if "code" in problem:
            error["code"] = problem["code"]
        elif problem.get("globalRateLimit"):
            error["code"] = 8
        if isinstance(problem.get("severity"), str):
            error["severity"] = problem["severity"]
        return self._fail(error)

    def _fail(self, error: dict) -> list[dict]:
        self.failed = True
        payload = {"error": error}
        if self.response_id:
            payload["responseId"] = self.response_id
        return [self._line(payload)]

    def _done(self, event: dict, frame: dict) -> list[dict]:
        if self.done:
            return []
        response = event.get("response") if isinstance(event.get("response"), dict) else {}
        rid = response.get("id")
        if isinstance(rid, str) and rid:
            self.response_id = self.response_id or rid
        self.done = True
        status = response.get("status")
        if status == "failed":
            self.ended = True
            if self.failed:
                return []
            details = response.get("status_details") if isinstance(response.get("status_details"), dict) else {}
            reason = details.get("reason") if isinstance(details.get("reason"), str) else ""
            return self._fail({"message": reason or "grok.com reported the answer as failed"})
        streamed = "".join(self._answer)
        final = self._final_text
        # The full text replaces the streamed one only when it extends it (as the REST lane's
        # modelResponse.message does); a different text would contradict what was sent.
        message = final if final is not None and final.startswith(streamed) else streamed
        model = {
            "responseId": self.response_id,
            "message": message,
            "sender": "ASSISTANT",
            "partial": status not in (None, "completed"),
        }
        if self.conversation_id:
            model["conversationId"] = self.conversation_id
        lines = [self._line({"modelResponse": model})]
        lines.append(self._line({"token": "", "isThinking": False, "isSoftStop": True, "responseId": self.response_id}))
        return lines

    def _persisted(self, event: dict, frame: dict) -> list[dict]:
        self.persisted = True
        return []

    def _title(self, event: dict, frame: dict) -> list[dict]:
        title = event.get("title")
        if not isinstance(title, str) or not title:
            return []
        self.title_seen = True
        return [{"result": {"title": {"newTitle": title}}}]

    def _error(self, event: dict, frame: dict) -> list[dict]:
        error = event.get("error") if isinstance(event.get("error"), dict) else {}
        if not error.get("message") and isinstance(event.get("message"), str):
            error = {**error, "message": event["message"]}
        if not isinstance(error.get("message"), str) or not error["message"]:
            error = {**error, "message": "grok.com reported an error"}
        if not self.created:
            self.refused = refusal(error)
            self.ended = True
            return []
        self.ended = True
        if self.failed:
            return []
        self.failed = True
        return [{"error": {k: v for k, v in error.items() if k in ("code", "message", "details", "severity")}}]

    def _response_error(self, event: dict, frame: dict) -> list[dict]:
        error = event.get("error") if isinstance(event.get("error"), dict) else {}
        message = error.get("message") if isinstance(error.get("message"), str) else "grok.com reported an error"
        if not self.created:
            self.refused = refusal({**error, "message": message})
            self.ended = True
            return []
        self.ended = True
        return [] if self.failed else self._fail({**error, "message": message})

    def _session_ended(self, event: dict, frame: dict) -> list[dict]:
        self.ended = True
        if not self.done:
            self.dropped = "grok.com ended the WebSocket session before the answer was complete"
        return []

    # -- the end ---------------------------------------------------------------------------
    def complete(self) -> bool:
        """Nothing more of interest will come: the answer is done and its tail arrived."""
        return self.ended or (self.done and (self.title_seen or self.framing == "cont") and self.persisted)


_IGNORED = frozenset(
    {
        "pong",
        "session.created",
        "session.updated",
        "conversation.queue.updated",
        "conversation.commands.updated",
        "conversation.history.item",
        "conversation.history.done",
        "response.output_item.added",
        "response.output_item.done",
        "response.content_part.added",
        "response.content_part.done",
    }
)


def _attr(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _webpage(page: dict) -> dict:
    out = _camel_keys(page)
    if "preview" not in out and isinstance(out.get("snippet"), str):
        out["preview"] = out["snippet"]
    return out


def _post(post: dict) -> dict:
    out = _camel_keys(post)
    if "username" not in out and isinstance(post.get("userhandle"), str):
        out["username"] = post["userhandle"]
    return out


def _camel_image(data: dict) -> dict:
    """A card as the REST lane's decoder reads it (`image_chunk` keeps its name, its fields camelCase)."""
    out = dict(data)
    chunk = out.get("image_chunk")
    if isinstance(chunk, dict):
        out["image_chunk"] = _camel_keys(chunk)
    return out
