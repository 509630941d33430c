"""Schema building blocks shared by the native route groups.

Query parameters are strings on the wire, so their booleans and integers are
parsed from text (`true`/`false`/`1`/`0`, non-negative u32 like the reference
server). JSON bodies are typed like grok.com's proto3 JSON: a boolean must be a
JSON boolean, not a string or a number.
"""

from __future__ import annotations

import binascii

import marshmallow as ma
from marshmallow import validate

from .bodies import log_dropped_fields
from .params import id_problem

U32_MAX = 2**32 - 1


class QueryBool(ma.fields.Boolean):
    """A query-string boolean: `true`/`false` (and `1`/`0`), nothing else."""

    def __init__(self, **kwargs):
        super().__init__(truthy={"true", "1"}, falsy={"false", "0"}, **kwargs)


class UInt32(ma.fields.Integer):
    """A non-negative 32-bit integer (the reference server's `u32`)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", validate.Range(min=0, max=U32_MAX))
        super().__init__(**kwargs)


class JsonBool(ma.fields.Boolean):
    """A JSON boolean and only that (`"true"` or `1` are type errors, as upstream)."""

    default_error_messages = {"invalid": "Not a valid boolean (expected true or false)."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class JsonInt(ma.fields.Integer):
    """A JSON integer and only that (no booleans, strings or fractions), optionally bounded."""

    default_error_messages = {"invalid": "Not a valid integer.", "range": "Must be between {low} and {high}."}

    def __init__(self, *, low: int | None = None, high: int | None = None, **kwargs):
        super().__init__(strict=True, **kwargs)
        self.low, self.high = low, high
        if low is not None:
            self.metadata.setdefault("minimum", low)
        if high is not None:
            self.metadata.setdefault("maximum", high)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise self.make_error("range", low=self.low, high=self.high)
        return value


def _strict_base64(value: str) -> None:
    try:
        binascii.a2b_base64(value.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ma.ValidationError(
            "not valid base64 (standard alphabet, '=' padding, no data: prefix or whitespace)"
        ) from None


class Base64(ma.fields.String):
    """Bytes as a base64 string, checked strictly here rather than by a 400 from grok.com."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", _strict_base64)
        super().__init__(**kwargs)


def _plausible_id(value: str) -> None:
    reason = id_problem(value)
    if reason is not None:
        raise ma.ValidationError(f"not a plausible id: {reason}")


class Id(ma.fields.String):
    """An upstream id given in a body or query (same plausibility rule as path ids)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", _plausible_id)
        super().__init__(**kwargs)


class QuerySchema(ma.Schema):
    """Base of every query schema: unknown parameters are ignored (and logged by the blueprint)."""

    class Meta:
        unknown = ma.EXCLUDE


class PageQuery(QuerySchema):
    page_size = UInt32(metadata={"description": "Items per page (grok.com `pageSize`)."})
    page_token = ma.fields.String(metadata={"description": "Token from the previous page's `nextPageToken`."})


class ForwardedBody(ma.Schema):
    """A body forwarded to grok.com as an object: fields beyond the documented ones are
    passed on unchanged (so new upstream fields work without a release)."""

    class Meta:
        unknown = ma.INCLUDE


class ClosedBody(ma.Schema):
    """A body whose documented fields are all grok.com receives: anything else is dropped,
    with a log line naming it."""

    class Meta:
        unknown = ma.EXCLUDE

    @ma.pre_load
    def _log_dropped(self, data, **kwargs):
        log_dropped_fields(self, data)
        return data
