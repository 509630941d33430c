"""/v1/suggestions: search suggestions, conversation starters, follow-up questions."""

from __future__ import annotations

import marshmallow as ma

from ..runtime import grok
from ..web.blueprint import Blueprint
from ..web.fields import UInt32
from .fields import ForwardedBody, QuerySchema
from .replies import passthrough

blp = Blueprint(
    "suggestions",
    __name__,
    url_prefix="/v1/suggestions",
    description="Suggestions, conversation starters and follow-up questions",
)


class SuggestionsQuery(QuerySchema):
    query = ma.fields.String(metadata={"description": "What the user has typed so far."})
    count = UInt32(load_default=8, metadata={"description": "How many suggestions (default 8)."})


class FollowUpBody(ForwardedBody):
    """Any JSON object, forwarded unchanged (grok.com's fields are not documented)."""


@blp.route("", methods=["GET"])
@blp.arguments(SuggestionsQuery, location="query")
@blp.response(
    200,
    description="grok.com's suggestions.",
    example={"suggestions": [{"text": "quantum computing explained", "query": "quantum computing"}]},
)
@blp.doc(summary="Search suggestions for a partial query")
def suggestions(query):
    return passthrough(grok().suggestions(query.get("query"), query["count"]))


@blp.route("/starters", methods=["GET"])
@blp.response(
    200,
    description="grok.com's conversation starters.",
    example={"starters": [{"text": "Write a haiku about the sea", "category": "create"}]},
)
@blp.doc(summary="Conversation starters")
def conversation_starters():
    return passthrough(grok().conversation_starters())


@blp.route("/follow-up", methods=["POST"])
@blp.arguments(
    FollowUpBody,
    required=False,
    example={"conversationId": "c-1", "responseId": "r-2"},
    description="Any JSON object, forwarded unchanged.",
)
@blp.response(
    200,
    description="Suggested follow-up questions.",
    example={"suggestions": [{"text": "Tell me more", "query": "Tell me more"}]},
)
@blp.doc(summary="Follow-up question suggestions")
def follow_up_suggestions(body):
    return passthrough(grok().follow_up_suggestions(body))
