"""POST /v1/messages and /v1/messages/count_tokens through the official anthropic SDK (and raw
HTTP where the SDK hides the wire) against the app under gunicorn and the fake grok.com:
every input shape of docs/agents.md. Every Message, stream and error is checked against the
SDK's own types and Anthropic's event order (tests/support/anthropic_client.py)."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor

import anthropic
import pytest
import requests

from tests.fakegrok.media import jpeg
from tests.fakegrok.scenarios import USAGE_LIMIT_MSG
from tests.support.anthropic_client import check_messages_stream, claude, claude_recorder, client  # noqa: F401
from tests.support.gunicorn import GunicornServer, app_env
from tests.support.oai import scenario, sse_events

pytestmark = pytest.mark.usefixtures("clean_fake")

NEW = "/rest/app-chat/conversations/new"
BASH = {
    "name": "Bash",
    "description": "Executes a bash command",
    "input_schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"command": {"type": "string"}, "description": {"type": "string"}},
        "required": ["command"],
        "additionalProperties": False,
    },
}
PLACEHOLDER = {
    "name": "DeferredToolPlaceholder",
    "description": "Reserved placeholder; never call this tool.",
    "input_schema": {"type": "object", "properties": {}},
    "defer_loading": True,
    "cache_control": {"type": "ephemeral"},
    "strict": True,
}
HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01", "anthropic-beta": "claude-code-20250219,oauth-2025"}


@pytest.fixture(scope="module")
def quick_server(fake_module):
    with GunicornServer(app_env(fake_module, HEARTBEAT_SECS="0.3")) as srv:
        yield srv


def upstream(server) -> dict:
    return server.fake.requests_log(NEW)[-1]["body"]


def post(server, body: dict, path: str = "/v1/messages?beta=true") -> requests.Response:
    return requests.post(server.url + path, json=body, headers=HEADERS, timeout=30)


def stream_events(resp: requests.Response) -> list[dict]:
    pairs = sse_events(resp.content)
    assert check_messages_stream(pairs) == []
    return [event for _, event in pairs]


def ask(claude, text, **kw):
    kw.setdefault("model", "claude-opus-5-5")
    kw.setdefault("max_tokens", 1024)
    return claude.messages.create(messages=[{"role": "user", "content": text}], **kw)


# -- basics ------------------------------------------------------------------------------------------
def test_create_returns_a_message(claude, server):
    msg = ask(claude, "hi " + scenario("plain", text="Hello."), system="You are terse.")
    assert msg.type == "message" and msg.role == "assistant" and msg.model == "claude-opus-5-5"
    assert [b.type for b in msg.content] == ["text"] and msg.content[0].text == "Hello."
    assert msg.stop_reason == "end_turn" and msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    body = upstream(server)
    assert body["customInstructions"] == "You are terse." and body["modeId"] == "expert"


def test_stream_helper(claude):
    with claude.messages.stream(
        model="claude-opus-5-5", max_tokens=64, messages=[{"role": "user", "content": "hi " + scenario("plain")}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.startswith("Hello from fake grok") and final.content[0].text == text
    assert final.stop_reason == "end_turn"


def test_system_blocks_and_system_messages_anywhere_fold_into_the_system_prompt(server):
    body = {
        "model": "claude-opus-5-5",
        "max_tokens": 128000,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.332; cc_entrypoint=sdk-cli;"},
            {"type": "text", "text": "You are a Claude agent.", "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "<system-reminder>git</system-reminder>"}]},
            {"role": "system", "content": "# Environment\ncwd", "output_config": {"effort": "medium"}},
            {"role": "user", "content": "say hi " + scenario("plain", text="hi")},
            {"role": "system", "content": [{"type": "text", "text": "Last word.", "cache_control": {}}]},
        ],
        "thinking": {"type": "adaptive", "display": "omitted"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "medium"},
        "metadata": {"user_id": json.dumps({"device_id": "d", "session_id": "s"})},
        "stream": False,
    }
    resp = post(server, body)
    assert resp.status_code == 200 and resp.json()["content"][0]["text"] == "hi"
    sent = upstream(server)
    assert sent["customInstructions"] == "You are a Claude agent.\n\n# Environment\ncwd\n\nLast word."
    assert "billing" not in sent["customInstructions"]


# -- tools -----------------------------------------------------------------------------------------------
def test_tool_use_round_trip(claude, server):
    marker = scenario("agent", prop="command", args='{"command":"echo hi","description":"Print"}', pre="Running it.")
    first = ask(claude, "run " + marker, tools=[BASH, PLACEHOLDER])
    assert first.stop_reason == "tool_use"
    [use] = [b for b in first.content if b.type == "tool_use"]
    assert use.name == "Bash" and use.input == {"command": "echo hi", "description": "Print"}
    messages = [
        {"role": "user", "content": "run " + marker},
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "hi", "is_error": False}],
        },
    ]
    second = claude.messages.create(model="claude-opus-5-5", max_tokens=1024, tools=[BASH], messages=messages)
    assert second.stop_reason == "end_turn" and second.content[-1].text == "Done. The tool said: hi"
    assert f'<tool_result id="{use.id}">hi</tool_result>' in upstream(server)["message"]


def test_streamed_tool_use_blocks(server):
    body = {
        "model": "claude-opus-5-5",
        "max_tokens": 1024,
        "tools": [BASH],
        "messages": [{"role": "user", "content": "run " + scenario("agent", args='{"command":"ls -la /tmp"}')}],
        "stream": True,
    }
    events = stream_events(post(server, body))
    start = next(e for e in events if e["type"] == "content_block_start")
    assert start["content_block"]["type"] == "tool_use" and start["content_block"]["name"] == "Bash"
    pieces = [e["delta"]["partial_json"] for e in events if e["type"] == "content_block_delta"]
    assert len(pieces) > 1 and json.loads("".join(pieces)) == {"command": "ls -la /tmp"}
    assert events[-2]["delta"]["stop_reason"] == "tool_use" and events[-1]["type"] == "message_stop"


@pytest.mark.parametrize(
    "choice,expected",
    [({"type": "any"}, "MUST call a function."), ({"type": "tool", "name": "Bash"}, 'Call "fn_0" once')],
)
def test_tool_choice(server, choice, expected):
    post(
        server,
        {
            "model": "claude-x",
            "max_tokens": 10,
            "tools": [BASH],
            "tool_choice": choice,
            "messages": [{"role": "user", "content": "x"}],
        },
    )
    assert expected in upstream(server)["customInstructions"]


def test_auto_choice_without_parallel_calls_keeps_one_call(server):
    calls = "".join(
        "<tool_call>" + json.dumps({"name": "fn_0", "arguments": {"command": c}}) + "</tool_call>"
        for c in ("ls", "pwd")
    )
    body = {
        "model": "claude-x",
        "max_tokens": 100,
        "tools": [BASH],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "messages": [{"role": "user", "content": scenario("tool_call", text=calls)}],
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 40,
    }
    resp = post(server, body)
    assert resp.status_code == 200, resp.text
    assert [(b["type"], b["input"]) for b in resp.json()["content"]] == [("tool_use", {"command": "ls"})]
    assert resp.json()["stop_reason"] == "tool_use"
    assert "Call when it fits." in upstream(server)["customInstructions"]


def test_compaction_text_reaches_the_client_unfiltered(server):
    # Claude Code's /compact offers its tools and retries once when <summary> is missing.
    summary = "<analysis>\nThe user wanted x.\n</analysis>\n\n<summary>\n1. Primary Request: x\n</summary>"
    body = {
        "model": "claude-opus-5-5",
        "max_tokens": 20000,
        "stream": True,
        "tools": [BASH],
        "messages": [{"role": "user", "content": "compact " + scenario("plain", text=summary)}],
    }
    events = stream_events(post(server, body))
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    assert text == summary and events[-2]["delta"]["stop_reason"] == "end_turn"


def test_tool_choice_none_and_server_tools_offer_nothing(server):
    web = {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}
    post(
        server, {"model": "claude-x", "max_tokens": 10, "tools": [web], "messages": [{"role": "user", "content": "x"}]}
    )
    assert "customInstructions" not in upstream(server)
    post(
        server,
        {
            "model": "claude-x",
            "max_tokens": 10,
            "tools": [BASH],
            "tool_choice": {"type": "none"},
            "messages": [{"role": "user", "content": "x"}],
        },
    )
    assert "customInstructions" not in upstream(server)


def test_every_content_block_is_accepted(server):
    image = base64.b64encode(jpeg("cat", 0)).decode()
    body = {
        "model": "claude-opus-5-5",
        "max_tokens": 100,
        "tools": [BASH],
        "messages": [
            {"role": "user", "content": "first"},
            {"role": "user", "content": "consecutive user turns are fine"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Let me think.", "signature": "sig-1"},
                    {"type": "redacted_thinking", "data": "opaque"},
                    {"type": "text", "text": "Running a command."},
                    {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "echo a"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "a"}],
                        "is_error": True,
                        "cache_control": {"type": "ephemeral"},
                    },
                    {"type": "text", "text": "look " + scenario("plain", text="ok")},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": image}},
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "doc body"},
                        "title": "notes",
                    },
                    {"type": "mystery_block", "x": 1},
                ],
            },
        ],
    }
    resp = post(server, body)
    assert resp.status_code == 200, resp.text
    sent = upstream(server)
    assert (
        '<a>Running a command.<tool_call>{"id":"toolu_1","name":"fn_0",'
        '"arguments":{"command":"echo a"}}</tool_call></a>' in sent["message"]
    )
    assert '<tool_result id="toolu_1">[error] a</tool_result>' in sent["message"]
    assert "[document: notes]\ndoc body" in sent["message"]
    assert len(sent["fileAttachments"]) == 1  # the image of the latest turn, uploaded to grok.com


# -- thinking ----------------------------------------------------------------------------------------------
def test_thinking_blocks_when_asked(claude):
    with claude.messages.stream(
        model="claude-opus-5-5",
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "why " + scenario("thinking")}],
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "Let me think about this carefully." and final.content[0].signature


@pytest.mark.parametrize(
    "thinking, blocks",
    [
        (None, ["text"]),
        ({"type": "disabled"}, ["text"]),
        ({"type": "adaptive", "display": "omitted"}, ["text"]),  # Claude Code's default
        ({"type": "adaptive", "display": "summarized"}, ["thinking", "text"]),
    ],
)
def test_thinking_blocks_only_when_asked(claude, thinking, blocks):
    msg = ask(claude, "why " + scenario("thinking"), **({"thinking": thinking} if thinking else {}))
    assert [b.type for b in msg.content] == blocks


# -- models, limits, stops -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "model,mode", [("claude-opus-5-5", "expert"), ("claude-haiku-4-5", "fast"), ("heavy", "heavy"), ("grok-4", "auto")]
)
def test_model_names(server, model, mode):
    post(server, {"model": model, "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]})
    assert upstream(server)["modeId"] == mode


def test_claude_model_mode_setting(start_server, fake_module):
    srv = start_server(app_env(fake_module, CLAUDE_MODEL_MODE="fast"))
    requests.post(
        srv.url + "/v1/messages",
        json={"model": "claude-opus-5-5", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]},
        timeout=30,
    )
    assert fake_module.requests_log(NEW)[-1]["body"]["modeId"] == "fast"


def test_max_tokens_and_stop_sequences(claude):
    cut = ask(claude, scenario("plain", tokens=300), max_tokens=5)
    assert cut.stop_reason == "max_tokens"
    stopped = ask(claude, scenario("plain", text="one two STOP three"), stop_sequences=["STOP"])
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "STOP"
    assert stopped.content[0].text == "one two "


# -- errors ------------------------------------------------------------------------------------------------------
def test_tool_and_stop_floods_are_an_anthropic_400(server):
    from app.web.fields import MAX_TOOLS

    tool = {"name": "t", "description": "d", "input_schema": {"type": "object"}}
    base = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    for extra in ({"tools": [tool] * (MAX_TOOLS + 1)}, {"stop_sequences": [f"s{i}" for i in range(20_000)]}):
        resp = post(server, {**base, **extra})
        assert resp.status_code == 400 and resp.json()["error"]["type"] == "invalid_request_error", resp.text


def test_bad_input_is_an_anthropic_400(server):
    resp = post(server, {"model": "claude-x", "max_tokens": "lots", "messages": [{"role": "user", "content": "x"}]})
    assert resp.status_code == 400
    assert resp.json()["type"] == "error" and resp.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in resp.json()["error"]["message"]


def test_missing_key_is_an_anthropic_401(start_server, fake_module):
    srv = start_server(app_env(fake_module, API_KEY="secret-key"))
    resp = requests.post(srv.url + "/v1/messages?beta=true", json={"messages": []}, timeout=10)
    assert resp.status_code == 401 and resp.json()["error"]["type"] == "authentication_error"
    ok = requests.post(
        srv.url + "/v1/messages/count_tokens?beta=true",
        json={"model": "claude-x", "messages": [{"role": "user", "content": "foo"}]},
        headers={"x-api-key": "secret-key", "anthropic-version": "2026-10-21"},
        timeout=10,
    )
    assert ok.status_code == 200


def test_rate_limit_is_a_429_rate_limit_error(claude):
    with pytest.raises(anthropic.RateLimitError) as err:
        ask(claude, "x " + scenario("rate_limited", retry_after=7), stream=True)
    assert err.value.response.headers["retry-after"] == "7"
    assert err.value.body["error"]["type"] == "rate_limit_error"


def test_failure_after_the_start_is_an_error_event(server):
    body = {
        "model": "claude-x",
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": scenario("inband_error", code=13, message="model crashed")}],
    }
    events = stream_events(post(server, body))
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "error"
    assert "model crashed" in events[-1]["error"]["message"]


def test_a_usage_limit_after_the_start_is_a_rate_limit_error_event(server):
    marker = scenario("inband_error", message=USAGE_LIMIT_MSG)
    body = {"model": "claude-x", "max_tokens": 100, "stream": True, "messages": [{"role": "user", "content": marker}]}
    events = stream_events(post(server, body))
    assert any(e["type"] == "content_block_delta" for e in events)  # it failed after starting
    assert events[-1] == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": events[-1]["error"]["message"]},
    }
    assert "usage limit" in events[-1]["error"]["message"]


@pytest.mark.parametrize("where", ["status", "response"])
def test_a_conversation_too_long_for_grok_is_prompt_is_too_long(claude, where):
    # Claude Code compacts the conversation when Anthropic's error says "prompt is too long".
    with pytest.raises(anthropic.BadRequestError) as err:
        ask(claude, "x " + scenario("too_long", where=where), stream=True)
    assert err.value.status_code == 400 and err.value.body["error"]["type"] == "invalid_request_error"
    assert err.value.body["error"]["message"].startswith("prompt is too long: ")


def test_ping_during_upstream_silence(quick_server):
    body = {
        "model": "claude-x",
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": scenario("first_token_delay", delay=1.2, text="late")}],
    }
    events = stream_events(post(quick_server, body))
    assert [e["type"] for e in events].count("ping") >= 3
    assert events[-1]["type"] == "message_stop"


# -- count_tokens ---------------------------------------------------------------------------------------------------
def test_count_tokens(claude, server):
    small = claude.messages.count_tokens(model="claude-opus-5-5", messages=[{"role": "user", "content": "foo"}])
    big = claude.messages.count_tokens(
        model="claude-opus-5-5", messages=[{"role": "user", "content": "foo " * 500}], tools=[BASH], system="Be brief."
    )
    assert 0 < small.input_tokens < big.input_tokens
    assert server.fake.requests_log(NEW) == []  # estimated here, grok.com never asked


def test_count_tokens_takes_what_messages_takes(server):
    # A Claude Code session with a screenshot is megabytes: /context must still count it.
    shot = base64.b64encode(jpeg("screenshot", 0) + bytes(3 * 1024 * 1024)).decode()
    blocks = [{"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": shot}}]
    body = {
        "model": "claude-opus-5-5",
        "messages": [{"role": "user", "content": [*blocks, {"type": "text", "text": "hi"}]}],
    }
    counted = post(server, body, "/v1/messages/count_tokens?beta=true")
    assert counted.status_code == 200, counted.text[:300]
    assert 0 < counted.json()["input_tokens"] < 1000  # the image is named, not counted as text
    assert server.fake.requests_log("/rest/app-chat/upload-file") == []  # counting uploads nothing


def test_count_tokens_in_parallel_with_the_beta_query(server):
    # Claude Code's /context sends 26 of these at once.
    bodies = [
        {
            "model": "claude-opus-5-5",
            "messages": [{"role": "user", "content": f"section {i} " * (50 * i + 1)}],
            "tools": [BASH] * (i % 2),
        }
        for i in range(26)
    ]
    with ThreadPoolExecutor(26) as pool:
        results = list(pool.map(lambda b: post(server, b, "/v1/messages/count_tokens?beta=true"), bodies))
    assert [r.status_code for r in results] == [200] * 26
    counts = [r.json()["input_tokens"] for r in results]
    assert counts == sorted(counts) or len(set(counts)) > 20
