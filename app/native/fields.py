"""Schema building blocks of the native route groups: ids, query and body bases.

The scalar fields are the shared strict ones (app/web/fields.py): JSON bodies are
typed like grok.com's proto3 JSON (a boolean must be a JSON boolean), query
parameters are parsed from text.
"""

from __future__ import annotations

import marshmallow as ma

from ..web.blueprint import log_dropped_fields
from ..web.fields import UInt32
from .params import id_problem


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
