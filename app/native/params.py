"""Path parameters that end up in upstream URLs.

Every id segment uses the `gid` converter. Implausible ids (path separators, dot
segments, control characters, whitespace, over-long values) are turned into a
400 `invalid_path` problem before the view runs, so they never reach grok.com;
plausible ids are still percent-encoded by the client (`app.grok.client.seg`).
"""

from __future__ import annotations

import re

from flask import Flask, request
from werkzeug.routing import BaseConverter

from ..problems import Problem

MAX_ID_LENGTH = 256
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f/\\?#%]")


class InvalidId(str):
    """An id that failed the plausibility check; rejected by `reject_invalid_ids`."""

    reason: str = ""


def id_problem(value: str) -> str | None:
    """Why `value` is not a plausible grok.com id, or None when it is."""
    if not value:
        return "must not be empty"
    if len(value) > MAX_ID_LENGTH:
        return f"must be at most {MAX_ID_LENGTH} characters"
    if value in (".", "..") or ".." in value:
        return "must not contain '..'"
    if _BAD_CHARS.search(value):
        return "must not contain '/', '\\', '?', '#', '%', whitespace or control characters"
    return None


class GrokIdConverter(BaseConverter):
    """One path segment holding an upstream id (documented as a string)."""

    regex = "[^/]+"

    def to_python(self, value: str) -> str:
        reason = id_problem(value)
        if reason is None:
            return value
        invalid = InvalidId(value)
        invalid.reason = reason
        return invalid


# Escapes WSGI decodes before routing: an encoded separator or dot segment would
# otherwise route as if the client had sent a real one.
_ENCODED_SEPARATOR = re.compile(r"%(2f|5c)", re.IGNORECASE)
_DOT_SEGMENT = re.compile(r"(?:^|/)(?:\.|%2e){1,2}(?:/|$)", re.IGNORECASE)


def raw_path_problem(raw_uri: str) -> str | None:
    """Why the undecoded request path is refused, or None when it is fine."""
    path = raw_uri.split("?", 1)[0]
    if _ENCODED_SEPARATOR.search(path):
        return "an encoded '/' or '\\' (%2F, %5C) is not allowed in a path segment"
    if _DOT_SEGMENT.search(path):
        return "'.' and '..' path segments are not allowed"
    return None


def reject_invalid_ids() -> None:
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    reason = raw_path_problem(raw) if raw else None
    if reason is not None:
        raise Problem(400, "invalid_path", f"invalid path: {reason}")
    for name, value in (request.view_args or {}).items():
        if isinstance(value, InvalidId):
            raise Problem(400, "invalid_path", f"invalid path parameter '{name}': {value.reason}", param=name)


class RawPathConverter(BaseConverter):
    """The rest of the path, empty included: `/raw/` and `/raw//x` reach the view, which
    answers 400 from the raw request URI instead of a 404 or a slash-merging redirect."""

    regex = r"[\s\S]*"  # control characters included: the view refuses them with a 400
    part_isolating = False


def id_param_schema(converter: GrokIdConverter) -> dict:
    """How a `gid` path parameter appears in the OpenAPI document."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_ID_LENGTH,
        "description": "A grok.com id: no '/', '\\', '?', '#', '%', '..', whitespace or control characters.",
        "example": "c0ffee00-1111-4222-8333-444455556666",
    }


def raw_path_schema(converter: RawPathConverter) -> dict:
    return {"type": "string"}


def register(app: Flask, api) -> None:
    app.url_map.converters["gid"] = GrokIdConverter
    app.url_map.converters["rawpath"] = RawPathConverter
    api.register_converter(GrokIdConverter, id_param_schema)
    api.register_converter(RawPathConverter, raw_path_schema)
    app.before_request(reject_invalid_ids)
