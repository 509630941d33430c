"""The app's request class: JSON bodies may not nest deeper than MAX_JSON_DEPTH levels.

Python's json module recurses once per array/object level, so a body of 100,000
`[` (200 KB, far under any size limit) raises RecursionError inside webargs or
`request.get_json()` — a 500 instead of a 400 — and anything that walks a parsed
value recursively (marshmallow, json.dumps of the upstream payload) has the same
weakness a few hundred levels down. The depth is therefore checked on the raw
bytes the first time anything reads the body, before any parser sees it, and a
deeper body is a 400 problem. 128 is serde_json's limit, which the reference
server (Rust) applies; real requests (OpenAI tool schemas included) stay far
below it.

Checking when the body is read, not in a before_request hook, keeps per-route size
limits working: a blueprint may raise `request.max_content_length` (uploads) and
app-level hooks run before blueprint hooks.
"""

from __future__ import annotations

import re
from itertools import accumulate

from flask import Request

from .problems import Problem

MAX_JSON_DEPTH = 128

# A complete JSON string (escapes included): brackets inside strings do not nest.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
# Opening bracket +1, closing -1, as signed bytes.
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def nests_too_deeply(data: bytes) -> bool:
    # Fewer opening brackets than the limit cannot nest deeper: no scan (nearly every body).
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:
        return False
    return json_depth(data) > MAX_JSON_DEPTH


def json_depth(data: bytes) -> int:
    """The deepest array/object nesting in JSON text (an unterminated string counts its brackets)."""
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    return max(0, max(accumulate(memoryview(brackets.translate(_STEPS)).cast("b"))))


class LimitedRequest(Request):
    """Flask's Request whose body, when JSON, is refused if it nests too deeply."""

    _json_depth_checked = False

    def get_data(self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False):
        data = super().get_data(cache=cache, as_text=as_text, parse_form_data=parse_form_data)
        if not self._json_depth_checked and self.is_json:
            self._json_depth_checked = True
            raw = data.encode() if isinstance(data, str) else data
            if nests_too_deeply(raw):
                raise Problem(400, "invalid_request",
                              f"the request body nests arrays/objects deeper than {MAX_JSON_DEPTH} levels",
                              param="body", max_depth=MAX_JSON_DEPTH)
        return data
