"""Conversation continuity for the model API routes (docs/continuity.md).

`request_continuity()` reads what a request asks (the settings CONTINUITY and
KEEP_CONVERSATIONS, the headers below, the Responses API's previous_response_id) into the
engine's `Continuity`; `open_thread(turn)` sends the planned turn on the account that owns its
conversation and has the response carry the conversation's headers.

Request headers:
  X-Grok-Continuity: off           this request neither continues nor is recorded (on: the default)
  X-Grok-Conversation-Id: <id>     continue this grok.com conversation with the request's new
                                   turn (the messages after its last assistant message)
Response headers (every model API, streamed or not):
  X-Grok-Conversation-Id           the grok.com conversation that answered
  X-Grok-Continuity                continued | new | fallback (a follow-up was refused and a new
                                   conversation answered) | off
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from flask import after_this_request, current_app

from ..engine.answer import Answer
from ..engine.continuity import SPACE, Continuity, Ledger, Place
from ..engine.plan import Turn
from ..engine.run import Run
from ..engine.thread import Thread, ThreadStream
from ..grok.errors import GrokError, NotFound
from ..media.services import services
from ..problems import Problem, from_grok_error
from ..routing import CONVERSATION, Routed, for_owned
from ..runtime import runtime

log = logging.getLogger(__name__)

CONTINUITY_HEADER = "X-Grok-Continuity"
CONVERSATION_HEADER = "X-Grok-Conversation-Id"
EXTENSION = "grok_web_api.continuity"
_OFF = frozenset({"off", "false", "0", "no", "none"})
_ON = frozenset({"on", "true", "1", "yes", "auto"})
_CONVERSATION_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def ledger() -> Ledger:
    """The continuity records of this app (rebuilt when the settings change)."""
    rt = runtime()
    built = current_app.extensions.get(EXTENSION)
    if built is None or built[0] is not rt.settings or built[1].store is not rt.store:
        settings = rt.settings
        made = Ledger(rt.store, settings.continuity_ttl, settings.continuity_max_entries)
        rt.store.bound(SPACE, settings.continuity_max_entries)
        built = current_app.extensions[EXTENSION] = (settings, made)
    return built[1]


def usable(account: str) -> bool:
    """Whether a conversation's account is an enabled account of the pool (app/routing.py
    narrows this to the account a request runs on)."""
    known = runtime().pool.accounts.get(account)
    return known is not None and known.enabled


def client_for(account: str):
    if not usable(account):
        raise Problem(503, "upstream_unavailable", "the account that owns this conversation is not configured")
    return runtime().pool.client(account)


def request_continuity(headers: Mapping[str, str], previous_response_id: str | None = None) -> Continuity:
    """What this request asks of continuity; a Problem (400/404) for a header or id that cannot be honoured."""
    settings = runtime().settings
    switch = (headers.get(CONTINUITY_HEADER) or "").strip().lower()
    if switch and switch not in _OFF | _ON:
        raise Problem(400, "bad_request", f"header {CONTINUITY_HEADER} must be on or off", param=CONTINUITY_HEADER)
    enabled = settings.continuity and switch not in _OFF
    records = ledger()
    base = Continuity(
        ledger=records if enabled else None,
        temporary=not settings.keep_conversations,
        usable=usable,
    )
    if previous_response_id:
        if not enabled:
            where = "on this server (CONTINUITY=false)" if not settings.continuity else f"by {CONTINUITY_HEADER}"
            raise Problem(
                400,
                "bad_request",
                f"previous_response_id needs conversation continuity, which is off {where}",
                param="previous_response_id",
            )
        place = records.response(previous_response_id)
        if place is None or not usable(place.account):
            raise Problem(
                400,
                "previous_response_not_found",
                f"Previous response with id '{previous_response_id}' not found.",
                param="previous_response_id",
            )
        return _named(base, place, "previous_response_id")
    named = (headers.get(CONVERSATION_HEADER) or "").strip()
    if named:
        if not _CONVERSATION_ID.fullmatch(named):
            message = f"header {CONVERSATION_HEADER} must be a grok.com conversation id"
            raise Problem(400, "bad_request", message, param=CONVERSATION_HEADER)
        return _named(base, _conversation_place(records, named), "header")
    return base


def _named(base: Continuity, place: Place, named_by: str) -> Continuity:
    return Continuity(ledger=base.ledger, temporary=base.temporary, target=place, named_by=named_by, usable=base.usable)


def _conversation_place(records: Ledger, conversation_id: str) -> Place:
    """Where a conversation the client names continues: its tip as recorded here, else its
    last answer as grok.com lists it."""
    known = records.conversation(conversation_id)
    place = Place.from_value({**known, "c": conversation_id}) if known else None
    if place is not None and usable(place.account):
        return place
    owner = for_owned(CONVERSATION, conversation_id)  # the account that created it, if this server knows
    client = owner.client
    try:
        conversation = _json(client.get_conversation(conversation_id))
        responses = _json(client.list_responses(conversation_id)).get("responses") or []
    except NotFound:
        raise Problem(
            404,
            "not_found",
            f"grok.com conversation {conversation_id} does not exist (or no longer does) for this account",
            param=CONVERSATION_HEADER,
        ) from None
    except GrokError as exc:
        raise from_grok_error(exc) from None
    answers = [
        r.get("responseId")
        for r in responses
        if isinstance(r, dict) and str(r.get("sender", "")).lower() == "assistant" and r.get("responseId")
    ]
    if not answers:
        raise Problem(
            400,
            "bad_request",
            f"grok.com conversation {conversation_id} has no answer to continue from",
            param=CONVERSATION_HEADER,
        )
    return Place(conversation_id, str(answers[-1]), owner.label, bool(conversation.get("temporary", False)))


def _json(reply) -> dict[str, Any]:
    try:
        value = json.loads(reply.content)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def open_thread(turn: Turn) -> tuple[Thread, ThreadStream]:
    """Send the planned turn; the response (whatever it turns out to be) carries the thread's headers."""
    thread = Thread(turn, client_for)

    @after_this_request
    def _headers(response):
        if thread.conversation_id:
            response.headers[CONVERSATION_HEADER] = thread.conversation_id
        response.headers[CONTINUITY_HEADER] = thread.outcome
        return response

    return thread, thread.open()


@dataclass
class OpenedAnswer:
    """A model API's answer, read up to its first output (streams) or to its end."""

    plan: Any
    thread: Thread
    run: Run
    writer: Any


def open_answer(plan, routed: Routed, writer, begin: Callable[[], None]) -> OpenedAnswer:
    """Open the plan's thread on the routed account and read its answer through `writer`: a
    stream calls `begin()` (the API's first event) and reads up to the first output, anything
    else reads to the end."""
    thread, upstream = open_thread(plan.turn)
    link = services().linker(owner=routed.label)
    answer = Answer(thread.answer_options(plan.options), writer, plan.turn.extractor(), asset_link=link)
    if plan.stream:
        begin()
        run = Run(upstream, answer, runtime().settings.heartbeat_interval)
        run.start()
    else:
        run = Run(upstream, answer)
        run.complete()
    return OpenedAnswer(plan, thread, run, writer)
