"""Tool calling over a text-only model: the tools offered, and the protocol block that offers them.

grok.com has no function-calling API, so the offered tools are described in the custom
instructions (``ToolSet.protocol_block``) under aliases ``fn_0``, ``fn_1``… and the model answers
with ``<tool_call>{"name": …, "arguments": …}</tool_call>`` blocks, which the extractor
(app/engine/extract.py) cuts out of the text stream.

Two kinds of tool:

* ``function``: JSON arguments described by a JSON schema (every API has these);
* ``custom``: free text input, optionally with a grammar (the Responses API's freeform tools,
  such as Codex's ``apply_patch``). The model sends the raw text inside
  ``<tool_call name="fn_3">…</tool_call>``, so a patch needs no JSON escaping.

A function may belong to a namespace (the Responses API's ``namespace`` tools): the model sees a
flat list of aliases, and a call carries its namespace back.

Each API adapter turns its own tool declarations into ``ToolSpec``s and its tool choice into a
mode (``auto``, ``required``, ``forced`` with a name, or allowed names); ``ToolSet.offer`` assigns
the aliases. ``ToolSet.from_request`` does this for chat completions' ``tools``/``tool_choice``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

OPEN_TAG = "<tool_call>"
CLOSE_TAG = "</tool_call>"
FUNCTION, CUSTOM = "function", "custom"
# Longest grammar shown to the model for a custom tool (Codex's apply_patch grammar is ~1 KB).
MAX_GRAMMAR_CHARS = 4096
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
    arguments: str  # function: the compact JSON text of an object; custom: the raw input
    kind: str = FUNCTION
    namespace: str | None = None


@dataclass(frozen=True)
class ToolSpec:
    """One tool as an adapter declares it to the engine."""

    name: str
    description: str | None = None
    parameters: Any = None
    has_parameters: bool = False
    kind: str = FUNCTION
    namespace: str | None = None
    grammar: str | None = None  # custom tools: the format the input must follow

    @property
    def key(self) -> str:
        """The name a tool choice uses: ``namespace.name`` inside a namespace."""
        return f"{self.namespace}.{self.name}" if self.namespace else self.name


@dataclass(frozen=True)
class Function(ToolSpec):
    alias: str = ""

    def declaration(self) -> dict[str, Any]:
        decl: dict[str, Any] = {"name": self.alias}
        if self.description is not None:
            decl["description"] = self.description
        if self.kind == CUSTOM:
            decl["input"] = "free text"
            if self.grammar:
                decl["format"] = self.grammar[:MAX_GRAMMAR_CHARS]
        elif self.has_parameters:
            decl["parameters"] = self.parameters
        return decl

    @property
    def is_patch(self) -> bool:
        """A freeform tool that applies `*** Begin Patch` envelopes (Codex's apply_patch)."""
        return self.kind == CUSTOM and (self.name == "apply_patch" or "Begin Patch" in (self.grammar or ""))


class ToolSet:
    """The tools offered to the model for one request, and how it must use them."""

    def __init__(self, functions: Iterable[Function], *, required: bool = False, forced: str | None = None):
        self.functions: tuple[Function, ...] = tuple(functions)
        self.required = required or forced is not None
        self.forced = forced  # the key of the one tool to call
        self._by_alias = {f.alias: f for f in self.functions}
        self._by_key: dict[str, Function] = {}
        for f in self.functions:
            self._by_key.setdefault(f.key, f)
            self._by_key.setdefault(f.name, f)  # a namespaced tool's bare name, first one wins
        self.patch_tool = next((f for f in self.functions if f.is_patch), None)

    @classmethod
    def offer(cls, specs: Sequence[ToolSpec], mode: str = "auto", named: Sequence[str] | None = None) -> ToolSet | None:
        """The toolset for `specs` under a tool choice: `mode` auto/required/forced/none; `named`
        restricts the offer (allowed tools) or, with forced, names the one tool to call (by key).
        None when the model gets no tools. Raises InvalidToolRequest for a name not offered."""
        if mode == "none":
            return None
        offered: dict[str, ToolSpec] = {}
        for spec in specs:
            if spec.key in offered:
                log.warning("duplicate function name %r ignored (the first one is offered)", spec.key)
                continue
            offered[spec.key] = spec
        if named is not None:
            unknown = [n for n in named if n not in offered]
            if unknown:
                raise InvalidToolRequest(f"tool_choice names function {unknown[0]!r}, which is not in tools")
            if mode != "forced":  # allowed tools: only those are offered
                offered = {k: s for k, s in offered.items() if k in named}
        if not offered:
            if mode == "auto":
                return None
            raise InvalidToolRequest(f"tool_choice {mode!r} needs at least one function in tools")
        functions = [Function(**_fields(spec), alias=f"fn_{i}") for i, spec in enumerate(offered.values())]
        forced = named[0] if mode == "forced" and named else None
        return cls(functions, required=mode == "required", forced=forced)

    @classmethod
    def from_request(cls, tools: list[dict] | None, tool_choice: Any = None) -> ToolSet | None:
        """Chat completions: None when the model gets no tools (no/empty ``tools`` or
        ``tool_choice: "none"``). Raises InvalidToolRequest for a ``tool_choice`` naming a
        function not in ``tools``."""
        if tool_choice == "none":
            return None
        mode, named = _parse_tool_choice(tool_choice)
        return cls.offer(_chat_functions(tools or []), mode, named)

    def lookup(self, name: str) -> Function | None:
        """The offered tool for an alias, a key or a bare name; None if not offered.
        Aliases win over real names: the model only ever sees aliases."""
        return self._by_alias.get(name) or self._by_key.get(name)

    def real_name(self, name: str) -> str | None:
        function = self.lookup(name)
        return function.name if function else None

    def alias_for(self, real_name: str, namespace: str | None = None) -> str | None:
        key = f"{namespace}.{real_name}" if namespace else real_name
        function = self._by_key.get(key)
        return function.alias if function else None

    def might_be_name(self, prefix: str) -> bool:
        """Whether some alias or real name starts with ``prefix`` (for early decisions)."""
        return any(n.startswith(prefix) for n in (*self._by_alias, *self._by_key))

    def protocol_block(self) -> str:
        fns = "fns: " + dumps_compact([f.declaration() for f in self.functions])
        if self.forced is not None:
            function = self._by_key[self.forced]
            if function.kind == CUSTOM:
                call = f'<tool_call name="{function.alias}">…raw input…{CLOSE_TAG}'
            else:
                call = OPEN_TAG + dumps_compact({"name": function.alias, "arguments": {}}).replace("{}", "{...}")
                call += CLOSE_TAG
            return "\n".join(
                ["fn-call protocol.", f'Call "{function.alias}" once: {call} then stop. No prose, no fences.', fns]
            )
        lines = [
            "fn-call protocol.",
            f'Emit: {OPEN_TAG}{{"name":"<fn>","arguments":{{...}}}}{CLOSE_TAG} then stop: '
            "no prose after it, no code fences. Independent calls may go in the same turn "
            f"(parallel calls), each in its own {OPEN_TAG}…{CLOSE_TAG}.",
        ]
        if any(f.kind == CUSTOM for f in self.functions):
            lines.append(
                'A fn declared with "input" takes free text, not JSON: <tool_call name="<fn>">the raw input'
                f"{CLOSE_TAG} (no quoting, no escaping; follow its format)."
            )
        lines += [
            'Results come back next turn as <tool_result id="<id>">…</tool_result>.',
            "Rules:",
            "1. If a listed function fulfils the request, call it. Never refuse because you "
            "cannot access the machine, run commands or open apps: the host executes the "
            "call, you only request it.",
            '2. Never narrate, simulate or invent results: no "running", "stand by", "done", ✅ or made-up output. '
            "Describing a command or an edit does not do it: call the function that does.",
            "3. Once a tool result answers the request, reply to the user in natural "
            'language; do not call again for the same request, no "Try 2" retries.',
            "4. If a call genuinely fails, retry at most once with different arguments, "
            "then explain the failure to the user.",
            "5. Use only the listed functions and parameters; never invent names.",
        ]
        if self.patch_tool is not None:
            lines.append(
                f'6. Change files only by calling "{self.patch_tool.alias}" with the whole patch '
                "(*** Begin Patch … *** End Patch); never show a patch as text."
            )
        lines += ["MUST call a function." if self.required else "Call when it fits.", fns]
        return "\n".join(lines)


def _fields(spec: ToolSpec) -> dict[str, Any]:
    return {name: getattr(spec, name) for name in ToolSpec.__dataclass_fields__}


def _chat_functions(tools: list[dict]) -> list[ToolSpec]:
    offered: list[ToolSpec] = []
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            log.debug("tools[%d]: only function tools are offered to the model; ignored", index)
            continue
        spec = tool.get("function")
        name = spec.get("name") if isinstance(spec, dict) else None
        if not isinstance(name, str) or not name:
            raise InvalidToolRequest(f"tools[{index}].function.name must be a non-empty string", param="tools")
        offered.append(
            ToolSpec(
                name=name,
                description=spec.get("description"),
                parameters=spec.get("parameters"),
                has_parameters="parameters" in spec,
            )
        )
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
