"""A Messages API request -> the engine's history, tools and options (pure, no I/O).

Accepted as Claude Code and the anthropic SDK send it (docs/agents.md):

* ``system`` is a string or text blocks (``cache_control`` ignored; Claude Code's
  ``x-anthropic-billing-header`` line is dropped); ``role: "system"`` messages anywhere in
  ``messages``, the last one included, are folded into the system prompt in order;
* content blocks: ``text``; ``image`` (base64 or url source) and ``document`` (base64 PDF
  or text) are attached like chat media or named; ``tool_use`` in assistant turns and
  ``tool_result`` (string or blocks, ``is_error``) in user turns are the conversation's calls
  and results; ``thinking`` / ``redacted_thinking`` and blocks this server has no use for are
  skipped; consecutive messages of the same role are fine;
* tools ``{name, description, input_schema}`` with any extra keys; server tools (a ``type``
  such as ``web_search_20250305``) are left to grok.com's own search; ``tool_choice``
  auto / any / tool / none and ``disable_parallel_tool_use``;
* model names: ``claude-*`` run on the configured mode (``CLAUDE_MODEL_MODE``), ``*haiku*``
  on fast; any other name as on the other APIs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..engine.answer import HIDDEN, REASONING_CONTENT, AnswerOptions
from ..engine.continuity import Continuity
from ..engine.plan import Turn, plan_turn, stop_sequences
from ..engine.prompt import UnsupportedContent
from ..engine.tools import InvalidToolRequest, ToolSet, ToolSpec
from ..grok.modes import ModeList
from ..openai import models
from ..problems import Problem

log = logging.getLogger(__name__)

BILLING_HEADER = "x-anthropic-billing-header"
SKIPPED_BLOCKS = frozenset({"thinking", "redacted_thinking", "server_tool_use", "web_search_tool_result"})


@dataclass(frozen=True)
class MessagesPlan:
    model_id: str  # echoed back
    stream: bool
    thinking: bool  # the client asked for thinking blocks
    options: AnswerOptions
    turn: Turn


def model_for(name: str | None, claude_mode: str, live_modes: ModeList | None = None) -> models.ModelInfo:
    lowered = (name or "").strip().lower()
    if lowered.startswith("claude"):
        return models.resolve("fast" if "haiku" in lowered else claude_mode, live_modes)
    return models.resolve(name, live_modes)


def plan_messages(
    body: Mapping[str, Any],
    claude_mode: str,
    upload_media: Callable[[list], Any] | None = None,
    live_modes: ModeList | None = None,
    continuity: Continuity | None = None,
) -> MessagesPlan:
    """`live_modes`: the account's mode list (None: the built-in one). `upload_media(history)`
    uploads the media parts (called only when the upstream request needs them);
    `continuity`: app/engine/continuity.py."""
    stream = bool(body.get("stream"))
    history = to_history(body.get("system"), body.get("messages") or [])
    toolset, single = _toolset(body)
    thinking = _wants_thinking(body.get("thinking"))
    media = (lambda: upload_media(history)) if upload_media is not None else None
    turn = _turn(history, model_for(body.get("model"), claude_mode, live_modes), toolset, media, continuity)
    options = AnswerOptions(
        reasoning=REASONING_CONTENT if thinking else HIDDEN,
        stop=stop_sequences(body.get("stop_sequences")),
        max_tokens=body.get("max_tokens"),
        keep_text=True,
        tool_choice_required=bool(toolset and toolset.required),
        single_tool_call=single,
        image_progress=stream,
        preamble_as_reasoning=stream,
    )
    return MessagesPlan(
        model_id=body.get("model") or models.DEFAULT_MODEL, stream=stream, thinking=thinking, options=options, turn=turn
    )


def count_plan(body: Mapping[str, Any], claude_mode: str) -> Turn:
    """The upstream request a /v1/messages call with this body would make, media named only."""
    history = to_history(body.get("system"), body.get("messages") or [])
    toolset, _ = _toolset(body)
    return _turn(history, model_for(body.get("model"), claude_mode), toolset, _NamedMedia())


class _NamedMedia:
    file_ids: tuple[str, ...] = ()

    def placeholder(self, message_index: int, part_index: int) -> str:
        return "[attachment]"


def _turn(history: list[dict], model, toolset: ToolSet | None, media, continuity: Continuity | None = None) -> Turn:
    try:
        return plan_turn(history, model, toolset, media=media, continuity=continuity)
    except UnsupportedContent as exc:
        raise Problem(
            400, "bad_request", f"messages: {exc.part_type} content is not supported", param="messages"
        ) from None
    except ValueError as exc:
        raise Problem(400, "bad_request", str(exc), param="messages") from None


def _wants_thinking(thinking: Any) -> bool:
    if not isinstance(thinking, dict):
        return False
    if thinking.get("type") == "enabled":
        return True
    return thinking.get("type") == "adaptive" and thinking.get("display") != "omitted"


# -- messages -> history -------------------------------------------------------------------------
def to_history(system: Any, messages: list) -> list[dict]:
    """The engine's history: `system` first, system messages where they stand (the engine joins
    them all into the custom instructions; in place, one that arrives with a new turn leaves
    the earlier turns as they were, so the conversation can still be continued)."""
    conversation: list[dict] = []
    text = _system_text(system)
    if text.strip():
        conversation.append({"role": "system", "content": text})
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        content = message.get("content")
        if role == "system":
            text = _system_text(content)
            if text.strip():
                conversation.append({"role": "system", "content": text})
        elif role == "assistant":
            _add_assistant(conversation, content)
        elif role == "user":
            _add_user(conversation, content)
        else:
            log.info("a message with role %r was skipped", role)
    return conversation


def _system_text(system: Any) -> str:
    if isinstance(system, str):
        return system
    if not isinstance(system, list):
        return ""
    texts = []
    for block in system:
        text = block.get("text") if isinstance(block, dict) else block if isinstance(block, str) else None
        if isinstance(text, str) and not text.startswith(BILLING_HEADER):
            texts.append(text)
    return "\n\n".join(texts)


def _blocks(content: Any) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _add_assistant(conversation: list[dict], content: Any) -> None:
    parts: list[dict] = []
    calls: list[dict] = []
    for block in _blocks(content):
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            parts.append({"type": "text", "text": block["text"]})
        elif kind == "tool_use":
            arguments = block.get("input") if isinstance(block.get("input"), dict) else {}
            calls.append(
                {
                    "id": str(block.get("id") or ""),
                    "type": "function",
                    "function": {"name": str(block.get("name") or ""), "arguments": json.dumps(arguments)},
                }
            )
        elif kind not in SKIPPED_BLOCKS:
            log.debug("an assistant block of type %r was skipped", kind)
    message: dict[str, Any] = {"role": "assistant", "content": parts}
    if calls:
        message["tool_calls"] = calls
    conversation.append(message)


def _add_user(conversation: list[dict], content: Any) -> None:
    parts: list[dict] = []
    for block in _blocks(content):
        kind = block.get("type")
        if kind == "tool_result":
            text = _result_text(block.get("content"))
            if block.get("is_error"):
                text = f"[error] {text}"
            conversation.append({"role": "tool", "tool_call_id": str(block.get("tool_use_id") or ""), "content": text})
        elif kind == "text" and isinstance(block.get("text"), str):
            parts.append({"type": "text", "text": block["text"]})
        elif kind == "image":
            parts.append(_image(block))
        elif kind == "document":
            parts.append(_document(block))
        elif kind not in SKIPPED_BLOCKS:
            log.debug("a user block of type %r was skipped", kind)
    if parts:
        conversation.append({"role": "user", "content": parts})


def _image(block: dict) -> dict:
    source = block.get("source") if isinstance(block.get("source"), dict) else {}
    if source.get("type") == "base64" and isinstance(source.get("data"), str):
        url = f"data:{source.get('media_type') or 'image/png'};base64,{source['data']}"
        return {"type": "image_url", "image_url": {"url": url}}
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    return {"type": "text", "text": "[image]"}


def _document(block: dict) -> dict:
    source = block.get("source") if isinstance(block.get("source"), dict) else {}
    title = block.get("title") or "document"
    if source.get("type") == "text" and isinstance(source.get("data"), str):
        return {"type": "text", "text": f"[document: {title}]\n{source['data']}"}
    if source.get("type") == "base64" and isinstance(source.get("data"), str):
        data = f"data:{source.get('media_type') or 'application/pdf'};base64,{source['data']}"
        return {"type": "file", "file": {"file_data": data, "filename": block.get("title")}}
    return {"type": "text", "text": f"[document: {title}]"}


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    texts = []
    for block in _blocks(content):
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif block.get("type") == "image":
            texts.append("[image]")
    return "\n".join(texts)


# -- tools ---------------------------------------------------------------------------------------
def _toolset(body: Mapping[str, Any]) -> tuple[ToolSet | None, bool]:
    """(toolset, single call only)."""
    specs = []
    for index, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not tool["name"]:
            continue
        if tool.get("type") not in (None, "custom"):
            log.debug("tools[%d]: server tool %r left to grok.com", index, tool.get("type"))
            continue
        schema = tool.get("input_schema")
        specs.append(
            ToolSpec(
                name=tool["name"],
                description=tool.get("description"),
                parameters=schema,
                has_parameters=schema is not None,
            )
        )
    choice = body.get("tool_choice") if isinstance(body.get("tool_choice"), dict) else {}
    kind = choice.get("type", "auto")
    mode, named = {"any": ("required", None), "none": ("none", None)}.get(kind, ("auto", None))
    if kind == "tool":
        mode, named = "forced", [str(choice.get("name") or "")]
    try:
        return ToolSet.offer(specs, mode, named), bool(choice.get("disable_parallel_tool_use"))
    except InvalidToolRequest as exc:
        raise Problem(400, "bad_request", exc.message, param="tool_choice") from None
