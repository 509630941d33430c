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
