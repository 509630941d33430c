"""marshmallow fields with JSON's types, not Python's coercions.

marshmallow's Boolean accepts "yes", 1 and "on", and its Integer accepts True and
"12"; grok.com types its bodies like proto3 JSON and answers a wrongly typed field
with an opaque "please update your client". These fields reject such values here,
with a 422 naming the field.
"""

from __future__ import annotations

import marshmallow as ma


class JsonBoolean(ma.fields.Boolean):
    """true or false only."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class JsonInteger(ma.fields.Integer):
    """A JSON integer (no booleans, strings or fractions), optionally bounded."""

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
            raise self.make_error("invalid", input=value)
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise self.make_error("range", low=self.low, high=self.high)
        return value

