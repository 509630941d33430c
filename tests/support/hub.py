"""Whether work lets the other greenlets of its thread run (gevent's hub serves every request
of a worker: a long stretch without a yield stalls them all)."""

from __future__ import annotations

from typing import Any, Callable

import gevent


def turns_given_away(work: Callable[[], Any]) -> int:
    """How many times another greenlet ran while `work()` ran (0: it held the hub throughout)."""
    ticks = []

    def ticker():
        while True:
            ticks.append(1)
            gevent.sleep(0)

    other = gevent.spawn(ticker)
    gevent.sleep(0)
    before = len(ticks)
    try:
        work()
        return len(ticks) - before
    finally:
        other.kill()
