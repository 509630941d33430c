"""What an application may plug into the client library.

`waits` is how a request waits for grok.com. On its own the library simply waits; the
web server installs its start slots (app.web.admission) so that a chat start gives its
CPU slot back while grok.com thinks. This is process-wide configuration, set once at
start-up, never per-request state.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import ContextManager, Protocol


class Waits(Protocol):
    def wait(self, event, timeout: float | None = None) -> bool:
        """`event.wait(timeout)`, possibly doing something else meanwhile."""

    def released(self) -> ContextManager[None]:
        """Around another blocking call made on grok.com's behalf (token provider, DNS)."""


class PlainWaits:
    def wait(self, event, timeout: float | None = None) -> bool:
        return event.wait(timeout)

    def released(self) -> ContextManager[None]:
        return nullcontext()


waits: Waits = PlainWaits()


def install_waits(policy: Waits) -> None:
    global waits
    waits = policy
