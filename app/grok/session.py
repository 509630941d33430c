"""What the client has learned about the grok.com session (reference-behaviour §2.5).

Any 2xx marks the session valid; an auth failure marks it expired. It is reported
(in /status, /health/session, metrics), never used to short-circuit a request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .errors import AUTH_EXPIRED, GrokError


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

    def record_success(self) -> None:
        self.valid = True
        self.last_success_at = time.time()

    def record_failure(self, error: GrokError) -> None:
        cls = error.failure_class
        self.failures_by_class[cls] = self.failures_by_class.get(cls, 0) + 1
        self.last_failure = Failure(cls, error.message, time.time(), getattr(error, "status", None))
        if cls == AUTH_EXPIRED:
            self.valid = False
