"""An offline token estimator for `usage` and `max_tokens` (no tokenizer, no network).

grok.com's web API reports no token counts, and Grok's tokenizer is not public, so
counts are estimated from the text with rules that approximate a modern BPE
tokenizer (cl100k / o200k-like) on typical input:

* a run of ASCII letters: one token per 6 letters, rounded up (most English words
  are one token; the space before a word belongs to it);
* a run of digits: one token per 3 digits (numbers are split in groups of three);
* a run of other letters (accented Latin, Cyrillic, Greek, ...): one per 3 letters;
* a CJK ideograph, kana or hangul syllable: one token each;
* any other character (punctuation, symbols, emoji): one token each;
* whitespace: a single space is free, a longer run costs one token per 4
  characters, each line break one token.

On English prose and code this lands within about 20% of OpenAI's tokenizers;
treat the numbers as estimates, good for budgeting and logs, not for billing.

`prompt_tokens` are counted on what is actually sent upstream (the flattened
message plus the custom instructions, tool protocol included) plus 3 tokens per
OpenAI message and 3 for the reply, as OpenAI's own accounting does.
`completion_tokens` are the visible answer, the tool calls and the reasoning;
`completion_tokens_details.reasoning_tokens` is the reasoning part.
"""

from __future__ import annotations

import re
from typing import Iterable

from .pacing import Pacer

_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
# Kinds of runs: a run may continue past the end of a piece of text.
_RUN_CLASSES = {
    "ascii": r"[A-Za-z]+",
    "digits": r"[0-9]+",
    "space": r"[ \t]+",
    "letters": rf"[^\W\d_{_CJK}]+",
}
_PIECES = re.compile(
    r"(?P<ascii>{ascii})|(?P<digits>{digits})|(?P<space>{space})"
    r"|(?P<newline>\r?\n)|(?P<cjk>[{cjk}])|(?P<letters>{letters})|(?P<other>.)".format(cjk=_CJK, **_RUN_CLASSES),
    re.S,
)
_RUN_PATTERNS = {kind: re.compile(pattern) for kind, pattern in _RUN_CLASSES.items()}

# characters per token for run kinds; kinds absent here cost one token per match
_CHARS_PER_TOKEN = {"ascii": 6, "digits": 3, "letters": 3, "space": 4}
_RUNS = frozenset(_RUN_CLASSES)

PER_MESSAGE_OVERHEAD = 3
REPLY_OVERHEAD = 3


def _cost(kind: str, length: int) -> int:
    if kind == "space":
        return 0 if length == 1 else (length + 3) // 4
    per = _CHARS_PER_TOKEN.get(kind)
    if per is None:
        return 1
    return (length + per - 1) // per


# Counting costs ~0.4 us per character on the worker's only thread: a 10 MiB prompt would
# stall every other stream of the worker for seconds. A long text is counted window by window
# with a Pacer between windows (app/engine/pacing.py).
WINDOW_CHARS = 8 * 1024


def _count(text: str) -> int:
    total = 0
    for m in _PIECES.finditer(text):
        total += _cost(m.lastgroup, m.end() - m.start())
    return total


def estimate_tokens(text: str | None) -> int:
    """Estimated token count of `text` (0 for empty or None)."""
    if not text:
        return 0
    if len(text) <= WINDOW_CHARS:
        return _count(text)
    pacer = Pacer()
    total = 0
    carried = None  # [kind, length] of a run that reached the previous window's end
    start, size = 0, len(text)
    while start < size:
        end = min(start + WINDOW_CHARS, size)
        if text[end - 1 : end + 1] == "\r\n":  # one line break: keep it in one window
            end += 1
        if carried is not None:
            more = _RUN_PATTERNS[carried[0]].match(text, start, end)
            if more is not None:
                carried[1] += more.end() - start
                start = more.end()
            if start < end or end == size:
                total += _cost(*carried)
                carried = None
        for m in _PIECES.finditer(text, start, end):
            kind, length = m.lastgroup, m.end() - m.start()
            if m.end() == end < size and kind in _RUNS:
                carried = [kind, length]
            else:
                total += _cost(kind, length)
        start = end
        pacer.tick()
    return total


def prompt_tokens(message: str, custom_instructions: str | None, message_count: int) -> int:
    return (
        estimate_tokens(message)
        + estimate_tokens(custom_instructions)
        + PER_MESSAGE_OVERHEAD * message_count
        + REPLY_OVERHEAD
    )


def usage_object(prompt: int, content: Iterable[str], reasoning: Iterable[str]) -> dict:
    """OpenAI's `usage` object from the prompt estimate and the generated texts."""
    visible = sum(estimate_tokens(t) for t in content)
    thought = sum(estimate_tokens(t) for t in reasoning)
    completion = visible + thought
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": thought,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


class TokenBudget:
    """Cuts a streamed text once its estimated token count would exceed `limit`.

    Counting a text piece by piece gives the same total as counting it whole: the
    last run of each piece (a word may continue in the next token) is carried over
    and re-counted together with what follows.
    """

    __slots__ = ("limit", "used", "_tail", "exhausted")

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0  # tokens of the text before the carried tail
        self._tail = ""  # the trailing run, already accepted, possibly incomplete
        self.exhausted = False

    def take(self, text: str) -> str:
        """The part of `text` that fits; sets `exhausted` when something was cut."""
        if self.exhausted:
            return ""
        if not text:
            return text
        data = self._tail + text
        base = len(self._tail)
        used = self.used
        last = None
        for m in _PIECES.finditer(data):
            kind = m.lastgroup
            start, end = m.start(), m.end()
            cost = _cost(kind, end - start)
            if used + cost > self.limit:
                # Keep as many characters of this run as the remaining budget covers.
                room = self.limit - used
                keep = room * _CHARS_PER_TOKEN.get(kind, 1) if room > 0 else 0
                if kind == "space" and room >= 0:
                    keep = max(keep, 1)
                cut = max(base, start + keep)
                self.exhausted = True
                self.used = self.limit
                self._tail = ""
                return data[base:cut]
            if end == len(data) and kind in _RUNS:
                last = (start, kind)
            else:
                used += cost
        if last is not None:
            self._tail = data[last[0] :]
        else:
            self._tail = ""
        self.used = used
        return text

    @property
    def count(self) -> int:
        if not self._tail:
            return self.used
        return self.used + estimate_tokens(self._tail)
