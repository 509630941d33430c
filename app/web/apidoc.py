"""OpenAPI pieces shared by route groups: documented error responses and stream bodies.

The error examples are built by the same code that builds real error bodies, so the
document cannot drift from what clients receive.
"""

from __future__ import annotations

from ..grok import errors as gerr
from ..problems import PROBLEM_JSON, Problem, ProblemSchema, from_grok_error, validation_problem

NDJSON = "application/x-ndjson"


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
