"""What every answer to a fuzzed request must satisfy, whatever was sent."""

from __future__ import annotations

import json

from app.problems import PROBLEM_JSON, TITLES

# 5xx answers a fuzzed request may get: grok.com (the fake, as strict as grok.com) refusing
# what a lenient route forwards, e.g. an unknown field of the wrong type in a native body
# (docs/api.md: those routes pass unknown fields on). Never 500, never an unmapped status.
UPSTREAM_REFUSALS = {502: {"upstream_error", "stream_error"}}
# Routes that answer with grok.com's own status and body (reference: /raw/* passthrough):
# only our own failures count there.
PASSTHROUGH_PREFIXES = ("/raw/",)
# The Anthropic Messages API answers errors in Anthropic's shape, not problem+json.
ANTHROPIC_PREFIXES = ("/v1/messages",)
ANTHROPIC_ERROR_TYPES = {
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "overloaded_error",
}


def violations(method: str, path: str, status: int, content_type: str | None, body: bytes) -> list[str]:
    """Why this answer breaks the error contract (empty when it does not)."""
    if path.startswith(PASSTHROUGH_PREFIXES):
        text = body.decode("utf-8", "replace")
        ours = '"type": "internal"' in text or "Traceback" in text
        return [f"our own failure {status}: {text[:200]}"] if ours else []
    found = []
    if status >= 500 and status not in UPSTREAM_REFUSALS:
        found.append(f"server error {status}")
    if status < 400 or method == "HEAD":
        return found
    mimetype = (content_type or "").split(";")[0].strip()
    if path.startswith(ANTHROPIC_PREFIXES):
        return found + _anthropic_error(status, mimetype, body)
    if mimetype != PROBLEM_JSON:
        return found + [f"error {status} is {mimetype or 'untyped'}, not {PROBLEM_JSON}: {body[:200]!r}"]
    try:
        problem = json.loads(body)
    except ValueError:
        return found + [f"error {status} body is not JSON: {body[:200]!r}"]
    type_ = problem.get("type")
    if type_ not in TITLES:
        found.append(f"undocumented problem type {type_!r}")
    elif problem.get("title") != TITLES[type_]:
        found.append(f"title {problem.get('title')!r} for type {type_!r}")
    if problem.get("status") != status:
        found.append(f"problem status {problem.get('status')!r} on an HTTP {status}")
    if not isinstance(problem.get("detail"), str) or not problem["detail"]:
        found.append("problem without a detail")
    if (problem.get("error") or {}).get("code") != type_:
        found.append("the OpenAI-style error member does not carry the problem type")
    if status in UPSTREAM_REFUSALS and type_ not in UPSTREAM_REFUSALS[status]:
        found.append(f"{status} with type {type_!r}")
    if "Traceback" in body.decode("utf-8", "replace"):
        found.append("a traceback in the body")
    return found


def _anthropic_error(status: int, mimetype: str, body: bytes) -> list[str]:
    if mimetype != "application/json":
        return [f"error {status} is {mimetype or 'untyped'}, not application/json: {body[:200]!r}"]
    try:
        error = json.loads(body)
    except ValueError:
        return [f"error {status} body is not JSON: {body[:200]!r}"]
    inner = error.get("error") if isinstance(error, dict) else None
    if error.get("type") != "error" or not isinstance(inner, dict):
        return [f"not an Anthropic error body: {body[:200]!r}"]
    found = []
    if inner.get("type") not in ANTHROPIC_ERROR_TYPES:
        found.append(f"undocumented Anthropic error type {inner.get('type')!r}")
    if not isinstance(inner.get("message"), str) or not inner["message"]:
        found.append("Anthropic error without a message")
    if "Traceback" in body.decode("utf-8", "replace"):
        found.append("a traceback in the body")
    return found
