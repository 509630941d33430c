"""How native routes read their input: the blueprint class and its argument parser.

`NativeBlueprint` is the project's Blueprint (app.web.apidoc: a non-JSON body is a
415) whose `@blp.arguments` parser also
- knows the `upload` location: a JSON body, or `multipart/form-data` whose
  `file` part is base64-encoded into `content` (POST /v1/files);
and which logs input a route ignores (unknown query parameters, a body sent to
a route that takes none), so nothing the client sent disappears without a trace.
"""

from __future__ import annotations

import base64
import logging
import mimetypes
from typing import Any, Iterable

import marshmallow as ma
from flask import current_app, request
from flask_smorest.utils import resolve_schema_instance
from webargs.flaskparser import FlaskParser, is_json_request

from ..problems import Problem
from ..web.apidoc import Blueprint, JsonBodyParser, unsupported_media_type

log = logging.getLogger(__name__)

BODY_LOCATIONS = ("json", "upload", "form", "files")
MULTIPART = "multipart/form-data"


class NativeParser(JsonBodyParser):
    def load_upload(self, req, schema: ma.Schema) -> Any:
        """A JSON upload body, or a multipart one turned into the same JSON fields."""
        if req.mimetype != MULTIPART:
            if req.get_data(cache=True) and not is_json_request(req):
                raise unsupported_media_type(f"application/json or {MULTIPART}")
            return self.load_json(req, schema)
        upload = req.files.get("file")
        if upload is None:
            raise Problem(422, "invalid_request", f"a {MULTIPART} upload needs a 'file' part", param="file")
        fields: dict[str, Any] = {name: value for name, value in req.form.items()}
        for name in req.files:
            if name != "file":
                log.info("upload: ignoring extra multipart file part %r", name)
        if "makePublic" in fields:
            fields["makePublic"] = {"true": True, "false": False}.get(fields["makePublic"], fields["makePublic"])
        fields.setdefault("fileName", upload.filename or "upload")
        fields.setdefault("fileMimeType", _part_type(upload.mimetype, fields["fileName"]))
        if "content" in fields:
            raise Problem(
                422,
                "invalid_request",
                "a multipart upload sends the bytes in the 'file' part, not a 'content' field",
                param="content",
            )
        fields["content"] = base64.b64encode(upload.read()).decode("ascii")
        return fields

    __location_map__ = dict(FlaskParser.__location_map__, upload="load_upload")


def _part_type(declared: str, filename: str) -> str:
    # curl -F and many clients label every part application/octet-stream; grok.com treats
    # images and documents by their type, so the file name's type is the better guess.
    if declared and declared != "application/octet-stream":
        return declared
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


class NativeBlueprint(Blueprint):
    """A flask-smorest Blueprint with the native input rules (see the module docstring)."""

    ARGUMENTS_PARSER = NativeParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = dict(
        Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING, upload="application/json"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.before_request(log_ignored_input)

    def arguments(self, schema, *, location="json", **kwargs):
        # A bad query or path parameter is a 400 (invalid_query); 422 is for bodies.
        if location not in BODY_LOCATIONS:
            kwargs.setdefault("error_status_code", 400)
        return super().arguments(schema, location=location, **kwargs)


def _declared(view, locations: Iterable[str]) -> list[ma.Schema]:
    params = getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", [])
    return [resolve_schema_instance(p["schema"]) for p in params if p.get("in") in locations]


def _field_names(schema: ma.Schema) -> set[str]:
    return {field.data_key or name for name, field in schema.fields.items()}


def log_ignored_input() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:
        return
    if request.args:
        known: set[str] = set()
        for schema in _declared(view, ("query", "querystring")):
            known |= _field_names(schema)
        ignored = sorted(set(request.args) - known)
        if ignored:
            log.debug("%s %s: ignoring unknown query parameters %s", request.method, request.path, ignored)
    if request.content_length and not _declared(view, BODY_LOCATIONS):
        log.info(
            "%s %s: this route takes no body; ignoring %d bytes", request.method, request.path, request.content_length
        )


def log_dropped_fields(schema: ma.Schema, data: Any) -> None:
    """For closed bodies: name the fields grok.com will not receive."""
    if isinstance(data, dict):
        dropped = sorted(set(data) - _field_names(schema))
        if dropped:
            log.info("%s %s: ignoring unknown body fields %s", request.method, request.path, dropped)
