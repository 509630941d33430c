"""/v1/memory: what grok.com remembers about the user.

Path parameters are named by what they are. Under /v1/memory/v2/{…} the GET takes
a companion id (it lists that companion's memories) while PUT and DELETE take one
memory's id; the URLs keep the reference server's shape, the names and summaries
make the difference visible. An edit answers `{"status": "updated"}` and deletions
`{"status": "deleted"}`, as the reference server does.
"""

from __future__ import annotations

import marshmallow as ma

from ..routing import CONVERSATION, for_owned
from ..runtime import grok
from ..web.blueprint import Blueprint
from ..web.fields import QueryBool
from .fields import ClosedBody, Id, QuerySchema
from .replies import StatusReplySchema, passthrough, status_answer

blp = Blueprint(
    "memory",
    __name__,
    url_prefix="/v1/memory",
    description="grok.com memory (per companion, per memory, per conversation)",
)

MEMORY_EXAMPLE = {
    "memoryId": "mem-demo-1",
    "companionId": "companion-demo",
    "content": "The user likes concise answers.",
    "createTime": "2026-01-01T00:00:00.000000Z",
    "conversationId": None,
}


class MemorySchema(ma.Schema):
    memoryId = ma.fields.String()
    companionId = ma.fields.String()
    conversationId = ma.fields.String(allow_none=True)
    content = ma.fields.String()
    createTime = ma.fields.String()


class MemoryListSchema(ma.Schema):
    memories = ma.fields.List(ma.fields.Nested(MemorySchema))


class SoftQuery(QuerySchema):
    soft = QueryBool(load_default=False, metadata={"description": "Soft delete (grok.com's `soft/` endpoint)."})


class MemoryUpdateBody(ClosedBody):
    content = ma.fields.String(required=True, metadata={"description": "The memory's new text."})


class ConversationIdsBody(ClosedBody):
    conversationIds = ma.fields.List(Id(), required=True, validate=ma.validate.Length(min=1))


class ConversationIdsQuery(QuerySchema):
    conversation_ids = ma.fields.List(
        Id(),
        required=True,
        validate=ma.validate.Length(min=1),
        metadata={
            "description": "Repeat the parameter once per conversation: `?conversation_ids=a&conversation_ids=b`.",
            "example": ["c0ffee00-1111-4222-8333-444455556666"],
        },
    )


@blp.route("/blurb", methods=["GET"])
@blp.response(
    200,
    description="grok.com's summary of what it remembers.",
    example={"memoryContent": "The user likes concise answers."},
)
@blp.doc(summary="Memory summary")
def memory_blurb():
    return passthrough(grok().memory_blurb())


@blp.route("/v2/<gid:companion_id>", methods=["GET"])
@blp.response(
    200,
    MemoryListSchema,
    example={"memories": [MEMORY_EXAMPLE]},
    description="The companion's memories as grok.com returns them.",
)
@blp.doc(
    summary="List a companion's memories (the id here is a COMPANION id; PUT/DELETE on the same path take a MEMORY id)"
)
def list_memories(companion_id):
    return passthrough(grok().list_memories(companion_id))


@blp.route("/v2/<gid:memory_id>", methods=["PUT"])
@blp.arguments(MemoryUpdateBody, example={"content": "The user prefers metric units."})
@blp.response(200, StatusReplySchema, example={"status": "updated"}, description="The memory was changed.")
@blp.doc(summary="Edit one memory (the id here is a MEMORY id; GET on the same path takes a COMPANION id)")
def update_memory(body, memory_id):
    grok().update_memory(memory_id, body["content"])
    return status_answer("updated")


@blp.route("/v2/<gid:memory_id>", methods=["DELETE"])
@blp.arguments(SoftQuery, location="query")
@blp.response(200, StatusReplySchema, example={"status": "deleted"}, description="Deleted.")
@blp.doc(summary="Delete one memory (the id here is a MEMORY id; GET on the same path takes a COMPANION id)")
def delete_memory(query, memory_id):
    grok().delete_memory(memory_id, soft=query["soft"])
    return status_answer("deleted")


@blp.route("/v2/all/<gid:companion_id>", methods=["DELETE"])
@blp.arguments(SoftQuery, location="query")
@blp.response(200, StatusReplySchema, example={"status": "deleted"}, description="Deleted.")
@blp.doc(summary="Delete all memories of a companion")
def delete_all_memories(query, companion_id):
    grok().delete_all_memories(companion_id, soft=query["soft"])
    return status_answer("deleted")


@blp.route("/by-conversation", methods=["POST"])
@blp.arguments(ConversationIdsBody, example={"conversationIds": ["8f1c2b1e-5a0b-4a55-9a77-2f3f0f7d9c10"]})
@blp.response(
    200,
    MemoryListSchema,
    description="Memories grok.com derived from those conversations.",
    example={"memories": [dict(MEMORY_EXAMPLE, companionId="", conversationId="8f1c2b1e-5a0b-4a55-9a77-2f3f0f7d9c10")]},
)
@blp.doc(summary="Memories of given conversations (grok.com `POST memory`)")
def memories_for_conversations(body):
    return passthrough(_owner_of(body["conversationIds"]).memories_for_conversations(body["conversationIds"]))


@blp.route("/by-conversation", methods=["DELETE"])
@blp.arguments(ConversationIdsQuery, location="query")
@blp.response(200, StatusReplySchema, example={"status": "deleted"}, description="Deleted, like the other deletions.")
@blp.doc(summary="Delete the memories of given conversations (grok.com `DELETE memory?conversationIds=…`)")
def delete_memories_for_conversations(query):
    ids = query["conversation_ids"]
    _owner_of(ids).delete_memories_for_conversations(ids)
    return status_answer("deleted")


def _owner_of(conversation_ids):
    """The account owning the first known of these conversations (else the request's)."""
    ids = list(conversation_ids or ())
    return for_owned(CONVERSATION, ids[0]).client if ids else grok()
