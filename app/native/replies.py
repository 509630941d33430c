"""How native routes answer: grok.com's reply as it came, not a re-serialised copy.

`passthrough` returns the upstream JSON bytes unchanged with the upstream status
(201 and 204 included): key order, numbers and unknown fields survive, and an
empty body stays empty instead of becoming an error (where the reference implementation
answered 502).

`status_answer` is the exception: where the reference server answers a fixed
`{"status": "deleted"}` (stopped, cancelled, restored, updated), so do we, whatever
grok.com's success looked like (usually an empty 204), so clients written against the
reference keep working.

`relay_bytes` streams a binary upstream body (audio). Binary has no in-band
error format, so a failure after the first byte aborts the client connection:
the truncated body is the signal, and the log line says why.
"""

from __future__ import annotations

import errno
import json
import logging
from typing import Any, Iterator

import marshmallow as ma
from flask import Response, jsonify

from ..grok.client import Reply
from ..grok.errors import GrokError
from ..grok.transport import UpstreamStream
from ..problems import Problem
from ..web.streaming import streaming_response

log = logging.getLogger(__name__)

JSON = "application/json"


def _is_json(content_type: str) -> bool:
    mimetype = content_type.split(";", 1)[0].strip().lower()
    return mimetype == JSON or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def passthrough(reply: Reply) -> Response:
    """The upstream answer: same status, same body bytes; JSON content type when there is a body."""
    if not reply.content:
        resp = Response(status=reply.status)
        del resp.headers["Content-Type"]
        return resp
    content_type = reply.headers.get("content-type", "")
    if content_type and not _is_json(content_type):
        raise Problem(
            502,
            "upstream_error",
            f"grok.com answered HTTP {reply.status} with {content_type.split(';')[0]} instead of JSON",
            upstream_status=reply.status,
        )
    return Response(reply.content, status=reply.status, content_type=content_type or JSON)


STATUS_WORDS = ("deleted", "stopped", "cancelled", "restored", "updated")


class StatusReplySchema(ma.Schema):
    status = ma.fields.String(
        required=True, validate=ma.validate.OneOf(STATUS_WORDS), metadata={"description": "what was done"}
    )


def status_answer(word: str) -> Response:
    """200 `{"status": word}`: grok.com accepted the change (a failure raised before this)."""
    return jsonify(status=word)


def reply_json(reply: Reply) -> Any:
    """The upstream body decoded, for routes that must look inside (None when not JSON)."""
    try:
        return json.loads(reply.content) if reply.content else None
    except ValueError:
        return None


class UpstreamAborted(ConnectionResetError):
    """Raised inside a streamed body to cut the client connection.

    gunicorn treats an OSError from the response iterator as a socket failure: it
    closes the connection without the terminating chunk (the client sees a
    truncated body) and logs it at debug level; our own warning explains it.
    """

    def __init__(self, reason: str):
        super().__init__(errno.ECONNRESET, f"upstream stream failed: {reason}")


def relay_bytes(stream: UpstreamStream) -> Iterator[bytes]:
    """Upstream bytes as they arrive; closing this generator aborts the upstream transfer."""
    sent = 0
    try:
        for chunk in stream.chunks(heartbeat=None):
            if chunk:
                sent += len(chunk)
                yield chunk
    except GrokError as exc:
        log.warning(
            "upstream %s failed after %d bytes were relayed; aborting the client response: %s",
            stream.url.split("?", 1)[0],
            sent,
            exc.message,
        )
        raise UpstreamAborted(exc.message) from exc
    finally:
        stream.close()


def stream_bytes(stream: UpstreamStream, fallback_type: str) -> Response:
    """A streamed response with the upstream content type (or `fallback_type`)."""
    content_type = stream.headers.get("content-type") or fallback_type
    return streaming_response(relay_bytes(stream), content_type)
