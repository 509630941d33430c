"""From a validated chat.completions request to what this server will do with it.

Decides, once per request: the upstream payload, how reasoning is shown, which
OpenAI options are honoured on our side (stop, max_tokens, response_format,
stream_options, parallel_tool_calls) and which are accepted and ignored (logged at
debug, docs/api.md: parameters). Refuses with a 400 what would otherwise give a wrong
answer (`n` > 1, a forced tool that cannot be called, audio input). Image and file parts
are handed to `upload_media` once the request is known to be valid: its attachments go
into the payload and the prompt names each part where it appeared.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..engine.answer import AnswerOptions
from ..engine.continuity import Continuity
from ..engine.plan import Turn, json_instructions, plan_turn, stop_sequences
from ..engine.prompt import UnsupportedContent
from ..engine.tools import InvalidToolRequest, ToolSet
from ..grok.modes import ModeList
from ..problems import Problem
from ..settings import REASONING_OUTPUTS
from . import models
from .schemas import unknown_fields

log = logging.getLogger(__name__)

REASONING_HEADER = "X-Reasoning-Output"

# Accepted, validated, and ignored: grok.com's web chat has no equivalent.
IGNORED = (
    "temperature",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "seed",
    "store",
    "metadata",
    "service_tier",
    "modalities",
    "audio",
    "prediction",
    "reasoning_effort",
    "verbosity",
    "web_search_options",
    "prompt_cache_key",
    "prompt_cache_retention",
    "prompt_cache_options",
    "moderation",
)


@dataclass(frozen=True)
class ChatPlan:
    model_id: str  # echoed back in every response
    model: models.ModelInfo
    stream: bool
    include_usage: bool
    options: AnswerOptions
    turn: Turn

    @property
    def payload(self) -> dict[str, Any]:
        return self.turn.payload

    @property
    def toolset(self) -> ToolSet | None:
        return self.turn.toolset

    def prompt_tokens(self) -> int:
        return self.turn.prompt_tokens()


def plan_completion(
    body: Mapping[str, Any],
    headers: Mapping[str, str],
    default_reasoning: str,
    upload_media: Callable[[list], Any] | None = None,
    live_modes: ModeList | None = None,
    continuity: Continuity | None = None,
) -> ChatPlan:
    """`upload_media(messages)` returns an object with `file_ids` (attachments, in order) and
    `placeholder(message_index, part_index)` (the text standing for a media part); it is called
    only when the upstream request needs it. `continuity`: see app/engine/continuity.py."""
    n = body.get("n")
    if n is not None and n > 1:
        raise Problem(
            400,
            "bad_request",
            f"n={n} is not supported: grok.com writes one answer per request. "
            "Send n=1 (or leave it out) and make separate requests for more answers.",
            param="n",
        )
    _log_ignored(body)
    stream = bool(body.get("stream"))
    model = models.resolve(body.get("model"), live_modes)
    toolset = _toolset(body)
    messages = body["messages"]
    instructions = _format_instructions(body.get("response_format"))
    reasoning = _reasoning_mode(headers, default_reasoning)
    media = (lambda: upload_media(messages)) if upload_media is not None else None
    try:
        turn = plan_turn(
            messages,
            model,
            toolset,
            extra_instructions=instructions,
            media=media,
            continuity=continuity,
        )
    except UnsupportedContent as exc:
        param = f"messages[{exc.message_index}].content[{exc.part_index}]"
        raise Problem(
            400,
            "bad_request",
            f"{param}: {exc.part_type} content is not supported: grok.com's "
            "web chat takes text, images (image_url) and files (file)",
            param=param,
        ) from None
    except ValueError as exc:
        raise Problem(400, "bad_request", str(exc), param="messages") from None
    stream_options = body.get("stream_options") or {}
    include_usage = stream and bool(stream_options.get("include_usage"))
    response_format = body.get("response_format") or {}
    options = AnswerOptions(
        reasoning=reasoning,
        stop=stop_sequences(body.get("stop")),
        max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        json_mode=response_format.get("type") in ("json_object", "json_schema"),
        keep_text=not stream or include_usage,
        tool_choice_required=bool(toolset and toolset.required),
        single_tool_call=body.get("parallel_tool_calls") is False,
        image_progress=stream,
        preamble_as_reasoning=stream,
    )
    return ChatPlan(
        model_id=body.get("model") or models.DEFAULT_MODEL,
        model=model,
        stream=stream,
        include_usage=include_usage,
        options=options,
        turn=turn,
    )


def _log_ignored(body: Mapping[str, Any]) -> None:
    for name in IGNORED:
        if body.get(name) is not None:
            log.debug("ignoring %s (grok.com's web chat has no equivalent)", name)
    unknown = unknown_fields(dict(body))
    if unknown:
        log.debug("ignoring unknown request fields: %s", ", ".join(unknown))
    for name in ("user", "safety_identifier"):
        if body.get(name):
            log.info("chat completion for %s=%s", name, body[name])


def _reasoning_mode(headers: Mapping[str, str], default: str) -> str:
    value = headers.get(REASONING_HEADER)
    if value is None:
        return default
    mode = value.strip().lower()
    if mode not in REASONING_OUTPUTS:
        raise Problem(
            400,
            "bad_request",
            f"header {REASONING_HEADER} must be one of: {', '.join(REASONING_OUTPUTS)}",
            param=REASONING_HEADER,
        )
    return mode


def _format_instructions(response_format: Mapping[str, Any] | None) -> tuple[str, ...]:
    response_format = response_format or {}
    spec = response_format.get("json_schema") or {}
    return json_instructions(response_format.get("type"), spec.get("name"), spec.get("schema"), spec.get("description"))


def _toolset(body: Mapping[str, Any]) -> ToolSet | None:
    tools = body.get("tools") or []
    custom = [t["custom"]["name"] for t in tools if t.get("type") == "custom"]
    if custom:
        log.info("custom tools are not supported and were not offered to Grok: %s", ", ".join(custom))
    if body.get("functions"):
        log.info("the deprecated `functions` / `function_call` fields are ignored; use `tools`")
    try:
        return ToolSet.from_request(tools, body.get("tool_choice"))
    except InvalidToolRequest as exc:
        raise Problem(400, "bad_request", exc.message, param=exc.param) from None
