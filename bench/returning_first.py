"""The app with the admission policy it had before chat starts were admitted in arrival order,
for `python -m bench`'s before/after figures (docs/benchmarks.md). Never shipped.

    gunicorn -c gunicorn.conf.py bench.returning_first:app

The old policy kept two lines: starts coming back from a wait for grok.com went before every
new request. In a burst the first starts then raced to their first token while the later
ones waited for all of them, so first tokens spread out (p99 far above p50).
"""

from gevent import monkey

monkey.patch_all()

from collections import deque  # noqa: E402
from contextlib import contextmanager  # noqa: E402

from gevent import getcurrent  # noqa: E402
from gevent.event import Event  # noqa: E402

from app.web import admission  # noqa: E402


class ReturningFirstSlots(admission.StartSlots):
    """StartSlots whose starts coming back from an upstream wait jump ahead of new requests."""

    def __init__(self):
        super().__init__()
        self._returning: deque = deque()
        self._back: set = set()  # the greenlets taking their slot again after a wait

    @property
    def queued(self) -> int:
        return len(self._line) + len(self._returning)

    def wait(self, event, timeout=None):
        self._back.add(getcurrent())
        try:
            return super().wait(event, timeout)
        finally:
            self._back.discard(getcurrent())

    @contextmanager
    def released(self):
        self._back.add(getcurrent())
        try:
            with super().released():
                yield
        finally:
            self._back.discard(getcurrent())

    def _take(self, holder) -> None:
        returning = holder in self._back
        if self._free and not self._returning and (returning or not self._line):
            self._free -= 1
            self._holders.add(holder)
            return
        turn = Event()
        line = self._returning if returning else self._line
        line.append(turn)
        try:
            handed = turn.wait(self.max_wait) or turn.is_set()
        except BaseException:
            if turn.is_set():
                self._hand_over()
            else:
                line.remove(turn)
            raise
        if handed:
            self._holders.add(holder)
        else:
            line.remove(turn)

    def _hand_over(self) -> None:
        if self._returning:
            self._returning.popleft().set()
        else:
            super()._hand_over()


admission.START_SLOTS = ReturningFirstSlots()

from app import create_app  # noqa: E402  (after the swap: the app picks up this policy)

app = create_app()
