"""The project's one Blueprint class and the parser of its `@blp.arguments`.

Every route group builds its blueprint from `Blueprint`, which
- takes schemas given as classes and instantiates them once (webargs would build a
  new instance, a deep copy of every field, on every request: about 1.3 ms for the chat
  completion schema), a bound instance keeps no per-call state;
- answers a body sent with a non-JSON content type with 415 (webargs would read it as
  "no body" and report missing fields instead);
- knows two more body locations: `json_or_form` (a JSON body, or a browser form: the
  /setup form) and `upload` (a JSON body, or `multipart/form-data` whose `file` part is
  base64-encoded into `content`: POST /v1/files);
- answers an invalid query or path parameter with 400 (422 is for bodies);
- logs input a route ignores (unknown query parameters, a body sent to a route that
  takes none), so nothing the client sent disappears without a trace;
- adds no wrapper of its own around a view: flask-smorest's `arguments` and `doc` each
  wrap the view in a function whose only work is `ensure_sync(view)(*args, **kwargs)`.
  A call with `*args, **kwargs` is one more level of C stack in CPython 3.11, and every
  chat request parked halfway through its start keeps a copy of its C stack: in a burst
  of 1000 streams the two levels were 0.8 KB of RSS per stream (docs/benchmarks.md,
  "Where a burst's peak is"). Here `doc` only records the documentation and `arguments`
  hands the view itself to webargs.
"""

from __future__ import annotations

import base64
import json
import logging
import mimetypes
import sys
from copy import deepcopy
from typing import Any

import flask_smorest
import marshmallow as ma
from flask import current_app, request
from flask_smorest.utils import deepupdate, resolve_schema_instance
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from ..problems import Problem
from . import json_body

log = logging.getLogger(__name__)

BODY_LOCATIONS = ("json", "json_or_form", "upload", "form", "files")
MULTIPART = "multipart/form-data"


def json_value_refusal(exc: ValueError) -> str:
    """What to tell a client whose JSON text Python refused for its content, not its syntax: a
    number of more than 4300 digits (Python's guard against quadratic int conversion)."""
    if "digits" in str(exc):
        return f"the JSON holds a number with more than {sys.get_int_max_str_digits()} digits"
    return "the JSON cannot be read"


def unsupported_media_type(expected: str) -> Problem:
    got = request.mimetype or "no Content-Type"
    return Problem(415, "unsupported_media_type", f"the request body must be {expected} (got {got})")


class BodyParser(FlaskParser):
    """webargs' Flask parser with the project's body rules (see the module docstring)."""

    def _raw_load_json(self, req):
        data = req.get_data(cache=True)
        if not data:
            return core.missing
        if not is_json_request(req):
            raise unsupported_media_type("application/json")
        try:
            return json_body.loads(data, plain_limit=current_app.config["MAX_CONTENT_LENGTH"])
        except json.JSONDecodeError:
            raise
        except json_body.TooComplex as exc:
            raise Problem(413, "payload_too_large", str(exc), max_separators=json_body.MAX_SEPARATORS) from None
        except ValueError as exc:  # valid syntax Python will not read: webargs would let it be a 500
            raise Problem(400, "invalid_request", json_value_refusal(exc), param="body") from None

    def load_json_or_form(self, req, schema):
        return self.load_json(req, schema) if is_json_request(req) else self.load_form(req, schema)

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

    __location_map__ = dict(FlaskParser.__location_map__, json_or_form="load_json_or_form", upload="load_upload")


def _part_type(declared: str, filename: str) -> str:
    # curl -F and many clients label every part application/octet-stream; grok.com treats
    # images and documents by their type, so the file name's type is the better guess.
    if declared and declared != "application/octet-stream":
        return declared
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


class Blueprint(flask_smorest.Blueprint):
    """A flask-smorest Blueprint with the project's input rules (see the module docstring)."""

    ARGUMENTS_PARSER = BodyParser()
    # Both alternative body locations are documented as their JSON form.
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = dict(
        flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        json_or_form="application/json",
        upload="application/json",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.before_request(log_ignored_input)

    def arguments(self, schema, *args, location="json", **kwargs):
        if isinstance(schema, type):
            schema = schema()
        if location not in BODY_LOCATIONS:
            kwargs.setdefault("error_status_code", 400)
        documented = super().arguments(schema, *args, location=location, **kwargs)
        parser_kwargs = {name: value for name, value in kwargs.items() if name not in _DOCUMENTATION_ONLY}

        def decorator(view):
            # flask-smorest's own decorator is applied for the documentation it builds, and
            # its result set aside: the view registered is webargs' parser around the view.
            docs = documented(view)._apidoc
            parsed = self.ARGUMENTS_PARSER.use_args(schema, location=location, **parser_kwargs)(view)
            parsed._apidoc = docs
            return parsed

        return decorator

    @staticmethod
    def doc(**kwargs):
        """flask-smorest's `doc`, recorded on the view itself (no wrapper)."""

        def decorator(view):
            docs = deepcopy(getattr(view, "_apidoc", {}))
            docs["manual_doc"] = deepupdate(docs.get("manual_doc", {}), kwargs)
            view._apidoc = docs
            return view

        return decorator


# `Blueprint.arguments` parameters that only shape the documentation (the rest go to webargs).
_DOCUMENTATION_ONLY = frozenset({"content_type", "required", "description", "example", "examples"})


def reads_its_own_body(view):
    """Mark a view that reads the request body itself (no `@blp.arguments` body)."""
    view.reads_own_body = True
    return view


class _Inputs:
    """What a view declares it reads: query parameter names, and whether it takes a body."""

    __slots__ = ("query", "body")

    def __init__(self, view):
        params = getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", [])
        self.query: set[str] = set()
        for param in params:
            if param.get("in") in ("query", "querystring"):
                self.query |= field_names(resolve_schema_instance(param["schema"]))
        self.body = getattr(view, "reads_own_body", False) or any(p.get("in") in BODY_LOCATIONS for p in params)


_inputs: dict[Any, _Inputs] = {}  # per view function, computed once (views are module-level)


def field_names(schema: ma.Schema) -> set[str]:
    return {field.data_key or name for name, field in schema.fields.items()}


def log_ignored_input() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:
        return
    inputs = _inputs.get(view)
    if inputs is None:
        inputs = _inputs[view] = _Inputs(view)
    if request.args:
        ignored = sorted(set(request.args) - inputs.query)
        if ignored:
            log.debug("%s %s: ignoring unknown query parameters %s", request.method, request.path, ignored)
    if request.content_length and not inputs.body:
        log.info(
            "%s %s: this route takes no body; ignoring %d bytes", request.method, request.path, request.content_length
        )


def log_dropped_fields(schema: ma.Schema, data: Any) -> None:
    """For closed bodies: name the fields grok.com will not receive."""
    if isinstance(data, dict):
        dropped = sorted(set(data) - field_names(schema))
        if dropped:
            log.info("%s %s: ignoring unknown body fields %s", request.method, request.path, dropped)
