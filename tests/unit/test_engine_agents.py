"""Golden prompts and answers for the coding agents' real tool sets.

tests/data/agents/*_request.json are requests shaped like Codex's (Responses API: developer
messages, function tools, a namespace, the free-text apply_patch with its grammar, tool search
and web search) and Claude Code's (Messages API: system blocks, a system message in the
conversation, its file and shell tools). The custom instructions the server sends grok.com for
them are pinned in *.golden.txt (regenerate with UPDATE_GOLDEN=1 after a deliberate change, and
read the diff: this is the text that makes Grok call tools instead of narrating edits).

Then the answers Grok gives to such prompts — tagged calls, bare JSON, fenced JSON, raw patch
calls, a patch written as text, prose before a call — each streamed in small pieces, must come
out as the calls the agent expects.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.anthropic.request import plan_messages
from app.engine.extract import CallDelta, CallStart
from app.engine.tools import ToolCall
from app.responses.request import plan_response

DATA = Path(__file__).resolve().parents[1] / "data" / "agents"
PATCH = "*** Begin Patch\n*** Add File: README.md\n+# Project\n*** End Patch\n"


def codex_turn():
    return plan_response(json.loads((DATA / "codex_request.json").read_text())).turn


def claude_turn():
    return plan_messages(json.loads((DATA / "claude_code_request.json").read_text()), "expert").turn


@pytest.mark.parametrize("name,turn", [("codex", codex_turn), ("claude_code", claude_turn)])
def test_golden_prompt(name, turn):
    instructions = turn().payload["customInstructions"]
    golden = DATA / f"{name}.golden.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(instructions)
    assert instructions == golden.read_text()


def test_codex_prompt_offers_every_tool_it_can_call():
    toolset = codex_turn().toolset
    keys = [f.key for f in toolset.functions]
    assert keys == [
        "exec_command",
        "write_stdin",
        "view_image",
        "apply_patch",
        "multi_agent_v1.spawn_agent",
        "multi_agent_v1.close_agent",
    ]
    assert toolset.patch_tool.alias == "fn_3"


def calls_from(turn, answer: str, piece: int = 5) -> tuple[str, list[ToolCall]]:
    """Feeds `answer` in pieces of `piece` characters; checks every streamed call's deltas."""
    extractor = turn.extractor()
    items = []
    for i in range(0, len(answer), piece):
        items += extractor.feed(answer[i : i + piece])
    items += extractor.finish()
    prose, calls, streamed = [], [], None
    for item in items:
        if isinstance(item, CallStart):
            streamed = (item.call.id, [])
        elif isinstance(item, CallDelta):
            streamed[1].append(item.text)
        elif isinstance(item, ToolCall):
            if streamed is not None:
                assert streamed[0] == item.id and "".join(streamed[1]) == item.arguments
                streamed = None
            calls.append(item)
        else:
            prose.append(item)
    return "".join(prose), calls


CODEX_ANSWERS = [
    # tagged, with the alias Grok was given
    (
        '<tool_call>{"name":"fn_0","arguments":{"cmd":"ls -la"}}</tool_call>',
        "",
        [("exec_command", None, {"cmd": "ls -la"})],
    ),
    # prose first, then a tagged call with spaces and a trailing comma
    (
        'Let me look at the tree first.\n<tool_call>{"name": "fn_0", "arguments": {"cmd": "git status",}}</tool_call>',
        "Let me look at the tree first.",
        [("exec_command", None, {"cmd": "git status"})],
    ),
    # bare JSON in the prose
    ('{"name": "fn_0", "arguments": {"cmd": "cat README.md"}}', "", [("exec_command", None, {"cmd": "cat README.md"})]),
    # a fenced JSON call
    (
        '```json\n{"name": "fn_2", "arguments": {"path": "shot.png"}}\n```',
        "",
        [("view_image", None, {"path": "shot.png"})],
    ),
    # a namespaced function by its alias: the call names its namespace
    (
        '<tool_call>{"name":"fn_5","arguments":{"agent_id":"a1"}}</tool_call>',
        "",
        [("close_agent", "multi_agent_v1", {"agent_id": "a1"})],
    ),
    # the free-text patch tool, raw
    (f'<tool_call name="fn_3">\n{PATCH}</tool_call>', "", [("apply_patch", None, PATCH)]),
    # the patch tool called with JSON
    ("<tool_call>" + json.dumps({"name": "fn_3", "input": PATCH}) + "</tool_call>", "", [("apply_patch", None, PATCH)]),
    # a "fake edit": the patch shown as text, decorated envelope, in a diff fence
    (
        "I'll add the README.\n\n```diff\n*** Begin Patch ***\n*** Add File: README.md\n+# Project\n"
        "*** End Patch ***\n```",
        "I'll add the README.",
        [("apply_patch", None, PATCH)],
    ),
    # the same, bare
    ("Here is the change:\n" + PATCH, "Here is the change:", [("apply_patch", None, PATCH)]),
    # two calls in one answer
    (
        '<tool_call>{"name":"fn_0","arguments":{"cmd":"a"}}</tool_call>\n<tool_call>{"name":"fn_0","arguments":{"cmd":"b"}}</tool_call>',
        "",
        [("exec_command", None, {"cmd": "a"}), ("exec_command", None, {"cmd": "b"})],
    ),
]


@pytest.mark.parametrize("answer,prose,expected", CODEX_ANSWERS)
@pytest.mark.parametrize("piece", [1, 5, 64])
def test_codex_answers(answer, prose, expected, piece):
    got_prose, calls = calls_from(codex_turn(), answer, piece)
    assert got_prose == prose
    got = [(c.name, c.namespace, c.arguments if c.kind == "custom" else json.loads(c.arguments)) for c in calls]
    assert got == expected


CLAUDE_ANSWERS = [
    (
        '<tool_call>{"name":"fn_0","arguments":{"command":"pytest -x","description":"Run the tests"}}</tool_call>',
        "",
        [("Bash", {"command": "pytest -x", "description": "Run the tests"})],
    ),
    (
        'I will read the test first.\n{"name": "fn_1", "arguments": {"file_path": "/work/test_x.py"}}',
        "I will read the test first.",
        [("Read", {"file_path": "/work/test_x.py"})],
    ),
    (
        "<tool_call>{'name': 'fn_2', 'arguments': {'file_path': 'x.py', 'old_string': 'a = 1', "
        "'new_string': 'a = 2', 'replace_all': False}}</tool_call>",
        "",
        [("Edit", {"file_path": "x.py", "old_string": "a = 1", "new_string": "a = 2", "replace_all": False})],
    ),
    (
        '<tool_call>{"name":"Write","arguments":{"file_path":"notes.md",'
        '"content":"line one\nline \\"two\\""}}</tool_call>',
        "",
        [("Write", {"file_path": "notes.md", "content": 'line one\nline "two"'})],
    ),
]


@pytest.mark.parametrize("answer,prose,expected", CLAUDE_ANSWERS)
@pytest.mark.parametrize("piece", [1, 5, 64])
def test_claude_code_answers(answer, prose, expected, piece):
    got_prose, calls = calls_from(claude_turn(), answer, piece)
    assert got_prose == prose
    assert [(c.name, json.loads(c.arguments)) for c in calls] == expected
