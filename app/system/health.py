"""/health: liveness only, never an upstream call. /health/session: the session check.

/health/session answers with the reference implementation's bodies (docs/operations.md), but the check is
single-flight and cached for SESSION_CACHE_SECONDS across all workers (see
app/ops/watch.py), so this public endpoint cannot be used to hammer the user's
grok.com account.
"""

from __future__ import annotations

import marshmallow as ma

from ..grok import errors as gerr
from ..ops.watch import EXPIRED, NOT_CONFIGURED, VALID
from ..runtime import Runtime, runtime
from ..web.blueprint import Blueprint

blp = Blueprint("health", __name__, description="Liveness and session health")

SESSION_CACHE_SECONDS = 5.0
_STATUS = {VALID: 200, EXPIRED: 503, NOT_CONFIGURED: 503}


class HealthSchema(ma.Schema):
    status = ma.fields.String(required=True)
    service = ma.fields.String(required=True)


class SessionHealthSchema(ma.Schema):
    status = ma.fields.String(required=True, metadata={"enum": ["ok", "error"]})
    session = ma.fields.String(required=True, metadata={"enum": ["valid", "expired", "unknown", "not_configured"]})
    message = ma.fields.String()
    failure_class = ma.fields.String()
    advice = ma.fields.String()
    checked_at = ma.fields.Float(metadata={"description": "Unix time of the (cached) check"})
    accounts = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(),
        metadata={"description": "with an accounts file: each enabled account's session (valid while one is)"},
    )


@blp.route("/health", methods=["GET"])
@blp.response(200, HealthSchema, example={"status": "ok", "service": "grok-web-api"})
@blp.doc(summary="Liveness check (no upstream call)")
def health():
    return {"status": "ok", "service": "grok-web-api"}


def session_report(rt: Runtime, max_age: float) -> dict:
    """The session state for a reader: a check no older than max_age (performed if needed)."""
    if not rt.configured:
        return {
            "session": NOT_CONFIGURED,
            "message": "grok.com cookies are not configured: set GROK_SSO_COOKIE (see /setup)",
            "failure_class": gerr.NOT_CONFIGURED,
            "advice": gerr.ADVICE[gerr.NOT_CONFIGURED],
            "checked_at": None,
        }
    checks = rt.session_checks()
    results = {check.label: check.result(max_age) for check in checks}
    result = next((r for r in results.values() if r.session == VALID), next(iter(results.values())))
    report = {
        "session": result.session,
        "message": result.message,
        "failure_class": result.failure_class,
        "advice": result.advice,
        "checked_at": result.at,
    }
    if rt.pool.strict:
        report["accounts"] = {label: r.session for label, r in results.items()}
    return report


@blp.route("/health/session", methods=["GET"])
@blp.response(200, SessionHealthSchema, example={"status": "ok", "session": "valid", "checked_at": 1717171717.5})
@blp.alt_response(
    502,
    schema=SessionHealthSchema,
    description="the check failed for another reason",
    example={
        "status": "error",
        "session": "unknown",
        "message": "Anti-bot rejected (HTTP 403): Request rejected by anti-bot rules.",
        "failure_class": "anti_bot",
        "advice": "grok.com's anti-bot check rejected the request: "
        "the challenge values are probably stale. Re-run the browser snippet and update the CHALLENGE_* values "
        "(see /setup).",
        "checked_at": 1717171717.5,
    },
)
@blp.alt_response(
    503,
    schema=SessionHealthSchema,
    description="cookies expired or not configured",
    example={
        "status": "error",
        "session": "expired",
        "message": "Grok SSO cookies expired",
        "failure_class": "auth_expired",
        "checked_at": 1717171717.5,
    },
)
@blp.doc(summary=f"Session check against grok.com (cached {SESSION_CACHE_SECONDS:g} s, single-flight)")
def health_session():
    report = session_report(runtime(), SESSION_CACHE_SECONDS)
    if report["session"] == VALID:
        body = {"status": "ok", "session": VALID, "checked_at": report["checked_at"]}
    else:
        body = {"status": "error", "session": report["session"], "message": report["message"] or "session check failed"}
        if report["session"] == EXPIRED:
            body["message"] = "Grok SSO cookies expired"
        body.update({k: report[k] for k in ("failure_class", "advice") if report[k]})
        if report["checked_at"]:
            body["checked_at"] = report["checked_at"]
    if "accounts" in report:
        body["accounts"] = report["accounts"]
    return body, _STATUS.get(report["session"], 502), {"Cache-Control": "no-store"}
