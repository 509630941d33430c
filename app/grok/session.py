"""What the client has learned about the grok.com session (docs/grok-protocol.md: the session check).

Any 2xx marks the session valid; an auth failure marks it expired. It is reported
(in /status, /health/session, metrics), never used to short-circuit a request.

Observers (`state.observers.append(callback)`) hear about every outcome as it is
recorded: metrics count failures by class, the request log notes the upstream
status, the session watcher shares the verdict between workers. A callback gets
`(state, outcome)`, runs in the greenlet that made the upstream call, and must be
quick; an observer that raises is logged and never breaks the request.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from .errors import AUTH_EXPIRED, GrokError

log = logging.getLogger(__name__)


@dataclass
class Failure:
    failure_class: str
    message: str
    at: float
    status: int | None = None


@dataclass(frozen=True)
class Outcome:
    """One recorded upstream result: `error` is None for a success."""

    ok: bool
    status: int | None
    error: GrokError | None
    at: float
    method: str | None = None  # the upstream HTTP method, when known
    path: str | None = None  # the upstream path (no query), when known
    # Which host answered: "grok" (grok.com) or "assets" (the asset host, GROK_ASSETS_URL),
    # so a failing asset host is not taken for grok.com being down.
    source: str = "grok"
    account: str | None = None  # the pool account's label (None: the single-account settings)


Observer = Callable[["SessionState", Outcome], None]


@dataclass
class SessionState:
    valid: bool = True
    last_success_at: float | None = None
    last_failure: Failure | None = None
    failures_by_class: dict[str, int] = field(default_factory=dict)
    observers: list[Observer] = field(default_factory=list, repr=False, compare=False)

    def record_success(
        self,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
        source: str = "grok",
        *,
        account: str | None = None,
    ) -> None:
        if account is None:  # a pool account's session is the pool's (app/grok/accounts.py)
            self.valid = True
        self.last_success_at = time.time()
        self._notify(Outcome(True, status, None, self.last_success_at, method, path, source, account))

    def record_failure(
        self,
        error: GrokError,
        method: str | None = None,
        path: str | None = None,
        source: str = "grok",
        *,
        account: str | None = None,
    ) -> None:
        cls = error.failure_class
        self.failures_by_class[cls] = self.failures_by_class.get(cls, 0) + 1
        status = getattr(error, "status", None)
        self.last_failure = Failure(cls, error.message, time.time(), status)
        if cls == AUTH_EXPIRED and account is None:
            self.valid = False
        self._notify(Outcome(False, status, error, self.last_failure.at, method, path, source, account))

    def _notify(self, outcome: Outcome) -> None:
        for observer in self.observers:
            try:
                observer(self, outcome)
            except Exception:
                log.exception("session observer %r failed", observer)
