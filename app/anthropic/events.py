"""The Message object and the stream events that build it, in Anthropic's order.

`MessageWriter` is the engine's sink for the Messages API. Every sink call becomes the
events Anthropic sends, always with `event:` lines (without them Claude Code silently
repeats the request with `stream: false`), and the content blocks are kept, so a
non-streamed request gets the same Message:

    message_start (empty content, the request's model, usage)
    per block: content_block_start -> content_block_delta+ -> content_block_stop
        text: text_delta; thinking: thinking_delta then signature_delta; tool_use: input_json_delta
    message_delta (stop_reason end_turn | tool_use | max_tokens | stop_sequence, usage)
    message_stop

`ping` keeps the stream alive during upstream silence; an error after the start is an
`event: error`. Thinking blocks carry a signature of their own text, so a client that
echoes them back has a non-empty one (this server does not check it).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from ..engine.tools import ToolCall

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
STOP_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}


def signature(thinking: str) -> str:
    return "grok-web-api:" + hashlib.sha256(thinking.encode()).hexdigest()


class MessageWriter:
    def __init__(self, model: str):
        self.id = "msg_" + secrets.token_hex(12)
        self.model = model
        self.out: list[bytes] = []
        self.blocks: list[dict] = []
        self._open: dict | None = None  # the open text or thinking block
        self._text: list[str] = []
        self._calls: dict[int, int] = {}  # answer call index -> block index

    def emit(self, type_: str, **fields: Any) -> None:
        self.out.append(
            b"event: " + type_.encode() + b"\ndata: " + _dumps({"type": type_, **fields}).encode() + b"\n\n"
        )

    def take(self) -> bytes:
        data = b"".join(self.out)
        self.out.clear()
        return data

    def start(self, input_tokens: int) -> None:
        message = self.message(None, None, {"input_tokens": input_tokens, "output_tokens": 1})
        self.emit("message_start", message=dict(message, content=[]))
        self.emit("ping")

    def ping(self) -> None:
        self.emit("ping")

    def message(self, stop_reason: str | None, stop_sequence: str | None, usage: dict) -> dict:
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": list(self.blocks),
            "stop_reason": stop_reason,
            "stop_sequence": stop_sequence,
            "usage": {"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, **usage},
        }

    # -- the engine's sink -------------------------------------------------------------------------
    def content(self, text: str, annotations: list[dict] | None) -> None:
        index = self._open_block("text")
        self._text.append(text)
        self.emit("content_block_delta", index=index, delta={"type": "text_delta", "text": text})

    def reasoning(self, text: str) -> None:
        index = self._open_block("thinking")
        self._text.append(text)
        self.emit("content_block_delta", index=index, delta={"type": "thinking_delta", "thinking": text})

    def call_started(self, index: int, call: ToolCall) -> None:
        self.close_block()
        block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
        self.blocks.append(block)
        self._calls[index] = len(self.blocks) - 1
        self.emit("content_block_start", index=len(self.blocks) - 1, content_block=dict(block))

    def call_arguments(self, index: int, delta: str) -> None:
        self.emit(
            "content_block_delta", index=self._calls[index], delta={"type": "input_json_delta", "partial_json": delta}
        )

    def call_finished(self, index: int, call: ToolCall) -> None:
        block_index = self._calls[index]
        try:
            self.blocks[block_index]["input"] = json.loads(call.arguments or "{}")
        except ValueError:
            self.blocks[block_index]["input"] = {}
        self.emit("content_block_stop", index=block_index)

    def comment(self, text: str) -> None:
        pass

    # -- blocks ----------------------------------------------------------------------------------------
    def _open_block(self, kind: str) -> int:
        if self._open is not None and self._open["type"] == kind:
            return len(self.blocks) - 1
        self.close_block()
        block = (
            {"type": "text", "text": ""} if kind == "text" else {"type": "thinking", "thinking": "", "signature": ""}
        )
        self.blocks.append(block)
        self._open = block
        self._text = []
        self.emit("content_block_start", index=len(self.blocks) - 1, content_block=dict(block))
        return len(self.blocks) - 1

    def close_block(self) -> None:
        block, self._open = self._open, None
        if block is None:
            return
        index = len(self.blocks) - 1  # the open block is always the last one
        text = "".join(self._text)
        if block["type"] == "text":
            block["text"] = text
        else:
            block["thinking"] = text
            block["signature"] = signature(text)
            self.emit(
                "content_block_delta", index=index, delta={"type": "signature_delta", "signature": block["signature"]}
            )
        self.emit("content_block_stop", index=index)

    # -- the end -----------------------------------------------------------------------------------------
    def finish(self, finish_reason: str, stop_sequence: str | None, usage: dict) -> dict:
        self.close_block()
        reason = "stop_sequence" if stop_sequence else STOP_REASONS.get(finish_reason, "end_turn")
        self.emit(
            "message_delta",
            delta={"stop_reason": reason, "stop_sequence": stop_sequence},
            usage={"output_tokens": usage["output_tokens"]},
        )
        self.emit("message_stop")
        return self.message(reason, stop_sequence, usage)

    def fail(self, error_type: str, message: str) -> None:
        self.close_block()
        self.emit("error", error={"type": error_type, "message": message})


def usage_object(chat_usage: dict) -> dict:
    return {"input_tokens": chat_usage["prompt_tokens"], "output_tokens": chat_usage["completion_tokens"]}
