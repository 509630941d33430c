"""Which grok.com account serves a request: the HTTP side of the pool (app/grok/accounts.py).

Three ways, in this order of precedence:

* the `X-Grok-Account: LABEL` header names the account (native and raw routes; model APIs
  pin to it too, so a client can choose);
* what a request is about belongs to an account: a conversation, response, file or asset is
  owned by the account that created it (recorded when it was created, `own`), and requests
  about it go there (`for_owned`);
* otherwise the pool chooses: model requests by quota (`on_pool`, with failover), other
  requests the pool's default account (`for_request`).

`on_pool` runs an attempt on a chosen account; when grok.com turns it down before any byte
reached the client (rate limit, usage limit, expired or blocked account), the pool records
why and the attempt runs again on another account, at most ACCOUNT_RETRIES more times.
When no account can serve, the client gets 429 with the earliest Retry-After of the pool,
or the diagnosis of the parked accounts.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import Callable, Iterator, TypeVar

from flask import request

from .engine.continuity import Continuity
from .grok.accounts import AccountPool, NoAccountAvailable, UnknownAccount, valid_label
from .grok.client import GrokClient
from .grok.errors import GrokError
from .problems import Problem, not_configured
from .runtime import runtime

log = logging.getLogger("grok_web_api.accounts")

ACCOUNT_HEADER = "X-Grok-Account"
CONVERSATION, RESPONSE, FILE, ASSET = "conv", "resp", "file", "asset"
T = TypeVar("T")
P = TypeVar("P")
# Conversation and response ids in grok.com's NDJSON, wherever they appear.
_IDS = re.compile(rb'"(conversationId|responseId)"\s*:\s*"([0-9A-Za-z-]{8,64})"')


@dataclass(frozen=True)
class Routed:
    label: str
    client: GrokClient


def pool() -> AccountPool:
    rt = runtime()
    if not rt.configured:
        raise not_configured(rt.missing)
    return rt.pool


def requested_account() -> str | None:
    """The X-Grok-Account header's label, if any (400 when it cannot be a label)."""
    value = (request.headers.get(ACCOUNT_HEADER) or "").strip()
    if not value:
        return None
    if not valid_label(value):
        raise Problem(400, "bad_request", f"{ACCOUNT_HEADER} must be an account label", param=ACCOUNT_HEADER)
    return value


def _routed(accounts: AccountPool, label: str) -> Routed:
    account = accounts.accounts.get(label)
    if account is None or not account.enabled:
        raise _unknown(UnknownAccount(label, (a.label for a in accounts.enabled)))
    return Routed(label, accounts.client(label))


def for_request() -> Routed:
    """The header's account, else the pool's default (the first usable account)."""
    accounts = pool()
    label = requested_account()
    if label is None:
        try:
            label = accounts.default().label
        except NoAccountAvailable as exc:
            raise no_account_problem(exc) from None
    return _routed(accounts, label)


def for_owned(kind: str, ident: str) -> Routed:
    """The header's account, else the owner of `ident`, else the pool's default."""
    accounts = pool()
    header = requested_account()
    if header is not None:
        return _routed(accounts, header)
    label = accounts.owner(kind, ident)
    account = accounts.accounts.get(label) if label else None
    if account is not None and account.enabled:
        return Routed(account.label, accounts.client(account.label))
    return for_request()


def owner_of_any(kind: str, idents) -> str | None:
    accounts = pool()
    for ident in idents or ():
        if isinstance(ident, str):
            label = accounts.owner(kind, ident)
            if label is not None:
                return label
    return None


def own(kind: str, ident: str | None, label: str) -> None:
    if ident:
        runtime().pool.own(kind, ident, label)


def on_pool(
    mode: str,
    attempt: Callable[[Routed], T],
    *,
    pinned: str | None = None,
    failed_early: Callable[[T], GrokError | None] | None = None,
    release: Callable[[T], None] | None = None,
) -> tuple[T, Routed]:
    """Run `attempt` on an account the pool chooses for `mode` (or on `pinned`, or the header's).

    `attempt` raises a GrokError when grok.com refuses; `failed_early(result)` finds an error
    grok.com reported inside an answer before any output (then `release(result)` frees it).
    A refusal another account may not meet (see the module docstring) is retried elsewhere;
    when retries run out, the last result is returned (its error for the caller to render)
    or the last error raised."""
    return run_on_pool(
        pool(),
        mode,
        attempt,
        pinned=requested_account() or pinned,
        retries=runtime().settings.account_retries,
        failed_early=failed_early,
        release=release,
    )


def run_on_pool(
    accounts: AccountPool,
    mode: str,
    attempt: Callable[[Routed], T],
    *,
    pinned: str | None,
    retries: int,
    failed_early: Callable[[T], GrokError | None] | None = None,
    release: Callable[[T], None] | None = None,
) -> tuple[T, Routed]:
    """`on_pool` outside a request's context (a WebSocket turn's greenlet): the pool, the
    pinned label and ACCOUNT_RETRIES given rather than read from the request."""
    tried: list[str] = []
    retries = retries if accounts.strict and pinned is None else 0
    while True:
        try:
            account = accounts.choose(mode, pinned=pinned, exclude=tried)
        except UnknownAccount as exc:
            raise _unknown(exc) from None
        except NoAccountAvailable as exc:
            raise no_account_problem(_whole_pool(accounts, mode, exc) if tried else exc) from None
        routed = Routed(account.label, accounts.client(account.label))
        result = None
        try:
            result = attempt(routed)
            error = failed_early(result) if failed_early is not None else None
        except GrokError as exc:
            error = exc
        if error is None:
            accounts.started(account.label, mode)
            return result, routed
        fails_over = accounts.failed(account.label, mode, error)
        if not fails_over or len(tried) >= retries:
            if fails_over and accounts.strict:
                _refuse_if_none_can_serve(accounts, mode, pinned, result, release)
            if result is not None:
                return result, routed
            raise error
        if result is not None and release is not None:
            release(result)
        log.info("account %s refused by grok.com (%s); trying another account", account.label, error.failure_class)
        tried.append(account.label)


class _NoUpload:
    """A dry plan's media: named, never uploaded."""

    file_ids = ()

    def placeholder(self, message_index: int, part_index: int) -> str:
        return "[attachment]"


def uploader(routed: Routed | None) -> Callable[[list], object]:
    """The media upload of a model request planned on `routed` (None: a dry plan, no upload)."""
    if routed is None:
        return lambda messages: _NoUpload()
    from .media.services import upload_chat_media

    return lambda messages: upload_chat_media(messages, routed)


def model_answer(
    mode: str,
    continuity: Continuity,
    plan: Callable[[Continuity, Routed | None], P],
    start: Callable[[P, Routed], T],
) -> tuple[T, Routed]:
    """A model answer (chat completion, response, message) on the pool.

    `plan(continuity, routed)` plans the request with `uploader(routed)` for its media;
    `start(plan, routed)` opens the thread and reads the answer up to its first output (or
    whole), returning an object whose `run` is the engine's Run. A conversation this request
    continues stays on its account: named by the client (previous_response_id, the
    conversation header), or found by its history while that account can serve the mode (a
    plan without uploads finds it); otherwise the pool chooses, and each try plans anew on its
    account, so media go to the account that answers."""
    accounts = pool()
    pinned = None
    if accounts.strict:
        if continuity.target is not None:
            pinned = continuity.target.account
        elif continuity.ledger is not None and requested_account() is None:
            dry = plan(replace(continuity, usable=lambda label: accounts.can_serve(label, mode)), None)
            if dry.turn.follow_up is not None:
                pinned = dry.turn.follow_up.account

    def attempt(routed: Routed) -> T:
        on_account = continuity
        if accounts.strict:
            on_account = replace(continuity, account=routed.label, usable=lambda label: label == routed.label)
        return start(plan(on_account, routed), routed)

    return on_pool(mode, attempt, pinned=pinned, failed_early=_answer_error, release=_close_run)


# Module functions, not lambdas: a lambda is a new function object for every request.
def _answer_error(opened):
    return opened.run.answer.error


def _close_run(opened) -> None:
    opened.run.close()


def _refuse_if_none_can_serve(accounts, mode, pinned, result, release) -> None:
    """After the last retry: when no account can serve now, say so for the whole pool (the
    earliest Retry-After of all), rather than with the last account's own refusal."""
    try:
        accounts.choose(mode, pinned=pinned)
    except NoAccountAvailable as exc:
        if result is not None and release is not None:
            release(result)
        raise no_account_problem(exc) from None
    except UnknownAccount:
        return


def _whole_pool(accounts: AccountPool, mode: str, exhausted: NoAccountAvailable) -> NoAccountAvailable:
    """Why the pool as a whole cannot serve, once every account has been tried."""
    try:
        accounts.choose(mode)
    except NoAccountAvailable as exc:
        return exc
    return exhausted


def _unknown(exc: UnknownAccount) -> Problem:
    return Problem(
        400,
        "bad_request",
        f"{ACCOUNT_HEADER}: no enabled account is labelled '{exc.label}'; enabled: {', '.join(exc.known) or 'none'}",
        param=ACCOUNT_HEADER,
    )


def no_account_problem(exc: NoAccountAvailable) -> Problem:
    if exc.retry_after is not None:
        seconds = max(1, int(round(exc.retry_after)))
        return Problem(
            429,
            "rate_limited",
            f"{exc.message}. Retry after {seconds} s, or add accounts (grok-web-api accounts add).",
            headers={"Retry-After": str(seconds)},
            retry_after_seconds=seconds,
            failure_class=exc.failure_class,
        )
    if not exc.parked:
        return Problem(503, "not_configured", f"{exc.message}. Open /setup for instructions.")
    accounts = [{k: p.get(k) for k in ("account", "failure_class", "advice")} for p in exc.parked]
    if exc.failure_class == "account_blocked":
        return Problem(403, "account_blocked", exc.message, failure_class=exc.failure_class, accounts=accounts)
    return Problem(
        503,
        "auth_expired",
        f"{exc.message}. {exc.parked[0].get('advice') or ''}".strip(),
        failure_class=exc.failure_class,
        accounts=accounts,
    )


class OwnedStream:
    """A chat stream whose conversation and response ids are recorded as owned by `label` as
    they pass (so continuing, stopping or replaying them later reaches the same account)."""

    def __init__(self, stream, label: str, accounts: AccountPool):
        self._stream = stream
        self._label = label
        self._pool = accounts
        self._seen: set[bytes] = set()
        self._tail = b""
        self._unnoted = b""  # an opening's bytes, noted once the client has them (see opening)

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def _note(self, chunk: bytes) -> None:
        text = self._tail + chunk
        self._tail = chunk[-96:]  # an id split between two chunks is found in the next one
        found = []
        for field, ident in _IDS.findall(text):
            if ident in self._seen:
                continue
            self._seen.add(ident)
            found.append((CONVERSATION if field == b"conversationId" else RESPONSE, ident.decode()))
        if not found:
            return
        try:  # the ids of one chunk in one write (an opening holds a conversation's and two responses')
            self._pool.own_many(found, self._label)
        except Exception:  # never let bookkeeping break a stream
            log.exception("could not record the owners of %s", ", ".join(ident for _, ident in found))

    def _note_opening(self) -> None:
        if self._unnoted:
            data, self._unnoted = self._unnoted, b""
            self._note(data)

    def raw(self, heartbeat: float | None = None) -> Iterator[bytes | None]:
        self._note_opening()
        for chunk in self._stream.raw(heartbeat):
            if chunk:
                self._note(chunk)
            yield chunk

    def opening(self, *args, **kwargs):
        # The opening's ids are written when the stream is read on (a relay has then sent the
        # opening to its client) or closed: the store write stays off the time to first token.
        opened = self._stream.opening(*args, **kwargs)
        self._unnoted += opened.data or b""
        return opened

    def events(self, heartbeat: float | None = None):
        self._note_opening()
        for event in self._stream.events(heartbeat):
            for kind, attribute in ((CONVERSATION, "conversation_id"), (RESPONSE, "response_id")):
                ident = getattr(event, attribute, None)
                if isinstance(ident, str) and ident.encode() not in self._seen:
                    self._seen.add(ident.encode())
                    self._pool.own(kind, ident, self._label)
            yield event

    def close(self) -> None:
        self._note_opening()
        self._stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
