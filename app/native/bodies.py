"""Request-body checks shared by the native blueprints."""

from __future__ import annotations

from flask import request

from ..problems import Problem


def require_json_body() -> None:
    """before_request: a body, when present, must be declared JSON (else 415, not a misleading 422)."""
    has_body = bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if has_body and not request.is_json:
        declared = request.mimetype or "none"
        raise Problem(415, "unsupported_media_type",
                      f"the request body must be JSON (Content-Type: application/json), got {declared}")
