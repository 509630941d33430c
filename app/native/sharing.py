"""/v1/sharing: share links for conversations and artifacts."""

from __future__ import annotations

import marshmallow as ma

from ..routing import CONVERSATION, for_owned
from ..runtime import grok
from ..web.blueprint import Blueprint
from ..web.fields import StrictBoolean
from .fields import ForwardedBody, PageQuery
from .replies import StatusReplySchema, passthrough, status_answer

blp = Blueprint(
    "sharing", __name__, url_prefix="/v1/sharing", description="Share links for conversations and artifacts"
)

LINK_ID = "6a0f2d7e-3b1c-4c8e-9f00-1d2e3f4a5b6c"


class ShareConversationBody(ForwardedBody):
    responseId = ma.fields.String(metadata={"description": "Share up to this response (default: all)."})
    teamMembersToShare = ma.fields.List(ma.fields.String())
    shareWithTeamMembers = StrictBoolean()
    sharePublicly = StrictBoolean()
    allowIndexing = StrictBoolean(metadata={"description": "Let search engines index the page."})


class ShareArtifactBody(ForwardedBody):
    responseId = ma.fields.String(required=True)
    artifactId = ma.fields.String(required=True)
    artifactVersionId = ma.fields.String(required=True)


class ShareLinkSchema(ma.Schema):
    shareLinkId = ma.fields.String()
    shareLink = ma.fields.String()


@blp.route("/<gid:conversation_id>", methods=["POST"])
@blp.arguments(
    ShareConversationBody,
    required=False,
    example={"sharePublicly": True, "allowIndexing": False},
    description="May be `{}`; undocumented fields are forwarded unchanged.",
)
@blp.response(
    201,
    ShareLinkSchema,
    description="The new share link (grok.com answers 201).",
    example={"shareLinkId": LINK_ID, "shareLink": f"https://grok.com/share/{LINK_ID}"},
)
@blp.doc(summary="Share a conversation")
def share_conversation(body, conversation_id):
    return passthrough(for_owned(CONVERSATION, conversation_id).client.share_conversation(conversation_id, body))


@blp.route("/<gid:conversation_id>/artifact", methods=["POST"])
@blp.arguments(
    ShareArtifactBody, example={"responseId": "r-2", "artifactId": "art-demo", "artifactVersionId": "artv-demo-1"}
)
@blp.response(
    200,
    description="The shared artifact's link.",
    example={"sharedArtifactId": "shared-art-demo", "shareLink": "https://grok.com/share/artifact/shared-art-demo"},
)
@blp.doc(summary="Share one artifact version of a conversation")
def share_artifact(body, conversation_id):
    return passthrough(for_owned(CONVERSATION, conversation_id).client.share_artifact(conversation_id, body))


@blp.route("/links", methods=["GET"])
@blp.arguments(PageQuery, location="query")
@blp.response(
    200,
    description="A page of the user's share links.",
    example={
        "shareLinks": [
            {
                "shareLinkId": LINK_ID,
                "conversationId": "c-1",
                "title": "Hello",
                "createTime": "2026-01-02T10:00:00.000000Z",
                "viewCount": 3,
            }
        ]
    },
)
@blp.doc(summary="List share links")
def list_share_links(query):
    return passthrough(grok().list_share_links(query.get("page_size"), query.get("page_token")))


@blp.route("/links/<gid:share_link_id>", methods=["GET"])
@blp.response(
    200,
    description="The shared conversation as visitors see it.",
    example={
        "shareLinkId": LINK_ID,
        "viewCount": 4,
        "conversation": {"conversationId": "c-1", "title": "Hello"},
        "responses": [],
    },
)
@blp.doc(summary="Get a share link's content")
def get_share_link(share_link_id):
    return passthrough(grok().get_share_link(share_link_id))


@blp.route("/links/<gid:share_link_id>", methods=["DELETE"])
@blp.response(200, StatusReplySchema, example={"status": "deleted"}, description="Deleted.")
@blp.doc(summary="Delete a share link")
def delete_share_link(share_link_id):
    grok().delete_share_link(share_link_id)
    return status_answer("deleted")


@blp.route("/links/<gid:share_link_id>/clone", methods=["POST"])
@blp.response(
    201,
    description="The new conversation copied from the share (grok.com answers 201).",
    example={"conversation": {"conversationId": "c-2", "title": "Hello"}, "responses": []},
)
@blp.doc(summary="Copy a shared conversation into your history")
def clone_share_link(share_link_id):
    return passthrough(grok().clone_share_link(share_link_id))


@blp.route("/artifacts/<gid:shared_artifact_id>", methods=["GET"])
@blp.response(
    200,
    description="The shared artifact.",
    example={
        "sharedArtifactId": "shared-art-demo",
        "artifactId": "art-demo",
        "artifactVersionId": "artv-demo-1",
        "title": "demo.py",
        "artifactType": "code",
        "content": 'print("demo")\n',
    },
)
@blp.doc(summary="Get a shared artifact")
def get_shared_artifact(shared_artifact_id):
    return passthrough(grok().get_shared_artifact(shared_artifact_id))
