"""The plan step: a conversation -> the one upstream request that answers it.

Every model API (chat completions, responses, messages) parses its own request into the
engine's history form, a `ToolSet` and `AnswerOptions`; `plan_turn` turns the history into
the grok.com request: a follow-up in the grok.com conversation the history continues
(continuity.py), or a new conversation carrying the flattened history. Adapters never build
payloads.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Union

from . import continuity, usage
from .continuity import Continuity, Place
from .extract import ToolCallExtractor
from .prompt import build_prompt, result_names
from .tools import ToolSet
from .upstream import Mode, upstream_payload

JSON_OBJECT_INSTRUCTION = (
    "Answer with exactly one valid JSON object and nothing else: no prose before or after it, no markdown code fences."
)


class Media(Protocol):
    """The media parts of a history, uploaded (app.media.inputs.ChatMedia is one)."""

    file_ids: Sequence[str]

    def placeholder(self, message_index: int, part_index: int) -> str | None: ...


# What an adapter hands the plan for a history's media: the uploaded media, or a function that
# uploads them when called (a follow-up whose latest user message is already upstream never does).
MediaSource = Union[Media, Callable[[], Media], None]
_TEXT_PARTS = ("text", "refusal")


@dataclass(frozen=True)
class Turn:
    """One upstream request and what reading its answer needs.

    `follow_up` set: the payload is a new message in that upstream conversation (continuity.py),
    and `fallback` (for transparent continuity) plans the flattened new conversation to use if
    grok.com refuses the follow-up. `history_digest` is what a complete answer is recorded under
    (None: not recorded)."""

    payload: dict[str, Any]
    toolset: ToolSet | None
    message_count: int
    tool_call_ids: frozenset[str] = field(default_factory=frozenset)  # ids already in the history
    follow_up: Place | None = None
    fallback: Callable[[], "Turn"] | None = None
    history_digest: str | None = None
    continuity: Continuity | None = None
    estimate: Callable[[], int] | None = None  # prompt tokens of a follow-up: the whole conversation

    def prompt_tokens(self) -> int:
        """Estimated only when a usage object is sent (it costs a pass over the history). A
        follow-up counts the whole conversation, as the model reads it (clients compact on it)."""
        if self.estimate is not None:
            return self.estimate()
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
    media: MediaSource = None,
    continuity: Continuity | None = None,
) -> Turn:
    """The upstream request for `history`: a follow-up in the conversation it continues (see
    continuity.py), else a new conversation with the flattened history. `media` is what the
    adapter uploaded for its media parts, or the function that uploads them. Raises
    prompt.UnsupportedContent for a part that cannot be passed on and ValueError for a history
    that cannot be sent."""
    plan = _Planner(history, model, toolset, tuple(extra_instructions), media, continuity)
    return plan.turn()


class _Planner:
    def __init__(self, history, model, toolset, extra, media: MediaSource, continuity: Continuity | None):
        self.history, self.model, self.toolset, self.extra = history, model, toolset, extra
        self.continuity = continuity
        self.temporary = continuity.temporary if continuity is not None else True
        self._media = media
        self._uploaded = media is not None and not callable(media)

    def media(self) -> Media | None:
        if not self._uploaded:
            self._media = self._media() if self._media is not None else None
            self._uploaded = True
        return self._media

    def turn(self) -> Turn:
        cont = self.continuity
        if cont is None or (cont.ledger is None and cont.target is None):
            return self.fresh(None)
        history = self.history
        context = continuity.context_digest(self.model.upstream, self.toolset, self.extra, self.temporary)
        start = self._explicit_start() if cont.target is not None else continuity.new_turn_start(history)
        prefix = continuity.chain(context, continuity.canonical(history[:start])) if start is not None else context
        whole = None
        if cont.ledger is not None and history and history[-1].get("role") != "assistant":
            whole = continuity.chain(prefix, continuity.canonical(history[start or 0 :]))
            if cont.named_by == "previous_response_id":
                whole = None  # a partial history: no stateless client will ever send it again
        if cont.target is not None:
            return self.follow_up(cont.target, start or 0, whole)
        place = cont.ledger.find(prefix) if start is not None else None
        if place is not None and cont.usable is not None and not cont.usable(place.account):
            place = None  # its account cannot serve now: a new conversation on one that can
        if place is None:
            return self.fresh(whole)
        return self.follow_up(place, start, whole)

    def _explicit_start(self) -> int:
        index = continuity.last_assistant(self.history)
        if index is None:
            return 0
        if index == len(self.history) - 1:
            raise ValueError(
                f"the request continues grok.com conversation {self.continuity.target.conversation_id} "
                "but has no message after the last assistant message to send"
            )
        return index + 1

    def fresh(self, digest: str | None) -> Turn:
        media = self.media()
        prompt = build_prompt(
            self.history, self.toolset, self.extra, part_text=media.placeholder if media is not None else None
        )
        payload = upstream_payload(self.model, prompt.message, prompt.custom_instructions, self.temporary)
        if media is not None and media.file_ids:
            payload["fileAttachments"] = list(media.file_ids)
        return Turn(
            payload=payload,
            toolset=self.toolset,
            message_count=len(self.history),
            tool_call_ids=prompt.tool_call_ids,
            history_digest=digest,
            continuity=self.continuity,
        )

    def follow_up(self, place: Place, start: int, digest: str | None) -> Turn:
        history = self.history
        latest_user = next((i for i in range(len(history) - 1, -1, -1) if history[i].get("role") == "user"), None)
        attach = latest_user is not None and latest_user >= start
        # The latest user message's media are uploaded (and attached) only when it is part of
        # the new turn; parts of tool results are only named.
        media = self.media() if attach or _has_parts(history[start:]) else None
        prompt = build_prompt(
            history,
            self.toolset,
            self.extra,
            part_text=media.placeholder if media is not None else None,
            start=start,
            result_names=result_names(history[:start], self.toolset),
        )
        payload = upstream_payload(self.model, prompt.message, prompt.custom_instructions, place.temporary)
        payload["parentResponseId"] = place.response_id
        if attach and media is not None and media.file_ids:
            payload["fileAttachments"] = list(media.file_ids)
        transparent = self.continuity.target is None
        return Turn(
            payload=payload,
            toolset=self.toolset,
            message_count=len(history),
            tool_call_ids=prompt.tool_call_ids,
            follow_up=place,
            fallback=(lambda: self.fresh(digest)) if transparent else None,
            history_digest=digest,
            continuity=self.continuity,
            estimate=self.whole_conversation_tokens,
        )

    def whole_conversation_tokens(self) -> int:
        prompt = build_prompt(self.history, self.toolset, self.extra, part_text=_stand_in)
        return usage.prompt_tokens(prompt.message, prompt.custom_instructions, len(self.history))


def _stand_in(message_index: int, part_index: int) -> str:
    return "[attachment]"  # token estimates only


def _has_parts(messages: Sequence[dict]) -> bool:
    """Whether any message has a content part that is not text (media to name or refuse)."""
    for message in messages:
        content = message.get("content")
        if isinstance(content, list) and any(
            not isinstance(part, dict) or part.get("type") not in _TEXT_PARTS for part in content
        ):
            return True
    return False


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
