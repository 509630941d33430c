"""OpenAI ``messages`` -> the one upstream grok.com message plus its custom instructions.

grok.com takes one message per request (every request is a new temporary conversation),
so the history is flattened into tagged text:

* ``system`` and ``developer`` messages become custom instructions, after the tool
  protocol block and before any ``extra_instructions``, joined by blank lines; a
  conversation of system messages alone sends their text as the message instead;
* a conversation that is a single user message is sent verbatim;
* otherwise each message is rendered and the renderings joined with ``\\n``:
  ``<u>…</u>`` (user), ``<a>…<tool_call>{json}</tool_call></a>`` (assistant),
  ``<tool_result id="…">…</tool_result>`` (tool), ``<role>…</role>`` (any other role).

Tool calls in the history are rendered with ``json.dumps`` so they are always valid JSON,
with the alias the model knows when the function is offered in this request. The
``id`` attribute of a tool result is written as a JSON string literal (quotes and
backslashes escaped), the same convention as the ids inside ``<tool_call>``.

A follow-up in an existing grok.com conversation (app/engine/continuity.py) sends only the
messages from ``start`` on, rendered the same way; its tool results also name the function
they answer (``name="fn_0"``), because the model's own calls upstream carry no ids of ours.
The custom instructions are always those of the whole history.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .tools import CLOSE_TAG, OPEN_TAG, ToolSet, dumps_compact

log = logging.getLogger(__name__)

SYSTEM_ROLES = ("system", "developer")
_TEXT_KEYS = {"text": "text", "refusal": "refusal"}
# Shared by every prompt without tool calls: an empty frozenset is 216 bytes, one per stream.
NO_CALL_IDS: frozenset[str] = frozenset()
# The text standing for a non-text part (message index, part index), e.g. "[image: a.png]" for
# an uploaded image; None = the part cannot be passed on (UnsupportedContent).
PartText = Callable[[int, int], "str | None"]


class UnsupportedContent(ValueError):
    """A content part the bridge cannot pass upstream (audio, or media without an upload)."""

    def __init__(self, message_index: int, part_index: int, part_type: str):
        self.message_index = message_index
        self.part_index = part_index
        self.part_type = part_type
        self.message = (
            f"messages[{message_index}].content[{part_index}]: content parts of type {part_type!r} are not supported"
        )
        super().__init__(self.message)


@dataclass
class UpstreamPrompt:
    message: str
    custom_instructions: str | None
    # Call ids already in the conversation, for ToolCallExtractor(reserved_ids=…).
    tool_call_ids: frozenset[str] = NO_CALL_IDS


def build_prompt(
    messages: list[dict],
    toolset: ToolSet | None,
    extra_instructions: Sequence[str] = (),
    part_text: PartText | None = None,
    start: int = 0,
    result_names: Mapping[str, str] | None = None,
) -> UpstreamPrompt:
    """The upstream message (the messages from `start` on) and custom instructions (from every
    system message); `result_names` maps call ids to the function a tool result names."""
    system_parts: list[str] = []
    turns: list[tuple[int, dict]] = []
    for index, message in enumerate(messages):
        if message.get("role") in SYSTEM_ROLES:
            system_parts.append(content_text(message.get("content"), index, part_text))
        elif index >= start:
            turns.append((index, message))
    instructions = [toolset.protocol_block()] if toolset else []
    if not turns:
        # OpenAI answers a conversation of system messages alone. grok.com needs a message, so
        # the system text is the message (not instructions beside an empty one).
        text = "\n\n".join(part for part in system_parts if part.strip())
        if not text:
            raise ValueError("messages must contain some text: the system messages are empty")
        instructions += [part for part in extra_instructions if part.strip()]
        return UpstreamPrompt(message=text, custom_instructions="\n\n".join(instructions) or None)

    instructions += [part for part in (*system_parts, *extra_instructions) if part.strip()]

    index, first = turns[0]
    if len(turns) == 1 and first.get("role") == "user" and "tool_calls" not in first:
        text = content_text(first.get("content"), index, part_text)
        _note_ignored_name(first, index)
    else:
        text = "\n".join(_render(message, index, toolset, part_text, result_names) for index, message in turns)
    return UpstreamPrompt(
        message=text,
        custom_instructions="\n\n".join(instructions) or None,
        tool_call_ids=frozenset(_call_ids(messages)) or NO_CALL_IDS,
    )


def content_text(content: Any, message_index: int, part_text: PartText | None = None) -> str:
    """A message's text: a string, null, or its parts joined with newlines (text and refusal
    parts as they are, other parts as `part_text` names them)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise ValueError(f"messages[{message_index}].content must be a string, null or an array of content parts")
    texts = []
    for part_index, part in enumerate(content):
        part_type = part.get("type") if isinstance(part, dict) else None
        key = _TEXT_KEYS.get(part_type)
        if key is not None and isinstance(part.get(key), str):
            texts.append(part[key])
            continue
        stand_in = part_text(message_index, part_index) if part_text else None
        if stand_in is None:
            raise UnsupportedContent(message_index, part_index, str(part_type))
        texts.append(stand_in)
    return "\n".join(texts)


def _render(
    message: dict,
    index: int,
    toolset: ToolSet | None,
    part_text: PartText | None,
    result_names: Mapping[str, str] | None = None,
) -> str:
    role = message.get("role")
    content = content_text(message.get("content"), index, part_text)
    _note_ignored_name(message, index)
    if role == "user":
        return f"<u>{content}</u>"
    if role == "assistant":
        calls = "".join(_render_call(call, toolset) for call in message.get("tool_calls") or [])
        return f"<a>{content}{calls}</a>"
    if role == "tool":
        call_id = message.get("tool_call_id") or "unknown"
        name = result_names.get(call_id) if result_names else None
        named = f" name={json.dumps(name, ensure_ascii=False)}" if name else ""
        return f"<tool_result id={json.dumps(call_id, ensure_ascii=False)}{named}>{content}</tool_result>"
    return f"<{role}>{content}</{role}>"


def _render_call(call: dict, toolset: ToolSet | None) -> str:
    """A call of the history as the model would write it now (aliases when offered)."""
    namespace = call.get("namespace")
    if call.get("type") == "custom" or "custom" in call:
        fn = call.get("custom") or {}
        name = fn.get("name", "")
        alias = toolset.alias_for(name, namespace) if toolset else None
        return f'<tool_call name="{alias or name}">{fn.get("input") or ""}{CLOSE_TAG}'
    fn = call.get("function") or {}
    name = fn.get("name", "")
    raw = fn.get("arguments") or "{}"
    try:
        arguments = json.loads(raw)
    except (TypeError, ValueError):
        arguments = None
    if not isinstance(arguments, dict):
        arguments = raw  # shown to the model as the string it was
    alias = toolset.alias_for(name, namespace) if toolset else None
    body = dumps_compact({"id": call.get("id", ""), "name": alias or name, "arguments": arguments})
    return f"{OPEN_TAG}{body}{CLOSE_TAG}"


def result_names(messages: Sequence[dict], toolset: ToolSet | None) -> dict[str, str]:
    """Call id -> the name the model knows the called function by (its alias when offered)."""
    names = {}
    for message in messages:
        for call in message.get("tool_calls") or []:
            fn = call.get("custom") if call.get("type") == "custom" or "custom" in call else call.get("function")
            name = (fn or {}).get("name") or ""
            if call.get("id") and name:
                alias = toolset.alias_for(name, call.get("namespace")) if toolset else None
                names[call["id"]] = alias or name
    return names


def _call_ids(messages: list[dict]):
    for message in messages:
        if message.get("tool_call_id"):
            yield message["tool_call_id"]
        for call in message.get("tool_calls") or []:
            if call.get("id"):
                yield call["id"]


def _note_ignored_name(message: dict, index: int) -> None:
    if message.get("name"):
        log.debug("messages[%d].name is not passed upstream (grok.com has no speaker names)", index)
