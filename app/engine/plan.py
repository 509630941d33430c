"""The plan step: a conversation -> the one upstream request that answers it.

Every model API (chat completions, responses, messages) parses its own request into the
engine's history form, a `ToolSet` and `AnswerOptions`; `plan_turn` turns the history into
the grok.com request. This is the seam where continuity (answering from an existing grok.com
conversation instead of a new temporary one) plugs in: adapters never build payloads.

The history form is a list of chat-style messages (plain dicts), whatever API they came from:

* ``{"role": "system" | "developer", "content": ...}`` -> custom instructions;
* ``{"role": "user", "content": ...}``;
* ``{"role": "assistant", "content": ..., "tool_calls": [{"id", "type": "function",
  "function": {"name", "arguments"}} | {"id", "type": "custom", "custom": {"name", "input"}}]}``;
* ``{"role": "tool", "tool_call_id": ..., "content": ...}``.

``content`` is a string, None, or a list of parts: ``{"type": "text" | "refusal", ...}`` as text,
any other part through the adapter's ``part_text`` (an uploaded image's placeholder).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import usage
from .extract import ToolCallExtractor
from .prompt import build_prompt
from .tools import ToolSet
from .upstream import Mode, upstream_payload

JSON_OBJECT_INSTRUCTION = (
    "Answer with exactly one valid JSON object and nothing else: no prose before or after it, no markdown code fences."
)


class Media(Protocol):
    """The media parts of a history, uploaded (app.media.inputs.ChatMedia is one)."""

    file_ids: Sequence[str]

    def placeholder(self, message_index: int, part_index: int) -> str | None: ...


@dataclass(frozen=True)
class Turn:
    """One upstream request and what reading its answer needs."""

    payload: dict[str, Any]
    toolset: ToolSet | None
    message_count: int
    tool_call_ids: frozenset[str] = field(default_factory=frozenset)  # ids already in the history

    def prompt_tokens(self) -> int:
        """Estimated only when a usage object is sent (it costs a pass over the history)."""
        return usage.prompt_tokens(self.payload["message"], self.payload.get("customInstructions"), self.message_count)

    def extractor(self) -> ToolCallExtractor | None:
        if self.toolset is None:
            return None
        return ToolCallExtractor(self.toolset, reserved_ids=self.tool_call_ids)


def plan_turn(
    history: list[dict],
    model: Mode,
    toolset: ToolSet | None,
    *,
    extra_instructions: Sequence[str] = (),
    media: Media | None = None,
) -> Turn:
    """The upstream request for `history`; `media` is what the adapter uploaded for its media
    parts. Raises prompt.UnsupportedContent for a part that cannot be passed on and ValueError
    for a history that cannot be sent."""
    part_text = media.placeholder if media is not None else None
    prompt = build_prompt(history, toolset, extra_instructions=extra_instructions, part_text=part_text)
    payload = upstream_payload(model, prompt.message, prompt.custom_instructions)
    if media is not None and media.file_ids:
        payload["fileAttachments"] = list(media.file_ids)
    return Turn(payload=payload, toolset=toolset, message_count=len(history), tool_call_ids=prompt.tool_call_ids)


def stop_sequences(stop: str | Sequence[str] | None) -> tuple[str, ...]:
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,) if stop else ()
    return tuple(s for s in stop if s)


def json_instructions(
    kind: str | None, name: str | None = None, schema: Any = None, description: str | None = None
) -> tuple[str, ...]:
    """What asks Grok for JSON: `kind` json_object, or json_schema with the schema's name."""
    if kind == "json_object":
        return (JSON_OBJECT_INSTRUCTION,)
    if kind == "json_schema":
        text = (
            f'Answer with exactly one valid JSON value that conforms to the JSON schema "{name}" below, '
            "and nothing else: no prose before or after it, no markdown code fences."
        )
        if description:
            text += f"\nWhat it is for: {description}"
        if schema is not None:
            text += "\nSchema: " + json.dumps(schema, separators=(",", ":"), ensure_ascii=False)
        return (text,)
    return ()
