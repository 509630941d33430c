"""OpenAPI pieces shared by route groups: documented error responses and stream bodies.

The error examples are built by the same code that builds real error bodies, so the
document cannot drift from what clients receive.
"""

from __future__ import annotations

import json
import sys

import flask_smorest
from flask import request
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from ..grok import errors as gerr
from ..problems import PROBLEM_JSON, Problem, ProblemSchema, from_grok_error, validation_problem

NDJSON = "application/x-ndjson"


def unsupported_media_type(expected: str) -> Problem:
    got = request.mimetype or "no Content-Type"
    return Problem(415, "unsupported_media_type", f"the request body must be {expected} (got {got})")


class JsonBodyParser(FlaskParser):
    """A body sent with a non-JSON content type is a 415 (webargs would read it as "no
    body" and report missing fields instead). JSON that Python refuses to read for a reason
    other than its syntax is a 400 too: a number of more than 4300 digits raises a plain
    ValueError (Python's guard against quadratic int conversion), which webargs, expecting
    only JSONDecodeError, let through as a 500."""

    def _raw_load_json(self, req):
        data = req.get_data(cache=True)
        if not data:
            return core.missing
        if not is_json_request(req):
            raise unsupported_media_type("application/json")
        try:
            return core.parse_json(data)
        except json.JSONDecodeError:
            raise
        except ValueError as exc:
            raise Problem(400, "invalid_request", json_value_refusal(exc), param="body") from None

    def load_json_or_form(self, req, schema):
        # Where a form is welcome too (the /setup form), a non-JSON body is read as a form.
        return self.load_json(req, schema) if is_json_request(req) else self.load_form(req, schema)


def json_value_refusal(exc: ValueError) -> str:
    """What to tell a client whose JSON text Python refused for its content (not its syntax)."""
    if "digits" in str(exc):
        return f"the JSON holds a number with more than {sys.get_int_max_str_digits()} digits"
    return "the JSON cannot be read"


class Blueprint(flask_smorest.Blueprint):
    """The project's blueprint: JSON bodies must say so (JsonBodyParser), and schemas
    given as classes are instantiated once, here.

    webargs instantiates a schema class on every request (a deep copy of every field:
    about 1.3 ms for the chat completion schema); a bound instance is reused, and
    marshmallow's load keeps no per-call state on it.
    """

    ARGUMENTS_PARSER = JsonBodyParser()

    def arguments(self, schema, *args, **kwargs):
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)


INVALID_PATH = Problem(
    400, "invalid_path", "invalid path parameter 'conversation_id': must not contain '..'", param="conversation_id"
)
PROBLEM_EXAMPLES: dict[int, Problem] = {
    400: validation_problem({"json": ["Invalid JSON body."]}, 400),
    403: from_grok_error(
        gerr.AntiBotRejected(403, "", "Anti-bot rejected (HTTP 403): Request rejected by anti-bot rules.")
    ),
    404: from_grok_error(gerr.NotFound(404, "", "grok.com: not found (Conversation not found)")),
    413: Problem(413, "payload_too_large", "request body too large; the limit is 2097152 bytes", limit_bytes=2097152),
    415: Problem(415, "unsupported_media_type", "the request body must be JSON (Content-Type: application/json)"),
    422: validation_problem({"json": {"message": ["Missing data for required field."]}}),
    429: from_grok_error(
        gerr.RateLimited(429, "", 30.0, message="grok.com rate limited the request: Too many requests")
    ),
    502: from_grok_error(gerr.UpstreamHTTPError(500, "", "grok.com returned HTTP 500: Internal error")),
    503: from_grok_error(gerr.AuthExpired(401, "", "grok.com session cookies expired")),
    504: from_grok_error(gerr.UpstreamTimeout("no response headers from upstream within 120 s")),
}

# What any route that calls grok.com can answer besides its success.
UPSTREAM_ERRORS = (403, 404, 429, 502, 503, 504)


def problem_responses(blp, *statuses: int, examples: dict[int, Problem] | None = None):
    """Decorator documenting problem+json error responses (with examples) on a view;
    `examples` replaces the default example of a status."""

    def decorate(view):
        for status in statuses:
            problem = (examples or {}).get(status) or PROBLEM_EXAMPLES[status]
            view = blp.alt_response(
                status,
                schema=ProblemSchema,
                content_type=PROBLEM_JSON,
                description=problem.title,
                example=problem.body(),
            )(view)
        return view

    return decorate


def stream_response(description: str, example: str, content_type: str = NDJSON) -> dict:
    """An OpenAPI response object for a streamed body (for `@blp.doc(responses=...)`)."""
    return {"description": description, "content": {content_type: {"schema": {"type": "string"}, "example": example}}}
