"""Golden tests for app.engine.tools: the tool protocol block and tool-call extraction.

Reference behaviours are named ``test_refNN_…`` after the reference implementation's own tests;
where we deliberately differ, the test says which of its gaps it closes.
"""

from __future__ import annotations

import json
import logging
import random
import re

import pytest

from app.engine import extract as tools_module
from app.engine.extract import CallDelta, CallStart, ToolCallExtractor, normalise_arguments, parse_complete
from app.engine.lenient import json_object_end, loads_lenient
from app.engine.tools import InvalidToolRequest, ToolCall, ToolSet


def fn(name, **extra):
    return {"type": "function", "function": {"name": name, **extra}}


def toolset(*names, choice=None):
    return ToolSet.from_request([fn(n) for n in names], choice)


# The reference tests call functions "foo", "a", "b", "x"; the model may use real names.
TS = toolset("foo", "a", "b", "x", "get_weather")  # aliases fn_0 … fn_4


def call(name, args="{}", **extra):
    return "<tool_call>" + json.dumps({"name": name, "arguments": args, **extra}) + "</tool_call>"


def shape(items):
    """Order-preserving summary: adjacent prose merged, calls as (name, arguments). A streamed
    call (CallStart, CallDelta…, then the ToolCall) counts once, and its deltas must join to
    the final arguments."""
    out = []
    streamed = None
    for item in items:
        if isinstance(item, CallStart):
            assert streamed is None, "a call started inside another"
            streamed = (item.call.id, [])
            continue
        if isinstance(item, CallDelta):
            streamed[1].append(item.text)
            continue
        if isinstance(item, ToolCall) and streamed is not None:
            assert item.id == streamed[0] and "".join(streamed[1]) == item.arguments, (streamed, item)
            streamed = None
        assert streamed is None, f"{item!r} inside a streamed call"
        if isinstance(item, str):
            if out and out[-1][0] == "text":
                out[-1] = ("text", out[-1][1] + item)
            elif item:
                out.append(("text", item))
        else:
            out.append(("call", item.name, item.arguments))
    return out


def stream(chunks, ts=TS):
    extractor = ToolCallExtractor(ts)
    items = []
    for chunk in chunks:
        items += extractor.feed(chunk)
    return items + extractor.finish()


def names(calls):
    return [(c.name, c.arguments) for c in calls]


# --- reference behaviours 39-50, 60-63 ---------------------------------------------------


def test_ref39_parses_single_call():
    content, calls = parse_complete(TS, 'ok, calling\n<tool_call>{"name":"foo","arguments":{"x":1}}</tool_call>')
    assert content == "ok, calling"
    assert names(calls) == [("foo", '{"x":1}')]


def test_ref40_parses_multiple_calls():
    text = '<tool_call>{"name":"a","arguments":{}}</tool_call><tool_call>{"name":"b","arguments":{}}</tool_call>'
    content, calls = parse_complete(TS, text)
    assert content == ""
    assert names(calls) == [("a", "{}"), ("b", "{}")]


def test_ref41_partial_open_tag_is_held():
    extractor = ToolCallExtractor(TS)
    # Deliberate difference: the space before a possible call is held too (it would be
    # trimmed if a call followed); it is released with the next prose.
    assert extractor.feed("hello <tool") == ["hello"]
    assert extractor.feed("s are fun") == [" <tools are fun"]
    assert extractor.finish() == []


def test_ref42_full_open_tag_is_held():
    extractor = ToolCallExtractor(TS)
    assert extractor.feed("hello <tool_call>{partial") == ["hello"]


def test_ref43_text_without_markers_flushes_entirely():
    extractor = ToolCallExtractor(TS)
    assert extractor.feed("just text no tags") == ["just text no tags"]


def test_ref44_unclosed_unbalanced_tag_kept_as_content():
    text = 'hello <tool_call>{"name":"a"'
    assert parse_complete(TS, text) == (text, [])


def test_ref45_invalid_json_body_skipped():
    assert parse_complete(TS, "<tool_call>not json at all</tool_call>keep") == ("keep", [])


def test_ref46_missing_name_skipped():
    assert parse_complete(TS, '<tool_call>{"arguments":{}}</tool_call>after') == ("after", [])


def test_ref47_mixed_content_and_calls():
    text = 'thinking...\n<tool_call>{"name":"x","arguments":{"a":1}}</tool_call>\ntrailing'
    content, calls = parse_complete(TS, text)
    assert content == "thinking...\n\ntrailing"
    assert names(calls) == [("x", '{"a":1}')]


def test_ref48_string_arguments_holding_json_are_kept_as_that_json():
    _, calls = parse_complete(TS, '<tool_call>{"name":"x","arguments":"{\\"a\\":1}"}</tool_call>')
    assert names(calls) == [("x", '{"a":1}')]


def test_ref49_id_passed_through_when_present():
    _, calls = parse_complete(TS, '<tool_call>{"id":"call_abc","name":"x","arguments":{}}</tool_call>')
    assert calls[0].id == "call_abc"


def test_ref50_id_generated_when_missing():
    _, calls = parse_complete(TS, '<tool_call>{"name":"x","arguments":{}}</tool_call>')
    assert re.fullmatch(r"call_[0-9a-f]{24}", calls[0].id)


def test_ref60_unclosed_calls_back_to_back():
    text = '<tool_call>{"name":"a","arguments":{"x":1}}\n<tool_call>{"name":"b","arguments":{}}'
    content, calls = parse_complete(TS, text)
    assert content == ""
    assert names(calls) == [("a", '{"x":1}'), ("b", "{}")]


def test_ref61_unclosed_call_at_eof():
    content, calls = parse_complete(TS, 'thinking\n<tool_call>{"name":"a","arguments":{"x":1}}')
    assert content == "thinking"
    assert names(calls) == [("a", '{"x":1}')]


def test_ref62_json_object_end_handles_nested_and_strings():
    assert json_object_end('{"a":{"b":1}}rest') == 13
    assert json_object_end('{"s":"has } brace"}tail') == 19
    assert json_object_end('{"s":"esc \\" } still"}x') == 22
    assert json_object_end("{unterminated") is None
    assert json_object_end('xx{"a":1}', start=2) == 9


def test_ref63_partial_tag_hold_is_character_safe():
    extractor = ToolCallExtractor(TS)
    assert extractor.feed("héllo <to") == ["héllo"]
    assert extractor.feed("p") == [" <top"]


# --- streaming == one-shot ------------------------------------------------------------

STREAM_CASES = [
    'ok, calling\n<tool_call>{"name":"foo","arguments":{"x":1}}</tool_call>',
    'thinking...\n<tool_call>{"name":"fn_1","arguments":{"a":"}{"}}</tool_call>\ntrailing <b> text',
    '<tool_call>{"name":"a","arguments":{"x":1}}\n<tool_call>{"name":"b","arguments":{}}',
    'Sure.\n```json\n{"name": "get_weather", "arguments": {"city": "Zürich"}}\n```\nWaiting… 日本',
    '日本<tool_call>{"name":"fn_4","arguments":{"city":"東京"}}</tool_call>語 ok',
    'Code:\n```python\nd = {"name": "x", "arguments": 1}\nif a < b: print("<tool")\n```\n',
    "<tool_call>not json</tool_call>keep </tool_call> <tool_call>{'name': 'x', 'arguments': {'k': None,}}",
    'a {"id": 7, "v": [1, {"w": 2}]} b {"name": "nobody", "arguments": {}} c',
    '```\n<tool_call>{"name":"a"}</tool_call>\n<tool_call>{"name":"b"}</tool_call>\n```\nafter',
    'x <tool_call>\n```json\n{"name":"fn_0","arguments":{"q":"`"}}\n```\n</tool_call> y',
    'calls: {"name": "fn_2", "arguments": {"n": 1}} and {"function": {"name": "x", "arguments": "{}"}}.',
    "  leading and trailing whitespace kept  \n",
    'unclosed fence ```json\n{"name":"fn_3","arguments":{}}',
    '<tool_call>{"name":"nope","arguments":{}}</tool_call> <tool_call',
]


@pytest.mark.parametrize("text", STREAM_CASES)
def test_every_two_way_split_matches_one_shot(text):
    expected = shape(stream([text]))
    for cut in range(1, len(text)):
        assert shape(stream([text[:cut], text[cut:]])) == expected, cut


@pytest.mark.parametrize("text", STREAM_CASES)
def test_character_by_character_and_random_splits_match_one_shot(text):
    expected = shape(stream([text]))
    assert shape(stream(list(text))) == expected
    rng = random.Random(text)
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(text)), k=min(len(text) - 1, rng.randint(1, 8))))
        chunks = [text[i:j] for i, j in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        assert shape(stream(chunks)) == expected, chunks


def test_stream_cases_golden():
    # What the cases above must produce (the split tests only prove consistency).
    got = [shape(stream([t])) for t in STREAM_CASES]
    assert got[1] == [("text", "thinking..."), ("call", "a", '{"a":"}{"}'), ("text", "\n\ntrailing <b> text")]
    assert got[3] == [("text", "Sure."), ("call", "get_weather", '{"city":"Zürich"}'), ("text", "\n\nWaiting… 日本")]
    assert got[4] == [("text", "日本"), ("call", "get_weather", '{"city":"東京"}'), ("text", "語 ok")]
    assert got[5] == [("text", STREAM_CASES[5])]
    assert got[6] == [("text", "keep"), ("call", "x", '{"k":null}')]
    assert got[7] == [("text", STREAM_CASES[7])]
    assert got[8] == [("call", "a", "{}"), ("call", "b", "{}"), ("text", "after")]
    assert got[9] == [("text", "x"), ("call", "foo", '{"q":"`"}'), ("text", "  y")]
    assert got[10] == [
        ("text", "calls:"),
        ("call", "b", '{"n":1}'),
        ("text", "  and"),
        ("call", "x", "{}"),
        ("text", " ."),
    ]
    assert got[11] == [("text", STREAM_CASES[11])]
    assert got[12] == [("text", "unclosed fence"), ("call", "x", "{}")]
    assert got[13] == [("text", "<tool_call")]


def test_no_partial_tag_is_ever_emitted_while_streaming():
    text = 'a <tool_call>{"name":"a","arguments":{}}</tool_call> b <tool_call>{"name":"b"}</tool_call>'
    for cut in range(1, len(text)):
        extractor = ToolCallExtractor(TS)
        first = extractor.feed(text[:cut])
        emitted = "".join(x for x in first if isinstance(x, str))
        assert "<" not in emitted, (cut, emitted)


@pytest.mark.parametrize("n", range(1, len("<tool_call>")))
def test_prefix_of_open_tag_at_chunk_end_is_not_emitted(n):
    extractor = ToolCallExtractor(TS)
    assert extractor.feed("x " + "<tool_call>"[:n]) == ["x"]
    # …and is released as prose once it cannot be a tag any more.
    assert extractor.feed("!") == [" " + "<tool_call>"[:n] + "!"]


def test_prose_after_a_call_is_emitted_before_the_end():
    extractor = ToolCallExtractor(TS)
    items = extractor.feed('<tool_call>{"name":"a","arguments":{}}</tool_call>\nThe weather')
    assert shape(items) == [("call", "a", "{}"), ("text", "The weather")]
    assert extractor.feed(" is nice.") == [" is nice."]
    assert extractor.finish() == []


def test_prose_after_an_unclosed_call_is_emitted_before_the_end():
    extractor = ToolCallExtractor(TS)
    items = extractor.feed('<tool_call>{"name":"a","arguments":{}}\nNow wait')
    assert shape(items) == [("call", "a", "{}"), ("text", "Now wait")]


def test_a_call_streams_its_arguments_as_they_are_written():
    extractor = ToolCallExtractor(TS)
    [start, delta] = extractor.feed('<tool_call>{"name":"a","arguments":{"k":')
    assert isinstance(start, CallStart) and start.call.name == "a" and start.call.arguments == ""
    assert delta == CallDelta('{"k":')
    # The number may go on until a delimiter; after the object closes only the optional
    # closing tag is awaited.
    assert extractor.feed("1") == []
    assert extractor.feed("}}") == [CallDelta("1}")]
    [call] = extractor.feed("</tool_call>")
    assert call.id == start.call.id and call.arguments == '{"k":1}'


def test_streamed_arguments_are_repaired_on_the_way():
    # Single quotes, Python literals, a trailing comma, a raw newline in a string: what the
    # client concatenates is strict JSON, the same as the one-shot result.
    text = '<tool_call>{"name": "a", "arguments": {\'k\': None, \'msg\': "two\nlines", \'ok\': True,}}</tool_call>'
    pieces = stream(list(text))
    deltas = "".join(p.text for p in pieces if isinstance(p, CallDelta))
    assert json.loads(deltas) == {"k": None, "msg": "two\nlines", "ok": True}
    assert shape(pieces) == shape(stream([text])) == [("call", "a", deltas)]


def test_a_cut_off_streamed_call_is_closed_as_it_stood(caplog):
    with caplog.at_level(logging.WARNING, logger="app.engine.extract"):
        pieces = stream(['<tool_call>{"name":"a","arguments":{"path":"/tmp/x","body":"hal', "f"])
    assert shape(pieces) == [("call", "a", '{"path":"/tmp/x","body":"half"}')]
    assert "cut off" in caplog.text


def test_whitespace_between_and_around_calls_is_not_content():
    text = '\n<tool_call>{"name":"a"}</tool_call>\n\n  <tool_call>{"name":"b"}</tool_call>\n'
    content, calls = parse_complete(TS, text)
    assert content == ""
    assert [c.name for c in calls] == ["a", "b"]


def test_answer_without_calls_is_byte_identical():
    text = "  Hi!\n\nHere is {some} text with <b>tags</b> and `code` and ``` spaced.\n\n"
    assert parse_complete(TS, text) == (text, [])


CODE_ANSWERS = [
    '```python\ndef f(x):\n    return {"name": x, "arguments": [1, 2]}\n```\n',
    '```json\n{"id": 1, "name": "Alice", "tags": ["a", "b"]}\n```',
    '```json\n[{"name": "get_weather", "arguments": {}}]\n```',  # an array is data, not a call
    'function f() {\n  if (a < b) { return {name: "x"}; }\n}\n',
    '```js\nconst call = {name: "get_weather", arguments: {}};\n```',
    "````\n```json\nnested\n```\n````",
    "x = {'name': 'nobody', 'arguments': {}}",
    '{"name": "get_weather"}',  # no arguments key: not a call
]


@pytest.mark.parametrize("text", CODE_ANSWERS)
def test_code_answers_are_untouched(text):
    """Gap 7: fences and trimming only apply around calls, never to answers."""
    assert parse_complete(TS, text) == (text, [])
    assert shape(stream(list(text))) == [("text", text)]


def test_non_call_json_is_not_held():
    extractor = ToolCallExtractor(TS)
    assert extractor.feed('{"type": "object", "properties": ') == ['{"type": "object", "properties":']
    # A "{" at the very end is held until its first key shows.
    assert extractor.feed("{") == []
    assert extractor.feed('"city"') == [' {"city"']
    assert extractor.feed(': {"name": "Alice", ') == [': {"name": "Alice",']
    assert extractor.feed('"x": [{"name": "get_weather"') == [' "x": [{"name": "get_weather"']
    assert extractor.feed("```python\n") == ["```python"]


def test_bare_call_candidate_is_held_until_decided():
    extractor = ToolCallExtractor(TS)
    assert extractor.feed('Calling {"name": "fn_4", "argu') == ["Calling"]
    assert shape(extractor.feed('ments": {"city": "Paris"}} now')) == [
        ("call", "get_weather", '{"city":"Paris"}'),
        ("text", "  now"),
    ]


def test_bare_call_by_real_name_keeps_prose():
    """Gap 9: real names are recognised and the prose around a bare call is kept."""
    content, calls = parse_complete(
        TS, 'Let me check.\n{"name": "get_weather", "arguments": {"city": "Paris"}}\nOne moment.'
    )
    assert content == "Let me check.\n\nOne moment."
    assert names(calls) == [("get_weather", '{"city":"Paris"}')]


def test_fenced_bare_call_fence_removed():
    text = 'Sure:\n```json\n{"name":"fn_4","arguments":{"city":"Paris"}}\n```'
    content, calls = parse_complete(TS, text)
    assert content == "Sure:"
    assert names(calls) == [("get_weather", '{"city":"Paris"}')]


def test_fence_with_call_and_other_content_is_kept():
    text = '```json\n{"name":"fn_0","arguments":{}}\n{"data": 1}\n```'
    content, calls = parse_complete(TS, text)
    # The whitespace on both sides of the removed call stays (prose on both sides).
    assert content == '```json\n\n{"data": 1}\n```'
    assert names(calls) == [("foo", "{}")]


def test_bare_object_longer_than_the_bound_is_prose(monkeypatch):
    monkeypatch.setattr(tools_module, "BARE_CALL_MAX_CHARS", 40)
    extractor = ToolCallExtractor(TS)
    head = '{"arguments": {"text": "'
    assert extractor.feed(head) == []
    out = extractor.feed("y" * 30)  # passes 40 characters without closing
    assert "".join(out).startswith(head)
    long_call = '{"name": "fn_0", "arguments": {"text": "' + "y" * 30 + '"}}'
    assert parse_complete(TS, long_call) == (long_call, [])


def test_tag_without_json_body_is_released_after_the_bound(monkeypatch):
    monkeypatch.setattr(tools_module, "TAG_JUNK_MAX_CHARS", 30)
    extractor = ToolCallExtractor(TS)
    assert extractor.feed("I use the <tool_call> tag ") == ["I use the"]
    out = extractor.feed("to call functions, as documented.")
    assert "".join(out) == " <tool_call> tag to call functions, as documented."


def test_unknown_function_dropped_with_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="app.engine.extract"):
        content, calls = parse_complete(TS, 'a <tool_call>{"name":"rm_rf","arguments":{}}</tool_call> b')
    assert (content, calls) == ("a  b", [])
    assert "'rm_rf', which was not offered" in caplog.text


def test_calls_use_real_names_for_aliases_and_real_names():
    _, calls = parse_complete(TS, call("fn_4") + call("get_weather") + call("fn_0"))
    assert [c.name for c in calls] == ["get_weather", "get_weather", "foo"]


def test_parallel_calls_get_distinct_ids_even_when_the_model_repeats_one():
    text = call("a", id="call_1") + call("b", id="call_1") + call("a") + call("b")
    _, calls = parse_complete(TS, text)
    ids = [c.id for c in calls]
    assert ids[0] == "call_1"
    assert len(set(ids)) == 4


def test_reserved_ids_from_the_history_are_not_reused():
    _, calls = parse_complete(TS, call("a", id="call_1"), reserved_ids={"call_1"})
    assert calls[0].id != "call_1" and calls[0].id.startswith("call_")


def test_openai_shaped_call_inside_tags():
    body = {"id": "call_x", "type": "function", "function": {"name": "fn_1", "arguments": '{"q":1}'}}
    _, calls = parse_complete(TS, "<tool_call>" + json.dumps(body) + "</tool_call>")
    assert [(c.id, c.name, c.arguments) for c in calls] == [("call_x", "a", '{"q":1}')]


@pytest.mark.parametrize(
    "arguments, expected",
    [
        ({"x": 1, "y": [1, 2]}, '{"x":1,"y":[1,2]}'),
        ('{"x": 1}', '{"x":1}'),
        ('"{\\"x\\": 1}"', '{"x":1}'),  # encoded twice
        ("{'x': 'it', 'ok': True}", '{"x":"it","ok":true}'),
        ('{"x": [1, 2,], "y": None,}', '{"x":[1,2],"y":null}'),
        ("{city: 'Paris', n: False}", '{"city":"Paris","n":false}'),
        ('{"text": "don\'t"}', '{"text":"don\'t"}'),
        ("", "{}"),
        (None, "{}"),
        ({"é": "ü"}, '{"é":"ü"}'),
    ],
)
def test_arguments_normalised_to_compact_json(arguments, expected):
    assert normalise_arguments(arguments) == expected


@pytest.mark.parametrize(
    "arguments",
    [
        [1, 2],
        3,
        "just words",
        "{'x': \"mixed\"}",
        '{"x": }',
        "[1]",
    ],
)
def test_unrepairable_arguments_are_rejected(arguments):
    assert normalise_arguments(arguments) is None


def test_call_with_unrepairable_arguments_is_dropped_with_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="app.engine.extract"):
        content, calls = parse_complete(TS, call("a", args=[1]) + "ok")
    assert (content, calls) == ("ok", [])
    assert "not a JSON object" in caplog.text


def test_arguments_absent_become_empty_object():
    _, calls = parse_complete(TS, '<tool_call>{"name":"a"}</tool_call>')
    assert calls[0].arguments == "{}"


def test_whole_body_repaired():
    _, calls = parse_complete(TS, "<tool_call>{name: 'fn_4', arguments: {city: 'Oslo',},}</tool_call>")
    assert names(calls) == [("get_weather", '{"city":"Oslo"}')]


def test_loads_lenient_leaves_valid_json_alone_and_rejects_garbage():
    assert loads_lenient('{"a": "True, x:"}') == {"a": "True, x:"}
    with pytest.raises(ValueError):
        loads_lenient("{'a': 1")


def test_feed_after_finish_is_an_error():
    extractor = ToolCallExtractor(TS)
    extractor.finish()
    with pytest.raises(RuntimeError):
        extractor.feed("x")


def test_extractor_returns_toolcall_objects():
    assert ToolCallExtractor(TS).feed(call("a", id="c9")) == [ToolCall("c9", "a", "{}")]


# --- ToolSet ------------------------------------------------------------------------


def test_ref57_tool_choice_modes():
    assert toolset("x", choice="none") is None
    auto = toolset("x", choice="auto")
    assert (auto.required, auto.forced) == (False, None)
    assert toolset("x").required is False
    forced = toolset("x", "y", choice={"type": "function", "function": {"name": "y"}})
    assert (forced.forced, forced.required) == ("y", True)
    with pytest.raises(InvalidToolRequest) as err:
        toolset("x", choice="bogus")
    assert err.value.param == "tool_choice"


def test_ref55_forced_function_block_golden():
    ts = ToolSet.from_request(
        [fn("other"), fn("my_fn", description="Does it", parameters={"type": "object"})],
        {"type": "function", "function": {"name": "my_fn"}},
    )
    assert ts.protocol_block() == (
        "fn-call protocol.\n"
        'Call "fn_1" once: <tool_call>{"name":"fn_1","arguments":{...}}</tool_call> then stop. '
        "No prose, no fences.\n"
        'fns: [{"name":"fn_0"},{"name":"fn_1","description":"Does it","parameters":{"type":"object"}}]'
    )


GENERAL_BLOCK = (
    "fn-call protocol.\n"
    'Emit: <tool_call>{"name":"<fn>","arguments":{...}}</tool_call> then stop: no prose after it, '
    "no code fences. Independent calls may go in the same turn (parallel calls), each in its own "
    "<tool_call>…</tool_call>.\n"
    'Results come back next turn as <tool_result id="<id>">…</tool_result>.\n'
    "Rules:\n"
    "1. If a listed function fulfils the request, call it. Never refuse because you cannot access "
    "the machine, run commands or open apps: the host executes the call, you only request it.\n"
    '2. Never narrate, simulate or invent results: no "running", "stand by", "done", ✅ or '
    "made-up output. Describing a command or an edit does not do it: call the function that does.\n"
    "3. Once a tool result answers the request, reply to the user in natural language; do not "
    'call again for the same request, no "Try 2" retries.\n'
    "4. If a call genuinely fails, retry at most once with different arguments, then explain the "
    "failure to the user.\n"
    "5. Use only the listed functions and parameters; never invent names.\n"
    "DIRECTIVE\n"
    'fns: [{"name":"fn_0","description":"Get current weather","parameters":{"type":"object",'
    '"properties":{"city":{"type":"string"}},"required":["city"]}}]'
)


WEATHER = fn(
    "get_weather",
    description="Get current weather",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def test_general_block_golden_auto():
    block = ToolSet.from_request([WEATHER], "auto").protocol_block()
    assert block == GENERAL_BLOCK.replace("DIRECTIVE", "Call when it fits.")


def test_ref56_required_block_golden():
    block = ToolSet.from_request([WEATHER], "required").protocol_block()
    assert block == GENERAL_BLOCK.replace("DIRECTIVE", "MUST call a function.")


def test_ref58_named_choice_without_function_type_does_not_force():
    bar = toolset("my_fn", choice={"type": "bar", "function": {"name": "my_fn"}})
    assert bar.forced is None and "once:" not in bar.protocol_block()
    forced = toolset("my_fn", choice={"type": "function", "function": {"name": "my_fn"}})
    assert 'Call "fn_0" once:' in forced.protocol_block()


def test_forced_unknown_function_is_a_clear_error():
    with pytest.raises(InvalidToolRequest, match="'nope', which is not in tools") as err:
        toolset("x", choice={"type": "function", "function": {"name": "nope"}})
    assert err.value.param == "tool_choice"
    assert isinstance(err.value, ValueError)


def test_no_tools_means_no_toolset_unless_a_call_is_demanded():
    assert ToolSet.from_request(None, None) is None
    assert ToolSet.from_request([], "auto") is None
    with pytest.raises(InvalidToolRequest):
        ToolSet.from_request([], "required")
    with pytest.raises(InvalidToolRequest):
        ToolSet.from_request(None, {"type": "function", "function": {"name": "x"}})


def test_aliases_in_request_order_and_real_name_lookup():
    ts = toolset("alpha", "beta")
    assert [(f.alias, f.name) for f in ts.functions] == [("fn_0", "alpha"), ("fn_1", "beta")]
    assert ts.real_name("fn_1") == "beta"
    assert ts.real_name("alpha") == "alpha"
    assert ts.real_name("fn_2") is None and ts.real_name("gamma") is None
    assert ts.alias_for("beta") == "fn_1" and ts.alias_for("gamma") is None


def test_duplicate_function_names_keep_the_first(caplog):
    """Gap 10: the alias map stays unambiguous."""
    with caplog.at_level(logging.WARNING, logger="app.engine.extract"):
        ts = ToolSet.from_request([fn("a", description="first"), fn("b"), fn("a", description="second")], None)
    assert [(f.alias, f.name, f.description) for f in ts.functions] == [("fn_0", "a", "first"), ("fn_1", "b", None)]
    assert "duplicate function name 'a'" in caplog.text


def test_non_function_tools_are_ignored():
    ts = ToolSet.from_request([{"type": "custom", "custom": {"name": "c"}}, fn("f")], None)
    assert [(f.alias, f.name) for f in ts.functions] == [("fn_0", "f")]
    assert ToolSet.from_request([{"type": "custom", "custom": {"name": "c"}}], None) is None


def test_allowed_tools_restrict_the_offered_functions():
    choice = {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [fn("c"), fn("a")]}}
    ts = toolset("a", "b", "c", choice=choice)
    assert [(f.alias, f.name) for f in ts.functions] == [("fn_0", "a"), ("fn_1", "c")]
    assert ts.required and ts.forced is None
    assert "MUST call a function." in ts.protocol_block()
    assert ts.real_name("b") is None
    with pytest.raises(InvalidToolRequest):
        toolset("a", choice={"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [fn("zz")]}})


def test_parameters_keep_their_key_order():
    ts = ToolSet.from_request([fn("f", parameters={"z": 1, "a": 2})], None)
    assert ts.protocol_block().endswith('fns: [{"name":"fn_0","parameters":{"z":1,"a":2}}]')
