"""The Response object and the stream events that build it, in OpenAI's full order.

`ResponseWriter` is the engine's sink for the Responses API: every sink call becomes the
events OpenAI sends (with `event:` lines and increasing `sequence_number`s), and the output
items are kept, so the final `response.completed` (or `.incomplete`, `.failed`) carries them,
and a non-streamed request gets the same object without the events:

    response.created -> response.in_progress
    per output item: response.output_item.added
      message:   content_part.added -> output_text.delta* -> output_text.done -> content_part.done
      reasoning: reasoning_summary_part.added -> reasoning_summary_text.delta* -> .done -> summary_part.done
      function:  function_call_arguments.delta* -> function_call_arguments.done
      custom:    custom_tool_call_input.delta* -> custom_tool_call_input.done
    response.output_item.done (the complete item)
    response.completed | response.incomplete | response.failed

Text and reasoning items stay open while their text grows and close when anything else
starts. A keep-alive during upstream silence is a real event (`response.in_progress`):
Codex's idle timer ignores SSE comments.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from ..engine.tools import CUSTOM, ToolCall

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(16)}"


class ResponseWriter:
    def __init__(self, model: str, echo: dict[str, Any], response_id: str | None = None):
        self.id = response_id or new_id("resp")
        self.created_at = int(time.time())
        self.model = model
        self.echo = echo
        self.sequence = 0
        self.out: list[bytes] = []
        self.items: list[dict] = []  # output items, in order
        self._open: dict | None = None  # the open message or reasoning item
        self._text: list[str] = []  # text of the open item
        self._annotations: list[dict] = []
        self._content_chars = 0  # content characters before the open message (annotation offsets)
        self._calls: dict[int, tuple[int, dict]] = {}  # answer call index -> (output index, item)

    # -- serialisation ---------------------------------------------------------------------------
    def emit(self, type_: str, **fields: Any) -> None:
        event = {"type": type_, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        self.out.append(b"event: " + type_.encode() + b"\ndata: " + _dumps(event).encode() + b"\n\n")

    def take(self) -> bytes:
        data = b"".join(self.out)
        self.out.clear()
        return data

    def response(self, status: str, *, usage: dict | None = None, error: dict | None = None, reason: str | None = None):
        echo = self.echo
        text = echo.get("text") or {}
        body: dict[str, Any] = {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": error,
            "incomplete_details": {"reason": reason} if reason else None,
            "instructions": echo.get("instructions") if isinstance(echo.get("instructions"), str) else None,
            "max_output_tokens": echo.get("max_output_tokens"),
            "model": self.model,
            "output": list(self.items) if status != "in_progress" else [],
            "parallel_tool_calls": echo.get("parallel_tool_calls", True),
            "previous_response_id": echo.get("previous_response_id"),
            "reasoning": echo.get("reasoning"),
            "store": echo.get("store", False),
            "temperature": echo.get("temperature"),
            "text": {**text, "format": text.get("format") or {"type": "text"}},
            "tool_choice": echo.get("tool_choice", "auto"),
            "tools": [_echo_tool(tool) for tool in echo.get("tools", [])],
            "top_p": echo.get("top_p"),
            "truncation": echo.get("truncation", "disabled"),
            "metadata": echo.get("metadata", {}),
        }
        if usage is not None:
            body["usage"] = usage
        if echo.get("user") is not None:
            body["user"] = echo["user"]
        if echo.get("prompt_cache_key"):
            body["prompt_cache_key"] = echo["prompt_cache_key"]
        return body

    def start(self) -> None:
        snapshot = self.response("in_progress")
        self.emit("response.created", response=snapshot)
        self.emit("response.in_progress", response=snapshot)

    def keepalive(self) -> None:
        self.emit("response.in_progress", response=self.response("in_progress"))

    # -- the engine's sink -------------------------------------------------------------------------
    def content(self, text: str, annotations: list[dict] | None) -> None:
        item = self._open_item("message")
        index = len(self.items) - 1
        self._text.append(text)
        for note in annotations or ():
            cite = note.get("url_citation") or {}
            self._annotations.append(
                {
                    "type": "url_citation",
                    "start_index": cite.get("start_index", 0) - self._content_chars,
                    "end_index": cite.get("end_index", 0) - self._content_chars,
                    "url": cite.get("url", ""),
                    "title": cite.get("title") or "",
                }
            )
        self.emit(
            "response.output_text.delta",
            item_id=item["id"],
            output_index=index,
            content_index=0,
            delta=text,
            logprobs=[],
        )

    def reasoning(self, text: str) -> None:
        item = self._open_item("reasoning")
        self._text.append(text)
        self.emit(
            "response.reasoning_summary_text.delta",
            item_id=item["id"],
            output_index=len(self.items) - 1,
            summary_index=0,
            delta=text,
        )

    def call_started(self, index: int, call: ToolCall) -> None:
        self.close_item()
        if call.kind == CUSTOM:
            item = {"id": new_id("ctc"), "type": "custom_tool_call", "call_id": call.id, "name": call.name, "input": ""}
        else:
            item = {
                "id": new_id("fc"),
                "type": "function_call",
                "status": "in_progress",
                "call_id": call.id,
                "name": call.name,
                "arguments": "",
            }
        if call.namespace:
            item["namespace"] = call.namespace
        self.items.append(item)
        self._calls[index] = (len(self.items) - 1, item)
        self.emit("response.output_item.added", output_index=len(self.items) - 1, item=dict(item))

    def call_arguments(self, index: int, delta: str) -> None:
        output_index, item = self._calls[index]
        if item["type"] == "custom_tool_call":
            self.emit(
                "response.custom_tool_call_input.delta", item_id=item["id"], output_index=output_index, delta=delta
            )
        else:
            self.emit(
                "response.function_call_arguments.delta", item_id=item["id"], output_index=output_index, delta=delta
            )

    def call_finished(self, index: int, call: ToolCall) -> None:
        output_index, item = self._calls[index]
        if item["type"] == "custom_tool_call":
            item["input"] = call.arguments
            self.emit(
                "response.custom_tool_call_input.done",
                item_id=item["id"],
                output_index=output_index,
                input=call.arguments,
            )
        else:
            item["arguments"] = call.arguments
            item["status"] = "completed"
            self.emit(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=output_index,
                name=call.name,
                arguments=call.arguments,
            )
        self.emit("response.output_item.done", output_index=output_index, item=item)

    def comment(self, text: str) -> None:
        pass  # image progress without reasoning: nothing to show in this API

    # -- items -------------------------------------------------------------------------------------
    def _open_item(self, kind: str) -> dict:
        if self._open is not None and self._open["type"] == kind:
            return self._open
        self.close_item()
        output_index = len(self.items)
        if kind == "message":
            item = {"id": new_id("msg"), "type": "message", "role": "assistant", "status": "in_progress", "content": []}
            self.emit("response.output_item.added", output_index=output_index, item=dict(item, content=[]))
            self.emit(
                "response.content_part.added",
                item_id=item["id"],
                output_index=output_index,
                content_index=0,
                part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
            )
        else:
            item = {"id": new_id("rs"), "type": "reasoning", "summary": []}
            self.emit("response.output_item.added", output_index=output_index, item=dict(item, summary=[]))
            self.emit(
                "response.reasoning_summary_part.added",
                item_id=item["id"],
                output_index=output_index,
                summary_index=0,
                part={"type": "summary_text", "text": ""},
            )
        self.items.append(item)
        self._open = item
        self._text = []
        self._annotations = []
        return item

    def close_item(self) -> None:
        item, self._open = self._open, None
        if item is None:
            return
        output_index = len(self.items) - 1  # the open item is always the last one
        text = "".join(self._text)
        if item["type"] == "message":
            part = {"type": "output_text", "text": text, "annotations": self._annotations, "logprobs": []}
            self.emit(
                "response.output_text.done",
                item_id=item["id"],
                output_index=output_index,
                content_index=0,
                text=text,
                logprobs=[],
            )
            self.emit(
                "response.content_part.done", item_id=item["id"], output_index=output_index, content_index=0, part=part
            )
            item["content"] = [part]
            item["status"] = "completed"
            self._content_chars += len(text)
        else:
            part = {"type": "summary_text", "text": text}
            self.emit(
                "response.reasoning_summary_text.done",
                item_id=item["id"],
                output_index=output_index,
                summary_index=0,
                text=text,
            )
            self.emit(
                "response.reasoning_summary_part.done",
                item_id=item["id"],
                output_index=output_index,
                summary_index=0,
                part=part,
            )
            item["summary"] = [part]
        self.emit("response.output_item.done", output_index=output_index, item=item)

    # -- the end -------------------------------------------------------------------------------------
    def finish(self, usage: dict, incomplete: bool) -> dict:
        """Closes the open item and emits response.completed (or .incomplete when the output budget
        cut the answer); returns the final Response object."""
        self.close_item()
        if incomplete:
            body = self.response("incomplete", usage=usage, reason="max_output_tokens")
            self.emit("response.incomplete", response=body)
        else:
            body = self.response("completed", usage=usage)
            self.emit("response.completed", response=body)
        return body

    def fail(self, code: str, message: str) -> dict:
        self.close_item()
        body = self.response("failed", error={"code": code, "message": message})
        self.emit("response.failed", response=body)
        return body


def _echo_tool(tool: dict) -> dict:
    """A tool as OpenAI echoes it: a function tool always has `strict` and `parameters`."""
    if isinstance(tool, dict) and tool.get("type", "function") == "function":
        return {"type": "function", **tool, "strict": tool.get("strict"), "parameters": tool.get("parameters")}
    return tool


def usage_object(chat_usage: dict) -> dict:
    """The Responses API's usage from the engine's (chat-style) estimate."""
    return {
        "input_tokens": chat_usage["prompt_tokens"],
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": chat_usage["completion_tokens"],
        "output_tokens_details": {"reasoning_tokens": chat_usage["completion_tokens_details"]["reasoning_tokens"]},
        "total_tokens": chat_usage["total_tokens"],
    }
