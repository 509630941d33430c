"""Agent scenarios of the fake grok.com: Grok answering a tool protocol as it really does.

The gateway offers tools in the custom instructions (``fns: [...]`` under aliases ``fn_0``…)
and renders earlier tool results into the message as ``<tool_result id="…">…</tool_result>``
(a follow-up in a conversation sends only the new results; the scenario reads the thread,
threads.py). These scenarios read both, like the model: while the conversation has fewer tool results than
``calls``, they call a tool; then they answer in prose, quoting the last tool result, so a
test can see the round trip closed.

``#scenario:agent`` parameters (URL-encoded values):

* ``prop`` — call the function whose parameters have this property (``cmd`` is Codex's
  exec_command, ``command`` Claude Code's Bash); default: the first with ``command`` or ``cmd``;
* ``args`` — the JSON arguments; default ``{"<prop>": "echo hello-from-grok"}``;
* ``shape`` — how Grok writes the call: ``tagged`` (default), ``bare`` (a JSON object in the
  prose), ``fenced`` (a ```json fence), ``patch`` (a raw-input call of the free-text patch
  tool), ``prose_patch`` (the patch shown as text in a ```diff fence, with the decorated
  ``*** Begin Patch ***`` envelope some models write);
* ``pre`` — prose before the call ("Let me run that."); ``think`` — thinking tokens first;
* ``calls`` — tool rounds before the final answer (default 1); ``done`` — the final answer
  (default ``Done. The tool said: <last line of the last result>``);
* ``file`` / ``line`` — the file a patch adds and its one line.
"""

from __future__ import annotations

import json
import re

from .scenarios import Chat, Params, scenario, split_tokens

RESULT = re.compile(r'<tool_result id="[^"]*"[^>]*>(.*?)</tool_result>', re.S)
TOKEN_SIZE = 7


def offered(instructions: str) -> list[dict]:
    """The function declarations of the protocol block (the last `fns: ` line)."""
    for line in reversed(instructions.splitlines()):
        if line.startswith("fns: "):
            try:
                return json.loads(line[5:])
            except ValueError:
                return []
    return []


def find_function(fns: list[dict], prop: str | None) -> dict | None:
    wanted = [prop] if prop else ["command", "cmd"]
    for name in wanted:
        for fn in fns:
            if name in ((fn.get("parameters") or {}).get("properties") or {}):
                return fn
    return None


def patch_tool(fns: list[dict]) -> dict | None:
    return next((fn for fn in fns if "input" in fn and "Begin Patch" in (fn.get("format") or "")), None) or next(
        (fn for fn in fns if "input" in fn), None
    )


def patch_text(p: Params, decorated: bool = False) -> str:
    end = " ***" if decorated else ""
    return (
        f"*** Begin Patch{end}\n*** Add File: {p.str('file') or 'hello.txt'}\n"
        f"+{p.str('line') or 'hello from grok'}\n*** End Patch{end}\n"
    )


def call_text(c: Chat, p: Params) -> str:
    fns = offered(p.get("_instructions", ""))
    shape = p.str("shape") or "tagged"
    if shape in ("patch", "prose_patch"):
        tool = patch_tool(fns)
        if shape == "prose_patch" or tool is None:
            return "I'll create the file.\n\n```diff\n" + patch_text(p, decorated=True) + "```"
        return f'<tool_call name="{tool["name"]}">\n{patch_text(p)}</tool_call>'
    fn = find_function(fns, p.str("prop"))
    if fn is None:
        return "I have no tool to run that."
    prop = p.str("prop") or next(k for k in ("command", "cmd") if k in fn["parameters"]["properties"])
    args = json.loads(p.str("args")) if p.str("args") else {prop: "echo hello-from-grok"}
    body = json.dumps({"name": fn["name"], "arguments": args})
    if shape == "bare":
        return body
    if shape == "fenced":
        return f"```json\n{body}\n```"
    return f"<tool_call>{body}</tool_call>"


@scenario("agent")
def _agent(c: Chat, p: Params):
    if p.bool("think"):
        for t in ("The user wants ", "a command run. ", "I will use the tool."):
            c.token(t, thinking=True, tag="analysis", messageStepId=0)
    results = RESULT.findall(c.message)
    if len(results) < p.int("calls", 1):
        text = (p.str("pre") + " " if p.str("pre") else "") + call_text(c, p)
    else:
        said = results[-1].strip().splitlines()
        text = p.str("done") or f"Done. The tool said: {said[-1] if said else '(nothing)'}"
    c.tokens(split_tokens(text, TOKEN_SIZE))
