"""/v1/google-drive: files of the Google Drive connected to the grok.com account."""

from __future__ import annotations

import marshmallow as ma

from ..runtime import grok
from ..web.blueprint import Blueprint
from .fields import QuerySchema
from .replies import passthrough

blp = Blueprint(
    "google_drive", __name__, url_prefix="/v1/google-drive", description="Google Drive files (connected account)"
)

DRIVE_FILE_EXAMPLE = {
    "id": "gdrive-demo-1",
    "name": "Quarterly report.docx",
    "mimeType": "application/vnd.google-apps.document",
    "modifiedTime": "2026-01-02T10:00:00Z",
    "webViewLink": "https://docs.google.com/document/d/gdrive-demo-1",
}


class DriveQuery(QuerySchema):
    query = ma.fields.String(metadata={"description": "Search text (file names)."})


@blp.route("/files", methods=["GET"])
@blp.arguments(DriveQuery, location="query")
@blp.response(200, description="Matching Drive files.", example={"files": [DRIVE_FILE_EXAMPLE]})
@blp.doc(summary="List or search Google Drive files")
def list_drive_files(query):
    return passthrough(grok().google_drive_files(query.get("query")))


@blp.route("/files/<gid:file_id>", methods=["GET"])
@blp.response(200, description="The Drive file's metadata.", example=DRIVE_FILE_EXAMPLE)
@blp.doc(summary="Get a Google Drive file's metadata")
def get_drive_file(file_id):
    return passthrough(grok().google_drive_file(file_id))
