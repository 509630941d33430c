"""The app's request class: two guards on request bodies.

1. JSON bodies may not nest deeper than MAX_JSON_DEPTH levels.

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

2. A chunked body (no Content-Length) longer than the size limit is a 413. werkzeug
checks Content-Length up front, but reads a chunked body only up to the limit and
returns that prefix as if it were the whole body (LimitedStream.readall stops at the
limit), so an oversized body turned into "not valid JSON" (or, cut at the wrong place,
into a different valid one).
"""

from __future__ import annotations

from itertools import accumulate

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge

from ..engine.pacing import give_turn
from ..problems import Problem

MAX_JSON_DEPTH = 128
COUNT_SLICE = 4 * 1024 * 1024  # bytes
READ_PIECE = 64 * 1024

_QUOTES_AND_BRACKETS = bytes(sorted(set(range(256)) - set(b'"[]{}')))
# Opening bracket +1, closing -1, as signed bytes.
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def nests_too_deeply(data: bytes) -> bool:
    # Fewer opening brackets than the limit cannot nest deeper: no scan (nearly every body).
    if _opening_brackets(data) <= MAX_JSON_DEPTH:
        return False
    return json_depth(data) > MAX_JSON_DEPTH


def _opening_brackets(data: bytes) -> int:
    """How many [ and { `data` holds; counted slice by slice with a yield to the hub between
    slices, as counting 80 MB (a request with images) in one go holds the worker for ~0.1 s."""
    count = 0
    for start in range(0, len(data), COUNT_SLICE):
        count += data.count(b"[", start, start + COUNT_SLICE) + data.count(b"{", start, start + COUNT_SLICE)
        if count > MAX_JSON_DEPTH:
            return count
        if len(data) > COUNT_SLICE:
            give_turn()
    return count


def json_depth(data: bytes) -> int:
    """The deepest array/object nesting in JSON text; brackets inside strings do not count.

    Only C-speed bytes operations (a regex over the strings of a 10 MB body took half a second
    of the worker's only thread): escaped backslashes, then escaped quotes are dropped, after
    which every quote opens or closes a string; what lies between the 1st and 2nd quote, the
    3rd and 4th, ... is inside strings. Text after an unterminated string is not counted, as
    the parser stops there too."""
    if b"\\" in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Two quotes in a row hold no bracket between them (an empty string, or the end of one string
    # and the start of the next): dropping them keeps the pairing and leaves few quotes to split on.
    plain = data.translate(None, _QUOTES_AND_BRACKETS).replace(b'""', b"")
    brackets = b"".join(plain.split(b'"')[::2])
    if not brackets:
        return 0
    return max(0, max(accumulate(memoryview(brackets.translate(_STEPS)).cast("b"))))


class LimitedRequest(Request):
    """Flask's Request whose body is refused when a chunked one is too long or a JSON one
    nests too deeply."""

    _body_checked = False

    def get_data(self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False):
        if getattr(self, "_cached_data", None) is None and not parse_form_data:
            data = self._read_body()
            if cache:
                self._cached_data = data
        else:
            data = super().get_data(cache=cache, as_text=False, parse_form_data=parse_form_data)
        if not self._body_checked:
            self._body_checked = True
            self._check_body(data)
        return data.decode(errors="replace") if as_text else data

    def _read_body(self) -> bytearray:
        """The body, grown piece by piece. werkzeug's reader returns bytes(its buffer): one more
        copy of the whole body in one C call, which for an 80 MB body held the worker for tens of
        milliseconds (every page of the copy is new memory). A bytearray reads like bytes for
        everything that parses or scans the body."""
        stream = self.stream
        data = bytearray()
        while not getattr(stream, "is_exhausted", False):
            piece = stream.read(READ_PIECE)
            if not piece:
                break
            data += piece
        return data

    def _check_body(self, data: bytes) -> None:
        limit = self.max_content_length
        if (
            self.content_length is None
            and limit is not None
            and len(data) >= limit
            and self.environ["wsgi.input"].read(1)
        ):
            raise RequestEntityTooLarge()
        if self.is_json and nests_too_deeply(data):
            raise Problem(
                400,
                "invalid_request",
                f"the request body nests arrays/objects deeper than {MAX_JSON_DEPTH} levels",
                param="body",
                max_depth=MAX_JSON_DEPTH,
            )
