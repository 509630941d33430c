"""/v1/artifacts: documents and code grok.com wrote in a conversation, and their versions."""

from __future__ import annotations

import marshmallow as ma

from ..problems import Problem
from ..runtime import grok
from ..web.blueprint import Blueprint
from .fields import ForwardedBody
from .replies import passthrough, reply_json

blp = Blueprint(
    "artifacts", __name__, url_prefix="/v1/artifacts", description="Artifacts (documents, code) and their versions"
)

ARTIFACT_EXAMPLE = {
    "artifactId": "art-demo",
    "title": "demo.py",
    "artifactType": "code",
    "conversationId": None,
    "responseId": None,
    "versions": [{"artifactVersionId": "artv-demo-1", "createTime": "2026-01-01T00:00:00.000000Z"}],
}


class ArtifactSchema(ma.Schema):
    artifactId = ma.fields.String()
    title = ma.fields.String()
    artifactType = ma.fields.String()


class ArtifactUpdateBody(ForwardedBody):
    fullArtifact = ma.fields.String(metadata={"description": "The whole new content."})
    artifactDiff = ma.fields.String(
        metadata={"description": "A change against `artifactVersionId` (or the latest version)."}
    )
    artifactVersionId = ma.fields.String(metadata={"description": "The version the change is based on."})

    @ma.validates_schema
    def _has_content(self, data, **kwargs):
        if data.get("fullArtifact") is None and data.get("artifactDiff") is None:
            raise ma.ValidationError("give fullArtifact or artifactDiff", "fullArtifact")


@blp.route("/<gid:artifact_id>", methods=["GET"])
@blp.response(200, ArtifactSchema, example=ARTIFACT_EXAMPLE, description="The artifact as grok.com returns it.")
@blp.doc(summary="Get an artifact")
def get_artifact(artifact_id):
    return passthrough(grok().get_artifact(artifact_id))


@blp.route("/<gid:artifact_id>", methods=["PUT"])
@blp.arguments(
    ArtifactUpdateBody,
    example={"fullArtifact": 'print("hello")\n'},
    description="New content (whole or as a diff); other fields are forwarded unchanged.",
)
@blp.response(
    200,
    description="The new version.",
    example={"artifactId": "art-demo", "artifactVersionId": "artv-demo-2", "content": 'print("hello")\n'},
)
@blp.doc(summary="Save a new version of an artifact")
def update_artifact(body, artifact_id):
    return passthrough(grok().update_artifact(artifact_id, body))


@blp.route("/<gid:artifact_id>/content/<gid:version_id>", methods=["GET"])
@blp.response(
    200,
    description="The version's content as grok.com returns it. 404 when grok.com says the "
    "version belongs to another artifact.",
    example={
        "artifactVersionId": "artv-demo-1",
        "artifactId": "art-demo",
        "content": 'print("demo")\n',
        "createTime": "2026-01-01T00:00:00.000000Z",
        "contentType": "text/plain",
    },
)
@blp.doc(summary="Get the content of one artifact version")
def artifact_content(artifact_id, version_id):
    reply = grok().artifact_content(version_id)
    body = reply_json(reply)
    owner = body.get("artifactId") if isinstance(body, dict) else None
    # grok.com looks versions up by id alone; the artifact in the URL must not be decorative.
    if isinstance(owner, str) and owner and owner != artifact_id:
        raise Problem(404, "not_found", f"artifact version {version_id} belongs to artifact {owner}, not {artifact_id}")
    return passthrough(reply)
