"""Tool calling through the official openai SDK against the app under gunicorn and the fake
grok.com: calls in non-streamed and streamed answers, parallel calls, a multi-turn tool
loop, every tool_choice form, and calls to functions that were not offered."""

from __future__ import annotations

import json

import openai
import pytest

from tests.support.lanes import server, upstream_chat  # noqa: F401  (fixtures: one server per chat lane)
from tests.support.oai import oai, recorder, scenario  # noqa: F401  (fixtures)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Local time in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture(autouse=True)
def clean_fake(server):
    server.fake.reset()


def upstream(server) -> dict:
    return upstream_chat(server.fake)


def call_text(*calls) -> str:
    return "".join(f"<tool_call>{json.dumps({'name': n, 'arguments': a})}</tool_call>" for n, a in calls)


def ask(oai, text, **kw):
    kw.setdefault("model", "expert")
    kw.setdefault("tools", [WEATHER, TIME])
    return oai.chat.completions.create(messages=[{"role": "user", "content": text}], **kw)


def test_tool_call_in_a_plain_answer(oai, server):
    resp = ask(oai, "Weather in Paris? " + scenario("tool_call"))
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    instructions = upstream(server)["customInstructions"]
    assert instructions.startswith("fn-call protocol.")
    assert '"name":"fn_0"' in instructions and "get_weather" not in instructions


def streamed_calls(chunks) -> list[dict]:
    """The calls of a streamed answer as an OpenAI client assembles them, with their pieces."""
    calls: list[dict] = []
    for chunk in chunks:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            if delta.id is not None:
                assert delta.index == len(calls), "a new call takes the next index"
                calls.append({"id": delta.id, "name": delta.function.name, "type": delta.type, "pieces": []})
            assert delta.index == len(calls) - 1, "pieces continue the latest call"
            if delta.function.arguments:
                calls[delta.index]["pieces"].append(delta.function.arguments)
    return calls


def test_tool_call_deltas_in_a_stream(oai, recorder):
    chunks = list(ask(oai, "Weather? " + scenario("tool_call"), stream=True))
    [call] = streamed_calls(chunks)
    assert call["id"].startswith("call_") and call["type"] == "function" and call["name"] == "get_weather"
    assert json.loads("".join(call["pieces"])) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert not any(c.choices and c.choices[0].delta.content for c in chunks)


def test_tool_call_arguments_stream_as_grok_writes_them(oai):
    # The fake writes the call 5 characters per token: the arguments arrive in several pieces,
    # the first before the call is complete (issue: they used to arrive in one delta).
    chunks = list(ask(oai, "Weather? " + scenario("tool_call"), stream=True))
    [call] = streamed_calls(chunks)
    assert len(call["pieces"]) >= 3, call["pieces"]
    assert "".join(call["pieces"]) == '{"city":"Paris"}'


def test_prose_before_a_streamed_call_is_reasoning_not_content(oai):
    # Clients such as pydantic-ai take the first streamed text as the final answer and never
    # send the tool result back: narration before a call must not stream as content.
    text = "Let me check that. " + call_text(("fn_0", {"city": "Rome"}))
    chunks = list(ask(oai, "Rome? " + scenario("tool_call", text=text), stream=True))
    assert not any(c.choices and c.choices[0].delta.content for c in chunks)
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    assert reasoning.strip() == "Let me check that."
    [call] = streamed_calls(chunks)
    assert call["name"] == "get_weather"


def test_an_answer_without_calls_still_streams_while_tools_are_offered(oai):
    # Open WebUI offers its tools with every chat: a long answer must not wait for its end.
    words = " ".join(f"word{i}" for i in range(200))
    chunks = list(ask(oai, "Talk. " + scenario("plain", text=words), stream=True))
    contents = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(contents) == words
    assert len(contents) > 100  # released once it is clearly an answer, then token by token


@pytest.mark.parametrize("streamed", [False, True])
def test_parallel_calls_get_their_own_index_and_id(oai, streamed):
    text = "Both " + scenario("tool_call", text=call_text(("fn_0", {"city": "Paris"}), ("fn_1", {"city": "Oslo"})))
    if streamed:
        calls = streamed_calls(ask(oai, text, stream=True))
        assert [json.loads("".join(c["pieces"])) for c in calls] == [{"city": "Paris"}, {"city": "Oslo"}]
        names, ids = [c["name"] for c in calls], {c["id"] for c in calls}
    else:
        calls = ask(oai, text).choices[0].message.tool_calls
        names, ids = [c.function.name for c in calls], {c.id for c in calls}
    assert names == ["get_weather", "get_time"]
    assert len(ids) == 2


def test_parallel_tool_calls_false_keeps_the_first_call(oai):
    text = "Both " + scenario("tool_call", text=call_text(("fn_0", {"city": "Paris"}), ("fn_1", {"city": "Oslo"})))
    calls = ask(oai, text, parallel_tool_calls=False).choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather"]


def test_prose_before_a_call_is_content(oai):
    text = "Checking. " + call_text(("fn_0", {"city": "Rome"}))
    resp = ask(oai, "Rome? " + scenario("tool_call", text=text))
    assert resp.choices[0].message.content == "Checking."
    assert resp.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_multi_turn_tool_loop(oai, server):
    first = ask(oai, "Weather in Paris? " + scenario("tool_call"))
    call = first.choices[0].message.tool_calls[0]
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        first.choices[0].message.model_dump(exclude_none=True),
        {
            "role": "tool",
            "tool_call_id": call.id,
            "content": '{"temp_c": 18} ' + scenario("plain", text="It is 18 degrees in Paris."),
        },
    ]
    second = oai.chat.completions.create(model="expert", tools=[WEATHER, TIME], messages=messages)
    assert second.choices[0].message.content == "It is 18 degrees in Paris."
    assert second.choices[0].finish_reason == "stop"
    message = upstream(server)["message"]
    assert message.startswith("<u>Weather in Paris?</u>\n<a><tool_call>")
    assert '"name":"fn_0"' in message and call.id in message
    assert f'<tool_result id="{call.id}">{{"temp_c": 18}}' in message


def test_tool_choice_required(oai, server):
    ask(oai, "hi " + scenario("tool_call"), tool_choice="required")
    assert "MUST call a function." in upstream(server)["customInstructions"]


def test_tool_choice_named(oai, server):
    resp = ask(
        oai,
        "hi " + scenario("tool_call", text=call_text(("fn_1", {"city": "Oslo"}))),
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    assert 'Call "fn_1" once' in upstream(server)["customInstructions"]
    assert resp.choices[0].message.tool_calls[0].function.name == "get_time"


def test_tool_choice_naming_an_unknown_function_is_a_400(oai):
    with pytest.raises(openai.BadRequestError) as err:
        ask(oai, "hi", tool_choice={"type": "function", "function": {"name": "launch"}})
    assert err.value.body["param"] == "tool_choice" and "launch" in err.value.message


def test_tool_choice_none_offers_no_tools_and_extracts_nothing(oai, server):
    text = call_text(("fn_0", {"city": "Paris"}))
    resp = ask(oai, "hi " + scenario("tool_call", text=text), tool_choice="none")
    assert resp.choices[0].message.tool_calls is None
    assert resp.choices[0].message.content == text
    assert "customInstructions" not in upstream(server)


def test_call_to_a_function_that_was_not_offered_is_dropped(oai, server):
    text = "Sure. " + call_text(("rm_everything", {"path": "/"}))
    resp = ask(oai, "hi " + scenario("tool_call", text=text))
    assert resp.choices[0].message.tool_calls is None
    assert resp.choices[0].message.content == "Sure."
    assert resp.choices[0].finish_reason == "stop"
    assert "rm_everything" in server.logs() and "not offered" in server.logs()


def test_custom_tools_are_accepted_but_not_offered(oai, server):
    custom = {"type": "custom", "custom": {"name": "grammar_tool"}}
    resp = ask(oai, "hi", tools=[custom, WEATHER])
    assert resp.choices[0].finish_reason == "stop"
    assert "grammar_tool" not in upstream(server)["customInstructions"]
    assert "custom tools are not supported" in server.logs()
