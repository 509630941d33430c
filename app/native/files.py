"""/v1/files: upload files to grok.com and read their metadata.

POST /v1/files takes the reference JSON body (bytes as base64 `content`) or a
multipart/form-data upload with a `file` part, which we base64-encode; either
way grok.com receives the same JSON. Bodies up to 64 MiB (the default is 2 MiB).
"""

from __future__ import annotations

import marshmallow as ma
from flask import request

from ..routing import FILE, for_owned, for_request, own
from ..web.blueprint import MULTIPART, Blueprint
from ..web.fields import Base64, StrictBoolean
from .fields import ForwardedBody
from .replies import passthrough, reply_json

blp = Blueprint(
    "files",
    __name__,
    url_prefix="/v1",
    description="Files uploaded to grok.com (for chat attachments)",
)

UPLOAD_LIMIT = 64 * 1024 * 1024


@blp.before_request
def _allow_large_uploads():
    # Flask 3.1 lets one request raise MAX_CONTENT_LENGTH; only the upload route does.
    if request.endpoint == "files.upload_file":
        request.max_content_length = UPLOAD_LIMIT


class UploadBody(ForwardedBody):
    fileName = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1),
        metadata={"description": "File name shown in grok.com. Multipart: defaults to the `file` part's filename."},
    )
    fileMimeType = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1),
        metadata={"description": "MIME type. Multipart: defaults to the `file` part's content type."},
    )
    content = Base64(
        required=True,
        metadata={
            "description": "The file bytes, base64 (JSON bodies only; a "
            "multipart upload sends them as the `file` part)."
        },
    )
    makePublic = StrictBoolean()
    fileSource = ma.fields.String(metadata={"description": "e.g. SELF_UPLOAD_FILE_SOURCE"})
    thirdPartyFileId = ma.fields.String()


class FileMetadataSchema(ma.Schema):
    fileMetadataId = ma.fields.String(metadata={"description": "Use it in a chat's `fileAttachments`."})
    fileMimeType = ma.fields.String()
    fileName = ma.fields.String()
    fileUri = ma.fields.String()
    createTime = ma.fields.String()


FILE_EXAMPLE = {
    "fileMetadataId": "5b7d1c1e-0a43-4d7a-8f43-0f9d8d9a1f00",
    "fileMimeType": "text/plain",
    "fileName": "notes.txt",
    "fileUri": "users/u-1/5b7d1c1e-0a43-4d7a-8f43-0f9d8d9a1f00/content",
    "parsedFileUri": "",
    "createTime": "2026-01-02T10:00:00.000000Z",
    "fileSource": "SELF_UPLOAD_FILE_SOURCE",
}

MULTIPART_DOC = {
    "requestBody": {
        "content": {
            MULTIPART: {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "The file; we base64-encode it."},
                        "fileName": {"type": "string"},
                        "fileMimeType": {"type": "string"},
                        "makePublic": {"type": "string", "enum": ["true", "false"]},
                        "fileSource": {"type": "string"},
                        "thirdPartyFileId": {"type": "string"},
                    },
                },
                "encoding": {"file": {"contentType": "application/octet-stream"}},
            }
        }
    }
}


@blp.route("/files", methods=["POST"])
@blp.arguments(
    UploadBody,
    location="upload",
    example={"fileName": "notes.txt", "fileMimeType": "text/plain", "content": "aGVsbG8K"},
    description=f"JSON with base64 `content`, or {MULTIPART} with a `file` part. At most "
    f"{UPLOAD_LIMIT} bytes. Undocumented JSON fields are forwarded unchanged.",
)
@blp.response(200, FileMetadataSchema, example=FILE_EXAMPLE, description="grok.com's file metadata, unchanged.")
@blp.doc(summary="Upload a file (JSON base64 or multipart)", **MULTIPART_DOC)
def upload_file(body):
    routed = for_request()
    reply = routed.client.upload_file(body)
    uploaded = reply_json(reply)
    if isinstance(uploaded, dict) and isinstance(uploaded.get("fileMetadataId"), str):
        own(FILE, uploaded["fileMetadataId"], routed.label)  # chats attaching it go to this account
    return passthrough(reply)


@blp.route("/files/<gid:file_id>/metadata", methods=["GET"])
@blp.response(200, FileMetadataSchema, example=FILE_EXAMPLE, description="grok.com's file metadata, unchanged.")
@blp.doc(summary="Get an uploaded file's metadata")
def file_metadata(file_id):
    return passthrough(for_owned(FILE, file_id).client.file_metadata(file_id))
