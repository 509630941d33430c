"""Golden tests for app.engine.prompt: OpenAI messages -> one upstream message.

Reference behaviours are named ``test_refNN_…`` after the reference implementation's own
tests; deliberate differences name the gap they close.
"""

from __future__ import annotations

import json
import logging

import pytest

from app.engine.extract import parse_complete
from app.engine.prompt import UnsupportedContent, UpstreamPrompt, build_prompt
from app.engine.tools import ToolSet


def fn(name):
    return {"type": "function", "function": {"name": name}}


def user(content, **extra):
    return {"role": "user", "content": content, **extra}


def assistant(content, *calls):
    message = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [
            {"id": cid, "type": "function", "function": {"name": name, "arguments": args}} for cid, name, args in calls
        ]
    return message


def tool(call_id, content):
    return {"role": "tool", "tool_call_id": call_id, "content": content}


WEATHER_TOOLS = ToolSet.from_request([fn("get_weather"), fn("get_time")], "auto")


def test_single_user_message_is_sent_verbatim():
    prompt = build_prompt([user("Hello <u>there</u>")], None)
    assert prompt == UpstreamPrompt(message="Hello <u>there</u>", custom_instructions=None)


def test_ref54_history_joined_with_single_newline():
    prompt = build_prompt([user("hi"), assistant("hello")], None)
    assert prompt.message == "<u>hi</u>\n<a>hello</a>"


def test_ref52_tool_result_rendering():
    prompt = build_prompt([user("q"), tool("call_123", "result data")], None)
    assert prompt.message == '<u>q</u>\n<tool_result id="call_123">result data</tool_result>'


def test_ref53_assistant_tool_calls_rendering():
    prompt = build_prompt([user("q"), assistant("calling", ("c1", "foo", '{"x":1}'))], None)
    assert prompt.message == (
        '<u>q</u>\n<a>calling<tool_call>{"id":"c1","name":"foo","arguments":{"x":1}}</tool_call></a>'
    )


def test_ref51_developer_is_a_system_role_other_roles_are_tags():
    """Gap 12: developer messages are instructions, not inlined text."""
    prompt = build_prompt(
        [{"role": "developer", "content": "Be terse."}, user("a"), {"role": "critic", "content": "meh"}], None
    )
    assert prompt.custom_instructions == "Be terse."
    assert prompt.message == "<u>a</u>\n<critic>meh</critic>"


def test_multi_turn_tool_loop_golden():
    messages = [
        {"role": "system", "content": "Be terse."},
        user("Weather and time in Paris?"),
        assistant(
            None, ("call_1", "get_weather", '{"city": "Paris"}'), ("call_2", "get_time", '{"tz":"Europe/Paris"}')
        ),
        tool("call_1", '{"temp_c":18}'),
        tool("call_2", "12:00"),
        assistant("18 °C, noon."),
        user("And in Oslo?"),
    ]
    prompt = build_prompt(messages, WEATHER_TOOLS)
    assert prompt.message == (
        "<u>Weather and time in Paris?</u>\n"
        '<a><tool_call>{"id":"call_1","name":"fn_0","arguments":{"city":"Paris"}}</tool_call>'
        '<tool_call>{"id":"call_2","name":"fn_1","arguments":{"tz":"Europe/Paris"}}</tool_call></a>\n'
        '<tool_result id="call_1">{"temp_c":18}</tool_result>\n'
        '<tool_result id="call_2">12:00</tool_result>\n'
        "<a>18 °C, noon.</a>\n"
        "<u>And in Oslo?</u>"
    )
    assert prompt.custom_instructions == WEATHER_TOOLS.protocol_block() + "\n\nBe terse."
    assert prompt.tool_call_ids == {"call_1", "call_2"}


def test_rendered_history_calls_parse_back_to_the_same_calls():
    """Gap 9: history calls are valid JSON in the protocol the model is asked to use."""
    messages = [user("q"), assistant("x", ('c"1', "get_time", '{"a": "</tool_call>"}'))]
    rendered = build_prompt(messages, WEATHER_TOOLS).message
    _, calls = parse_complete(WEATHER_TOOLS, rendered.split("<a>x", 1)[1])
    assert [(c.id, c.name, json.loads(c.arguments)) for c in calls] == [('c"1', "get_time", {"a": "</tool_call>"})]


def test_without_tools_history_shows_real_names():
    prompt = build_prompt([user("q"), assistant("", ("c1", "get_weather", "{}"))], None)
    assert '"name":"get_weather"' in prompt.message


def test_function_not_offered_now_keeps_its_real_name():
    prompt = build_prompt([user("q"), assistant("", ("c1", "old_tool", "{}"))], WEATHER_TOOLS)
    assert '{"id":"c1","name":"old_tool","arguments":{}}' in prompt.message


@pytest.mark.parametrize(
    "arguments, rendered",
    [
        ("", "{}"),
        ("not json", '"not json"'),
        ("[1,2]", '"[1,2]"'),
        ('{"q": "a\\"b", "n": [1, 2.5]}', '{"q":"a\\"b","n":[1,2.5]}'),
    ],
)
def test_history_arguments_are_embedded_as_valid_json(arguments, rendered):
    prompt = build_prompt([user("q"), assistant("", ("c1", "f", arguments))], None)
    body = prompt.message.split("<tool_call>")[1].split("</tool_call>")[0]
    assert body == '{"id":"c1","name":"f","arguments":' + rendered + "}"
    json.loads(body)


def test_tool_result_id_is_escaped():
    prompt = build_prompt([user("q"), tool('a"b\\c', "r"), {"role": "tool", "content": "s"}], None)
    assert prompt.message == (
        '<u>q</u>\n<tool_result id="a\\"b\\\\c">r</tool_result>\n<tool_result id="unknown">s</tool_result>'
    )


def test_lone_assistant_or_tool_message_is_not_taken_for_the_user():
    """Gap 12: the shortcut only applies to a single user message."""
    assert build_prompt([assistant("I said this")], None).message == "<a>I said this</a>"
    assert build_prompt([tool("c1", "out")], None).message == '<tool_result id="c1">out</tool_result>'


def test_single_user_message_with_tool_calls_key_is_rendered():
    prompt = build_prompt([{"role": "user", "content": "q", "tool_calls": []}], None)
    assert prompt.message == "<u>q</u>"


def test_content_parts_are_joined_with_newlines():
    parts = [{"type": "text", "text": "line one"}, {"type": "text", "text": "line two"}]
    assert build_prompt([user(parts)], None).message == "line one\nline two"
    refusal = assistant([{"type": "refusal", "refusal": "I can't."}])
    assert build_prompt([user("q"), refusal], None).message == "<u>q</u>\n<a>I can't.</a>"
    system = {"role": "system", "content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]}
    assert build_prompt([system, user(None)], None) == UpstreamPrompt("", "A\nB")


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
        {"type": "file", "file": {"file_id": "file-1"}},
    ],
)
def test_non_text_parts_are_rejected_not_dropped(part):
    messages = [user("first"), user([{"type": "text", "text": "look:"}, part])]
    with pytest.raises(UnsupportedContent) as err:
        build_prompt(messages, None)
    assert (err.value.message_index, err.value.part_index, err.value.part_type) == (1, 1, part["type"])
    assert f"messages[1].content[1]: content parts of type '{part['type']}'" in str(err.value)


def test_custom_instructions_assembly_order():
    messages = [
        {"role": "system", "content": "S1"},
        user("q"),
        {"role": "developer", "content": "D1"},
        {"role": "system", "content": ""},
    ]
    prompt = build_prompt(messages, WEATHER_TOOLS, extra_instructions=("Answer in JSON.",))
    assert prompt.custom_instructions == "\n\n".join([WEATHER_TOOLS.protocol_block(), "S1", "D1", "Answer in JSON."])
    assert build_prompt([user("q")], None, ["X"]).custom_instructions == "X"
    assert build_prompt([user("q")], WEATHER_TOOLS).custom_instructions == WEATHER_TOOLS.protocol_block()
    assert build_prompt([{"role": "system", "content": " "}, user("q")], None).custom_instructions is None


def test_only_system_messages_are_the_message():
    # OpenAI answers a conversation of system messages alone; grok.com needs a message.
    prompt = build_prompt([{"role": "system", "content": "x"}, {"role": "developer", "content": "y"}], None)
    assert (prompt.message, prompt.custom_instructions) == ("x\n\ny", None)
    prompt = build_prompt([{"role": "system", "content": "Write a haiku."}], WEATHER_TOOLS, ["Answer in JSON."])
    assert prompt.message == "Write a haiku."
    assert prompt.custom_instructions == WEATHER_TOOLS.protocol_block() + "\n\nAnswer in JSON."


def test_only_empty_system_messages_is_an_error():
    with pytest.raises(ValueError, match="^messages must contain some text: the system messages are empty$"):
        build_prompt([{"role": "system", "content": " "}, {"role": "developer", "content": None}], None)


def test_message_name_is_ignored_with_a_debug_log(caplog):
    with caplog.at_level(logging.DEBUG, logger="app.engine.prompt"):
        prompt = build_prompt([user("hi", name="alice"), user("again", name="bob")], None)
    assert prompt.message == "<u>hi</u>\n<u>again</u>"
    assert "messages[0].name is not passed upstream" in caplog.text
    assert "messages[1].name" in caplog.text


def test_content_of_the_wrong_type_is_a_value_error():
    with pytest.raises(ValueError, match=r"messages\[0\].content must be"):
        build_prompt([user(42)], None)
