"""Request schema of POST /v1/chat/completions: every field of OpenAI's
CreateChatCompletionRequest (openai-openapi 2.3), validated the way OpenAI does.

Types are strict (a string is not a number, 1 is not `true`), enums are checked,
and every error names its field (`messages[0].role`). An optional field set to null
is treated as absent, as OpenAI does. Unknown keys are kept at
every level (the view logs unknown top-level fields), so a field OpenAI adds
tomorrow does not break clients. Whether a field is honoured, approximated or
ignored is the view's business (docs/api.md: parameters).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from ..web.fields import (
    MAX_MESSAGES,
    MAX_STOP_SEQUENCES,
    MAX_TOOLS,
    MAX_TOOLS_BYTES,
    BoundedList,
    Loose,
    StrictBoolean,
    StrictInteger,
    StrictNumber,
    StringOr,
    Tagged,
    one_of,
    stop_sequences,
)


def _nullable(field_cls, *args, **kwargs):
    return field_cls(*args, allow_none=True, **kwargs)


# -- content parts ---------------------------------------------------------------------------------
class TextPart(Loose):
    type = one_of("text", required=True)
    text = fields.String(required=True)
    prompt_cache_breakpoint = fields.Dict()


class ImageURL(Loose):
    url = fields.String(required=True)
    detail = one_of("auto", "low", "high")


class ImagePart(Loose):
    type = one_of("image_url", required=True)
    image_url = fields.Nested(ImageURL, required=True)
    prompt_cache_breakpoint = fields.Dict()


class InputAudio(Loose):
    data = fields.String(required=True)
    format = one_of("wav", "mp3", required=True)


class AudioPart(Loose):
    type = one_of("input_audio", required=True)
    input_audio = fields.Nested(InputAudio, required=True)
    prompt_cache_breakpoint = fields.Dict()


class FileRef(Loose):
    file_data = fields.String()
    file_id = fields.String()
    filename = fields.String()


class FilePart(Loose):
    type = one_of("file", required=True)
    file = fields.Nested(FileRef, required=True)
    prompt_cache_breakpoint = fields.Dict()


class RefusalPart(Loose):
    type = one_of("refusal", required=True)
    refusal = fields.String(required=True)


TEXT_PARTS = {"text": TextPart}
USER_PARTS = {"text": TextPart, "image_url": ImagePart, "input_audio": AudioPart, "file": FilePart}
ASSISTANT_PARTS = {"text": TextPart, "refusal": RefusalPart}


def _content(parts: dict[str, type[ma.Schema]], **kwargs) -> StringOr:
    """`content`: a string, or a non-empty array of typed parts; null is read as empty."""
    return StringOr(fields.List(Tagged("type", parts), validate=validate.Length(min=1)), allow_none=True, **kwargs)


# -- messages --------------------------------------------------------------------------------------
class FunctionCallRef(Loose):
    name = fields.String(required=True)
    arguments = fields.String(required=True)


class FunctionToolCall(Loose):
    id = fields.String(required=True)
    type = one_of("function")
    function = fields.Nested(FunctionCallRef, required=True)


class CustomCallRef(Loose):
    name = fields.String(required=True)
    input = fields.String(required=True)


class CustomToolCall(Loose):
    id = fields.String(required=True)
    type = one_of("custom", required=True)
    custom = fields.Nested(CustomCallRef, required=True)


class SystemMessage(Loose):
    role = one_of("system", required=True)
    content = _content(TEXT_PARTS, required=True)
    name = fields.String()


class DeveloperMessage(Loose):
    role = one_of("developer", required=True)
    content = _content(TEXT_PARTS, required=True)
    name = fields.String()


class UserMessage(Loose):
    role = one_of("user", required=True)
    content = _content(USER_PARTS, required=True)
    name = fields.String()


class AudioRef(Loose):
    id = fields.String(required=True)


class AssistantMessage(Loose):
    role = one_of("assistant", required=True)
    content = _content(ASSISTANT_PARTS)
    name = fields.String()
    refusal = _nullable(fields.String)
    tool_calls = fields.List(
        Tagged("type", {"function": FunctionToolCall, "custom": CustomToolCall}, default_tag="function")
    )
    function_call = _nullable(fields.Nested, FunctionCallRef)
    audio = _nullable(fields.Nested, AudioRef)


class ToolMessage(Loose):
    role = one_of("tool", required=True)
    content = _content(TEXT_PARTS, required=True)
    tool_call_id = fields.String(required=True)


class FunctionMessage(Loose):
    role = one_of("function", required=True)
    content = _nullable(fields.String, required=True)
    name = fields.String(required=True)


MESSAGE_ROLES = {
    "system": SystemMessage,
    "developer": DeveloperMessage,
    "user": UserMessage,
    "assistant": AssistantMessage,
    "tool": ToolMessage,
    "function": FunctionMessage,
}


# -- tools -----------------------------------------------------------------------------------------
class FunctionDefinition(Loose):
    name = fields.String(required=True, validate=validate.Length(min=1))
    description = fields.String()
    parameters = fields.Dict()
    strict = _nullable(StrictBoolean)


class FunctionTool(Loose):
    type = one_of("function")
    function = fields.Nested(FunctionDefinition, required=True)


class CustomToolDefinition(Loose):
    name = fields.String(required=True, validate=validate.Length(min=1))
    description = fields.String()
    format = fields.Dict()


class CustomTool(Loose):
    type = one_of("custom", required=True)
    custom = fields.Nested(CustomToolDefinition, required=True)


class NamedFunction(Loose):
    name = fields.String(required=True)


class NamedFunctionChoice(Loose):
    type = one_of("function", required=True)
    function = fields.Nested(NamedFunction, required=True)


class NamedCustomChoice(Loose):
    type = one_of("custom", required=True)
    custom = fields.Nested(NamedFunction, required=True)


class AllowedTools(Loose):
    mode = one_of("auto", "required", required=True)
    tools = fields.List(fields.Dict(), required=True)


class AllowedToolsChoice(Loose):
    type = one_of("allowed_tools", required=True)
    allowed_tools = fields.Nested(AllowedTools, required=True)


# -- response format and other options ----------------------------------------------------------------
class TextFormat(Loose):
    type = one_of("text", required=True)


class JsonObjectFormat(Loose):
    type = one_of("json_object", required=True)


class JsonSchemaSpec(Loose):
    name = fields.String(required=True)
    description = fields.String()
    schema = fields.Dict()
    strict = _nullable(StrictBoolean)


class JsonSchemaFormat(Loose):
    type = one_of("json_schema", required=True)
    json_schema = fields.Nested(JsonSchemaSpec, required=True)


class StreamOptions(Loose):
    include_usage = StrictBoolean()
    include_obfuscation = StrictBoolean()


class AudioOutput(Loose):
    voice = StringOr(fields.Dict(), required=True)
    format = one_of("wav", "aac", "mp3", "flac", "opus", "pcm16", required=True)


class Prediction(Loose):
    type = one_of("content", required=True)
    content = _content(TEXT_PARTS, required=True)


class UserLocation(Loose):
    type = one_of("approximate", required=True)
    approximate = fields.Dict(required=True)


class WebSearchOptions(Loose):
    search_context_size = one_of("low", "medium", "high")
    user_location = _nullable(fields.Nested, UserLocation)


class LegacyFunction(Loose):
    name = fields.String(required=True, validate=validate.Length(min=1))
    description = fields.String()
    parameters = fields.Dict()


# -- the request -------------------------------------------------------------------------------------


class ChatCompletionRequest(Loose):
    """OpenAI's CreateChatCompletionRequest."""

    model = fields.String(
        metadata={"description": "auto, fast, expert, heavy or grok-43 (default auto)", "example": "auto"}
    )
    messages = BoundedList(
        Tagged("role", MESSAGE_ROLES),
        required=True,
        max_items=MAX_MESSAGES,
        validate=validate.Length(min=1, error="must contain at least one message"),
    )
    stream = _nullable(StrictBoolean)
    stream_options = _nullable(fields.Nested, StreamOptions)
    n = _nullable(StrictInteger, validate=validate.Range(1, 128))
    stop = _nullable(StringOr, BoundedList(fields.String(), max_items=MAX_STOP_SEQUENCES), validate=stop_sequences)
    max_tokens = _nullable(StrictInteger, validate=validate.Range(min=1))
    max_completion_tokens = _nullable(StrictInteger, validate=validate.Range(min=1))
    response_format = Tagged(
        "type", {"text": TextFormat, "json_object": JsonObjectFormat, "json_schema": JsonSchemaFormat}, allow_none=True
    )
    tools = _nullable(
        BoundedList,
        Tagged("type", {"function": FunctionTool, "custom": CustomTool}, default_tag="function"),
        max_items=MAX_TOOLS,
        max_bytes=MAX_TOOLS_BYTES,
    )
    tool_choice = _nullable(
        StringOr,
        Tagged(
            "type", {"function": NamedFunctionChoice, "custom": NamedCustomChoice, "allowed_tools": AllowedToolsChoice}
        ),
        choices=("none", "auto", "required"),
    )
    parallel_tool_calls = _nullable(StrictBoolean)
    functions = _nullable(fields.List, fields.Nested(LegacyFunction))
    function_call = _nullable(StringOr, fields.Nested(NamedFunction), choices=("none", "auto"))
    temperature = _nullable(StrictNumber, validate=validate.Range(0, 2))
    top_p = _nullable(StrictNumber, validate=validate.Range(0, 1))
    frequency_penalty = _nullable(StrictNumber, validate=validate.Range(-2, 2))
    presence_penalty = _nullable(StrictNumber, validate=validate.Range(-2, 2))
    logit_bias = _nullable(fields.Dict, keys=fields.String(), values=StrictInteger(validate=validate.Range(-100, 100)))
    logprobs = _nullable(StrictBoolean)
    top_logprobs = _nullable(StrictInteger, validate=validate.Range(0, 20))
    seed = _nullable(StrictInteger)
    user = fields.String()
    safety_identifier = _nullable(fields.String)
    prompt_cache_key = _nullable(fields.String)
    prompt_cache_retention = _nullable(one_of, "in_memory", "24h")
    prompt_cache_options = _nullable(fields.Dict)
    metadata = _nullable(fields.Dict, keys=fields.String(), values=fields.String())
    store = _nullable(StrictBoolean)
    service_tier = _nullable(one_of, "auto", "default", "flex", "scale", "priority", "fast")
    modalities = _nullable(fields.List, one_of("text", "audio"))
    audio = _nullable(fields.Nested, AudioOutput)
    prediction = _nullable(fields.Nested, Prediction)
    reasoning_effort = _nullable(one_of, "none", "minimal", "low", "medium", "high", "xhigh", "max")
    verbosity = _nullable(one_of, "low", "medium", "high")
    web_search_options = _nullable(fields.Nested, WebSearchOptions)
    moderation = _nullable(fields.Dict)


DECLARED_FIELDS = frozenset(ChatCompletionRequest._declared_fields)


def unknown_fields(body: dict[str, Any]) -> list[str]:
    return [key for key in body if key not in DECLARED_FIELDS]
