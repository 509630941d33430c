"""Lenient JSON: what models write instead of JSON, repaired only where the intent is clear.

Two readers of the same repairs (trailing commas, Python literals, unquoted keys,
single-quoted strings, raw control characters inside strings):

* `loads_lenient(text)`: a whole text, parsed;
* `JsonStream`: an object arriving in pieces, rewritten as it comes into strict, compact JSON
  text (no whitespace outside strings), so a tool call's arguments can be streamed to a client
  as the model writes them and still concatenate to valid JSON. What cannot be decided yet is
  held back: a comma until the next token shows it is not trailing, a bare word until it ends.

`json_object_end` finds where a balanced object ends without parsing it.
"""

from __future__ import annotations

import json
import re
from typing import Any

_WS = " \t\r\n"
_PY_LITERALS = {"True": "true", "False": "false", "None": "null"}


def loads_lenient(text: str) -> Any:
    """json.loads, else repair trailing commas, Python literals, unquoted keys and — when the
    text has no double quote at all — single-quoted strings, then json.loads. ValueError if
    still not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    return json.loads(_repair(text))


def _repair(text: str) -> str:
    single_quotes = '"' not in text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"' or (c == "'" and single_quotes):
            j = _string_end(text, i)
            if j is None:
                raise ValueError("unterminated string")
            inner = text[i + 1 : j - 1]
            out.append(text[i:j] if c == '"' else '"' + inner.replace("\\'", "'") + '"')
            i = j
        elif c.isalpha() or c in "_$":
            j = i
            while j < n and (text[j].isalnum() or text[j] in "_$"):
                j += 1
            word = text[i:j]
            k = _skip_ws(text, j)
            if word in _PY_LITERALS:
                out.append(_PY_LITERALS[word])
            elif k < n and text[k] == ":":
                out.append('"' + word + '"')
            else:
                out.append(word)
            i = j
        elif c == "," and _skip_ws(text, i + 1) < n and text[_skip_ws(text, i + 1)] in "}]":
            i += 1  # trailing comma
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _string_end(text: str, start: int) -> int | None:
    """Index just past the string opened by the quote at ``start``; None if unterminated."""
    quote, i, n = text[start], start + 1, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == quote:
            return i + 1
        i += 1
    return None


def _skip_ws(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in _WS:
        i += 1
    return i


def json_object_end(text: str, start: int = 0) -> int | None:
    """Index just past the balanced ``{…}`` starting at ``start`` (braces inside strings and
    escapes honoured); None when it does not close within ``text``."""
    return _BraceScan(start).advance(text)


class _BraceScan:
    """Resumable brace matcher, so a long held object is scanned once, not once per chunk."""

    __slots__ = ("pos", "depth", "quote", "escape", "end")

    def __init__(self, start: int):
        self.pos, self.depth, self.quote, self.escape = start, 0, "", False
        self.end: int | None = None

    def advance(self, text: str, limit: int | None = None) -> int | None:
        if self.end is not None:
            return self.end
        stop = len(text) if limit is None else min(len(text), limit)
        pos, depth, quote, escape = self.pos, self.depth, self.quote, self.escape
        while pos < stop:
            c = text[pos]
            pos += 1
            if quote:
                if escape:
                    escape = False
                elif c == "\\":
                    escape = True
                elif c == quote:
                    quote = ""
            elif c == '"' or c == "'":
                quote = c
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    self.end = pos
                    return pos
        self.pos, self.depth, self.quote, self.escape = pos, depth, quote, escape
        return None


# ---------------------------------------------------------------------------------------
# Streaming repair

_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+.$")
_LITERALS = {"true": "true", "false": "false", "null": "null", **_PY_LITERALS}
# A run of string characters that need no rewriting (stops at quotes, backslashes, controls).
_PLAIN_RUN = {'"': re.compile(r'[^"\\\x00-\x1f]+'), "'": re.compile(r"[^'\"\\\x00-\x1f]+")}
_ESCAPES = frozenset('"\\/bfnrtu')
_CONTROL = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_HEX = frozenset("0123456789abcdefABCDEF")

# What comes next outside strings.
_VALUE, _KEY, _COLON, _AFTER = "value", "key", "colon", "after"


class JsonStream:
    """Rewrites one JSON-ish value, fed in pieces, as strict compact JSON.

    `feed(text)` returns (json_text, used): the output this piece allows and how many of its
    characters belong to the value (fewer than len(text) once the value has ended; `done`
    is then True). `finish()` closes whatever is still open (a cut-off string, objects) and
    returns the rest, so the whole output is valid JSON even for a truncated value; `broken`
    tells that something had to be dropped, supplied or closed.
    """

    __slots__ = ("done", "broken", "_stack", "_expect", "_comma", "_word", "_quote", "_escape", "_key", "_hex")

    def __init__(self):
        self.done = False
        self.broken = False
        self._stack: list[str] = []  # the closers of the open containers
        self._expect = _VALUE
        self._comma = False  # a comma waiting for the next key or value
        self._word = ""  # a bare word (number, literal, unquoted key) not ended yet
        self._quote = ""  # the quote of the open string; "" outside strings
        self._escape = False  # a backslash inside a string, waiting for its character
        self._key = False  # the open string is a key
        self._hex = 0  # hex digits of a \u escape still expected

    def feed(self, text: str) -> tuple[str, int]:
        out: list[str] = []
        i, n = 0, len(text)
        while i < n and not self.done:
            if self._quote:
                i = self._string(text, i, out)
                continue
            c = text[i]
            if c in _WORD_CHARS:
                self._word += c
                i += 1
                continue
            if self._word:
                self._end_word(out)
                if self.done:
                    break
            i += 1
            if c not in _WS:
                self._token(c, out)
        return "".join(out), i

    def finish(self) -> str:
        if self.done:
            return ""
        out: list[str] = []
        if self._quote:
            self.broken = True
            if self._hex:
                out.append("0" * self._hex)
            out.append('"')
            self._quote = ""
            self._after_string()
        if self._word:
            self._end_word(out)
        while self._stack:
            self.broken = True
            self._close(out)
        if not self.done:  # nothing at all
            self.broken = True
            out.append("null")
            self.done = True
        return "".join(out)

    # -- outside strings ------------------------------------------------------------------
    def _token(self, c: str, out: list[str]) -> None:
        if c in "}]":
            if self._stack and self._stack[-1] == c:
                self._close(out)
            else:
                self.broken = True  # a closer that closes nothing open
            return
        if c == ",":
            if self._expect == _AFTER:
                self._comma = True
                self._expect = _KEY if self._stack[-1] == "}" else _VALUE
            else:
                self.broken = True  # a doubled or leading comma
            return
        if c == ":":
            if self._expect == _COLON:
                out.append(":")
                self._expect = _VALUE
            else:
                self.broken = True
            return
        self._supply_separator(out)
        if c in "\"'":
            self._flush_comma(out)
            out.append('"')
            self._quote = c
            self._key = self._expect == _KEY
        elif c in "{[" and self._expect == _VALUE:
            self._flush_comma(out)
            out.append(c)
            self._stack.append("}" if c == "{" else "]")
            self._expect = _KEY if c == "{" else _VALUE
        else:
            self.broken = True  # nothing a key or value can start with

    def _supply_separator(self, out: list[str]) -> None:
        """A key without its colon or two values without a comma: supply what is missing."""
        if self._expect == _COLON:
            self.broken = True
            out.append(":")
            self._expect = _VALUE
        elif self._expect == _AFTER:
            self.broken = True
            self._comma = True
            self._expect = _KEY if self._stack[-1] == "}" else _VALUE

    def _close(self, out: list[str]) -> None:
        closer = self._stack[-1]
        if self._expect == _COLON:  # {"key"}
            self.broken = True
            out.append(":null")
        elif self._expect == _VALUE and closer == "}" and not self._comma:  # {"key":}
            self.broken = True
            out.append("null")
        self._comma = False  # a trailing comma is dropped
        out.append(self._stack.pop())
        self._after_value()

    def _flush_comma(self, out: list[str]) -> None:
        if self._comma:
            out.append(",")
            self._comma = False

    def _after_value(self) -> None:
        if self._stack:
            self._expect = _AFTER
        else:
            self.done = True

    def _end_word(self, out: list[str]) -> None:
        word, self._word = self._word, ""
        self._supply_separator(out)
        self._flush_comma(out)
        if self._expect == _KEY:
            out.append(json.dumps(word, ensure_ascii=False))
            self._expect = _COLON
            return
        value = _scalar(word)
        if value.startswith('"'):
            self.broken = True  # an unquoted string
        out.append(value)
        self._after_value()

    # -- strings --------------------------------------------------------------------------
    def _string(self, text: str, i: int, out: list[str]) -> int:
        quote = self._quote
        c = text[i]
        if self._hex:
            if c in _HEX:
                out.append(c)
                self._hex -= 1
                return i + 1
            out.append("0" * self._hex)  # a cut-short \u escape, padded
            self._hex = 0
            self.broken = True
            return i
        if self._escape:
            self._escape = False
            if c == "'":
                out.append("'")
            elif c in _ESCAPES:
                out.append("\\" + c)
                if c == "u":
                    self._hex = 4
            else:  # not an escape JSON knows: the backslash is a character of the string
                out.append("\\\\" + (_CONTROL.get(c) or c))
            return i + 1
        run = _PLAIN_RUN[quote].match(text, i)
        if run is not None:
            out.append(run.group())
            return run.end()
        if c == quote:
            out.append('"')
            self._quote = ""
            self._after_string()
        elif c == "\\":
            self._escape = True
        elif c == '"':  # inside a single-quoted string
            out.append('\\"')
        else:  # a raw control character
            out.append(_CONTROL.get(c) or f"\\u{ord(c):04x}")
        return i + 1

    def _after_string(self) -> None:
        if self._key:
            self._key = False
            self._expect = _COLON
        else:
            self._after_value()


def _scalar(word: str) -> str:
    """A bare word as a JSON value: a literal, a number, else a string."""
    literal = _LITERALS.get(word)
    if literal is not None:
        return literal
    if _NUMBER.fullmatch(word):
        return word
    try:
        number = float(word)  # +1, .5, 1., 0x? (not), inf, nan
    except ValueError:
        return json.dumps(word, ensure_ascii=False)
    if number != number or number in (float("inf"), float("-inf")):
        return "null"
    return json.dumps(number)


def transcode(text: str) -> tuple[str, bool]:
    """(strict compact JSON, broken) for a whole JSON-ish value."""
    stream = JsonStream()
    out, _ = stream.feed(text)
    return out + stream.finish(), stream.broken
