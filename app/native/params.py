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


def reject_invalid_ids() -> None:
    for name, value in (request.view_args or {}).items():
        if isinstance(value, InvalidId):
            raise Problem(400, "invalid_path", f"invalid path parameter '{name}': {value.reason}",
                          param=name)


def register(app: Flask, api) -> None:
    app.url_map.converters["gid"] = GrokIdConverter
    api.register_converter(GrokIdConverter, "string")
    app.before_request(reject_invalid_ids)
