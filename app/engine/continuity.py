"""Conversation continuity: which grok.com conversation a request's history already lives in.

Stateless clients resend their whole history on every call. When that history extends one this
server answered (the same context, every earlier message, and our own answer as the client
echoes it), only the new turn needs to go upstream, as a follow-up in that conversation with
the parent response id of our last answer (plan.py builds it, thread.py sends it).

Fingerprints. A history is digested message by message into a chain of SHA-256 digests that
starts from a digest of its context (the mode, the offered tools with their real names, extra
instructions such as a JSON format, and whether the conversation is temporary). Before
hashing, each message is put in a canonical form, so that what clients do to our answers when
they echo them never breaks the match, while anything they change does:

* roles: ``system`` and ``developer`` are one role; consecutive assistant messages are one
  message (APIs that split an answer into items or blocks echo it split);
* assistant text: every ``<think>…</think>`` block (REASONING_OUTPUT=think_tags) and every
  whitespace character removed, so trimming, re-wrapping or splitting an answer into parts
  changes nothing; reasoning sent apart (reasoning_content, reasoning items, thinking
  blocks) is never part of the history form;
* other text: whitespace runs collapsed to one space, ends trimmed;
* content parts: text and refusal parts joined; any other part by the digest of its JSON;
* tool calls: id, kind, real name, namespace, and the arguments as canonical JSON (sorted
  keys, no spaces) when they parse, so a client re-serialising them still matches.

Nothing but digests and upstream ids is stored (`Ledger`, the shared-state space
"continuity"): ``h:<digest>`` -> the conversation, the response that answered that history,
the account and the temporary flag; ``c:<conversation>`` -> its tip (the last response this
server recorded, or none once a turn there did not complete: a follow-up is only sent from the
tip, so a truncated, retried or edited history never continues); ``p:<response id>`` -> the
same for the Responses API's previous_response_id. A conversation keeps one ``h:`` record, its
tip's: recording a new tip deletes the previous one, so the space holds about two records per
live conversation.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from .pacing import Pacer
from .tools import CUSTOM, ToolSet

log = logging.getLogger(__name__)

SPACE = "continuity"
VERSION = 1
SYSTEM = "system"
_SYSTEM_ROLES = ("system", "developer")
_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"
_DUMPS = {"ensure_ascii": False, "separators": (",", ":"), "sort_keys": True}


# A history can hold megabytes (data-URL images, pasted files): escaping, encoding and hashing
# such a text in one C call holds the worker's only thread for a tenth of a second or more, during
# which no other request of the worker moves. Long texts are therefore taken in slices of this
# many characters, with a yield to the hub after each; the results are the same as in one go
# (JSON escaping, UTF-8 encoding and whitespace removal all work character by character).
SLICE_CHARS = 256 * 1024


def _slices(text: str) -> Iterator[str]:
    """`text` in slices of SLICE_CHARS characters, paced (app/engine/pacing.py)."""
    if len(text) <= SLICE_CHARS:
        yield text
        return
    pacer = Pacer()
    for start in range(0, len(text), SLICE_CHARS):
        yield text[start : start + SLICE_CHARS]
        pacer.tick()


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        for piece in _slices(part):
            h.update(piece.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def _canonical_json(value: Any) -> str:
    """json.dumps(value, **_DUMPS), its long strings escaped slice by slice."""
    return "".join(_json_pieces(value, Pacer()))


def _json_pieces(value: Any, pacer: Pacer) -> Iterator[str]:
    """The canonical JSON of `value` in pieces, ticking `pacer` once per value."""
    pacer.tick()
    if isinstance(value, str):
        if len(value) <= SLICE_CHARS:
            yield _escape(value)
            return
        yield '"'
        for piece in _slices(value):
            yield _escape(piece)[1:-1]
        yield '"'
    elif isinstance(value, (list, tuple)) and value:
        yield "["
        for index, item in enumerate(value):
            if index:
                yield ","
            yield from _json_pieces(item, pacer)
        yield "]"
    elif isinstance(value, dict) and value and all(isinstance(key, str) for key in value):
        yield "{"
        for index, key in enumerate(sorted(value)):
            if index:
                yield ","
            yield _escape(key)
            yield ":"
            yield from _json_pieces(value[key], pacer)
        yield "}"
    else:  # numbers, true/false/null, empty containers, keys json.dumps converts
        yield json.dumps(value, **_DUMPS)


# How json.dumps(..., ensure_ascii=False) writes a string.
_escape = json.encoder.encode_basestring


# -- canonical messages ---------------------------------------------------------------------------
def _text(content: Any) -> str:
    """A message's content as one text; non-text parts stand as the digest of their JSON."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return _canonical_json(content)
    texts = []
    for part in Pacer().paced(content):
        if isinstance(part, dict) and part.get("type") in ("text", "refusal"):
            value = part.get(part["type"])
            if isinstance(value, str):
                texts.append(value)
                continue
        texts.append("\x00part:" + _digest(_canonical_json(part)))
    return "\n".join(texts)


def _squeeze(text: str) -> str:
    """ " ".join(text.split()), slice by slice: a slice may end inside a word or a run of spaces."""
    if len(text) <= SLICE_CHARS:
        return " ".join(text.split())
    out: list[str] = []
    gap = False  # whitespace seen since the last word written
    for piece in _slices(text):
        words = " ".join(piece.split())
        if words:
            if out and (gap or piece[0].isspace()):
                out.append(" ")
            out.append(words)
            gap = piece[-1].isspace()
        elif piece:
            gap = True
    return "".join(out)


def _without_thinking(text: str) -> str:
    """`text` without its <think>…</think> blocks, in one pass (an unclosed block stays)."""
    kept, at = [], 0
    while True:
        start = text.find(_THINK_OPEN, at)
        end = text.find(_THINK_CLOSE, start) if start >= 0 else -1
        if end < 0:
            kept.append(text[at:])
            return "".join(kept)
        kept.append(text[at:start])
        at = end + len(_THINK_CLOSE)


def _answer_text(text: str) -> str:
    return "".join("".join(piece.split()) for piece in _slices(_without_thinking(text)))


def _arguments(raw: Any) -> str:
    if not isinstance(raw, str):
        return _canonical_json(raw)
    try:
        return _canonical_json(json.loads(raw))
    except ValueError:
        return raw.strip()


def _call(call: Mapping[str, Any]) -> list:
    if call.get("type") == CUSTOM or "custom" in call:
        fn = _mapping(call.get("custom"))
        return [call.get("id") or "", CUSTOM, fn.get("name") or "", call.get("namespace"), str(fn.get("input") or "")]
    fn = _mapping(call.get("function"))
    return [
        call.get("id") or "",
        "function",
        fn.get("name") or "",
        call.get("namespace"),
        _arguments(fn.get("arguments") or "{}"),
    ]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def canonical(history: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each message of `history` in its canonical form (see the module docstring), consecutive
    assistant messages merged into one."""
    merged: list[list] = []
    for message in Pacer().paced(history):
        role = message.get("role")
        if role == "assistant":
            text = _answer_text(_text(message.get("content")))
            calls = [_call(c) for c in message.get("tool_calls") or [] if isinstance(c, Mapping)]
            if merged and merged[-1][0] == "assistant":
                merged[-1][1] += text
                merged[-1][2].extend(calls)
            else:
                merged.append(["assistant", text, calls, None])
            continue
        role = SYSTEM if role in _SYSTEM_ROLES else str(role)
        call_id = message.get("tool_call_id") if role == "tool" else None
        merged.append([role, _squeeze(_text(message.get("content"))), [], call_id])
    return [_canonical_json(entry) for entry in merged]


def answer_message(content: str, calls: Iterable[Any]) -> dict:
    """Our answer in the history form a client echoes it in (calls: engine ToolCalls)."""
    tool_calls = []
    for call in calls:
        if call.kind == CUSTOM:
            entry = {"id": call.id, "type": CUSTOM, "custom": {"name": call.name, "input": call.arguments}}
        else:
            entry = {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
        if call.namespace:
            entry["namespace"] = call.namespace
        tool_calls.append(entry)
    return {"role": "assistant", "content": content, "tool_calls": tool_calls}


# -- digests --------------------------------------------------------------------------------------
def context_digest(
    mode: Mapping[str, Any], toolset: ToolSet | None, extra_instructions: Sequence[str], temporary: bool
) -> str:
    """What a conversation is held to besides its messages: another mode, tool set (by alias and
    real name), extra instructions or temporary flag is another conversation. The tool choice is
    not part of it: the custom instructions (with its directive) go with every follow-up."""
    tools = []
    for f in toolset.functions if toolset else ():
        tools.append([f.name, f.namespace, f.kind, f.grammar, f.declaration()])
    return _digest(
        "context",
        str(VERSION),
        _canonical_json({"mode": dict(mode), "tools": tools, "extra": list(extra_instructions), "temp": temporary}),
    )


def instructions_digest(instructions: str | None) -> str | None:
    return _digest("instructions", instructions) if instructions else None


def chain(start: str, messages: Iterable[str]) -> str:
    """The digest of a history: `start` (the context digest) extended by each canonical message."""
    digest = start
    for message in messages:
        digest = _digest(digest, message)
    return digest


# -- the history's shape --------------------------------------------------------------------------
def last_assistant(history: Sequence[Mapping[str, Any]]) -> int | None:
    for index in range(len(history) - 1, -1, -1):
        if history[index].get("role") == "assistant":
            return index
    return None


def new_turn_start(history: Sequence[Mapping[str, Any]]) -> int | None:
    """Where the turn after the last assistant message begins, when that turn can be a follow-up:
    it holds a user message or tool result and nothing but user, tool and system messages."""
    index = last_assistant(history)
    if index is None or index == len(history) - 1:
        return None
    roles = {message.get("role") for message in history[index + 1 :]}
    if not roles & {"user", "tool"} or not roles <= {"user", "tool", *_SYSTEM_ROLES}:
        return None
    return index + 1


# -- the ledger -----------------------------------------------------------------------------------
DEFAULT_ACCOUNT = "default"  # the account of GROK_SSO_COOKIE


@dataclass(frozen=True)
class Place:
    """Where a history continues upstream: the conversation, the response to continue from,
    the account that owns the conversation, whether it is temporary, and the digest of the
    custom instructions its messages hold as text (the WebSocket lane puts them in front of a
    message; None when no message holds them)."""

    conversation_id: str
    response_id: str
    account: str
    temporary: bool
    instructions: str | None = None

    def value(self) -> dict:
        value = {"c": self.conversation_id, "r": self.response_id, "a": self.account, "t": self.temporary}
        if self.instructions:
            value["i"] = self.instructions
        return value

    @classmethod
    def from_value(cls, value: Any) -> "Place | None":
        if not isinstance(value, dict):
            return None
        conv, resp, account = value.get("c"), value.get("r"), value.get("a")
        if not (isinstance(conv, str) and conv and isinstance(resp, str) and resp and isinstance(account, str)):
            return None
        instructions = value.get("i") if isinstance(value.get("i"), str) else None
        return cls(conv, resp, account, bool(value.get("t", True)), instructions)


class Ledger:
    """The continuity records in a shared-state store (any object with app/state's Store
    interface). A store failure never fails a request: it reads as "not known" (a new
    conversation) and a lost write as a record that was never made."""

    def __init__(self, store, ttl: float, max_entries: int):
        self.store = store
        self.ttl = ttl
        self.max_entries = max_entries

    def _get(self, key: str) -> Any:
        try:
            return self.store.get(SPACE, key)
        except Exception as exc:  # continuity is an optimisation, never a failure
            log.warning("continuity records unavailable (%s): answering in a new conversation", exc)
            return None

    def find(self, digest: str) -> Place | None:
        """The place a history with this digest continues from, if it is still its conversation's tip."""
        place = Place.from_value(self._get("h:" + digest))
        if place is None:
            return None
        if self.tip(place.conversation_id) != place.response_id:
            log.debug("conversation %s moved on from this history: not continued", place.conversation_id)
            return None
        return place

    def tip(self, conversation_id: str) -> str | None:
        value = self._get("c:" + conversation_id)
        return value.get("r") if isinstance(value, dict) and isinstance(value.get("r"), str) else None

    def conversation(self, conversation_id: str) -> dict | None:
        value = self._get("c:" + conversation_id)
        return value if isinstance(value, dict) else None

    def response(self, response_id: str) -> Place | None:
        """The place a response of ours (previous_response_id) continues from."""
        return Place.from_value(self._get("p:" + response_id))

    def record(self, place: Place, digest: str | None = None, response_id: str | None = None) -> None:
        """`place` is now its conversation's tip; `digest` (the history it answered) and
        `response_id` (our id for that answer) lead to it. The record of the conversation's
        previous tip goes: nothing continues from there any more."""
        leads = {}
        if digest is not None:
            leads["h:" + digest] = place.value()
        if response_id is not None:
            leads["p:" + response_id] = place.value()
        self._move_tip(place.conversation_id, {**place.value(), "h": digest}, leads)

    def diverged(self, conversation_id: str, account: str, temporary: bool) -> None:
        """A turn in this conversation did not complete: grok.com may hold a response this server
        never recorded, so nothing continues there transparently any more."""
        self._move_tip(conversation_id, {"r": None, "a": account, "t": temporary, "h": None})

    def forget(self, conversation_id: str) -> None:
        """grok.com no longer has this conversation."""
        previous = self.conversation(conversation_id)
        self._delete("c:" + conversation_id)
        if previous and isinstance(previous.get("h"), str):
            self._delete("h:" + previous["h"])

    def _move_tip(self, conversation_id: str, value: dict, leads: dict | None = None) -> None:
        """The conversation's record is now `value`, and `leads` are written with it (one write)."""
        previous = self.conversation(conversation_id)
        try:
            self.store.put_many(SPACE, {"c:" + conversation_id: value, **(leads or {})}, self.ttl)
        except Exception as exc:
            log.warning("could not record a conversation for continuity (%s)", exc)
        old = previous.get("h") if previous else None
        if isinstance(old, str) and old != value["h"]:
            self._delete("h:" + old)

    def _delete(self, key: str) -> None:
        try:
            self.store.delete(SPACE, key)
        except Exception as exc:
            log.warning("could not delete a continuity record (%s)", exc)


@dataclass(frozen=True)
class Continuity:
    """What one request asks of continuity (the web layer builds it from the settings and headers).

    `ledger` None: no transparent continuity for this request (CONTINUITY=false, or the header
    X-Grok-Continuity: off), nothing looked up or recorded. `target` is a place the client named
    (X-Grok-Conversation-Id, or previous_response_id: `named_by` says which): the new turn goes
    there, and grok.com refusing it is the client's error, never a silent new conversation."""

    ledger: Ledger | None = None
    temporary: bool = True  # new upstream conversations are temporary (KEEP_CONVERSATIONS=false)
    account: str = DEFAULT_ACCOUNT  # the account new conversations are made on
    target: Place | None = None
    named_by: str | None = None
    # Whether a conversation's owning account can serve this request (None: any can).
    usable: Callable[[str], bool] | None = None
