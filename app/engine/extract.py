"""Tool-call extraction: model text, fed in arbitrary chunks, split into prose and tool calls.

What the extractor recognises (everything else is prose and passes through unchanged):

* tagged calls ``<tool_call>{json}</tool_call>``; the closing tag is optional (the call then
  ends with its balanced JSON object, so back-to-back and end-of-text unclosed calls work);
  a code fence inside the tags is tolerated;
* raw-input calls ``<tool_call name="fn_3">text</tool_call>`` for free-text (custom) tools,
  and for function tools with the JSON arguments as the body;
* bare calls ``{"name": <offered name or alias>, "arguments": <object>}`` (also the OpenAI
  shape ``{"function": {"name", "arguments"}}``), optionally inside a ```json fence; a
  ``{`` right after ``[ , = ( {`` is a value in data or code and never a call;
* when a patch tool (Codex's ``apply_patch``) is offered, a ``*** Begin Patch`` … ``*** End
  Patch`` block written as text (bare or fenced): the model "showing" an edit instead of
  calling the tool; it becomes a call to that tool;
* a fence (```, ```json, ```xml, ```diff, ```tool_call) is removed only when it wraps nothing
  but calls; fences in ordinary answers are never touched;
* inside tags, a body that is not a call (invalid JSON, no name) is dropped with a debug
  log, a call to a function that was not offered or with arguments that are not an object
  is dropped with a warning; a stray ``</tool_call>`` is removed.

Items out of ``feed``/``finish``, in order: ``str`` (prose), ``ToolCall`` (a complete call), and
for calls streamed as they are written, ``CallStart`` (id and name known) then ``CallDelta``
pieces of the arguments (or of a custom tool's input), then the complete ``ToolCall`` (same id;
its arguments are the deltas joined). A call is streamed once ``{"name":"<offered function>",
"arguments":{`` has been seen (tagged or bare), or a raw-input tag has opened; its arguments
are rewritten into strict compact JSON on the way (app/engine/lenient.py), so the client's
concatenation always parses, even if the model's JSON needed repairs or was cut off.

Holding back while streaming: only what could still turn into a call is held — a trailing
partial ``<tool_call>``/``</tool_call>`` tag, an opened tag until its body completes, a
``{`` whose first key is ``name``/``arguments``/``id``/``function`` (and, for ``name``,
whose value is an offered function) until the object closes, a call-shaped fence until
it closes, and whitespace that would be trimmed if a call followed. Two bounds keep
prose from being held indefinitely, and they apply to one-shot parsing too, so streamed
and non-streamed results are identical: a bare object is a call candidate only if it
closes within ``BARE_CALL_MAX_CHARS`` characters, and a tag whose body is not a JSON
object is dropped only if its closing tag comes within ``TAG_JUNK_MAX_CHARS``. An opened
tag followed by an object is explicit intent and waits for the object without a bound;
if the text ends first, the tag and what follows are returned as prose.

Whitespace: whitespace between adjacent calls and at the very start/end of the content
next to a call is removed; between two pieces of prose the whitespace on both sides of
the removed call is kept (``"a\\n<call>\\nb"`` gives ``"a\\n\\nb"``).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Union

from .lenient import JsonStream, _BraceScan, _skip_ws, _string_end, json_object_end, loads_lenient, transcode
from .tools import CLOSE_TAG, CUSTOM, OPEN_TAG, Function, ToolCall, ToolSet, dumps_compact

log = logging.getLogger(__name__)

FENCE = "```"
RAW_TAG = "<tool_call"  # followed by attributes: <tool_call name="fn_3">
# A bare JSON object longer than this is never taken for a call (and is not held longer).
BARE_CALL_MAX_CHARS = 65536
# A tag whose body is not a JSON object waits this long for its closing tag.
TAG_JUNK_MAX_CHARS = 4096
# Longest attribute list of a raw-input tag.
RAW_TAG_MAX_CHARS = 300
# Longest patch written as text that is still turned into a call.
PATCH_MAX_CHARS = 4 * 1024 * 1024
# Info strings of a fence that may wrap calls; any other fence is ordinary content.
_CALL_FENCE_INFOS = frozenset({"", "json", "xml", "tool_call", "tool_code", "diff", "patch"})
# First keys that make a bare "{" a possible call.
_BARE_FIRST_KEYS = ("name", "arguments", "id", "function")
# A "{" right after one of these is a value inside data or code (`[{`, `x = {`, `f({`),
# never a call of its own.
_VALUE_CONTEXT = "[,=({"
_WS = " \t\r\n"
_CANDIDATE = re.compile(r"[<{`]")
_CANDIDATE_WITH_PATCH = re.compile(r"[<{`*]")
# The start of a call whose arguments can be streamed: name first, then an arguments object.
_HEADER = re.compile(r'\{\s*"name"\s*:\s*"([^"\\]{1,256})"\s*,\s*"(?:arguments|parameters)"\s*:\s*(?=\{)')
_RAW_NAME = re.compile(r"""\bname\s*=\s*(?:"([^"]*)"|'([^']*)'|([\w.-]+))""")
PATCH_BEGIN = "*** Begin Patch"
PATCH_END = "*** End Patch"
# Envelope lines some models decorate ("*** Begin Patch ***"): the patch grammar refuses them.
_ENVELOPE = re.compile(
    r"^(\*\*\* (?:Begin Patch|End Patch|End of File|(?:Add|Delete|Update) File: .*?|Move to: .*?))\s*\*\*\*\s*$"
)
_PATCH_END_LINE = re.compile(r"^\*\*\* End Patch(?: \*\*\*)?[ \t]*$", re.M)


@dataclass
class CallStart:
    """A call whose arguments follow as CallDelta items (``call.arguments`` is still empty)."""

    call: ToolCall


@dataclass
class CallDelta:
    text: str


Item = Union[str, CallStart, CallDelta, ToolCall]


def normalise_patch(text: str) -> str:
    """A patch as the apply_patch grammar wants it: plain envelope lines, a final newline."""
    lines = [_ENVELOPE.sub(r"\1", line) for line in text.strip("\r\n").split("\n")]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# Call objects -> (name, arguments)

_ABSENT = object()


def normalise_arguments(value: Any) -> str | None:
    """Compact JSON text of an arguments object; None when it is not (repairably) one."""
    for _ in range(3):  # a string may hold JSON, sometimes encoded twice
        if value is _ABSENT or value is None:
            return "{}"
        if isinstance(value, dict):
            return dumps_compact(value)
        if not isinstance(value, str):
            return None
        if not value.strip():
            return "{}"
        try:
            value = loads_lenient(value)
        except ValueError:
            return None
    return None


def custom_input(obj: dict) -> str | None:
    """A free-text tool's input from a JSON call: ``input``, a string ``arguments``, or the one
    string inside an arguments object."""
    for key in ("input", "arguments", "parameters"):
        value = obj.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, dict):
            strings = [v for v in value.values() if isinstance(v, str)]
            if len(strings) == 1:
                return strings[0]
            return dumps_compact(value)
    return None


def _call_fields(obj: Any) -> tuple[str, Any, str | None, dict] | None:
    """(name, arguments or _ABSENT, id, source object) of a call object; None without a name."""
    if not isinstance(obj, dict):
        return None
    src = obj
    if "name" not in obj and isinstance(obj.get("function"), dict):
        src = obj["function"]  # OpenAI's own shape
    name = src.get("name")
    if not isinstance(name, str) or not name.strip():
        return None
    args = src.get("arguments", src.get("parameters", _ABSENT))
    call_id = obj.get("id")
    return name.strip(), args, call_id if isinstance(call_id, str) and call_id else None, src


# ---------------------------------------------------------------------------------------
# The extractor

_MORE = None  # parse outcome: cannot decide before more text arrives


@dataclass
class _Block:
    end: int  # index just past the decided text
    kind: str  # "prose" | "call" | "drop" | "group" | "live" | "raw"
    name: str = ""
    arguments: str = ""
    call_id: str | None = None
    log_level: int = logging.DEBUG
    reason: str = ""
    items: list[_Block] = field(default_factory=list)
    function: Function | None = None
    tagged: bool = False
    fenced: bool = False
    wrapped: bool = True


def _prose(end: int) -> _Block:
    return _Block(end, "prose")


def _drop(end: int, reason: str, level: int = logging.DEBUG) -> _Block:
    return _Block(end, "drop", log_level=level, reason=reason)


@dataclass
class _Live:
    """A call being streamed."""

    call: ToolCall
    tagged: bool  # inside <tool_call>: a closing tag may follow
    wrapped: bool = True  # the arguments sit inside a call object ({"name":…,"arguments":{…}})
    fenced: bool = False
    json: JsonStream | None = None  # function arguments; None for raw input
    phase: str = "args"  # args -> outer (rest of the call object) -> tail (closing tag)
    outer: _BraceScan | None = None
    parts: list[str] = field(default_factory=list)
    patch: bool = False  # raw input of a patch tool: normalised line by line
    started: bool = False  # raw input: leading blank lines skipped


class ToolCallExtractor:
    """Splits model text, fed in arbitrary chunks, into prose and calls, in order.

    ``reserved_ids`` are call ids already used in the conversation; a model that repeats
    one gets a fresh id instead.
    """

    def __init__(self, toolset: ToolSet, *, reserved_ids: Iterable[str] = ()):
        self._tools = toolset
        self._buf = ""
        self._scans: dict[int, _BraceScan] = {}
        self._used_ids = set(reserved_ids)
        self._ws_before = ""  # trailing whitespace of the prose, held
        self._ws_after = ""  # whitespace after the last removed block
        self._after_block = False  # a call (or dropped block) came after the last prose
        self._prose_seen = False
        self._last_prose_char = ""  # last non-whitespace character of the prose so far
        self._line_start = True  # the next character starts a line
        self._live: _Live | None = None
        self._finished = False
        self._candidate = _CANDIDATE_WITH_PATCH if toolset.patch_tool is not None else _CANDIDATE

    def feed(self, text: str) -> list[Item]:
        if self._finished:
            raise RuntimeError("feed() after finish()")
        self._buf += text
        return self._scan(final=False)

    def finish(self) -> list[Item]:
        if self._finished:
            return []
        out = self._scan(final=True)
        self._finished = True
        if not self._after_block:
            self._push(out, self._ws_before)  # an answer's own trailing whitespace is kept
        self._ws_before = self._ws_after = ""
        return out

    # -- scanning -------------------------------------------------------------------------

    def _scan(self, final: bool) -> list[Item]:
        out: list[Item] = []
        while self._buf or (final and self._live is not None):
            if self._live is not None:
                if not self._continue_live(final, out):
                    break
                continue
            m = self._candidate.search(self._buf)
            start = m.start() if m else len(self._buf)
            if start:
                self._emit_prose(self._buf[:start], out)
                self._consume(start)
                continue
            block = self._parse_at(self._buf, 0, final)
            if block is _MORE:
                assert not final
                break
            self._commit(block, out)
            self._consume(block.end)
        return out

    def _consume(self, n: int) -> None:
        if n:
            self._line_start = self._buf[n - 1] == "\n"
        self._buf = self._buf[n:]
        self._scans.clear()

    def _at_line_start(self, text: str, i: int) -> bool:
        return self._line_start if i == 0 else text[i - 1] == "\n"

    def _parse_at(self, text: str, i: int, final: bool, nested: bool = False) -> _Block | None:
        """The block at ``i``; ``nested`` inside a fence, where a call is judged whole (the
        fence is removed only if it holds nothing but calls), never streamed."""
        c = text[i]
        if c == "<":
            if text.startswith(OPEN_TAG, i):
                return self._parse_tagged(text, i, final, nested)
            if text.startswith(RAW_TAG, i) and len(text) > i + len(RAW_TAG) and text[i + len(RAW_TAG)] in _WS:
                return _prose(i + 1) if nested else self._parse_raw_tag(text, i, final)
            if text.startswith(CLOSE_TAG, i):
                return _drop(i + len(CLOSE_TAG), "stray closing tag")
            if not final and _is_partial(text, i, OPEN_TAG, CLOSE_TAG):
                return _MORE
            return _prose(i + 1)
        if c == "{":
            return self._parse_bare(text, i, final, nested)
        if c == "*":
            return self._parse_patch(text, i, final)
        return self._parse_fence(text, i, final)

    def _parse_tagged(self, text: str, start: int, final: bool, nested: bool = False) -> _Block | None:
        i = _skip_ws(text, start + len(OPEN_TAG))
        fenced = self._fence_open(text, i, final)
        if fenced is _MORE:
            return _MORE
        if fenced >= 0:
            i = fenced
        if i < len(text) and text[i] == "{":
            end = self._object_end(text, i)
            if end is None:
                if final:
                    return _prose(start + len(OPEN_TAG))
                if nested:
                    return _MORE
                return self._live_header(text, i, tagged=True, fenced=fenced >= 0) or _MORE
            body_end = end
            j = _skip_ws(text, end)
            if fenced >= 0 and text.startswith(FENCE, j):
                body_end = j + len(FENCE)
                j = _skip_ws(text, body_end)
            if text.startswith(CLOSE_TAG, j):
                j += len(CLOSE_TAG)
            elif not final and (j == len(text) or _is_partial(text, j, FENCE, CLOSE_TAG)):
                return _MORE  # the closing tag may still come
            elif final and j < len(text) and _is_partial(text, j, CLOSE_TAG):
                j = len(text)  # a closing tag cut off by the end of the stream
            else:
                j = body_end  # unclosed form: the call ends with its object
            return self._judge(text[i:end], j)
        if i == len(text) and not final:
            return _MORE
        # Not a JSON object: drop it if a closing tag (before any next call) says where it ends.
        window = start + TAG_JUNK_MAX_CHARS
        close = text.find(CLOSE_TAG, i, window)
        nxt = text.find(OPEN_TAG, i, window)
        if close != -1 and (nxt == -1 or close < nxt):
            return _drop(close + len(CLOSE_TAG), "tool call body is not a JSON object")
        if nxt != -1:
            return _drop(nxt, "tool call body is not a JSON object")
        if final or len(text) >= window:
            return _prose(start + len(OPEN_TAG))
        return _MORE

    def _streamable(self, text: str, i: int) -> tuple[Function, int] | None:
        """(function, start of its arguments) when the call object at ``i`` opens with an offered
        function's name and then its arguments object: such a call streams its arguments."""
        m = _HEADER.match(text, i)
        if m is None:
            return None
        function = self._tools.lookup(m.group(1))
        if function is None or function.kind == CUSTOM:
            return None
        return function, m.end()

    def _live_header(self, text: str, i: int, *, tagged: bool, fenced: bool = False) -> _Block | None:
        """A streamable call whose arguments object has begun: stream it."""
        found = self._streamable(text, i)
        if found is None:
            return None
        return _Block(found[1], "live", function=found[0], tagged=tagged, fenced=fenced)

    def _parse_raw_tag(self, text: str, start: int, final: bool) -> _Block | None:
        """``<tool_call name="fn_3">``: the body is the raw input (custom tools) or JSON arguments."""
        close = text.find(">", start, start + RAW_TAG_MAX_CHARS)
        if close == -1:
            if not final and len(text) - start < RAW_TAG_MAX_CHARS:
                return _MORE
            return _prose(start + 1)
        m = _RAW_NAME.search(text, start, close)
        name = next((g for g in m.groups() if g is not None), "") if m else ""
        function = self._tools.lookup(name) if name else None
        if function is None:
            end = text.find(CLOSE_TAG, close)
            if end == -1 and not final:
                return _MORE if len(text) - start < TAG_JUNK_MAX_CHARS else _prose(start + 1)
            reason = f"call to function {name!r}, which was not offered" if name else "tool call without a name"
            return _drop(len(text) if end == -1 else end + len(CLOSE_TAG), reason, logging.WARNING)
        if function.kind == CUSTOM:
            return _Block(close + 1, "raw", function=function, tagged=True)
        i = _skip_ws(text, close + 1)
        if i == len(text) and not final:
            return _MORE
        if i < len(text) and text[i] == "{":
            return _Block(i, "live", function=function, tagged=True, wrapped=False)
        end = text.find(CLOSE_TAG, i)
        return _drop(len(text) if end == -1 else end + len(CLOSE_TAG), "tool call body is not a JSON object")

    def _parse_bare(self, text: str, start: int, final: bool, nested: bool = False) -> _Block | None:
        before = text[:start].rstrip(_WS)[-1:] if start else self._last_prose_char
        if before and before in _VALUE_CONTEXT:
            return _prose(start + 1)
        head = self._bare_head(text, start)
        if head is _MORE:
            return _prose(start + 1) if final else _MORE
        if not head:
            return _prose(start + 1)
        limit = start + BARE_CALL_MAX_CHARS
        end = self._object_end(text, start, limit)
        if end is None:
            if final or len(text) >= limit:
                return _prose(start + 1)
            return (None if nested else self._live_header(text, start, tagged=False)) or _MORE
        if self._streamable(text, start) is not None:
            return self._judge(text[start:end], end)  # as it would have been streamed
        try:
            obj = loads_lenient(text[start:end])
        except ValueError:
            return _prose(end)
        src = obj.get("function") if isinstance(obj, dict) and "name" not in obj else obj
        if not isinstance(src, dict) or "arguments" not in src:
            return _prose(end)
        fields = _call_fields(obj)
        if fields is None or self._tools.lookup(fields[0]) is None or normalise_arguments(fields[1]) is None:
            return _prose(end)  # JSON that merely looks like a call stays in the answer
        return self._judge(text[start:end], end)

    def _bare_head(self, text: str, start: int) -> bool | None:
        """Whether the object at ``start`` can still be a call, judged by its first key (and
        the value of a leading ``name``); _MORE when the text seen so far cannot tell."""
        i = _skip_ws(text, start + 1)
        key = self._read_token(
            text, i, _BARE_FIRST_KEYS.__contains__, lambda p: any(k.startswith(p) for k in _BARE_FIRST_KEYS)
        )
        if not isinstance(key, tuple):
            return key
        key, i = key
        if key != "name":
            return True
        i = _skip_ws(text, i)
        if i == len(text):
            return _MORE
        if text[i] != ":":
            return False
        i = _skip_ws(text, i + 1)
        if i == len(text):
            return _MORE
        if text[i] not in "\"'":
            return False
        value = self._read_token(text, i, lambda v: self._tools.lookup(v) is not None, self._tools.might_be_name)
        return value if not isinstance(value, tuple) else True

    @staticmethod
    def _read_token(text: str, i: int, accept, may_become) -> tuple[str, int] | bool | None:
        """Reads a quoted or bare word at ``i``: (word, end) if ``accept``ed, False if it is
        not or cannot become acceptable, _MORE if undecided."""
        if i == len(text):
            return _MORE
        c = text[i]
        if c in "\"'":
            end = _string_end(text, i)
            if end is None:
                return _MORE if may_become(text[i + 1 :]) else False
            word = text[i + 1 : end - 1]
        elif c.isalpha() or c == "_":
            end = i
            while end < len(text) and (text[end].isalnum() or text[end] == "_"):
                end += 1
            word = text[i:end]
            if end == len(text):
                return _MORE if may_become(word) else False
        else:
            return False
        return (word, end) if accept(word) else False

    def _parse_patch(self, text: str, start: int, final: bool) -> _Block | None:
        """A patch written as text, at the start of a line, while a patch tool is offered."""
        if not self._at_line_start(text, start):
            return _prose(start + 1)
        if not text.startswith(PATCH_BEGIN, start):
            if not final and _is_partial(text, start, PATCH_BEGIN):
                return _MORE
            return _prose(start + 1)
        end = _PATCH_END_LINE.search(text, start + len(PATCH_BEGIN))
        if end is None or (not final and end.end() == len(text)):
            if final or len(text) - start > PATCH_MAX_CHARS:
                return _prose(start + 1)
            return _MORE  # the end line may still be growing (" ***")
        function = self._tools.patch_tool
        log.info("a patch written as text became a call to %s", function.name)
        return _Block(end.end(), "call", name=function.key, arguments=normalise_patch(text[start : end.end()]))

    def _parse_fence(self, text: str, start: int, final: bool) -> _Block | None:
        """A fence is removed only if everything inside it is calls."""
        run = 0
        while start + run < len(text) and text[start + run] == "`":
            run += 1
        if run == len(text) - start and not final:
            return _MORE
        if run != 3:
            return _prose(start + run)
        info_end = start + 3
        while info_end < len(text) and (text[info_end].isalnum() or text[info_end] in "_-"):
            info_end += 1
        inside = self._fence_open(text, start, final)
        if inside is _MORE:
            return _MORE
        if inside < 0:
            return _prose(info_end)
        items: list[_Block] = []
        j = inside
        while j < len(text) and text[j] in "<{*":
            block = self._parse_at(text, j, final, nested=True)
            if block is _MORE:
                return _MORE
            if block.kind == "prose":
                break
            items.append(block)
            j = _skip_ws(text, block.end)
        if j == len(text) and not final:
            return _MORE
        if items and text.startswith(FENCE, j):
            return _Block(j + len(FENCE), "group", items=items)
        if items and j == len(text):
            return _Block(j, "group", items=items)  # the stream ended inside the fence
        if items and not final and _is_partial(text, j, FENCE):
            return _MORE
        # Not purely calls: the fence is content; calls inside are found by the normal scan.
        return _prose(info_end)

    def _fence_open(self, text: str, i: int, final: bool) -> int | None:
        """Index after a call-capable fence opening (```json etc. plus whitespace) at ``i``;
        -1 if there is none; _MORE if undecided."""
        if not text.startswith(FENCE, i):
            return _MORE if not final and i < len(text) and _is_partial(text, i, FENCE) else -1
        j = i + len(FENCE)
        while j < len(text) and (text[j].isalnum() or text[j] in "_-"):
            j += 1
        if j == len(text) and not final:
            return _MORE
        if text[i + len(FENCE) : j].lower() not in _CALL_FENCE_INFOS:
            return -1
        return _skip_ws(text, j)

    def _object_end(self, text: str, start: int, limit: int | None = None) -> int | None:
        scan = self._scans.get(start)
        if scan is None:
            scan = self._scans[start] = _BraceScan(start)
        return scan.advance(text, limit)

    def _judge(self, body: str, end: int) -> _Block:
        streamable = self._streamable(body, 0)
        if streamable is not None:
            # Judged as the streamed form is: committed at its header, arguments repaired by
            # the same rewriting (any "id" after the arguments is not read, as when streaming).
            function, args_start = streamable
            args_end = json_object_end(body, args_start) or len(body)
            return _Block(end, "call", name=function.key, arguments=transcode(body[args_start:args_end])[0])
        try:
            obj = loads_lenient(body)
        except ValueError:
            return _drop(end, "tool call body is not valid JSON")
        fields = _call_fields(obj)
        if fields is None:
            return _drop(end, "tool call without a name")
        name, raw_args, call_id, src = fields
        function = self._tools.lookup(name)
        if function is None:
            return _drop(end, f"call to function {name!r}, which was not offered", logging.WARNING)
        if function.kind == CUSTOM:
            text = custom_input(src)
            if text is None:
                return _drop(end, f"call to {function.name!r} without an input", logging.WARNING)
            if function.is_patch:
                text = normalise_patch(text)
            return _Block(end, "call", name=function.key, arguments=text, call_id=call_id)
        arguments = normalise_arguments(raw_args)
        if arguments is None:
            return _drop(end, f"call to {function.name!r} with arguments that are not a JSON object", logging.WARNING)
        return _Block(end, "call", name=function.key, arguments=arguments, call_id=call_id)

    # -- streamed calls -------------------------------------------------------------------

    def _start_live(self, block: _Block, out: list[Item]) -> None:
        function = block.function
        call = self._new_call(function, None, "")
        self._live = _Live(
            call=call,
            tagged=block.tagged,
            wrapped=block.wrapped,
            fenced=block.fenced,
            json=JsonStream() if block.kind == "live" else None,
            phase="args" if block.kind == "live" else "raw",
            patch=function.is_patch,
        )
        out.append(CallStart(call))
        self._block_done()

    def _continue_live(self, final: bool, out: list[Item]) -> bool:
        """Advances the streamed call; False when more text is needed."""
        live = self._live
        if live.phase == "raw":
            return self._raw_input(final, out)
        if live.phase == "args":
            delta, used = live.json.feed(self._buf)
            self._consume(used)
            if not live.json.done and final:
                delta += live.json.finish()
                log.warning("tool call to %s was cut off; its arguments were closed as they stood", live.call.name)
            self._delta(delta, out)
            if not live.json.done:
                return False
            if live.json.broken:
                log.info("tool call arguments to %s needed repairs", live.call.name)
            if not live.wrapped:
                live.phase = "tail"
            else:
                live.phase = "outer"
                live.outer = _BraceScan(0)
                live.outer.depth = 1  # the call object around the arguments is still open
        if live.phase == "outer":
            end = live.outer.advance(self._buf, TAG_JUNK_MAX_CHARS)
            if end is None:
                if not final and len(self._buf) < TAG_JUNK_MAX_CHARS:
                    return False
                if final:
                    self._consume(len(self._buf))
                return self._end_live(out)
            self._consume(end)
            if not live.tagged:
                return self._end_live(out)
            live.phase = "tail"
        # tail: an optional fence, then the closing tag
        text = self._buf
        j = _skip_ws(text, 0)
        body_end = 0
        if live.fenced and text.startswith(FENCE, j):
            body_end = j + len(FENCE)
            j = _skip_ws(text, body_end)
        if text.startswith(CLOSE_TAG, j):
            self._consume(j + len(CLOSE_TAG))
        elif not final and (j == len(text) or _is_partial(text, j, FENCE, CLOSE_TAG)):
            return False
        elif final and j < len(text) and _is_partial(text, j, CLOSE_TAG):
            self._consume(len(text))
        else:
            self._consume(body_end)
        return self._end_live(out)

    def _raw_input(self, final: bool, out: list[Item]) -> bool:
        """A raw-input call: everything up to ``</tool_call>`` is the input."""
        live = self._live
        if not live.started:
            self._consume(len(self._buf) - len(self._buf.lstrip("\r\n")))  # blank lines after the tag
            if not self._buf and not final:
                return False
            live.started = True
        text = self._buf
        close = text.find(CLOSE_TAG)
        ended = close != -1 or final
        if close != -1:
            piece, used = text[:close], close + len(CLOSE_TAG)
        elif final:
            piece, used = text, len(text)
        else:
            piece = text[: len(text) - _partial_suffix(text, CLOSE_TAG)]
            # Held: trailing blanks (trimmed if the input ends there) and, for a patch, the
            # unfinished last line (patches are normalised line by line).
            used = piece.rfind("\n") + 1 if live.patch else len(piece.rstrip(_WS))
            piece = piece[:used]
        self._consume(used)
        if live.patch:
            piece = "\n".join(_ENVELOPE.sub(r"\1", line) for line in piece.split("\n"))
        if ended:
            piece = piece.rstrip(_WS)
            if live.patch and (piece or not "".join(live.parts).endswith("\n")):
                piece += "\n"
        self._delta(piece, out)
        if not ended:
            return False
        if live.patch and not "".join(live.parts).startswith(PATCH_BEGIN):
            log.warning("the input to %s is not a patch; passed on as it is", live.call.name)
        return self._end_live(out)

    def _delta(self, text: str, out: list[Item]) -> None:
        if text:
            self._live.parts.append(text)
            out.append(CallDelta(text))

    def _end_live(self, out: list[Item]) -> bool:
        live, self._live = self._live, None
        live.call.arguments = "".join(live.parts)
        out.append(live.call)
        self._block_done()
        return True

    # -- output ---------------------------------------------------------------------------

    def _commit(self, block: _Block, out: list[Item]) -> None:
        if block.kind == "prose":
            self._emit_prose(self._buf[: block.end], out)
            return
        if block.kind in ("live", "raw"):
            self._start_live(block, out)
            return
        for item in block.items or [block]:
            if item.kind == "call":
                function = self._tools.lookup(item.name)
                out.append(self._new_call(function, item.call_id, item.arguments))
            else:
                log.log(item.log_level, "tool call dropped: %s", item.reason)
        self._block_done()

    def _new_call(self, function: Function, wanted_id: str | None, arguments: str) -> ToolCall:
        return ToolCall(
            id=self._unique_id(wanted_id),
            name=function.name,
            arguments=arguments,
            kind=function.kind,
            namespace=function.namespace,
        )

    def _block_done(self) -> None:
        self._after_block = True
        self._ws_after = ""
        self._last_prose_char = ""

    def _emit_prose(self, text: str, out: list[Item]) -> None:
        if self._after_block:
            body = text.lstrip(_WS)
            self._ws_after += text[: len(text) - len(body)]
            if not body:
                return
            # Prose on both sides of removed calls keeps the whitespace around them.
            text = (self._ws_before + self._ws_after if self._prose_seen else "") + body
            self._ws_before = self._ws_after = ""
            self._after_block = False
        else:
            text = self._ws_before + text
        body = text.rstrip(_WS)
        self._ws_before = text[len(body) :]
        if body:
            self._push(out, body)
            self._prose_seen = True
            self._last_prose_char = body[-1]

    @staticmethod
    def _push(out: list[Item], text: str) -> None:
        if not text:
            return
        if out and isinstance(out[-1], str):
            out[-1] += text
        else:
            out.append(text)

    def _unique_id(self, wanted: str | None) -> str:
        call_id = wanted
        while call_id is None or call_id in self._used_ids:
            call_id = "call_" + secrets.token_hex(12)
        self._used_ids.add(call_id)
        return call_id


def _is_partial(text: str, i: int, *markers: str) -> bool:
    """Whether text[i:] (up to the end) is a proper prefix of one of ``markers``."""
    rest = text[i : i + max(map(len, markers))]
    return len(rest) == len(text) - i and any(len(rest) < len(m) and m.startswith(rest) for m in markers)


def _partial_suffix(text: str, marker: str) -> int:
    """Length of the longest end of ``text`` that is a proper prefix of ``marker``."""
    for n in range(min(len(marker) - 1, len(text)), 0, -1):
        if marker.startswith(text[-n:]):
            return n
    return 0


def parse_complete(toolset: ToolSet, text: str, *, reserved_ids: Iterable[str] = ()) -> tuple[str, list[ToolCall]]:
    """One-shot extraction: (prose, calls)."""
    extractor = ToolCallExtractor(toolset, reserved_ids=reserved_ids)
    items = extractor.feed(text) + extractor.finish()
    prose = "".join(x for x in items if isinstance(x, str))
    return prose, [x for x in items if isinstance(x, ToolCall)]
