"""Generator responses that relay upstream streams to the client.

A generator is closed by gunicorn when the client goes away (noticed on a write),
and closing it closes the upstream stream, which aborts the upstream transfer.
Heartbeats during upstream silence are what make that write happen.
"""

from __future__ import annotations

import json
import logging
from typing import Iterator

from flask import Response, stream_with_context

from .grok.errors import GrokError
from .counters import ACTIVE_STREAMS, STREAMS
from .problems import from_grok_error
from .runtime import runtime

log = logging.getLogger(__name__)

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def ndjson_relay(stream, heartbeat: float) -> Iterator[bytes]:
    """Upstream NDJSON bytes as they arrive; a failure ends with an `{"error":...}` line."""
    at_line_start = True
    try:
        for chunk in stream.raw(heartbeat):
            if chunk is None:
                # An empty line is valid NDJSON padding; only between lines, never inside one.
                if at_line_start:
                    yield b"\n"
                continue
            at_line_start = chunk.endswith(b"\n")
            yield chunk
    except GrokError as exc:
        log.warning("upstream stream failed after the response started: %s", exc.message)
        problem = from_grok_error(exc).body()
        line = json.dumps({"error": {k: v for k, v in problem.items() if k != "error"}}).encode()
        yield (b"" if at_line_start else b"\n") + line + b"\n"
    finally:
        stream.close()


def counted(generator: Iterator[bytes], counters) -> Iterator[bytes]:
    """The generator, counted in /status active_streams while the client is being served."""
    counters.add(ACTIVE_STREAMS)
    counters.add(STREAMS)
    try:
        yield from generator
    finally:
        counters.add(ACTIVE_STREAMS, -1)
        close = getattr(generator, "close", None)
        if close is not None:
            close()


def streaming_response(generator: Iterator[bytes], mimetype: str, status: int = 200) -> Response:
    counters = runtime().counters
    return Response(stream_with_context(counted(generator, counters)), status=status, mimetype=mimetype,
                    headers=STREAM_HEADERS)
