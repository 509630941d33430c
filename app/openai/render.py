"""OpenAI wire shapes: SSE chunks (pre-serialised, the hot path) and chat.completion bodies.

Every chunk of one stream shares id, created, model and (once grok.com reported it)
system_fingerprint, so the JSON around a delta is built once and a token costs one
string escape and one concatenation.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring, encode_basestring_ascii  # json.dumps' C escapers
from typing import Any

# ASCII-escaped: safe to encode whatever the strings hold; only the per-token text
# path (_jstr) keeps non-ASCII characters as they are.
_dumps = json.JSONEncoder(separators=(",", ":")).encode

HEARTBEAT = b": keep-alive\n\n"
DONE = b"data: [DONE]\n\n"


def comment(text: str) -> bytes:
    """An SSE comment line (clients ignore it; it shows progress to anyone reading the raw stream)."""
    return b": " + " ".join(text.splitlines()).encode() + b"\n\n"


def _jstr(text: str) -> bytes:
    """A JSON string literal as UTF-8; a lone surrogate (half an emoji split across
    upstream tokens) cannot be UTF-8 encoded, so that rare piece is \\u-escaped."""
    try:
        return encode_basestring(text).encode()
    except UnicodeEncodeError:
        return encode_basestring_ascii(text).encode()


def sse(obj: Any) -> bytes:
    return b"data: " + _dumps(obj).encode() + b"\n\n"


def tool_call_object(call, index: int | None = None) -> dict[str, Any]:
    """An OpenAI tool call (with `index` in a stream delta)."""
    out: dict[str, Any] = {} if index is None else {"index": index}
    out.update(id=call.id, type="function", function={"name": call.name, "arguments": call.arguments})
    return out


class ChunkWriter:
    """Bytes of the `chat.completion.chunk` events of one stream."""

    __slots__ = ("completion_id", "created", "model", "fingerprint", "_head", "_delta", "_tail")

    def __init__(self, completion_id: str, created: int, model: str):
        self.completion_id = completion_id
        self.created = created
        self.model = model
        self.fingerprint: str | None = None
        self._build()

    def _build(self) -> None:
        head = (
            f'data: {{"id":{_dumps(self.completion_id)},"object":"chat.completion.chunk",'
            f'"created":{self.created},"model":{_dumps(self.model)},'
        )
        if self.fingerprint:
            head += f'"system_fingerprint":{_dumps(self.fingerprint)},'
        self._head = head
        self._delta = (head + '"choices":[{"index":0,"delta":{').encode()
        self._tail = b'},"logprobs":null,"finish_reason":null}]}\n\n'

    def set_fingerprint(self, fingerprint: str | None) -> None:
        if fingerprint and fingerprint != self.fingerprint:
            self.fingerprint = fingerprint
            self._build()

    def role(self) -> bytes:
        return self._delta + b'"role":"assistant","content":""' + self._tail

    def content(self, text: str, annotations: list[dict] | None = None) -> bytes:
        body = b'"content":' + _jstr(text)
        if annotations:
            body += b',"annotations":' + _dumps(annotations).encode()
        return self._delta + body + self._tail

    def reasoning(self, text: str) -> bytes:
        return self._delta + b'"reasoning_content":' + _jstr(text) + self._tail

    def call_started(self, index: int, call) -> bytes:
        """A tool call's first chunk: id, type and name, the arguments to follow."""
        head = {"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        return self._delta + ('"tool_calls":[' + _dumps(head) + "]").encode() + self._tail

    def call_arguments(self, index: int, delta: str) -> bytes:
        return (
            self._delta
            + f'"tool_calls":[{{"index":{index},"function":{{"arguments":'.encode()
            + _jstr(delta)
            + b"}}]"
            + self._tail
        )

    def finish(self, reason: str) -> bytes:
        return (
            self._head
            + '"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":'
            + _dumps(reason)
            + "}]}\n\n"
        ).encode()

    def usage(self, usage: dict) -> bytes:
        return (self._head + '"choices":[],"usage":' + _dumps(usage) + "}\n\n").encode()


def error_event(error: dict) -> bytes:
    """The in-stream error the openai SDKs raise as APIError (`data: {"error": {...}}`)."""
    return sse({"error": error})


def completion_body(
    *,
    completion_id: str,
    created: int,
    model: str,
    fingerprint: str | None,
    content: str,
    reasoning: str | None,
    tool_calls: list,
    annotations: list[dict],
    finish_reason: str,
    usage: dict,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content or None, "refusal": None}
    if reasoning:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["tool_calls"] = [tool_call_object(call) for call in tool_calls]
    message["annotations"] = annotations
    body: dict[str, Any] = {"id": completion_id, "object": "chat.completion", "created": created, "model": model}
    if fingerprint:
        body["system_fingerprint"] = fingerprint
    body["choices"] = [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}]
    body["usage"] = usage
    return body
