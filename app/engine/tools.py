"""Tool calling over a text-only model: the protocol block and call extraction.

grok.com has no function-calling API, so the offered functions are described in the
custom instructions (``ToolSet.protocol_block``) under aliases ``fn_0``, ``fn_1``… and the
model answers with ``<tool_call>{"name": …, "arguments": …}</tool_call>`` blocks, which
``ToolCallExtractor`` cuts out of the text stream and turns into ``ToolCall`` objects.

What the extractor recognises (everything else is prose and passes through unchanged):

* tagged calls ``<tool_call>{json}</tool_call>``; the closing tag is optional (the call then
  ends with its balanced JSON object, so back-to-back and end-of-text unclosed calls work);
  a code fence inside the tags is tolerated;
* bare calls ``{"name": <offered name or alias>, "arguments": <object>}`` (also the OpenAI
  shape ``{"function": {"name", "arguments"}}``), optionally inside a ```json fence; a
  ``{`` right after ``[ , = ( {`` is a value in data or code and never a call;
* a fence (```, ```json, ```xml, ```tool_call) is removed only when it wraps nothing but
  calls; fences in ordinary answers are never touched;
* inside tags, a body that is not a call (invalid JSON, no name) is dropped with a debug
  log, a call to a function that was not offered or with arguments that are not an object
  is dropped with a warning; a stray ``</tool_call>`` is removed.

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

import json
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

OPEN_TAG = "<tool_call>"
CLOSE_TAG = "</tool_call>"
FENCE = "```"
# A bare JSON object longer than this is never taken for a call (and is not held longer).
BARE_CALL_MAX_CHARS = 65536
# A tag whose body is not a JSON object waits this long for its closing tag.
TAG_JUNK_MAX_CHARS = 4096
# Info strings of a fence that may wrap calls; any other fence is ordinary content.
_CALL_FENCE_INFOS = frozenset({"", "json", "xml", "tool_call", "tool_code"})
# First keys that make a bare "{" a possible call.
_BARE_FIRST_KEYS = ("name", "arguments", "id", "function")
# A "{" right after one of these is a value inside data or code (`[{`, `x = {`, `f({`),
# never a call of its own.
_VALUE_CONTEXT = "[,=({"
_WS = " \t\r\n"
_CANDIDATE = re.compile(r"[<{`]")
_JSON_COMPACT = {"ensure_ascii": False, "separators": (",", ":")}


def dumps_compact(value: Any) -> str:
    return json.dumps(value, **_JSON_COMPACT)


class InvalidToolRequest(ValueError):
    """``tools``/``tool_choice`` cannot be honoured; ``param`` names the request field."""

    def __init__(self, message: str, param: str = "tool_choice"):
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str  # always the compact JSON text of an object


@dataclass(frozen=True)
class Function:
    alias: str
    name: str
    description: str | None = None
    parameters: Any = None
    has_parameters: bool = False

    def declaration(self) -> dict[str, Any]:
        decl: dict[str, Any] = {"name": self.alias}
        if self.description is not None:
            decl["description"] = self.description
        if self.has_parameters:
            decl["parameters"] = self.parameters
        return decl


class ToolSet:
    """The functions offered to the model for one request, and how it must use them."""

    def __init__(self, functions: Iterable[Function], *, required: bool = False, forced: str | None = None):
        self.functions: tuple[Function, ...] = tuple(functions)
        self.required = required or forced is not None
        self.forced = forced
        self._by_alias = {f.alias: f for f in self.functions}
        self._by_name = {f.name: f for f in self.functions}

    @classmethod
    def from_request(cls, tools: list[dict] | None, tool_choice: Any = None) -> ToolSet | None:
        """None when the model gets no tools (no/empty ``tools`` or ``tool_choice: "none"``).

        Raises InvalidToolRequest for a ``tool_choice`` naming a function not in ``tools``.
        """
        if tool_choice == "none":
            return None
        offered = _offered_functions(tools or [])
        mode, named = _parse_tool_choice(tool_choice)
        if named is not None:
            unknown = [n for n in named if n not in offered]
            if unknown:
                raise InvalidToolRequest(f"tool_choice names function {unknown[0]!r}, which is not in tools")
            if mode != "forced":  # allowed_tools: only those are offered
                offered = {n: spec for n, spec in offered.items() if n in named}
        if not offered:
            if mode == "auto":
                return None
            raise InvalidToolRequest(f"tool_choice {mode!r} needs at least one function in tools")
        functions = [
            Function(
                alias=f"fn_{i}",
                name=name,
                description=spec.get("description"),
                parameters=spec.get("parameters"),
                has_parameters="parameters" in spec,
            )
            for i, (name, spec) in enumerate(offered.items())
        ]
        forced = named[0] if mode == "forced" else None
        return cls(functions, required=mode == "required", forced=forced)

    def real_name(self, name: str) -> str | None:
        """The offered function's real name for an alias or a real name; None if not offered.

        Aliases win over real names: the model only ever sees aliases.
        """
        function = self._by_alias.get(name) or self._by_name.get(name)
        return function.name if function else None

    def alias_for(self, real_name: str) -> str | None:
        function = self._by_name.get(real_name)
        return function.alias if function else None

    def might_be_name(self, prefix: str) -> bool:
        """Whether some alias or real name starts with ``prefix`` (for early decisions)."""
        return any(n.startswith(prefix) for n in (*self._by_alias, *self._by_name))

    def protocol_block(self) -> str:
        fns = "fns: " + dumps_compact([f.declaration() for f in self.functions])
        if self.forced is not None:
            alias = self.alias_for(self.forced)
            call = dumps_compact({"name": alias, "arguments": {}}).replace("{}", "{...}")
            return "\n".join(
                [
                    "fn-call protocol.",
                    f'Call "{alias}" once: {OPEN_TAG}{call}{CLOSE_TAG} then stop. No prose, no fences.',
                    fns,
                ]
            )
        return "\n".join(
            [
                "fn-call protocol.",
                f'Emit: {OPEN_TAG}{{"name":"<fn>","arguments":{{...}}}}{CLOSE_TAG} then stop: '
                "no prose after it, no code fences. Independent calls may go in the same turn "
                f"(parallel calls), each in its own {OPEN_TAG}…{CLOSE_TAG}.",
                'Results come back next turn as <tool_result id="<id>">…</tool_result>.',
                "Rules:",
                "1. If a listed function fulfils the request, call it. Never refuse because you "
                "cannot access the machine, run commands or open apps: the host executes the "
                "call, you only request it.",
                '2. Never narrate, simulate or invent results: no "running", "stand by", "done", ✅ or made-up output.',
                "3. Once a tool result answers the request, reply to the user in natural "
                'language; do not call again for the same request, no "Try 2" retries.',
                "4. If a call genuinely fails, retry at most once with different arguments, "
                "then explain the failure to the user.",
                "5. Use only the listed functions and parameters; never invent names.",
                "MUST call a function." if self.required else "Call when it fits.",
                fns,
            ]
        )


def _offered_functions(tools: list[dict]) -> dict[str, dict]:
    offered: dict[str, dict] = {}
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            log.debug("tools[%d]: only function tools are offered to the model; ignored", index)
            continue
        spec = tool.get("function")
        name = spec.get("name") if isinstance(spec, dict) else None
        if not isinstance(name, str) or not name:
            raise InvalidToolRequest(f"tools[{index}].function.name must be a non-empty string", param="tools")
        if name in offered:
            # An alias must map back to exactly one function (the first one wins).
            log.warning("tools[%d]: duplicate function name %r ignored", index, name)
            continue
        offered[name] = spec
    return offered


def _parse_tool_choice(choice: Any) -> tuple[str, list[str] | None]:
    """(mode, names): mode auto/required/forced; names restrict the offered functions."""
    if choice is None or choice == "auto":
        return "auto", None
    if choice == "required":
        return "required", None
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "function":
            fn = choice.get("function")
            name = fn.get("name") if isinstance(fn, dict) else None
            if not isinstance(name, str) or not name:
                raise InvalidToolRequest("tool_choice.function.name must be a non-empty string")
            return "forced", [name]
        if kind == "allowed_tools":
            return _parse_allowed_tools(choice.get("allowed_tools"))
        if kind == "custom":
            raise InvalidToolRequest("tool_choice: custom tools are not supported")
        log.warning("tool_choice of type %r is not understood; treated as auto", kind)
        return "auto", None
    raise InvalidToolRequest("tool_choice must be 'none', 'auto', 'required' or a function choice object")


def _parse_allowed_tools(allowed: Any) -> tuple[str, list[str]]:
    if not isinstance(allowed, dict) or allowed.get("mode", "auto") not in ("auto", "required"):
        raise InvalidToolRequest("tool_choice.allowed_tools must be {mode: auto|required, tools: [...]}")
    names = []
    for tool in allowed.get("tools") or []:
        fn = tool.get("function") if isinstance(tool, dict) else None
        name = fn.get("name") if isinstance(fn, dict) else None
        if not isinstance(name, str) or not name:
            raise InvalidToolRequest("tool_choice.allowed_tools.tools must name functions")
        names.append(name)
    if not names:
        raise InvalidToolRequest("tool_choice.allowed_tools.tools must name at least one function")
    return allowed.get("mode", "auto"), names


# ---------------------------------------------------------------------------------------
# Lenient JSON: what models emit instead of JSON, repaired only where the intent is clear.

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


def _call_fields(obj: Any) -> tuple[str, Any, str | None] | None:
    """(name, arguments or _ABSENT, id) of a call object; None without a usable name."""
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
    return name.strip(), args, call_id if isinstance(call_id, str) and call_id else None


# ---------------------------------------------------------------------------------------
# The extractor

_MORE = None  # parse outcome: cannot decide before more text arrives


@dataclass
class _Block:
    end: int  # index just past the decided text
    kind: str  # "prose" | "call" | "drop" | "group"
    name: str = ""
    arguments: str = ""
    call_id: str | None = None
    log_level: int = logging.DEBUG
    reason: str = ""
    items: list[_Block] = field(default_factory=list)


def _prose(end: int) -> _Block:
    return _Block(end, "prose")


def _drop(end: int, reason: str, level: int = logging.DEBUG) -> _Block:
    return _Block(end, "drop", log_level=level, reason=reason)


class ToolCallExtractor:
    """Splits model text, fed in arbitrary chunks, into prose and ToolCalls, in order.

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
        self._finished = False

    def feed(self, text: str) -> list[str | ToolCall]:
        if self._finished:
            raise RuntimeError("feed() after finish()")
        self._buf += text
        return self._scan(final=False)

    def finish(self) -> list[str | ToolCall]:
        if self._finished:
            return []
        out = self._scan(final=True)
        self._finished = True
        if not self._after_block:
            self._push(out, self._ws_before)  # an answer's own trailing whitespace is kept
        self._ws_before = self._ws_after = ""
        return out

    # -- scanning -------------------------------------------------------------------------

    def _scan(self, final: bool) -> list[str | ToolCall]:
        out: list[str | ToolCall] = []
        while self._buf:
            m = _CANDIDATE.search(self._buf)
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
        self._buf = self._buf[n:]
        self._scans.clear()

    def _parse_at(self, text: str, i: int, final: bool) -> _Block | None:
        c = text[i]
        if c == "<":
            if text.startswith(OPEN_TAG, i):
                return self._parse_tagged(text, i, final)
            if text.startswith(CLOSE_TAG, i):
                return _drop(i + len(CLOSE_TAG), "stray closing tag")
            if not final and _is_partial(text, i, OPEN_TAG, CLOSE_TAG):
                return _MORE
            return _prose(i + 1)
        if c == "{":
            return self._parse_bare(text, i, final)
        return self._parse_fence(text, i, final)

    def _parse_tagged(self, text: str, start: int, final: bool) -> _Block | None:
        i = _skip_ws(text, start + len(OPEN_TAG))
        fenced = self._fence_open(text, i, final)
        if fenced is _MORE:
            return _MORE
        if fenced >= 0:
            i = fenced
        if i < len(text) and text[i] == "{":
            end = self._object_end(text, i)
            if end is None:
                return _prose(start + len(OPEN_TAG)) if final else _MORE
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

    def _parse_bare(self, text: str, start: int, final: bool) -> _Block | None:
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
            return _MORE
        try:
            obj = loads_lenient(text[start:end])
        except ValueError:
            return _prose(end)
        src = obj.get("function") if isinstance(obj, dict) and "name" not in obj else obj
        if not isinstance(src, dict) or "arguments" not in src:
            return _prose(end)
        fields = _call_fields(obj)
        if fields is None or self._tools.real_name(fields[0]) is None or normalise_arguments(fields[1]) is None:
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
        value = self._read_token(text, i, lambda v: self._tools.real_name(v) is not None, self._tools.might_be_name)
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
        while j < len(text) and text[j] in "<{":
            block = self._parse_at(text, j, final)
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
        try:
            obj = loads_lenient(body)
        except ValueError:
            return _drop(end, "tool call body is not valid JSON")
        fields = _call_fields(obj)
        if fields is None:
            return _drop(end, "tool call without a name")
        name, raw_args, call_id = fields
        real = self._tools.real_name(name)
        if real is None:
            return _drop(end, f"call to function {name!r}, which was not offered", logging.WARNING)
        arguments = normalise_arguments(raw_args)
        if arguments is None:
            return _drop(end, f"call to {real!r} with arguments that are not a JSON object", logging.WARNING)
        return _Block(end, "call", name=real, arguments=arguments, call_id=call_id)

    # -- output ---------------------------------------------------------------------------

    def _commit(self, block: _Block, out: list[str | ToolCall]) -> None:
        if block.kind == "prose":
            self._emit_prose(self._buf[: block.end], out)
            return
        for item in block.items or [block]:
            if item.kind == "call":
                out.append(ToolCall(id=self._unique_id(item.call_id), name=item.name, arguments=item.arguments))
            else:
                log.log(item.log_level, "tool call dropped: %s", item.reason)
        self._after_block = True
        self._ws_after = ""
        self._last_prose_char = ""

    def _emit_prose(self, text: str, out: list[str | ToolCall]) -> None:
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
    def _push(out: list[str | ToolCall], text: str) -> None:
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


def parse_complete(toolset: ToolSet, text: str, *, reserved_ids: Iterable[str] = ()) -> tuple[str, list[ToolCall]]:
    """One-shot extraction: (prose, calls)."""
    extractor = ToolCallExtractor(toolset, reserved_ids=reserved_ids)
    items = extractor.feed(text) + extractor.finish()
    prose = "".join(x for x in items if isinstance(x, str))
    return prose, [x for x in items if isinstance(x, ToolCall)]
