"""/raw/<path>: any grok.com app-chat endpoint, passed through (docs/api.md: raw passthrough).

`/raw/<path>?<query>` -> `GROK_BASE_URL/rest/app-chat/<path>?<query>`, same method
(GET, POST, PUT, PATCH, DELETE), JSON or empty body up to 10 MiB. grok.com's status,
content type and body come back unchanged, errors included, relayed as they arrive.
Two exceptions: a failure the failure table classifies (an expired session, anti-bot,
a rate limit, ...; app/problems.py) gets the status it gets on every route, with
grok.com's body, also when grok.com reports it inside a stream before answering; and
an error body that is not JSON (a Cloudflare page, a proxy's HTML) is replaced by the
classified problem.

The path is checked on the raw request URI, before WSGI percent-decoding could hide
anything: a request can only ever reach a path under `/rest/app-chat/`.
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
from urllib.parse import unquote, urlsplit

from flask import Response, request

from ..grok.client import APP, NO_BODY, ChatStream
from ..grok.errors import NOT_FOUND, STREAM, UPSTREAM, GrokError, UpstreamHTTPError
from ..problems import Problem, from_grok_error
from ..runtime import grok, settings
from ..web.apidoc import UPSTREAM_ERRORS, problem_responses
from ..web.blueprint import Blueprint, reads_its_own_body
from ..web.streaming import ndjson_relay, read_opening, streaming_response
from .replies import relay_bytes

log = logging.getLogger(__name__)

blp = Blueprint(
    "raw", __name__, url_prefix="/raw", description="Raw passthrough to grok.com's /rest/app-chat/ endpoints"
)

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
BODY_LIMIT = 10 * 1024 * 1024
MAX_DECODE_ROUNDS = 4

# An RFC 3986 path segment without '@' (userinfo tricks), each '%' starting a valid escape.
_SEGMENT = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:]|%[0-9A-Fa-f]{2})+")
# A query string as a browser sends it: printable ASCII, no space or fragment.
_QUERY = re.compile(r"[\x21-\x22\x24-\x7e]*")
_FORBIDDEN_DECODED = re.compile(r"[/\\@\x00-\x1f\x7f]")


def reject(detail: str) -> Problem:
    return Problem(400, "bad_request", f"raw path rejected: {detail}", param="path")


def check_segment(segment: str) -> None:
    """Raise a 400 problem unless `segment` (still percent-encoded) is a plain path segment.

    The segment is decoded until it stops changing, so double encodings (`%252e`)
    are judged by what some later decoder could turn them into.
    """
    if not segment:
        raise reject("empty path segments are not allowed (no leading, trailing or double '/')")
    if not _SEGMENT.fullmatch(segment):
        raise reject(f"segment {segment!r} holds characters not allowed in a path segment")
    decoded = segment
    for _ in range(MAX_DECODE_ROUNDS):
        once = unquote(decoded)
        if once == decoded:
            break
        decoded = once
    else:
        raise reject(f"segment {segment!r} is percent-encoded too many times")
    if decoded.split(";", 1)[0] in (".", ".."):
        raise reject(f"segment {segment!r} is a dot segment")
    if _FORBIDDEN_DECODED.search(decoded):
        raise reject(f"segment {segment!r} encodes '/', '\\', '@' or a control character")


def raw_request_path() -> str:
    """The request path exactly as the client sent it (percent escapes intact)."""
    env = request.environ
    raw = env.get("RAW_URI") or env.get("REQUEST_URI")
    if not raw:
        # No raw URI from this server: PATH_INFO is decoded, so a hidden escape shows up decoded
        # (and is then rejected as such).
        return request.script_root + env.get("PATH_INFO", "")
    if not raw.startswith("/"):  # absolute-form request target (a proxy-style request line)
        try:
            raw = urlsplit(raw).path
        except ValueError:
            raise reject("the request target is not a valid URL") from None
    return raw.split("?", 1)[0].split("#", 1)[0]


def upstream_path() -> str:
    """`/rest/app-chat/<validated segments>`, or a 400 problem."""
    raw = raw_request_path()
    prefix = request.script_root + blp.url_prefix + "/"
    if not raw.startswith(prefix):
        raise reject("the path must start with /raw/ (not percent-encoded)")
    subpath = raw[len(prefix) :]
    if not subpath:
        raise reject("a path after /raw/ is required")
    segments = subpath.split("/")
    for segment in segments:
        check_segment(segment)
    return f"{APP}/" + "/".join(segments)


def upstream_query() -> str | None:
    query = request.environ.get("QUERY_STRING", "")
    if not _QUERY.fullmatch(query):
        raise Problem(400, "bad_request", "query string holds characters a URL cannot carry", param="query")
    return query or None


def assert_inside_rest(base_url: str, path: str) -> None:
    """Defence in depth: the URL about to be requested is under the base URL's /rest/ tree."""
    base = urlsplit(base_url)
    url = urlsplit(base_url + path)
    rest = base.path.rstrip("/") + "/rest/"
    decoded = unquote(unquote(url.path))
    if (
        (url.scheme, url.netloc) != (base.scheme, base.netloc)
        or not url.path.startswith(rest)
        or not posixpath.normpath(decoded).startswith(rest)
        or "\\" in decoded
    ):
        log.error("raw passthrough refused an upstream URL outside /rest/: %r", url.path)
        raise reject("the path leaves grok.com's /rest/ tree")


def request_body():
    """The JSON body (any JSON value) or NO_BODY; at most BODY_LIMIT bytes."""
    request.max_content_length = BODY_LIMIT
    data = request.get_data(cache=False)  # 413 problem above the limit
    if not data:
        return NO_BODY
    if not request.is_json:
        raise Problem(
            415,
            "unsupported_media_type",
            f"raw bodies must be JSON (Content-Type: application/json), got {request.mimetype or 'none'}",
        )
    try:
        return json.loads(data)
    except ValueError as exc:
        raise Problem(400, "bad_request", f"the request body is not valid JSON: {exc}") from None


def _is_json_type(content_type: str | None) -> bool:
    mimetype = (content_type or "").split(";", 1)[0].strip().lower()
    return mimetype in ("application/json", "application/x-ndjson") or mimetype.endswith("+json")


# The failures raw answers with grok.com's own status: those the failure table does not single
# out (a 400 for a bad body, a 404, a 405, a 5xx, an unclassified in-band error), which are
# what a raw client came to see.
AS_SENT = frozenset({UPSTREAM, NOT_FOUND, STREAM})


def failure_response(exc: GrokError, body: bytes, content_type: str | None, upstream_status: int) -> Response:
    """grok.com's JSON answer to a failed request, with the failure's status (README: raw)."""
    problem = from_grok_error(exc)
    status = upstream_status if exc.failure_class in AS_SENT else problem.status
    log.info("raw: upstream HTTP %s (%s) answered as %s", upstream_status, exc.failure_class, status)
    response = Response(body, status=status, content_type=content_type or "application/json")
    response.headers.update(problem.headers)  # Retry-After
    response.headers["X-Grok-Failure-Class"] = exc.failure_class
    response.headers["X-Grok-Upstream-Status"] = str(upstream_status)
    return response


def error_passthrough(exc: UpstreamHTTPError) -> Response:
    """grok.com's error answer when its body is JSON; the classified problem otherwise."""
    try:
        json.loads(exc.body)
    except ValueError:
        log.warning("raw: upstream HTTP %s with a non-JSON body: %s", exc.status, exc.message)
        return from_grok_error(exc).response()
    return failure_response(exc, exc.body.encode("utf-8"), exc.content_type, exc.status)


def no_options(view):
    # OPTIONS and HEAD are not forwarded: they get a 405 problem with Allow (CORS preflights
    # are answered before routing).
    view.provide_automatic_options = False
    return view


RAW_DESCRIPTION = """\
Forwards the request to `GROK_BASE_URL/rest/app-chat/{path}` with the same method and query string
and the JSON body (at most 10 MiB), signed like every upstream request. grok.com's status,
content type and body are returned unchanged, streamed as they arrive (NDJSON chat endpoints too);
error answers are passed through as well (header `X-Grok-Failure-Class` names the failure), except
non-JSON error bodies (e.g. a Cloudflare page), which become the classified problem.

The path must stay under `/rest/app-chat/`: empty, `.` or `..` segments (also percent-encoded, also
double-encoded), backslashes, `@`, encoded `/` and control characters are rejected with 400 before
anything is sent. Client headers are not forwarded."""

RAW_PATH = {
    "in": "path",
    "name": "subpath",
    "description": "the path under /rest/app-chat/",
    "example": "conversations",
}


@blp.route("/<rawpath:subpath>", methods=METHODS, parameters=[RAW_PATH])
@no_options
@problem_responses(blp, 400, 413, 415, *UPSTREAM_ERRORS, examples={400: reject("segment '%2e%2e' is a dot segment")})
@blp.doc(
    summary="Raw passthrough to /rest/app-chat/{path}",
    description=RAW_DESCRIPTION,
    responses={
        200: {
            "description": "grok.com's answer, unchanged",
            "content": {
                "application/json": {
                    "schema": {},
                    "example": {
                        "conversations": [
                            {
                                "conversationId": "c0ffee00-1111-4222-8333-444455556666",
                                "title": "HTTP/2 multiplexing",
                                "starred": False,
                            }
                        ]
                    },
                }
            },
        }
    },
)
@reads_its_own_body
def raw(subpath):
    if request.method == "HEAD":
        raise Problem(
            405,
            "method_not_allowed",
            f"HEAD is not allowed on {request.path}; allowed: {', '.join(METHODS)}",
            headers={"Allow": ", ".join(METHODS)},
        )
    path = upstream_path()
    query = upstream_query()
    body = request_body()
    client = grok()
    assert_inside_rest(client.config.base_url, path)
    try:
        upstream = client.stream(request.method, path, query=query, body=body)
    except UpstreamHTTPError as exc:
        return error_passthrough(exc)
    content_type = upstream.headers.get("content-type")
    if upstream.status in (204, 205, 304):
        upstream.close()
        empty = Response(status=upstream.status)
        del empty.headers["Content-Type"]
        return empty
    if _is_json_type(content_type) or not content_type:
        stream, heartbeat = ChatStream(upstream, state=client.state), settings().heartbeat_interval
        opening = read_opening(stream, heartbeat)
        if opening.error is not None and opening.error.failure_class not in AS_SENT:
            stream.close()
            return failure_response(opening.error, opening.data, content_type, upstream.status)
        relay = ndjson_relay(stream, heartbeat, opening.data)
    else:
        relay = relay_bytes(upstream)
    return streaming_response(relay, "application/json", status=upstream.status, content_type=content_type)
