"""Generator responses that relay upstream streams to the client.

A generator is closed by gunicorn when the client goes away (noticed on a write),
and closing it closes the upstream stream, which aborts the upstream transfer.
Heartbeats during upstream silence are what make that write happen.
"""

from __future__ import annotations

import itertools
import json
import logging
from typing import Callable, Iterator

from flask import Response

from ..grok import events as ev
from ..grok.client import Opening
from ..grok.errors import GrokError, inband_error
from ..problems import from_grok_error
from .telemetry import note_stream_error

log = logging.getLogger(__name__)

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def error_line(exc: GrokError) -> bytes:
    """The final NDJSON line of a stream that failed after it started: `{"error": problem}`."""
    problem = from_grok_error(exc).body()
    return json.dumps({"error": {k: v for k, v in problem.items() if k != "error"}}).encode() + b"\n"


HOLD_LIMIT = 1024 * 1024


def read_opening(stream, heartbeat: float) -> Opening:
    """The stream's start up to grok.com's first answer event (ChatStream.opening), read before
    a relay answers, so an error grok.com reports before answering can still be answered with
    the failure's HTTP status, as on every other route. The stream is closed if reading fails."""
    try:
        opening = stream.opening(heartbeat)
    except BaseException:
        stream.close()
        raise
    if opening.error is not None:
        log.warning("grok.com reported an error before answering: %s", opening.error.message)
    return opening


def _note_inband_errors(data: bytes) -> None:
    """grok.com's own error lines pass through unchanged; the request still ended in an error."""
    decoder = ev.NDJSONDecoder()
    for line in data.splitlines():
        if b'"error"' not in line:
            continue
        for event in decoder.feed(line + b"\n"):
            if isinstance(event, ev.UpstreamError):
                note_stream_error(inband_error(event.message, event.code).failure_class)


def ndjson_relay(stream, heartbeat: float, opening: bytes = b"") -> Iterator[bytes]:
    """Upstream NDJSON lines as they arrive (after `opening`, the bytes already read); a failure
    ends the body with an `{"error":...}` line.

    Complete lines are forwarded at once (grok.com sends one line per chunk); the unfinished
    tail of a chunk is held until its newline arrives (up to HOLD_LIMIT bytes, beyond which it
    is forwarded as it comes), so a stream cut mid-line still ends as valid NDJSON: the
    partial line is dropped (and logged) and the error line follows. During silence an empty
    line is sent as a heartbeat, only between lines; a raw newline is whitespace in JSON too,
    so JSON bodies relayed this way stay valid.
    """
    pending = b""  # the held, unfinished last line
    mid_line = False  # the client has part of a line (a tail longer than HOLD_LIMIT)
    chunks = stream.raw(heartbeat)
    if opening:
        chunks = itertools.chain((opening,), chunks)
    try:
        for chunk in chunks:
            if chunk is None:
                if not mid_line:  # a held tail has not been sent: the client is between lines
                    yield b"\n"
                continue
            data = pending + chunk if pending else chunk
            cut = data.rfind(b"\n") + 1
            out, pending = data[:cut], data[cut:]
            if (mid_line and not out) or len(pending) > HOLD_LIMIT:
                out, pending = data, b""  # the rest of an overlong line, or a new one
            if out:
                mid_line = not out.endswith(b"\n")
                if b'"error"' in out:
                    _note_inband_errors(out)
                yield out
        if pending:
            yield pending  # a last line without a newline is still a line
    except GrokError as exc:
        if pending:
            log.warning("dropping an unfinished %d-byte line of the failed upstream stream", len(pending))
        log.warning("upstream stream failed after the response started: %s", exc.message)
        note_stream_error(exc.failure_class)
        yield (b"\n" if mid_line else b"") + error_line(exc)
    finally:
        stream.close()


def streaming_response(
    generator: Iterator[bytes], mimetype: str, status: int = 200, content_type: str | None = None
) -> Response:
    """A streamed response; `content_type` (verbatim) wins over `mimetype` when given.

    Active streams are counted by app.web.telemetry for the response's whole life (counting
    here as well counted every stream twice). The generator runs without Flask's request
    context, which is freed when the view returns (about 3.5 KB less per open stream):
    what it needs is passed in, and logs still carry the request id (app.ops.logs binds it
    to the greenlet).

    The generator yields bytes, so werkzeug passes it to the server as it is (direct_passthrough)
    instead of wrapping it in two more iterators: each wrapper level is C stack that every parked
    stream's greenlet keeps a copy of (about 0.7 KB less per open stream)."""
    kind = {"content_type": content_type} if content_type else {"mimetype": mimetype}
    return Response(generator, status=status, headers=STREAM_HEADERS, direct_passthrough=True, **kind)


EVENT_STREAM = "text/event-stream"


def answer_stream(run, body: Callable[[], Iterator[bytes]]) -> Response:
    """Starts a streamed model answer (an app.engine.run.Run): its events are read up to the first
    output, so a failure up to there is still an ordinary HTTP error with its own status; then
    `body()` streams the rest."""
    run.start()
    if run.answer.error is not None:
        log.warning("grok.com reported an error before the answer started: %s", run.answer.error.message)
        raise from_grok_error(run.answer.error)
    return streaming_response(body(), EVENT_STREAM)
