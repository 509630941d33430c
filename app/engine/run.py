"""Reading one upstream answer into an `Answer`, the same way for every model API.

A model request is answered in two phases:

1. `start()` reads grok.com's events up to the first output (or the first heartbeat
   interval, or the end): a failure up to there is still an ordinary HTTP error with its
   own status, because no byte has gone to the client;
2. `advance()`, called until it returns None, reads the remaining events one at a time:
   False after an event (the sink may have something to send), True after a heartbeat
   interval of upstream silence, so the adapter writes its bytes, or a keep-alive of its
   own kind, as they come. A plain call rather than a generator: each generator between
   the server and the wait for grok.com's next bytes is one more level of C stack that
   every open stream keeps a copy of (docs/benchmarks.md, "Where a burst's peak is").

The adapter renders what the Answer's sink received; failures after the start arrive as
`answer.error` (in-band) or as a GrokError raised by `advance()` (transport), and the adapter
ends its stream with its own error form, as it does after a failure of this server's own
(`RelayFailed`). Closing the upstream stream aborts the transfer.
"""

from __future__ import annotations

import logging
from typing import Callable, Iterator

from ..grok.errors import GrokError
from .answer import Answer

log = logging.getLogger(__name__)


class RelayFailed(GrokError):
    """This server's own failure while relaying an answer that had started (a bug: logged with
    its traceback). It still ends the stream the adapter's way: a stream that just stops makes
    Codex repeat the whole request, tools included."""

    def __init__(self):
        super().__init__("the answer broke off")

    @property
    def advice(self) -> str:
        return "This server failed while relaying grok.com's answer (its log has the details); retry the request."


_ENDED = object()  # grok.com's stream has no more events


class Run:
    def __init__(self, upstream, answer: Answer, heartbeat: float | None = None):
        self.upstream = upstream
        self.answer = answer
        self.events = upstream.events(heartbeat) if heartbeat else upstream.events()
        self.ticked = False  # a heartbeat interval passed during start()
        self.started = False

    def start(self) -> None:
        """Read up to the first output; once (a second call does nothing: the account pool may
        have started the answer already, to see whether grok.com turned it down)."""
        if self.started:
            return
        self.started = True
        answer = self.answer
        try:
            for event in self.events:
                if event is None:
                    self.ticked = True
                    return
                answer.feed(event)
                if answer.has_output or answer.finished:
                    return
        except BaseException:
            self.upstream.close()
            raise
        if answer.error is not None:
            self.upstream.close()

    def advance(self) -> bool | None:
        """Feed the answer its next event: False after an event, True after a silent interval,
        None once the answer is finished or grok.com's stream ended."""
        if self.answer.finished:
            return None
        event = next(self.events, _ENDED)
        if event is _ENDED:
            return None
        if event is None:
            return True
        self.answer.feed(event)
        return False

    def relay(
        self,
        take: Callable[[], bytes],
        keepalive: Callable[[], None],
        finish: Callable[[], None],
        fail: Callable[[GrokError], None],
    ) -> Iterator[bytes]:
        """The body of a streamed answer, for an adapter whose writer buffers its events: what
        `take()` holds after each event, `keepalive()` at each silent interval, `finish()` after
        a complete answer, `fail(error)` after an in-band or transport failure. Closing the
        body (the client went away) aborts the upstream transfer."""
        answer = self.answer
        try:
            if self.ticked:
                keepalive()
            yield take()
            while (silent := self.advance()) is not None:
                if silent:
                    keepalive()
                data = take()
                if data:
                    yield data
            if answer.error is not None:
                log.warning("grok.com reported an error mid-answer: %s", answer.error.message)
                fail(answer.error)
            else:
                answer.close()
                finish()
            yield take()
        except GrokError as exc:
            log.warning("upstream stream failed mid-answer: %s (%s)", exc.message, exc.failure_class)
            fail(exc)
            yield take()
        except Exception:
            log.exception("relaying the answer failed")
            fail(RelayFailed())
            yield take()
        except GeneratorExit:
            log.info("client went away; aborting the upstream answer")
            raise
        finally:
            self.close()

    def complete(self) -> None:
        """Non-streaming: read the whole answer (the caller checks `answer.error`)."""
        with self.upstream:
            for event in self.events:
                if event is None:
                    continue
                self.answer.feed(event)
                if self.answer.finished:
                    break

    def close(self) -> None:
        self.upstream.close()
