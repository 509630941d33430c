"""/v1/conversations: list, read, rename/star, delete, restore grok.com conversations.

Reads answer grok.com's own status and JSON bytes; changes that the reference server
answers with a fixed body (delete, restore) answer `{"status": "deleted"}` or
`{"status": "restored"}` like it.
"""

from __future__ import annotations

import marshmallow as ma
from flask import jsonify

from ..grok.errors import NotFound
from ..routing import CONVERSATION, for_owned
from ..runtime import grok
from ..web.blueprint import Blueprint
from ..web.fields import QueryBool, StrictBoolean
from .fields import ForwardedBody, PageQuery, QuerySchema
from .replies import StatusReplySchema, passthrough, reply_json, status_answer

blp = Blueprint(
    "conversations",
    __name__,
    url_prefix="/v1/conversations",
    description="grok.com conversations (history, titles, stars, deletion)",
)

CONVERSATION_EXAMPLE = {
    "conversationId": "8f1c2b1e-5a0b-4a55-9a77-2f3f0f7d9c10",
    "title": "Quantum computing basics",
    "starred": False,
    "createTime": "2026-01-02T10:00:00.000000Z",
    "modifyTime": "2026-01-02T10:05:00.000000Z",
    "systemPromptName": "",
    "temporary": False,
    "mediaTypes": [],
    "workspaces": [],
}


class ConversationSchema(ma.Schema):
    conversationId = ma.fields.String()
    title = ma.fields.String()
    starred = ma.fields.Boolean()
    createTime = ma.fields.String()
    modifyTime = ma.fields.String()


class ConversationListSchema(ma.Schema):
    conversations = ma.fields.List(ma.fields.Nested(ConversationSchema))
    nextPageToken = ma.fields.String(metadata={"description": "Present when there are more pages."})


class ConversationListQuery(PageQuery):
    starred = QueryBool(metadata={"description": "Only starred conversations (grok.com `filterIsStarred`)."})
    workspace_id = ma.fields.String(
        metadata={"description": "Only conversations of this workspace (grok.com `workspaceId`)."}
    )


class ConversationUpdateBody(ForwardedBody):
    title = ma.fields.String(metadata={"description": "New title."})
    starred = StrictBoolean(metadata={"description": "Star or unstar."})


class DeleteQuery(QuerySchema):
    soft = QueryBool(
        load_default=False,
        metadata={"description": "Move to the trash (restorable with POST .../restore) instead of deleting."},
    )
    delete_media = QueryBool(
        load_default=False,
        metadata={"description": "Also delete images generated in the conversation (permanent deletion only)."},
    )

    @ma.validates_schema
    def _soft_keeps_media(self, data, **kwargs):
        if data.get("soft") and data.get("delete_media"):
            raise ma.ValidationError(
                "cannot be combined with soft=true (a trashed conversation keeps "
                "its media until it is deleted for good)",
                "delete_media",
            )


class ResponsesQuery(QuerySchema):
    include_threads = QueryBool(
        load_default=False, metadata={"description": "Include responses of side threads (grok.com `includeThreads`)."}
    )


class ExistsSchema(ma.Schema):
    exists = ma.fields.Boolean(required=True)


def _owner(conversation_id: str):
    """The client of the account that owns the conversation (app/routing.py)."""
    return for_owned(CONVERSATION, conversation_id).client


@blp.route("", methods=["GET"])
@blp.arguments(ConversationListQuery, location="query")
@blp.response(
    200,
    ConversationListSchema,
    description="grok.com's page of conversations, unchanged.",
    example={"conversations": [CONVERSATION_EXAMPLE], "nextPageToken": "20"},
)
@blp.doc(summary="List conversations (newest first)")
def list_conversations(query):
    return passthrough(
        grok().list_conversations(
            query.get("page_size"), query.get("page_token"), query.get("starred"), query.get("workspace_id")
        )
    )


@blp.route("", methods=["DELETE"])
@blp.response(200, StatusReplySchema, description="All conversations deleted.", example={"status": "deleted"})
@blp.doc(summary="Delete ALL conversations permanently")
def delete_all_conversations():
    grok().delete_all_conversations()
    return status_answer("deleted")


@blp.route("/deleted", methods=["GET"])
@blp.arguments(PageQuery, location="query")
@blp.response(
    200,
    ConversationListSchema,
    description="grok.com's page of trashed conversations, unchanged.",
    example={"conversations": [dict(CONVERSATION_EXAMPLE, title="Old chat")]},
)
@blp.doc(summary="List conversations in the trash (soft-deleted)")
def list_deleted_conversations(query):
    return passthrough(grok().list_deleted_conversations(query.get("page_size"), query.get("page_token")))


@blp.route("/<gid:conversation_id>", methods=["GET"])
@blp.response(
    200, ConversationSchema, description="The conversation as grok.com returns it.", example=CONVERSATION_EXAMPLE
)
@blp.doc(summary="Get a conversation")
def get_conversation(conversation_id):
    return passthrough(_owner(conversation_id).get_conversation(conversation_id))


@blp.route("/<gid:conversation_id>", methods=["PUT"])
@blp.arguments(
    ConversationUpdateBody,
    required=False,
    example={"title": "Renamed", "starred": True},
    description="Fields to change; other fields are forwarded to grok.com unchanged.",
)
@blp.response(
    200,
    ConversationSchema,
    description="The updated conversation as grok.com returns it.",
    example=dict(CONVERSATION_EXAMPLE, title="Renamed", starred=True),
)
@blp.doc(summary="Rename and/or star a conversation")
def update_conversation(body, conversation_id):
    return passthrough(_owner(conversation_id).update_conversation(conversation_id, body))


@blp.route("/<gid:conversation_id>", methods=["DELETE"])
@blp.arguments(DeleteQuery, location="query")
@blp.response(200, StatusReplySchema, description="Deleted (or moved to the trash).", example={"status": "deleted"})
@blp.doc(summary="Delete a conversation (permanently, or to the trash with soft=true)")
def delete_conversation(query, conversation_id):
    _owner(conversation_id).delete_conversation(conversation_id, soft=query["soft"], delete_media=query["delete_media"])
    return status_answer("deleted")


@blp.route("/<gid:conversation_id>/exists", methods=["GET"])
@blp.response(
    200,
    ExistsSchema,
    example={"exists": True},
    description="`exists` as grok.com reports it; `false` when grok.com answers 404.",
)
@blp.doc(summary="Does a conversation exist?")
def conversation_exists(conversation_id):
    try:
        reply = _owner(conversation_id).conversation_exists(conversation_id)
    except NotFound:
        return jsonify(exists=False)
    body = reply_json(reply)
    reported = body.get("exists") if isinstance(body, dict) else None
    # A 2xx without a boolean `exists` still means grok.com found it.
    return jsonify(exists=reported if isinstance(reported, bool) else True)


@blp.route("/<gid:conversation_id>/restore", methods=["POST"])
@blp.response(200, StatusReplySchema, description="Restored from the trash.", example={"status": "restored"})
@blp.doc(summary="Restore a conversation from the trash")
def restore_conversation(conversation_id):
    _owner(conversation_id).restore_conversation(conversation_id)
    return status_answer("restored")


@blp.route("/<gid:conversation_id>/title", methods=["POST"])
@blp.response(200, description="The generated title.", example={"newTitle": "Quantum computing basics"})
@blp.doc(summary="Let grok.com generate a title from the conversation")
def generate_title(conversation_id):
    return passthrough(_owner(conversation_id).generate_title(conversation_id))


@blp.route("/<gid:conversation_id>/responses", methods=["GET"])
@blp.arguments(ResponsesQuery, location="query")
@blp.response(
    200,
    description="The conversation's responses (both sides) as grok.com returns them.",
    example={
        "responses": [
            {
                "responseId": "r-1",
                "sender": "human",
                "message": "Hi",
                "createTime": "2026-01-02T10:00:00.000000Z",
                "parentResponseId": "",
            },
            {
                "responseId": "r-2",
                "sender": "assistant",
                "message": "Hello!",
                "createTime": "2026-01-02T10:00:02.000000Z",
                "parentResponseId": "r-1",
            },
        ]
    },
)
@blp.doc(summary="List a conversation's responses")
def list_responses(query, conversation_id):
    return passthrough(_owner(conversation_id).list_responses(conversation_id, query["include_threads"]))


@blp.route("/<gid:conversation_id>/artifacts", methods=["GET"])
@blp.response(
    200,
    description="Metadata of the conversation's artifacts.",
    example={"artifacts": [{"artifactId": "art-demo", "title": "demo.py", "artifactType": "code"}]},
)
@blp.doc(summary="List a conversation's artifacts (metadata)")
def list_artifacts(conversation_id):
    return passthrough(_owner(conversation_id).artifacts_metadata(conversation_id))
