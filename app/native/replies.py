"""Upstream JSON answers passed to the client byte for byte (status, content type, body)."""

from __future__ import annotations

from flask import Response

from ..grok.client import Reply


def passthrough(reply: Reply) -> Response:
    """grok.com's answer unchanged: 201 stays 201, a 204 stays empty, key order is kept."""
    response = Response(reply.content, status=reply.status)
    del response.headers["Content-Type"]  # werkzeug's text/html default; only upstream's applies
    content_type = reply.headers.get("content-type")
    if content_type and reply.content:
        response.headers["Content-Type"] = content_type
    return response
