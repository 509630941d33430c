"""A Responses API request -> the engine's history, tools and options (pure, no I/O).

What real clients send is accepted, never refused for its shape (docs/agents.md):

* ``input`` is a string or a list of items, with or without ``type`` (a typeless
  ``{role, content}`` is a message); roles developer and system join ``instructions`` as
  the custom instructions, user and assistant are the conversation;
* history items: ``function_call`` / ``function_call_output``, ``custom_tool_call`` /
  ``custom_tool_call_output`` become the calls and results of the conversation; reasoning
  items and items this server has no use for (``tool_search_*``, ``web_search_call``,
  ``additional_tools``, ``compaction_trigger``, ``item_reference``, …) are skipped with a
  debug log; extra keys (``id``, ``status``, ``phase``) are ignored;
* content parts: text of any kind; ``input_image`` with a data: or http(s) URL is attached
  like a chat image (others are named in the text); ``input_file`` with ``file_data`` is
  attached, other files are named;
* tools: ``function``; ``namespace`` (its functions are offered flat, and a call names its
  namespace); ``custom`` (free text input, e.g. Codex's ``apply_patch``); ``web_search`` and
  ``web_search_preview`` (grok.com searches by itself); any other type is ignored with a log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..engine.answer import REASONING_CONTENT, AnswerOptions
from ..engine.continuity import Continuity
from ..engine.plan import Turn, json_instructions, plan_turn
from ..engine.prompt import UnsupportedContent
from ..engine.tools import CUSTOM, InvalidToolRequest, ToolSet, ToolSpec
from ..grok.modes import ModeList
from ..openai import models
from ..problems import Problem

log = logging.getLogger(__name__)

TEXT_PARTS = frozenset({"input_text", "output_text", "text", "summary_text", "reasoning_text"})
SKIPPED_ITEMS = frozenset(
    {
        "reasoning",
        "tool_search_call",
        "tool_search_output",
        "web_search_call",
        "file_search_call",
        "additional_tools",
        "compaction_trigger",
        "compaction",
        "item_reference",
        "image_generation_call",
        "mcp_list_tools",
    }
)
SEARCH_TOOLS = frozenset({"web_search", "web_search_preview", "web_search_2025_08_26", "web_search_preview_2025_03_11"})
# Fields echoed into the Response object as the client sent them.
ECHOED = (
    "instructions",
    "max_output_tokens",
    "metadata",
    "parallel_tool_calls",
    "previous_response_id",
    "reasoning",
    "service_tier",
    "store",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_p",
    "truncation",
    "user",
    "prompt_cache_key",
)


@dataclass(frozen=True)
class ResponsePlan:
    model_id: str  # echoed back
    stream: bool
    options: AnswerOptions
    turn: Turn
    echo: dict[str, Any]


def plan_response(
    body: Mapping[str, Any],
    upload_media: Callable[[list], Any] | None = None,
    live_modes: ModeList | None = None,
    continuity: Continuity | None = None,
) -> ResponsePlan:
    """`upload_media(history)` uploads the media parts (as chat completions does) and returns an
    object with `file_ids` and `placeholder(message_index, part_index)`; it is called only when
    the upstream request needs it. `continuity` (app/engine/continuity.py) carries the place a
    previous_response_id names: `input` is then the new turn."""
    stream = bool(body.get("stream"))
    history = to_history(body.get("instructions"), body.get("input"))
    toolset = _toolset(body)
    text_format = (body.get("text") or {}).get("format") or {}
    kind = text_format.get("type")
    instructions = json_instructions(
        kind, text_format.get("name"), text_format.get("schema"), text_format.get("description")
    )
    model = models.resolve(body.get("model"), live_modes)
    media = (lambda: upload_media(history)) if upload_media is not None else None
    try:
        turn = plan_turn(
            history,
            model,
            toolset,
            extra_instructions=instructions,
            media=media,
            continuity=continuity,
        )
    except UnsupportedContent as exc:
        raise Problem(400, "bad_request", f"input: {exc.part_type} content is not supported", param="input") from None
    except ValueError as exc:
        raise Problem(400, "bad_request", str(exc).replace("messages", "input"), param="input") from None
    options = AnswerOptions(
        reasoning=REASONING_CONTENT,
        max_tokens=body.get("max_output_tokens"),
        json_mode=kind in ("json_object", "json_schema"),
        keep_text=True,
        tool_choice_required=bool(toolset and toolset.required),
        single_tool_call=body.get("parallel_tool_calls") is False,
        image_progress=stream,
        preamble_as_reasoning=stream,
    )
    echo = {name: body[name] for name in ECHOED if body.get(name) is not None}
    return ResponsePlan(
        model_id=body.get("model") or models.DEFAULT_MODEL, stream=stream, options=options, turn=turn, echo=echo
    )


# -- input -> history -------------------------------------------------------------------------------
def to_history(instructions: Any, input_value: Any) -> list[dict]:
    history: list[dict] = []
    if isinstance(instructions, str) and instructions.strip():
        history.append({"role": "system", "content": instructions})
    elif isinstance(instructions, list):
        _add_items(history, instructions)
    if isinstance(input_value, str):
        history.append({"role": "user", "content": input_value})
    elif isinstance(input_value, list):
        _add_items(history, input_value)
    return history


def _add_items(history: list[dict], items: list) -> None:
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            log.debug("input[%d] is not an object; skipped", index)
            continue
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            _add_message(history, item)
        elif kind in ("function_call", "custom_tool_call"):
            _add_call(history, item, kind)
        elif kind in ("function_call_output", "custom_tool_call_output"):
            history.append(
                {
                    "role": "tool",
                    "tool_call_id": str(item.get("call_id") or ""),
                    "content": _output_text(item.get("output")),
                }
            )
        elif kind in SKIPPED_ITEMS:
            log.debug("input[%d]: %s item not passed to grok.com", index, kind)
        else:
            log.info("input[%d]: item type %r is not understood; skipped", index, kind)


def _add_message(history: list[dict], item: dict) -> None:
    role = item.get("role")
    if role not in ("user", "assistant", "system", "developer"):
        log.info("a message with role %r was skipped", role)
        return
    content = _content(item.get("content"), media=role == "user")
    history.append({"role": role, "content": content})


def _add_call(history: list[dict], item: dict, kind: str) -> None:
    call_id = str(item.get("call_id") or item.get("id") or "")
    name = str(item.get("name") or "")
    if kind == "custom_tool_call":
        call = {"id": call_id, "type": "custom", "custom": {"name": name, "input": str(item.get("input") or "")}}
    else:
        arguments = item.get("arguments")
        call = {
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": arguments if isinstance(arguments, str) else "{}"},
        }
    if item.get("namespace"):
        call["namespace"] = item["namespace"]
    last = history[-1] if history else None
    if last is None or last.get("role") != "assistant":
        last = {"role": "assistant", "content": None}
        history.append(last)
    last.setdefault("tool_calls", []).append(call)


def _content(content: Any, media: bool) -> Any:
    """A message's content in the engine's form: a string, or text/image/file parts."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        return str(content)
    parts: list[dict] = []
    for part in content:
        if isinstance(part, str):
            parts.append({"type": "text", "text": part})
            continue
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in TEXT_PARTS and isinstance(part.get("text"), str):
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            parts.append({"type": "refusal", "refusal": part["refusal"]})
        elif kind == "input_image":
            parts.append(_image(part, media))
        elif kind == "input_file":
            parts.append(_file(part, media))
        else:
            log.debug("a content part of type %r was skipped", kind)
    return parts


def _image(part: dict, media: bool) -> dict:
    url = part.get("image_url")
    if isinstance(url, dict):
        url = url.get("url")
    if media and isinstance(url, str) and url.startswith(("data:", "http://", "https://")):
        return {"type": "image_url", "image_url": {"url": url}}
    return {"type": "text", "text": f"[image: {part.get('file_id') or 'not attached'}]"}


def _file(part: dict, media: bool) -> dict:
    name = part.get("filename") or part.get("file_id") or part.get("file_url") or "file"
    if media and isinstance(part.get("file_data"), str):
        return {"type": "file", "file": {"file_data": part["file_data"], "filename": part.get("filename")}}
    return {"type": "text", "text": f"[file: {name}]"}


def _output_text(output: Any) -> str:
    """A tool output: a string, or parts of which the texts are kept and media named."""
    if isinstance(output, str):
        return output
    if not isinstance(output, list):
        return "" if output is None else str(output)
    texts = []
    for part in output:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(part, dict) and part.get("type") == "input_image":
            texts.append("[image]")
        elif isinstance(part, dict) and part.get("type") == "input_file":
            texts.append(f"[file: {part.get('filename') or 'file'}]")
    return "\n".join(texts)


# -- tools ----------------------------------------------------------------------------------------
def tool_specs(tools: list | None) -> list[ToolSpec]:
    specs: list[ToolSpec] = []
    for index, tool in enumerate(tools or []):
        if not isinstance(tool, dict):
            continue
        kind = tool.get("type", "function")
        if kind == "function":
            spec = _function(tool, None)
            if spec is not None:
                specs.append(spec)
        elif kind == "namespace":
            for child in tool.get("tools") or []:
                spec = _function(child, tool.get("name")) if isinstance(child, dict) else None
                if spec is not None:
                    specs.append(spec)
        elif kind == "custom":
            name = tool.get("name")
            if isinstance(name, str) and name:
                fmt = tool.get("format") if isinstance(tool.get("format"), dict) else {}
                grammar = fmt.get("definition") if fmt.get("type") == "grammar" else None
                specs.append(ToolSpec(name=name, description=tool.get("description"), kind=CUSTOM, grammar=grammar))
        elif kind in SEARCH_TOOLS:
            log.debug("tools[%d]: %s is grok.com's own search, which is on", index, kind)
        else:
            log.info("tools[%d]: tools of type %r are not offered to Grok; ignored", index, kind)
    return specs


def _function(tool: dict, namespace: str | None) -> ToolSpec | None:
    name = tool.get("name")
    if tool.get("type", "function") != "function" or not isinstance(name, str) or not name:
        return None
    return ToolSpec(
        name=name,
        description=tool.get("description"),
        parameters=tool.get("parameters"),
        has_parameters="parameters" in tool,
        namespace=namespace,
    )


def tool_choice_mode(choice: Any) -> tuple[str, list[str] | None]:
    if choice is None or choice in ("auto", "none", "required"):
        return choice or "auto", None
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind in ("function", "custom") and isinstance(choice.get("name"), str):
            return "forced", [choice["name"]]
        if kind == "allowed_tools":
            names = [
                t["name"] for t in choice.get("tools") or [] if isinstance(t, dict) and isinstance(t.get("name"), str)
            ]
            return ("required" if choice.get("mode") == "required" else "auto"), names or None
        log.debug("tool_choice %r names a hosted tool: treated as auto", kind)
        return "auto", None
    raise InvalidToolRequest("tool_choice must be 'none', 'auto', 'required' or a tool choice object")


def _toolset(body: Mapping[str, Any]) -> ToolSet | None:
    try:
        mode, named = tool_choice_mode(body.get("tool_choice"))
        return ToolSet.offer(tool_specs(body.get("tools")), mode, named)
    except InvalidToolRequest as exc:
        raise Problem(400, "bad_request", exc.message, param=exc.param) from None
