"""POST /v1/responses through the official openai SDK (and raw HTTP where the SDK hides the
wire) against the app under gunicorn and the fake grok.com, on both chat lanes: every input shape of
docs/agents.md.
Every Response object, stream event and error is validated against OpenAI's published
schemas, and every stream against the full event order (tests/support/oai.py)."""

from __future__ import annotations

import base64
import json
import time

import openai
import pytest
import requests

from tests.fakegrok.media import jpeg
from tests.fakegrok.scenarios import TOO_LONG_MSG, USAGE_LIMIT_MSG
from tests.support.gunicorn import GunicornServer, app_env
from tests.support.lanes import LANES, last_chat, server, upstream_chat  # noqa: F401  (fixtures: one server per chat lane)
from tests.support.oai import (  # noqa: F401
    check_responses_stream,
    client,
    oai,
    recorder,
    scenario,
    schema_errors,
    sse_events,
)

pytestmark = pytest.mark.usefixtures("clean_fake")

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "strict": True,
}
SHELL = {
    "type": "function",
    "name": "exec_command",
    "description": "Runs a command in a PTY",
    "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]},
    "strict": False,
}
APPLY_PATCH = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Use the `apply_patch` tool to edit files. This is a FREEFORM tool.",
    "format": {
        "type": "grammar",
        "syntax": "lark",
        "definition": 'start: begin_patch hunk+ end_patch\nbegin_patch: "*** Begin Patch" LF',
    },
}
AGENTS = {
    "type": "namespace",
    "name": "multi_agent_v1",
    "description": "Tools for spawning and managing sub-agents.",
    "tools": [
        {
            "type": "function",
            "name": "close_agent",
            "parameters": {"type": "object", "properties": {"agent": {"type": "string"}}},
        },
    ],
}


@pytest.fixture(scope="module", params=LANES)
def quick_server(request, fake_module):
    """Heartbeats every 0.3 s."""
    with GunicornServer(app_env(fake_module, HEARTBEAT_SECS="0.3", GROK_CHAT_LANE=request.param)) as srv:
        srv.lane = request.param
        yield srv


def upstream(server) -> dict:
    return upstream_chat(server.fake)


def post(server, body: dict, **kw) -> requests.Response:
    """A raw request; a JSON answer (a Response or an error) must match OpenAI's schemas."""
    resp = requests.post(server.url + "/v1/responses", json=body, timeout=30, **kw)
    if "json" in resp.headers.get("content-type", ""):
        assert schema_errors("Response" if resp.ok else "ErrorResponse", resp.json()) == []
    return resp


def events_of(resp: requests.Response) -> list[dict]:
    pairs = sse_events(resp.content)
    assert check_responses_stream(pairs) == []
    return [event for _, event in pairs]


# -- the basics --------------------------------------------------------------------------------------
def test_create_with_a_string_input_and_instructions(oai, server):
    resp = oai.responses.create(
        model="expert", input="say hi " + scenario("plain", text="Hi there."), instructions="be terse"
    )
    assert resp.status == "completed" and resp.output_text == "Hi there."
    assert resp.usage.input_tokens > 0 and resp.usage.output_tokens > 0
    body = upstream(server)
    assert body["customInstructions"] == "be terse" and body["modeId"] == "expert"


def test_stream_helper_with_typeless_items(oai):
    with oai.responses.stream(
        model="expert", input=[{"role": "user", "content": "hello " + scenario("plain", text="Hello back.")}]
    ) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "Hello back." and len(deltas) > 1
    assert final.output_text == "Hello back."


def test_developer_and_system_messages_are_instructions(oai, server):
    oai.responses.create(
        model="expert",
        input=[
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "You are Codex."}]},
            {"type": "message", "role": "system", "content": "Be careful."},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<env>cwd</env>"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        ],
    )
    body = upstream(server)
    assert body["customInstructions"] == "You are Codex.\n\nBe careful."
    assert body["message"] == "<u><env>cwd</env></u>\n<u>hi</u>"


def test_instructions_and_developer_messages_join_in_order(oai, server):
    oai.responses.create(
        model="expert",
        instructions="From the field.",
        input=[{"role": "developer", "content": "From Codex."}, {"role": "user", "content": "hi"}],
    )
    assert upstream(server)["customInstructions"] == "From the field.\n\nFrom Codex."


def test_an_image_codex_attaches_reaches_grok_as_a_file(oai, server):
    # `codex exec --image x.jpg "describe"` (docs/agents.md: Codex CLI)
    picture = jpeg("codex image", 0)
    content = [
        {"type": "input_text", "text": '<image name=[Image #1] path="/tmp/x.jpg">'},
        {
            "type": "input_image",
            "image_url": "data:image/jpeg;base64," + base64.b64encode(picture).decode(),
            "detail": "high",
        },
        {"type": "input_text", "text": "</image>"},
        {"type": "input_text", "text": "describe " + scenario("plain", text="A picture.")},
    ]
    resp = oai.responses.create(model="expert", input=[{"type": "message", "role": "user", "content": content}])
    assert resp.output_text == "A picture."
    [upload] = [e["body"] for e in server.fake.requests_log("/rest/app-chat/upload-file")]
    assert base64.b64decode(upload["content"]) == picture
    sent = upstream(server)
    assert len(sent["fileAttachments"]) == 1 and "describe" in sent["message"]


def test_input_files_are_attached_or_named(oai, server):
    notes = base64.b64encode(b"line 1\n").decode()
    content = [
        {"type": "input_file", "filename": "notes.txt", "file_data": "data:text/plain;base64," + notes},
        {"type": "input_file", "file_id": "file-abc"},  # no Files API here: named, not refused
        {"type": "input_text", "text": "read them " + scenario("plain", text="Read.")},
    ]
    resp = oai.responses.create(model="expert", input=[{"role": "user", "content": content}])
    assert resp.output_text == "Read."
    [upload] = [e["body"] for e in server.fake.requests_log("/rest/app-chat/upload-file")]
    assert upload["fileName"] == "notes.txt" and base64.b64decode(upload["content"]) == b"line 1\n"
    assert "[file: file-abc]" in upstream(server)["message"]


def test_the_api_key_guards_the_route(start_server, fake_module):
    srv = start_server(app_env(fake_module, API_KEY="secret-key"))
    keyless = openai.OpenAI(base_url=srv.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as err:
        keyless.responses.create(model="expert", input="hi")
    assert err.value.status_code == 401 and "secret-key" not in err.value.response.text
    keyed = openai.OpenAI(base_url=srv.url + "/v1", api_key="secret-key", max_retries=0)
    assert keyed.responses.create(model="expert", input="hi " + scenario("plain", text="ok")).output_text == "ok"


def test_thinking_is_a_reasoning_item_before_the_message(oai, recorder):
    with oai.responses.stream(model="expert", input="why? " + scenario("thinking")) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_response()
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output[0].summary[0].text == "Let me think about this carefully."
    assert kinds.index("response.reasoning_summary_text.delta") < kinds.index("response.output_text.delta")


def test_citations_are_url_citation_annotations(oai):
    resp = oai.responses.create(model="expert", input="A? " + scenario("search"))
    [part] = resp.output[-1].content
    [note] = part.annotations
    assert note.type == "url_citation" and note.url == "https://example.com/a"
    assert part.text[note.start_index : note.end_index] == "[[1]](https://example.com/a)"


# -- tools -----------------------------------------------------------------------------------------------
def test_function_tool_round_trip(oai, server):
    tools = [WEATHER, SHELL]
    marker = scenario("agent", prop="cmd", args='{"cmd":"echo hi"}', pre="Let me run it.")
    first = oai.responses.create(model="expert", input="run it " + marker, tools=tools)
    [call] = [item for item in first.output if item.type == "function_call"]
    assert call.name == "exec_command" and json.loads(call.arguments) == {"cmd": "echo hi"}
    assert call.call_id.startswith("call_") and call.id.startswith("fc_")
    history = [{"role": "user", "content": "run it " + marker}, *[i.model_dump() for i in first.output]]
    history.append({"type": "function_call_output", "call_id": call.call_id, "output": "hi\n"})
    second = oai.responses.create(model="expert", input=history, tools=tools)
    assert second.output_text == "Done. The tool said: hi"
    # The echoed history extends the first answer: only the result goes, as a follow-up.
    continued, follow_up = last_chat(server.fake)
    assert continued
    assert follow_up["message"] == f'<tool_result id="{call.call_id}" name="fn_1">hi\n</tool_result>'


def test_streamed_function_call_events(server):
    body = {
        "model": "expert",
        "input": "run " + scenario("agent", prop="cmd", args='{"cmd":"ls -la /tmp"}'),
        "tools": [SHELL],
        "stream": True,
    }
    events = events_of(post(server, body))
    deltas = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    assert len(deltas) > 1 and "".join(deltas) == '{"cmd":"ls -la /tmp"}'
    done = next(e for e in events if e["type"] == "response.output_item.done")
    assert done["item"]["type"] == "function_call" and done["item"]["status"] == "completed"


def test_namespace_tools_are_flattened_and_calls_name_their_namespace(server):
    body = {
        "model": "expert",
        "input": "close it " + scenario("agent", prop="agent", args='{"agent":"a1"}'),
        "tools": [AGENTS],
    }
    resp = post(server, body).json()
    [call] = resp["output"]
    assert call["namespace"] == "multi_agent_v1" and call["name"] == "close_agent"
    assert '"name":"fn_0"' in upstream(server)["customInstructions"]


@pytest.mark.parametrize("shape", ["patch", "prose_patch"])
def test_apply_patch_comes_back_as_a_custom_tool_call(server, shape):
    body = {
        "model": "expert",
        "input": "add hello.txt " + scenario("agent", shape=shape),
        "tools": [SHELL, APPLY_PATCH],
        "stream": True,
    }
    events = events_of(post(server, body))
    done = [
        e["item"]
        for e in events
        if e["type"] == "response.output_item.done" and e["item"]["type"] == "custom_tool_call"
    ]
    [item] = done
    assert item["name"] == "apply_patch"
    assert item["input"] == "*** Begin Patch\n*** Add File: hello.txt\n+hello from grok\n*** End Patch\n"
    deltas = [e["delta"] for e in events if e["type"] == "response.custom_tool_call_input.delta"]
    assert "".join(deltas) == item["input"]
    instructions = upstream(server)["customInstructions"]
    assert 'A fn declared with "input" takes free text' in instructions and "Begin Patch" in instructions


def test_every_history_item_a_client_sends_is_accepted(oai, server):
    # What Codex replays (docs/agents.md: Codex CLI): reasoning, custom tool calls, tool search and
    # web search items, extra keys, and tool history on a request with no tools (compaction).
    history = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "do it"}], "id": "msg_1"},
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "plan"}],
            "content": None,
            "encrypted_content": "opaque",
        },
        {
            "type": "function_call",
            "status": "completed",
            "id": "fc_1",
            "name": "exec_command",
            "arguments": '{"cmd": "echo x"}',
            "call_id": "call_a",
        },
        {"type": "function_call_output", "id": "fco_1", "call_id": "call_a", "output": "x\n"},
        {
            "type": "custom_tool_call",
            "id": "ctc_1",
            "status": "completed",
            "call_id": "call_b",
            "name": "apply_patch",
            "input": "*** Begin Patch\n*** End Patch\n",
        },
        {
            "type": "custom_tool_call_output",
            "call_id": "call_b",
            "output": [{"type": "input_text", "text": "Success."}],
        },
        {"type": "tool_search_call", "id": "ts_1", "arguments": {}},
        {"type": "tool_search_output", "id": "tso_1", "tools": []},
        {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "q"}},
        {"type": "additional_tools", "role": "developer", "tools": []},
        {"type": "compaction_trigger"},
        {"type": "item_reference", "id": "msg_0"},
        {"type": "something_new", "payload": 1},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Did it."}],
            "phase": "final",
        },
        {"role": "user", "content": "summarise " + scenario("plain", text="Summary.")},
    ]
    resp = oai.responses.create(model="expert", input=history, tools=[], parallel_tool_calls=False)
    assert resp.output_text == "Summary."
    message = upstream(server)["message"]
    assert '<tool_call>{"id":"call_a","name":"exec_command","arguments":{"cmd":"echo x"}}</tool_call>' in message
    assert '<tool_call name="apply_patch">*** Begin Patch' in message
    assert '<tool_result id="call_b">Success.</tool_result>' in message
    assert "<a>Did it.</a>" in message


def test_tool_types_the_server_cannot_offer_are_ignored(server):
    tools = [
        SHELL,
        {"type": "web_search", "external_web_access": False, "search_content_types": ["text", "image"]},
        {"type": "tool_search", "execution": "client", "description": "find tools", "parameters": {"type": "object"}},
        {"type": "file_search", "vector_store_ids": ["vs_1"]},
        {"type": "function", "name": "later", "parameters": {"type": "object"}, "defer_loading": True, "strict": True},
    ]
    resp = post(server, {"model": "expert", "input": "hi " + scenario("plain"), "tools": tools})
    assert resp.status_code == 200
    fns = upstream(server)["customInstructions"].splitlines()[-1]
    assert json.loads(fns[5:])[1]["name"] == "fn_1" and len(json.loads(fns[5:])) == 2
    assert "file_search" in server.logs()


@pytest.mark.parametrize(
    "choice,expected",
    [
        ("required", "MUST call a function."),
        ({"type": "function", "name": "exec_command"}, 'Call "fn_1" once'),
        (
            {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "get_weather"}]},
            "Call when it fits.",
        ),
    ],
)
def test_tool_choice(server, choice, expected):
    post(server, {"model": "expert", "input": "hi", "tools": [WEATHER, SHELL], "tool_choice": choice})
    assert expected in upstream(server)["customInstructions"]


def test_tool_choice_none_offers_nothing(server):
    post(server, {"model": "expert", "input": "hi", "tools": [WEATHER], "tool_choice": "none"})
    assert "customInstructions" not in upstream(server)


def test_parallel_tool_calls_false_keeps_one_call(server):
    text = "<tool_call>" + json.dumps({"name": "fn_0", "arguments": {"city": "A"}}) + "</tool_call>"
    marker = scenario("tool_call", text=text + text)
    resp = post(server, {"model": "expert", "input": marker, "tools": [WEATHER], "parallel_tool_calls": False}).json()
    assert [item["type"] for item in resp["output"]] == ["function_call"]


def test_parallel_calls_have_their_own_ids(server):
    calls = "".join(
        "<tool_call>" + json.dumps({"name": "fn_0", "arguments": {"city": city}}) + "</tool_call>" for city in "AB"
    )
    resp = post(server, {"model": "expert", "input": scenario("tool_call", text=calls), "tools": [WEATHER]}).json()
    items = [item for item in resp["output"] if item["type"] == "function_call"]
    assert [json.loads(item["arguments"])["city"] for item in items] == ["A", "B"]
    assert len({item["call_id"] for item in items}) == 2 and len({item["id"] for item in items}) == 2


def test_compaction_text_reaches_the_client_unfiltered(server):
    # A compaction answer is tagged text; with tools offered it must not be taken for a call.
    summary = "<analysis>\nThe user wanted x.\n</analysis>\n\n<summary>\n1. Primary request: x\n</summary>"
    body = {"model": "expert", "input": "compact " + scenario("plain", text=summary), "tools": [SHELL], "stream": True}
    events = events_of(post(server, body))
    assert events[-1]["type"] == "response.completed"
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == summary


def test_json_schema_text_format(server):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    text = {"format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": True}}
    marker = scenario("plain", text='Sure: ```json\n{"n": 4}\n```')
    resp = post(server, {"model": "expert", "input": "2+2 " + marker, "text": text}).json()
    assert json.loads(resp["output"][0]["content"][0]["text"]) == {"n": 4}
    assert 'JSON schema "answer"' in upstream(server)["customInstructions"]
    assert resp["text"]["format"]["name"] == "answer"


def test_max_output_tokens_ends_incomplete(server):
    body = {"model": "expert", "input": scenario("plain", tokens=200), "max_output_tokens": 5, "stream": True}
    events = events_of(post(server, body))
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_accepted_fields_are_echoed(server):
    body = {
        "model": "gpt-5.5",
        "input": "hi",
        "reasoning": {"effort": "medium", "summary": "auto"},
        "include": ["reasoning.encrypted_content"],
        "store": False,
        "prompt_cache_key": "session-1",
        "client_metadata": {"turn_id": "t1"},
        "text": {"verbosity": "low"},
        "temperature": 0.2,
        "top_p": 0.9,
        "metadata": {"k": "v"},
        "user": "u1",
        "truncation": "auto",
        "service_tier": "auto",
        "brand_new_field": {"x": 1},
    }
    resp = post(server, body)
    assert resp.status_code == 200
    got = resp.json()
    assert got["model"] == "gpt-5.5" and got["reasoning"] == {"effort": "medium", "summary": "auto"}
    assert got["metadata"] == {"k": "v"} and got["temperature"] == 0.2


# -- errors ------------------------------------------------------------------------------------------------
def test_bad_input_is_a_400_in_openais_shape(oai):
    with pytest.raises(openai.BadRequestError) as err:
        oai.responses.create(model="expert", input="hi", max_output_tokens="many")
    assert err.value.status_code == 400 and err.value.body["param"] == "max_output_tokens"


def test_tools_beyond_openais_limit_are_a_400(oai):
    from app.web.fields import MAX_TOOLS

    tools = [{**WEATHER, "name": f"tool_{i}"} for i in range(MAX_TOOLS + 1)]
    with pytest.raises(openai.BadRequestError) as err:
        oai.responses.create(model="expert", input="hi", tools=tools)
    assert err.value.body["param"] == "tools" and str(MAX_TOOLS) in err.value.message


def test_an_unknown_previous_response_id_is_a_clear_400(oai):
    with pytest.raises(openai.BadRequestError) as err:
        oai.responses.create(model="expert", input="hi", previous_response_id="resp_1")
    assert err.value.code == "previous_response_not_found" and err.value.param == "previous_response_id"
    assert "resp_1" in err.value.message


def test_rate_limit_before_the_stream_is_a_429_with_retry_after(oai):
    with pytest.raises(openai.RateLimitError) as err:
        oai.responses.create(model="expert", input="x " + scenario("rate_limited", retry_after=12), stream=True)
    assert err.value.response.headers["retry-after"] == "12"
    assert err.value.body["code"] == "rate_limit_exceeded"


def test_usage_limit_is_insufficient_quota(oai):
    with pytest.raises(openai.RateLimitError) as err:
        oai.responses.create(model="expert", input="x " + scenario("usage_limit"))
    assert err.value.body["code"] == "insufficient_quota"


@pytest.mark.parametrize(
    "marker,code",
    [
        (scenario("inband_error", code=13, message="model crashed"), "server_error"),
        (scenario("inband_error", code=8, message="Too many requests"), "rate_limit_exceeded"),
        (scenario("inband_error", code=3, message=TOO_LONG_MSG), "context_length_exceeded"),
        (scenario("inband_error", message=USAGE_LIMIT_MSG), "insufficient_quota"),
        (scenario("drop"), "server_error"),
    ],
)
def test_failures_mid_stream_end_with_response_failed(server, marker, code):
    events = events_of(post(server, {"model": "expert", "input": "x " + marker, "stream": True}))
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["error"]["code"] == code
    assert any(e["type"] == "response.output_text.delta" for e in events)  # it failed after starting


@pytest.mark.parametrize("where", ["status", "response"])
def test_a_conversation_too_long_for_grok_is_context_length_exceeded(oai, where):
    # Codex stops on this code instead of retrying (and compacts its history when it can).
    with pytest.raises(openai.BadRequestError) as err:
        oai.responses.create(model="expert", input="x " + scenario("too_long", where=where), stream=True)
    assert err.value.status_code == 400 and err.value.code == "context_length_exceeded"
    assert "shorten" in err.value.message


def test_a_rate_limit_after_a_long_silence_is_still_a_429_with_retry_after(quick_server):
    # grok.com may take longer than a heartbeat to refuse a turn. The WebSocket lane waits for grok.com
    # to accept the turn before the stream starts, so Codex still gets the status and the delay.
    marker = scenario("rate_limited", retry_after=12, refuse_after=1)
    resp = post(quick_server, {"model": "expert", "input": "x " + marker, "stream": True})
    assert resp.status_code == 429 and resp.headers["retry-after"] == "12"
    assert resp.json()["error"]["code"] == "rate_limit_exceeded"


def test_keepalives_are_events_not_comments(quick_server):
    body = {"model": "expert", "input": scenario("first_token_delay", delay=1.2, text="late"), "stream": True}
    resp = post(quick_server, body)
    assert b"\n:" not in resp.content and not resp.content.startswith(b":")
    events = events_of(resp)
    assert [e["type"] for e in events].count("response.in_progress") >= 3
    assert events[-1]["type"] == "response.completed"


def test_the_sdk_stream_helper_takes_the_keepalives(quick_server, recorder):
    sdk = client(quick_server.url, recorder)
    with sdk.responses.stream(model="expert", input=scenario("first_token_delay", delay=1.2, text="late")) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds.count("response.in_progress") >= 3 and final.output_text == "late"


def test_websocket_upgrade_is_refused_at_once(server):
    started = time.monotonic()
    resp = requests.get(
        server.url + "/v1/responses",
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
            "openai-beta": "responses_websockets=2026-02-06",
        },
        timeout=5,
    )
    assert resp.status_code == 426 and time.monotonic() - started < 1
    assert "POST /v1/responses" in resp.json()["detail"]
