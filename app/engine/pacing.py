"""Long passes over client data without stalling the worker.

A gevent worker serves all its clients on one thread: while a request walks an 80 MB body,
counts the tokens of a 20 MB prompt or hashes a long history, every other stream and /health
waits. A pass over such data takes a `Pacer` and calls `tick()` after each small step; the pacer
gives the hub a turn once TURN_SECS have gone by since the last one. Pacing by time rather than
by a count of steps keeps the stall short whatever a step costs, and costs nothing on small
input (no yield at all while a pass stays under TURN_SECS).
"""

from __future__ import annotations

from time import perf_counter
from typing import Iterable, Iterator, TypeVar

import gevent

# How long a pass may hold the worker's thread before other greenlets get a turn. A few
# milliseconds keeps /health and running streams responsive; a turn costs a few microseconds.
TURN_SECS = 0.004

T = TypeVar("T")
# A timer this short fires on the hub's next pass, after it has polled the sockets.
_NEXT_PASS = 1e-6


def give_turn() -> None:
    """Let every other greenlet run, and the hub poll the sockets, before this one goes on.

    gevent.sleep(0) is not enough: it queues the greenlet as a callback, and the hub runs up to
    50 queued callbacks before it polls the sockets again. Three requests that keep yielding that
    way, a few milliseconds of work per turn, kept every new request (/health) waiting for a
    quarter of a second (make bench-hostile). A timer wakes the greenlet after the next poll.
    """
    gevent.sleep(_NEXT_PASS)


class Pacer:
    """Gives the gevent hub a turn whenever TURN_SECS have passed since the previous turn.

    One pacer per pass (it holds that pass's clock; never share one between requests)."""

    __slots__ = ("_due",)

    def __init__(self) -> None:
        self._due = perf_counter() + TURN_SECS

    def tick(self) -> None:
        if perf_counter() >= self._due:
            give_turn()
            self._due = perf_counter() + TURN_SECS

    def paced(self, items: Iterable[T]) -> Iterator[T]:
        """`items`, ticking after each."""
        for item in items:
            yield item
            self.tick()
