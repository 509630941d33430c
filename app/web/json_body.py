"""JSON request bodies parsed without holding the worker for one long C call.

`json.loads` parses a body in a single call: 80 MB (three 19 MiB images as data URLs) takes
about 0.15 s, and every other client of the worker (running streams, /health) waits that long.
Such bodies are large because of a few long strings (base64 media, pasted documents, long
prompts), so a large body is parsed in steps, with the hub given turns between them
(app/engine/pacing.py):

1. Find the long runs of plain string text: at least LIFT_BYTES with no quote and no backslash
   (cheap `bytes.find` probes every PROBE_BYTES).
2. Put a marker in each run's place: a short string escape sequence holding a random token.
   Inside a string the marker parses to that token; anywhere else its backslash is a syntax
   error, so a run that was not string text can never be mistaken for one.
3. Parse the short remainder with json.loads, then replace each marker by its run, decoded
   from UTF-8 on its own and checked for the control characters JSON forbids in strings.

Whenever the shape does not fit (a marker in a key, a marker missing, a syntax error, invalid
UTF-8 or a control character in a run), the whole body is parsed once more by json.loads, so
values and errors are always exactly json.loads' own. Bodies under LARGE_BODY go straight to
json.loads: they cost a few milliseconds at most.

What lifting cannot shorten is a large body of small values: json.loads spends about 30 ns
on each value or escape, in that one call (an 80 MB array of numbers: over two seconds).
Large bodies are allowed for their long strings (media, documents), so beyond `plain_limit`
(the size any JSON body may have) a body may hold at most MAX_SEPARATORS commas, colons and
backslashes outside its long strings; more is `TooComplex`, before anything is parsed.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from ..engine.pacing import Pacer

LARGE_BODY = 1024 * 1024
PROBE_BYTES = 32 * 1024
# A run this long always contains a whole probe window, so it is always found.
LIFT_BYTES = 2 * PROBE_BYTES
# Runs are checked and scanned this many bytes at a time.
CHUNK_BYTES = 1024 * 1024
# Every control character maps to 1, every other byte to 0: one C pass finds the first one.
_CONTROLS = bytes(1 if byte < 0x20 else 0 for byte in range(256))
# About 30 ms of json.loads; a real request's structure (messages, tools, short strings)
# holds a small fraction of this.
MAX_SEPARATORS = 1_000_000
# The bytes an escape may still hold after its backslash (\uXXXX): a run right after a backslash
# starts this much later, so it never begins inside an escape.
_ESCAPE_TAIL = 5


class TooComplex(ValueError):
    """A large body with more small values and escapes than MAX_SEPARATORS."""

    def __init__(self) -> None:
        super().__init__(
            f"the request body holds more than {MAX_SEPARATORS:,} commas, colons and escapes outside its long "
            "strings; only long strings (media, documents) may make a body larger than a plain JSON body"
        )


def loads(data: bytes, plain_limit: int | None = None) -> Any:
    """json.loads of the UTF-8 text `data`, in paced steps when the body is large.

    Raises json.JSONDecodeError for text that is not JSON (invalid UTF-8 included), TooComplex
    for a body over `plain_limit` bytes with too many small values (see the module docstring),
    and ValueError for JSON that Python refuses (an integer of more than 4300 digits)."""
    if len(data) < LARGE_BODY:
        return json.loads(_decoded(data))
    pacer = Pacer()
    checked = plain_limit is None or len(data) <= plain_limit
    try:
        return _parse_lifted(data, pacer, checked)
    except _Unfit:
        if not checked:
            _check_separators(data, pacer)
    return json.loads(_decoded(data))


def _decoded(data: bytes | memoryview) -> str:
    try:
        return str(data, "utf-8")
    except UnicodeDecodeError as exc:  # the message names the place, never the (huge) text
        raise json.JSONDecodeError(f"the body is not UTF-8 ({exc.reason})", "", exc.start) from None


class _Unfit(Exception):
    """The body does not have the shape the steps rely on: parse it whole."""


def _parse_lifted(data: bytes, pacer: Pacer, checked: bool = True) -> Any:
    runs = _long_runs(data, pacer)
    if not runs:
        raise _Unfit
    view = memoryview(data)
    token = secrets.token_hex(8)
    markers = [f"\x00{token}:{index}\x00" for index in range(len(runs))]
    pieces, at = [], 0
    for index, (start, end) in enumerate(runs):
        pieces.append(view[at:start])
        pieces.append(f"\\u0000{token}:{index}\\u0000".encode())
        at = end
    pieces.append(view[at:])
    rest = b"".join(pieces)
    if not checked:
        _check_separators(rest, pacer)
    try:
        value = json.loads(_decoded(rest))
    except ValueError:
        raise _Unfit from None
    texts = {marker: _run_text(view[start:end], pacer) for marker, (start, end) in zip(markers, runs, strict=True)}
    return _put_back(value, token, texts, pacer)


def _long_runs(data: bytes, pacer: Pacer) -> list[tuple[int, int]]:
    """(start, end) of the runs of at least LIFT_BYTES without a quote or backslash, in order."""
    runs = []
    done = 0  # everything before this offset has been looked at
    probe = 0
    size = len(data)
    while probe + PROBE_BYTES <= size:
        window_end = probe + PROBE_BYTES
        if _special(data, probe, window_end) >= 0:
            probe = window_end
            pacer.tick()
            continue
        start = max(data.rfind(b'"', done, probe), data.rfind(b"\\", done, probe)) + 1
        if start > 0 and data[start - 1] == 0x5C:  # "\": the run starts inside an escape
            start += _ESCAPE_TAIL
            while start < size and 0x80 <= data[start] < 0xC0:  # not inside a UTF-8 sequence
                start += 1
        end = window_end
        while end < size:
            found = _special(data, end, min(end + CHUNK_BYTES, size))
            if found >= 0:
                end = found
                break
            end = min(end + CHUNK_BYTES, size)
            pacer.tick()
        if end - start >= LIFT_BYTES:
            runs.append((start, end))
        done = probe = end
        pacer.tick()
    return runs


def _check_separators(text: bytes, pacer: Pacer) -> None:
    count = 0
    for start in range(0, len(text), CHUNK_BYTES):
        end = start + CHUNK_BYTES
        count += text.count(b",", start, end) + text.count(b":", start, end) + text.count(b"\\", start, end)
        if count > MAX_SEPARATORS:
            raise TooComplex
        pacer.tick()


def _special(data: bytes, start: int, end: int) -> int:
    """The offset of the first quote or backslash in data[start:end], or -1."""
    quote = data.find(b'"', start, end)
    backslash = data.find(b"\\", start, quote if quote >= 0 else end)
    return backslash if backslash >= 0 else quote


def _run_text(run: memoryview, pacer: Pacer) -> str:
    """The run as text (_Unfit if it holds a control character or is not UTF-8)."""
    for start in range(0, len(run), CHUNK_BYTES):
        if bytes(run[start : start + CHUNK_BYTES]).translate(_CONTROLS).find(1) >= 0:
            raise _Unfit
        pacer.tick()
    try:
        return str(run, "utf-8")
    except UnicodeDecodeError:
        raise _Unfit from None


def _put_back(value: Any, token: str, texts: dict[str, str], pacer: Pacer) -> Any:
    """`value` with every marker in its strings replaced by its text (_Unfit if a marker is
    in a key, or not found exactly once)."""
    tag = "\x00" + token + ":"
    left = set(texts)
    stack = [value]
    while stack:
        item = stack.pop()
        pacer.tick()
        if isinstance(item, dict):
            for key, child in item.items():
                if tag in key:
                    raise _Unfit
                if isinstance(child, str):
                    if tag in child:
                        item[key] = _replaced(child, tag, texts, left)
                elif isinstance(child, (dict, list)):
                    stack.append(child)
        elif isinstance(item, list):
            for index, child in enumerate(item):
                if isinstance(child, str):
                    if tag in child:
                        item[index] = _replaced(child, tag, texts, left)
                elif isinstance(child, (dict, list)):
                    stack.append(child)
    if isinstance(value, str) and tag in value:
        value = _replaced(value, tag, texts, left)
    if left:
        raise _Unfit
    return value


def _replaced(text: str, tag: str, texts: dict[str, str], left: set[str]) -> str:
    if text in texts:  # the whole string was one run: no copy
        left.discard(text)
        return texts[text]
    pieces = []
    at = 0
    while (start := text.find(tag, at)) >= 0:
        end = text.index("\x00", start + 1) + 1
        marker = text[start:end]
        if marker not in left:
            raise _Unfit
        left.discard(marker)
        pieces.append(text[at:start])
        pieces.append(texts[marker])
        at = end
    pieces.append(text[at:])
    return "".join(pieces)
