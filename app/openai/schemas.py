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

import numbers
from typing import Any

import marshmallow as ma
from marshmallow import ValidationError, fields, validate


# -- strict scalar fields --------------------------------------------------------------------------
class StrictBoolean(fields.Boolean):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class StrictInteger(fields.Integer):
    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictNumber(fields.Float):
    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


def _enum(*choices: str, **kwargs) -> fields.String:
    return fields.String(
        validate=validate.OneOf(choices, error="must be one of: {choices}"), metadata={"enum": list(choices)}, **kwargs
    )


def _nullable(field_cls, *args, **kwargs):
    return field_cls(*args, allow_none=True, **kwargs)


# -- union fields ----------------------------------------------------------------------------------
class Tagged(fields.Field):
    """An object whose schema is picked by one of its keys (OpenAI's discriminated `oneOf`)."""

    def __init__(self, key: str, choices: dict[str, type[ma.Schema]], default_tag: str | None = None, **kwargs):
        names = ", ".join(choices)
        kwargs.setdefault("metadata", {"type": "object", "description": f"`{key}` is one of: {names}"})
        super().__init__(**kwargs)
        self.key = key
        self.default_tag = default_tag
        self.choices = {tag: schema() for tag, schema in choices.items()}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("must be an object")
        tag = value.get(self.key, self.default_tag)
        schema = self.choices.get(tag) if isinstance(tag, str) else None
        if schema is None:
            if self.key not in value:
                raise ValidationError({self.key: ["Missing data for required field."]})
            raise ValidationError({self.key: [f"must be one of: {', '.join(self.choices)}"]})
        return schema.load(value)


class StringOr(fields.Field):
    """A string (optionally limited to `choices`), or a value of another field."""

    def __init__(self, other: fields.Field, choices: tuple[str, ...] | None = None, **kwargs):
        kwargs.setdefault(
            "metadata",
            {"description": "a string" + (f" ({', '.join(choices)})" if choices else "") + " or an object/array"},
        )
        super().__init__(**kwargs)
        self.other = other
        self.choices = choices

    def _bind_to_schema(self, field_name, parent):
        super()._bind_to_schema(field_name, parent)
        self.other._bind_to_schema(field_name, parent)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            if self.choices is not None and value not in self.choices:
                raise ValidationError(f"must be one of: {', '.join(self.choices)}, or an object")
            return value
        expected, noun = (list, "an array") if isinstance(self.other, fields.List) else (dict, "an object")
        if not isinstance(value, expected):
            raise ValidationError(f"must be a string or {noun}")
        return self.other.deserialize(value, attr, data, **kwargs)


class BoundedList(fields.List):
    """A list refused for its length before its items are validated.

    Validating one message or tool costs ~0.1 ms of CPU on the worker's only thread,
    so a body of tiny items (a 10 MiB body holds ~300,000 of them) must be refused
    by count first, not after validating every item.
    """

    def __init__(self, cls_or_instance, *, max_items: int, **kwargs):
        validators = kwargs.pop("validate", None)
        validators = [validators] if callable(validators) else list(validators or [])
        # Also documents maxItems in the OpenAPI schema.
        validators.append(validate.Length(max=max_items))
        super().__init__(cls_or_instance, validate=validators, **kwargs)
        self.max_items = max_items

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, list) and len(value) > self.max_items:
            raise ValidationError(f"at most {self.max_items} items are accepted (got {len(value)})")
        return super()._deserialize(value, attr, data, **kwargs)


class Loose(ma.Schema):
    """Unknown keys are kept (and passed on), never an error. An optional field may be
    null, which means absent (clients such as `llm` send `"description": null`)."""

    class Meta:
        unknown = ma.INCLUDE

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        if not field_obj.required:
            field_obj.allow_none = True

    @ma.post_load
    def _drop_nulls(self, data: dict, **kwargs) -> dict:
        return {key: value for key, value in data.items() if value is not None}


# -- content parts ---------------------------------------------------------------------------------
class TextPart(Loose):
    type = _enum("text", required=True)
    text = fields.String(required=True)
    prompt_cache_breakpoint = fields.Dict()


class ImageURL(Loose):
    url = fields.String(required=True)
    detail = _enum("auto", "low", "high")


class ImagePart(Loose):
    type = _enum("image_url", required=True)
    image_url = fields.Nested(ImageURL, required=True)
    prompt_cache_breakpoint = fields.Dict()


class InputAudio(Loose):
    data = fields.String(required=True)
    format = _enum("wav", "mp3", required=True)


class AudioPart(Loose):
    type = _enum("input_audio", required=True)
    input_audio = fields.Nested(InputAudio, required=True)
    prompt_cache_breakpoint = fields.Dict()


class FileRef(Loose):
    file_data = fields.String()
    file_id = fields.String()
    filename = fields.String()


class FilePart(Loose):
    type = _enum("file", required=True)
    file = fields.Nested(FileRef, required=True)
    prompt_cache_breakpoint = fields.Dict()


class RefusalPart(Loose):
    type = _enum("refusal", required=True)
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
    type = _enum("function")
    function = fields.Nested(FunctionCallRef, required=True)


class CustomCallRef(Loose):
    name = fields.String(required=True)
    input = fields.String(required=True)


class CustomToolCall(Loose):
    id = fields.String(required=True)
    type = _enum("custom", required=True)
    custom = fields.Nested(CustomCallRef, required=True)


class SystemMessage(Loose):
    role = _enum("system", required=True)
    content = _content(TEXT_PARTS, required=True)
    name = fields.String()


class DeveloperMessage(Loose):
    role = _enum("developer", required=True)
    content = _content(TEXT_PARTS, required=True)
    name = fields.String()


class UserMessage(Loose):
    role = _enum("user", required=True)
    content = _content(USER_PARTS, required=True)
    name = fields.String()


class AudioRef(Loose):
    id = fields.String(required=True)


class AssistantMessage(Loose):
    role = _enum("assistant", required=True)
    content = _content(ASSISTANT_PARTS)
    name = fields.String()
    refusal = _nullable(fields.String)
    tool_calls = fields.List(
        Tagged("type", {"function": FunctionToolCall, "custom": CustomToolCall}, default_tag="function")
    )
    function_call = _nullable(fields.Nested, FunctionCallRef)
    audio = _nullable(fields.Nested, AudioRef)


class ToolMessage(Loose):
    role = _enum("tool", required=True)
    content = _content(TEXT_PARTS, required=True)
    tool_call_id = fields.String(required=True)


class FunctionMessage(Loose):
    role = _enum("function", required=True)
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
    type = _enum("function")
    function = fields.Nested(FunctionDefinition, required=True)


class CustomToolDefinition(Loose):
    name = fields.String(required=True, validate=validate.Length(min=1))
    description = fields.String()
    format = fields.Dict()


class CustomTool(Loose):
    type = _enum("custom", required=True)
    custom = fields.Nested(CustomToolDefinition, required=True)


class NamedFunction(Loose):
    name = fields.String(required=True)


class NamedFunctionChoice(Loose):
    type = _enum("function", required=True)
    function = fields.Nested(NamedFunction, required=True)


class NamedCustomChoice(Loose):
    type = _enum("custom", required=True)
    custom = fields.Nested(NamedFunction, required=True)


class AllowedTools(Loose):
    mode = _enum("auto", "required", required=True)
    tools = fields.List(fields.Dict(), required=True)


class AllowedToolsChoice(Loose):
    type = _enum("allowed_tools", required=True)
    allowed_tools = fields.Nested(AllowedTools, required=True)


# -- response format and other options ----------------------------------------------------------------
class TextFormat(Loose):
    type = _enum("text", required=True)


class JsonObjectFormat(Loose):
    type = _enum("json_object", required=True)


class JsonSchemaSpec(Loose):
    name = fields.String(required=True)
    description = fields.String()
    schema = fields.Dict()
    strict = _nullable(StrictBoolean)


class JsonSchemaFormat(Loose):
    type = _enum("json_schema", required=True)
    json_schema = fields.Nested(JsonSchemaSpec, required=True)


class StreamOptions(Loose):
    include_usage = StrictBoolean()
    include_obfuscation = StrictBoolean()


class AudioOutput(Loose):
    voice = StringOr(fields.Dict(), required=True)
    format = _enum("wav", "aac", "mp3", "flac", "opus", "pcm16", required=True)


class Prediction(Loose):
    type = _enum("content", required=True)
    content = _content(TEXT_PARTS, required=True)


class UserLocation(Loose):
    type = _enum("approximate", required=True)
    approximate = fields.Dict(required=True)


class WebSearchOptions(Loose):
    search_context_size = _enum("low", "medium", "high")
    user_location = _nullable(fields.Nested, UserLocation)


class LegacyFunction(Loose):
    name = fields.String(required=True, validate=validate.Length(min=1))
    description = fields.String()
    parameters = fields.Dict()


# -- the request -------------------------------------------------------------------------------------
# Far above real use (OpenAI itself accepts 128 tools), low enough that validating a
# full request stays around a second of CPU (docs/troubleshooting.md: limits).
MAX_MESSAGES = 10_000
MAX_TOOLS = 1_000


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
    stop = _nullable(StringOr, fields.List(fields.String()))
    max_tokens = _nullable(StrictInteger, validate=validate.Range(min=1))
    max_completion_tokens = _nullable(StrictInteger, validate=validate.Range(min=1))
    response_format = Tagged(
        "type", {"text": TextFormat, "json_object": JsonObjectFormat, "json_schema": JsonSchemaFormat}, allow_none=True
    )
    tools = _nullable(
        BoundedList,
        Tagged("type", {"function": FunctionTool, "custom": CustomTool}, default_tag="function"),
        max_items=MAX_TOOLS,
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
    prompt_cache_retention = _nullable(_enum, "in_memory", "24h")
    prompt_cache_options = _nullable(fields.Dict)
    metadata = _nullable(fields.Dict, keys=fields.String(), values=fields.String())
    store = _nullable(StrictBoolean)
    service_tier = _nullable(_enum, "auto", "default", "flex", "scale", "priority", "fast")
    modalities = _nullable(fields.List, _enum("text", "audio"))
    audio = _nullable(fields.Nested, AudioOutput)
    prediction = _nullable(fields.Nested, Prediction)
    reasoning_effort = _nullable(_enum, "none", "minimal", "low", "medium", "high", "xhigh", "max")
    verbosity = _nullable(_enum, "low", "medium", "high")
    web_search_options = _nullable(fields.Nested, WebSearchOptions)
    moderation = _nullable(fields.Dict)


DECLARED_FIELDS = frozenset(ChatCompletionRequest._declared_fields)


def unknown_fields(body: dict[str, Any]) -> list[str]:
    return [key for key in body if key not in DECLARED_FIELDS]
