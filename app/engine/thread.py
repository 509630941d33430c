"""One model request's upstream conversation: open it, fall back, record it.

`Thread.open()` sends the planned turn (plan.py): a follow-up in the conversation the history
continues, or a new conversation. grok.com refusing a transparent follow-up before any of its
answer arrived (the conversation expired or was deleted, the parent response is unknown, the
request was refused as invalid: a 4xx other than auth, anti-bot and rate limits, or the same
said inside the stream) makes the thread send the flattened new conversation instead, within
the same request and before any byte reached the client. A follow-up the client named itself
is never replaced: its refusal is the client's `ConversationGone` error.

`ThreadStream` is what the engine's `Run` reads: the events of whichever upstream stream
answers, with the conversation id and the answer's response id noted on the way. After a
complete answer the adapter calls `Thread.finish(answer)`, which records where the history
now continues (continuity.Ledger). A turn that did not complete (an error, a stop sequence or
token budget that cut the answer, a client that went away) leaves grok.com with a response
this server never recorded, so its conversation is marked as moved on (see continuity.py).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, Callable, Iterator

from ..grok import errors as gerr
from ..grok import events as ev
from .continuity import Continuity, Place, answer_message, canonical, chain, instructions_digest
from .plan import Turn

log = logging.getLogger(__name__)

CONTINUED, NEW, FALLBACK, OFF = "continued", "new", "fallback", "off"
# A refusal of a follow-up that a new conversation may not meet (statuses of grok.com).
_REFUSED_STATUSES = frozenset({400, 404, 409, 410, 422})
_NOT_REFUSALS = frozenset(
    {
        gerr.AUTH_EXPIRED,
        gerr.ANTI_BOT,
        gerr.STALE_CHALLENGE,
        gerr.CLOUDFLARE,
        gerr.RATE_LIMITED,
        gerr.USAGE_LIMIT,
        gerr.ACCOUNT_BLOCKED,
        gerr.MODEL_UNAVAILABLE,
    }
)
_GONE_WORDS = ("not found", "not_found", "does not exist", "no longer exists")


class ConversationGone(gerr.NotFound):
    """The conversation (or response) a client named cannot be continued on grok.com."""

    def __init__(self, message: str, named_by: str | None, cause: gerr.GrokError | None = None):
        super().__init__(getattr(cause, "status", 404), getattr(cause, "body", ""), message)
        self.named_by = named_by


def refused(error: gerr.GrokError | ev.UpstreamError) -> bool:
    """Whether grok.com refused a follow-up itself (rather than failing the way it would any request)."""
    if isinstance(error, ev.UpstreamError):
        if gerr.classify_text(error.message, error.code) in _NOT_REFUSALS:
            return False
        text = f"{error.message} {error.code}".lower()
        return error.code in (5, "5", "NOT_FOUND") or any(word in text for word in _GONE_WORDS)
    if error.failure_class in _NOT_REFUSALS:
        return False
    return isinstance(error, gerr.NotFound) or getattr(error, "status", None) in _REFUSED_STATUSES


class Thread:
    def __init__(self, turn: Turn, client_for: Callable[[str], Any]):
        """`client_for(account)` is the GrokClient of that account."""
        self.turn = turn
        self.client_for = client_for
        cont = turn.continuity or Continuity()
        self.continuity = cont
        self.place = turn.follow_up
        self.account = self.place.account if self.place is not None else cont.account
        self.temporary = self.place.temporary if self.place is not None else cont.temporary
        self.conversation_id: str | None = self.place.conversation_id if self.place is not None else None
        self.response_id: str | None = None  # the assistant response of this turn
        self.lane = "rest"  # the chat lane of the stream that answers
        self.started_upstream = False  # grok.com may hold a response of this turn
        self.complete = False  # the upstream answer ran to its end
        self.settled = False  # recorded, or marked as moved on
        if self.place is not None:
            self.outcome = CONTINUED
        else:
            self.outcome = NEW if cont.ledger is not None or cont.target is not None else OFF

    @property
    def recording(self) -> bool:
        return self.continuity.ledger is not None

    def answer_options(self, options):
        """The adapter's AnswerOptions, keeping the answer's content when it is to be recorded
        (the content alone: usage is the adapter's choice)."""
        return replace(options, keep_content=True) if self.recording and not options.keep_text else options

    # -- opening ------------------------------------------------------------------------------
    def open(self) -> "ThreadStream":
        client = self.client_for(self.account)
        if self.place is None:
            return ThreadStream(self, self._opened(client.new_conversation(self.turn.payload)))
        log.debug(
            "continuing grok.com conversation %s after response %s", self.place.conversation_id, self.place.response_id
        )
        try:
            stream = client.add_response(
                self.place.conversation_id, self.turn.payload, instructions_known=self.turn.instructions_known
            )
        except gerr.GrokError as exc:
            if not refused(exc):
                raise
            return ThreadStream(self, self.refused(exc))
        return ThreadStream(self, self._opened(stream))

    def _opened(self, stream):
        self.lane = getattr(stream, "lane", "rest")
        return stream

    def refused(self, error: gerr.GrokError | ev.UpstreamError):
        """The follow-up was refused before its answer began: a new conversation's stream, or the
        client's ConversationGone when it named the conversation."""
        place = self.place
        message = getattr(error, "message", str(error))
        ledger = self.continuity.ledger
        if ledger is not None:
            ledger.forget(place.conversation_id)
        if self.turn.fallback is None:
            raise ConversationGone(self._gone_message(place), self.continuity.named_by, _as_error(error))
        log.info(
            "grok.com refused the follow-up in conversation %s (%s): answering in a new conversation",
            place.conversation_id,
            message,
        )
        self.turn = self.turn.fallback()
        self.place = None
        self.outcome = FALLBACK
        self.account = self.continuity.account
        self.temporary = self.continuity.temporary
        self.conversation_id = None
        self.started_upstream = False
        return self._opened(self.client_for(self.account).new_conversation(self.turn.payload))

    def _gone_message(self, place: Place) -> str:
        if self.continuity.named_by == "previous_response_id":
            return (
                "the previous response can no longer be continued: its grok.com conversation "
                f"{place.conversation_id} expired or was deleted"
            )
        return (
            f"grok.com conversation {place.conversation_id} cannot be continued: "
            "it expired, was deleted or is unknown to this account"
        )

    # -- what the stream says -----------------------------------------------------------------
    def note(self, event: ev.Event) -> None:
        kind = type(event)
        if kind is ev.ConversationCreated:
            self.conversation_id = event.conversation_id
            self.started_upstream = True
        elif kind is ev.ResponseIds:
            self.started_upstream = True
            if event.response_id and self.response_id is None:
                self.response_id = event.response_id
        elif kind is ev.ModelResponse and event.response_id:
            self.response_id = event.response_id
        elif kind is ev.Done:
            self.complete = True

    # -- the end ------------------------------------------------------------------------------
    def finish(self, answer, response_id: str | None = None) -> None:
        """After the adapter closed a complete `answer`: record where the history continues now
        (`response_id`: our id of this answer, for previous_response_id)."""
        if self.settled:
            return
        cut = answer.stop is not None and answer.stop.matched
        if answer.error is not None or cut or answer.finish_reason not in ("stop", "tool_calls") or not self.complete:
            self.abandon()
            return
        self.settled = True
        ledger = self.continuity.ledger
        if ledger is None or not self.conversation_id or not self.response_id:
            return
        digest = self.turn.history_digest
        if digest is not None:
            digest = chain(digest, canonical([answer_message(answer.content, answer.calls)]))
        if self.lane == "ws":  # the instructions went in front of this message, or an earlier one
            held = instructions_digest(self.turn.payload.get("customInstructions"))
        else:
            held = self.place.instructions if self.place is not None else None
        place = Place(self.conversation_id, self.response_id, self.account, self.temporary, held)
        ledger.record(place, digest, response_id)

    def abandon(self) -> None:
        """The turn did not complete: a continued conversation has moved on from what this
        server knows (a new one has no record that leads to it yet)."""
        if self.settled:
            return
        self.settled = True
        ledger = self.continuity.ledger
        if ledger is not None and self.outcome == CONTINUED and self.started_upstream:
            ledger.diverged(self.conversation_id, self.account, self.temporary)


def _as_error(error) -> gerr.GrokError | None:
    return error if isinstance(error, gerr.GrokError) else None


class ThreadStream:
    """The upstream answer of a thread, for `Run`: events(), close(), a context manager."""

    def __init__(self, thread: Thread, upstream):
        self.thread = thread
        self.upstream = upstream

    def events(self, heartbeat: float | None = None) -> Iterator[ev.Event | None]:
        thread = self.thread
        answering = thread.place is None  # only a follow-up can still be replaced
        events = self._events(heartbeat)
        while True:
            try:
                event = next(events)
            except StopIteration:
                thread.complete = thread.complete or answering
                return
            except gerr.GrokError as exc:
                if answering or not refused(exc):
                    raise
                events = self._replace(exc, heartbeat)
                answering = True
                continue
            if event is None:
                yield None
                continue
            if not answering:
                if type(event) is ev.UpstreamError and refused(event):
                    events = self._replace(event, heartbeat)
                    answering = True
                    continue
                if not isinstance(event, ev.BOOKKEEPING_EVENTS):
                    answering = True  # the answer has begun: it is this conversation's now
            thread.note(event)
            yield event
            event = None  # not held while the next one is awaited (see ChatStream.events)

    def _events(self, heartbeat):
        return self.upstream.events(heartbeat) if heartbeat else self.upstream.events()

    def _replace(self, error, heartbeat):
        self.upstream.close()
        self.upstream = self.thread.refused(error)
        return self._events(heartbeat)

    def close(self) -> None:
        self.upstream.close()
        if not self.thread.complete:
            self.thread.abandon()

    def __enter__(self) -> "ThreadStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
