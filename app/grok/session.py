"""What the client has learned about the grok.com session (reference-behaviour §2.5).

Any 2xx marks the session valid; an auth failure marks it expired. It is reported
(in /status, /health/session, metrics), never used to short-circuit a request.

Observers (e.g. the server's shared health board, metrics) are told about every
outcome: `observer.success(method)` and `observer.failure(error, method)`.
An observer that raises is logged and otherwise ignored: bookkeeping must never
fail a request.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

from .errors import AUTH_EXPIRED, GrokError

log = logging.getLogger(__name__)


class SessionObserver(Protocol):
    def success(self, method: str | None) -> None: ...

    def failure(self, error: GrokError, method: str | None) -> None: ...


@dataclass
class Failure:
    failure_class: str
    message: str
    at: float
    status: int | None = None


@dataclass
class SessionState:
    valid: bool = True
    last_success_at: float | None = None
    last_failure: Failure | None = None
    failures_by_class: dict[str, int] = field(default_factory=dict)
    observers: list[SessionObserver] = field(default_factory=list)

    def record_success(self, method: str | None = None) -> None:
        self.valid = True
        self.last_success_at = time.time()
        for observer in self.observers:
            try:
                observer.success(method)
            except Exception:
                log.exception("session observer %r failed", observer)

    def record_failure(self, error: GrokError, method: str | None = None) -> None:
        cls = error.failure_class
        self.failures_by_class[cls] = self.failures_by_class.get(cls, 0) + 1
        self.last_failure = Failure(cls, error.message, time.time(), getattr(error, "status", None))
        if cls == AUTH_EXPIRED:
            self.valid = False
        for observer in self.observers:
            try:
                observer.failure(error, method)
            except Exception:
                log.exception("session observer %r failed", observer)
