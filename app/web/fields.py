"""The schema fields every API's request schemas share (OpenAI, Responses, Anthropic, native).

JSON bodies are typed strictly, as the APIs we mirror do: a boolean must be a JSON
boolean (not `"true"` or `1`), an integer a JSON integer (not `true`, `"3"` or `2.5`), a
number a JSON number. Query parameters are strings on the wire, so `QueryBool` and
`UInt32` parse them from text. Every error names its field (app/problems.py flattens the
path: `messages[0].role`).
"""

from __future__ import annotations

import binascii
import json
import numbers

import marshmallow as ma
from marshmallow import ValidationError, fields, validate

U32_MAX = 2**32 - 1


# -- strict scalars in JSON bodies ------------------------------------------------------------------
class StrictBoolean(fields.Boolean):
    """A JSON boolean and only that."""

    default_error_messages = {"invalid": "Not a valid boolean (expected true or false)."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class StrictInteger(fields.Integer):
    """A JSON integer and only that (no booleans, strings or fractions); bound it with
    `validate=validate.Range(...)`, which also documents the bounds."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictNumber(fields.Float):
    """A JSON number and only that (no booleans or strings)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


def one_of(*choices: str, **kwargs) -> fields.String:
    """A string that must be one of `choices` (documented as an enum)."""
    return fields.String(
        validate=validate.OneOf(choices, error="must be one of: {choices}"), metadata={"enum": list(choices)}, **kwargs
    )


def _strict_base64(value: str) -> None:
    try:
        binascii.a2b_base64(value.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValidationError(
            "not valid base64 (standard alphabet, '=' padding, no data: prefix or whitespace)"
        ) from None


class Base64(fields.String):
    """Bytes as a base64 string, checked strictly here rather than by a 400 from grok.com."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", _strict_base64)
        super().__init__(**kwargs)


# -- query parameters --------------------------------------------------------------------------------
class QueryBool(fields.Boolean):
    """A query-string boolean: `true`/`false` (and `1`/`0`), nothing else."""

    def __init__(self, **kwargs):
        super().__init__(truthy={"true", "1"}, falsy={"false", "0"}, **kwargs)


class UInt32(fields.Integer):
    """A non-negative 32-bit integer (as grok.com's `u32` parameters)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", validate.Range(min=0, max=U32_MAX))
        super().__init__(**kwargs)


# -- unions and lists ------------------------------------------------------------------------------
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
    """A list refused for its length (and optionally its size as JSON) before its items are
    validated.

    Validating one message or tool costs ~0.1 ms of CPU on the worker's only thread,
    so a body of tiny items (a 10 MiB body holds ~300,000 of them) must be refused
    by count first, not after validating every item.
    """

    def __init__(self, cls_or_instance, *, max_items: int, max_bytes: int | None = None, **kwargs):
        validators = kwargs.pop("validate", None)
        validators = [validators] if callable(validators) else list(validators or [])
        # Also documents maxItems in the OpenAPI schema.
        validators.append(validate.Length(max=max_items))
        super().__init__(cls_or_instance, validate=validators, **kwargs)
        self.max_items = max_items
        self.max_bytes = max_bytes

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, list) and len(value) > self.max_items:
            raise ValidationError(f"at most {self.max_items} items are accepted (got {len(value)})")
        if self.max_bytes is not None and isinstance(value, list):
            size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
            if size > self.max_bytes:
                raise ValidationError(f"at most {self.max_bytes} bytes of JSON are accepted (got {size})")
        return super()._deserialize(value, attr, data, **kwargs)


# -- request limits of the model APIs (docs/troubleshooting.md: limits) ------------------------------
# OpenAI's own: 128 tools, 4 stop sequences. The rest keep one request's CPU bounded: validating a
# message costs ~0.1 ms, the tool definitions go into the prompt whole (each KB is tokens to count
# and text to build), every streamed token is matched against every stop sequence.
MAX_MESSAGES = 10_000
MAX_TOOLS = 128
MAX_TOOLS_BYTES = 1024 * 1024
MAX_STOP_SEQUENCES = 4
MAX_STOP_CHARS = 1_000


def stop_sequences(value) -> None:
    """OpenAI's `stop`: at most 4 sequences; each also bounded in length, since every streamed
    token is matched against every sequence."""
    sequences = [value] if isinstance(value, str) else value
    if len(sequences) > MAX_STOP_SEQUENCES:
        raise ValidationError(f"at most {MAX_STOP_SEQUENCES} stop sequences are accepted (got {len(sequences)})")
    if any(len(s) > MAX_STOP_CHARS for s in sequences):
        raise ValidationError(f"a stop sequence may hold at most {MAX_STOP_CHARS} characters")


# -- schema bases ------------------------------------------------------------------------------------
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
