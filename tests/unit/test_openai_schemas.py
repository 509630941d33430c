"""The chat.completions request schema: every OpenAI field accepted, strict types, named errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from marshmallow import ValidationError

from app.openai import models
from app.openai.schemas import DECLARED_FIELDS, ChatCompletionRequest, unknown_fields
from app.problems import validation_problem

SPEC = json.loads((Path(__file__).resolve().parents[1] / "data" / "openai-chat-schemas.json").read_text())


def openai_request_fields(name="CreateChatCompletionRequest") -> set[str]:
    schema = SPEC["components"]["schemas"][name]
    found = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        if "$ref" in part:
            found |= openai_request_fields(part["$ref"].rsplit("/", 1)[-1])
        found |= set(part.get("properties", {}))
    return found


def load(body):
    return ChatCompletionRequest().load(body)


def errors(body) -> dict:
    with pytest.raises(ValidationError) as err:
        load(body)
    return validation_problem({"json": err.value.messages}).body()["errors"]


USER = [{"role": "user", "content": "hi"}]


def test_every_field_of_openais_request_is_declared():
    assert openai_request_fields() - DECLARED_FIELDS == set()


def test_a_request_using_every_field_loads():
    body = {
        "model": "expert",
        "messages": [
            {"role": "system", "content": "s", "name": "sys"},
            {"role": "developer", "content": [{"type": "text", "text": "d"}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "u"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}},
                    {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
                    {"type": "file", "file": {"file_id": "f1"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "audio": {"id": "a1"},
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                    {"id": "c2", "type": "custom", "custom": {"name": "g", "input": "x"}},
                ],
                "function_call": {"name": "f", "arguments": "{}"},
            },
            {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "r"}]},
            {"role": "function", "name": "f", "content": None},
        ],
        "audio": {"voice": {"id": "v"}, "format": "mp3"},
        "frequency_penalty": 0,
        "presence_penalty": -1.5,
        "function_call": {"name": "f"},
        "functions": [{"name": "f", "parameters": {}}],
        "logit_bias": {"1": 5},
        "logprobs": True,
        "top_logprobs": 3,
        "max_tokens": 10,
        "max_completion_tokens": 20,
        "metadata": {"k": "v"},
        "modalities": ["text"],
        "n": 1,
        "parallel_tool_calls": False,
        "prediction": {"type": "content", "content": "x"},
        "reasoning_effort": "xhigh",
        "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {}, "strict": True}},
        "seed": 1,
        "service_tier": "flex",
        "stop": ["a", "b"],
        "store": False,
        "stream": True,
        "stream_options": {"include_usage": True, "include_obfuscation": False},
        "temperature": 1.5,
        "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [{"type": "function"}]}},
        "tools": [
            {"type": "function", "function": {"name": "f", "strict": None}},
            {"type": "custom", "custom": {"name": "g", "format": {"type": "text"}}},
        ],
        "top_p": 0.5,
        "user": "u",
        "verbosity": "high",
        "web_search_options": {
            "search_context_size": "low",
            "user_location": {"type": "approximate", "approximate": {"city": "Oslo"}},
        },
        "prompt_cache_key": "k",
        "prompt_cache_retention": "24h",
        "prompt_cache_options": {"ttl": "30m"},
        "safety_identifier": "s",
        "moderation": None,
    }
    loaded = load(body)
    assert loaded["messages"][2]["content"][1]["image_url"]["url"] == "https://x/y.png"
    assert "moderation" not in loaded  # null means absent
    assert unknown_fields(loaded) == []


def test_unknown_fields_are_kept_everywhere():
    loaded = load({"messages": [{"role": "user", "content": "x", "x_extra": 1}], "future": {"a": 1}})
    assert loaded["future"] == {"a": 1} and loaded["messages"][0]["x_extra"] == 1
    assert unknown_fields(loaded) == ["future"]


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages[0].content[0].text"),
        (
            {"messages": [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}]},
            "messages[0].content[0].type",
        ),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        (
            {
                "messages": [
                    {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {}}}]}
                ]
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
        ({"messages": USER, "stream": "true"}, "stream"),
        ({"messages": USER, "n": True}, "n"),
        ({"messages": USER, "max_tokens": 1.5}, "max_tokens"),
        ({"messages": USER, "max_tokens": 0}, "max_tokens"),
        ({"messages": USER, "temperature": "1"}, "temperature"),
        ({"messages": USER, "temperature": 3}, "temperature"),
        ({"messages": USER, "stop": [1]}, "stop[0]"),
        ({"messages": USER, "tool_choice": "sometimes"}, "tool_choice"),
        ({"messages": USER, "tool_choice": {"type": "function", "function": {}}}, "tool_choice.function.name"),
        (
            {"messages": USER, "tools": [{"type": "function", "function": {"description": "no name"}}]},
            "tools[0].function.name",
        ),
        ({"messages": USER, "response_format": {"type": "yaml"}}, "response_format.type"),
        ({"messages": USER, "response_format": {"type": "json_schema"}}, "response_format.json_schema"),
        ({"messages": USER, "service_tier": "gold"}, "service_tier"),
        ({"messages": USER, "logit_bias": {"1": 101}}, "logit_bias.1.value"),
    ],
)
def test_invalid_input_names_the_field(body, field):
    assert field in errors(body)


def test_model_resolution():
    assert models.resolve(None).id == "auto"
    assert models.resolve("expert").upstream == {"modeId": "expert"}
    assert models.resolve(" Heavy ").id == "heavy"  # case and whitespace forgiven
    assert models.resolve("grok-4").id == "auto"
    assert models.lookup("Heavy") is None  # /v1/models/{id} is exact


def test_upstream_payload_is_the_defaults_plus_the_mode():
    payload = models.upstream_payload(models.MODELS["grok-43"], "hello", "be brief")
    assert payload["modelMode"] == "grok-43" and "modeId" not in payload
    assert payload["message"] == "hello" and payload["customInstructions"] == "be brief"
    assert payload["temporary"] is True and payload["disableMemory"] is True
    assert "customInstructions" not in models.upstream_payload(models.MODELS["auto"], "x", None)


# -- list limits: refused by count before the items are validated -----------------------------------
def test_message_and_tool_counts_are_limited():
    from app.web.fields import MAX_MESSAGES, MAX_TOOLS

    assert len(load({"messages": USER * MAX_MESSAGES})["messages"]) == MAX_MESSAGES
    found = errors({"messages": USER * (MAX_MESSAGES + 1)})
    assert found == {"messages": [f"at most {MAX_MESSAGES} items are accepted (got {MAX_MESSAGES + 1})"]}
    tool = {"type": "function", "function": {"name": "f"}}
    assert len(load({"messages": USER, "tools": [tool] * MAX_TOOLS})["tools"]) == MAX_TOOLS
    assert list(errors({"messages": USER, "tools": [tool] * (MAX_TOOLS + 1)})) == ["tools"]


def test_stop_sequences_are_limited_as_openai_limits_them():
    from app.web.fields import MAX_STOP_CHARS, MAX_STOP_SEQUENCES

    assert load({"messages": USER, "stop": ["a", "b", "c", "d"]})["stop"] == ["a", "b", "c", "d"]
    assert list(errors({"messages": USER, "stop": ["s"] * (MAX_STOP_SEQUENCES + 1)})) == ["stop"]
    assert list(errors({"messages": USER, "stop": [str(i) for i in range(20_000)]})) == ["stop"]
    assert list(errors({"messages": USER, "stop": "x" * (MAX_STOP_CHARS + 1)})) == ["stop"]
    assert list(errors({"messages": USER, "stop": ["ok", "x" * (MAX_STOP_CHARS + 1)]})) == ["stop"]


def test_tool_definitions_are_limited_in_size():
    from app.web.fields import MAX_TOOLS_BYTES

    big = {"type": "function", "function": {"name": "f", "description": "d" * (MAX_TOOLS_BYTES // 4)}}
    assert len(load({"messages": USER, "tools": [big] * 3})["tools"]) == 3
    found = errors({"messages": USER, "tools": [big] * 5})
    assert list(found) == ["tools"] and f"at most {MAX_TOOLS_BYTES} bytes" in found["tools"][0]


def test_an_over_long_list_is_refused_without_validating_its_items():
    from app.web.fields import MAX_MESSAGES

    # Invalid items beyond the limit would otherwise be reported one by one.
    found = errors({"messages": [{"role": "robot"}] * (MAX_MESSAGES + 1)})
    assert list(found) == ["messages"]
