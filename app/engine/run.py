"""Reading one upstream answer into an `Answer`, the same way for every model API.

A model request is answered in two phases:

1. `start()` reads grok.com's events up to the first output (or the first heartbeat
   interval, or the end): a failure up to there is still an ordinary HTTP error with its
   own status, because no byte has gone to the client;
2. `rest()` reads the remaining events, yielding after each event that gave the sink
   something to send (False) and at each heartbeat interval of upstream silence (True),
   so the adapter writes its bytes, or a keep-alive of its own kind, as they come.

The adapter renders what the Answer's sink received; failures after the start arrive as
`answer.error` (in-band) or as a GrokError raised by `rest()` (transport), and the adapter
ends its stream with its own error form. Closing the upstream stream aborts the transfer.
"""

from __future__ import annotations

from typing import Iterator

from .answer import Answer


class Run:
    def __init__(self, upstream, answer: Answer, heartbeat: float | None = None):
        self.upstream = upstream
        self.answer = answer
        self.events = upstream.events(heartbeat) if heartbeat else upstream.events()
        self.ticked = False  # a heartbeat interval passed during start()

    def start(self) -> None:
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

    def rest(self) -> Iterator[bool]:
        answer = self.answer
        if answer.finished:
            return
        for event in self.events:
            if event is None:
                yield True
                continue
            answer.feed(event)
            yield False
            if answer.finished:
                return

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
