"""What broke, when grok.com stops answering the way this server expects.

grok.com changes without notice (docs/grok-protocol.md: when grok.com changes): cookies
expire, a new frontend build makes the x-statsig-id values stale, Cloudflare starts
challenging, the REST chat endpoints may be retired for the WebSocket lane. `classify` names
which of these an upstream failure is, for the session watcher's canary, /status, and any
lane that wants to switch (the WebSocket lane asks `rest_lane_retired`).
"""

from __future__ import annotations

from . import errors as gerr

OK = "ok"
COOKIES = "cookies"
ACCOUNT = "account_blocked"
STALE_STATSIG = "stale_statsig"
CLOUDFLARE = "cloudflare"
REST_LANE_RETIRED = "rest_lane_retired"
NETWORK = "network"
OTHER = "upstream_error"
STATES = (OK, COOKIES, ACCOUNT, STALE_STATSIG, CLOUDFLARE, REST_LANE_RETIRED, NETWORK, OTHER)

# The REST chat lane: starting and continuing conversations over NDJSON.
CHAT_LANE_PREFIX = "/rest/app-chat/"
_GONE = (404, 410)


def rest_lane_retired(error: gerr.GrokError, path: str | None = None) -> bool:
    """grok.com's signs that the REST chat lane is gone: an 'update your client' answer, or
    404/410 on a lane endpoint that is not about one resource (a listing, a chat start, a new
    message). A 404 that names what it did not find ("Conversation not found") is about that
    thing, wherever it comes from."""
    if error.failure_class in (gerr.PAYLOAD_OUTDATED, gerr.REST_LANE_RETIRED):
        return True
    status = getattr(error, "status", None)
    if status not in _GONE or not path or not path.startswith(CHAT_LANE_PREFIX):
        return False
    if status == 410:
        return True
    said = (getattr(error, "message", "") or "").lower()
    if any(thing in said for thing in _MISSING_THINGS):
        return False
    return path.rstrip("/").endswith(("/conversations", "/conversations/new", "/quick-answer", "/responses"))


# What a 404 names when one thing is missing rather than the endpoint.
_MISSING_THINGS = ("conversation", "response", "parent", "file", "attachment", "model", "user", "asset")


def classify(error: gerr.GrokError | None, path: str | None = None) -> str:
    if error is None:
        return OK
    cls = error.failure_class
    if cls in (gerr.NETWORK, gerr.TIMEOUT) and not getattr(error, "dropped", False):
        return NETWORK
    if cls == gerr.AUTH_EXPIRED:
        return COOKIES
    if cls == gerr.ACCOUNT_BLOCKED:
        return ACCOUNT
    if cls == gerr.CLOUDFLARE:
        return CLOUDFLARE
    if cls in (gerr.STALE_CHALLENGE, gerr.ANTI_BOT, gerr.STATSIG_UNAVAILABLE):
        return STALE_STATSIG
    if rest_lane_retired(error, path):
        return REST_LANE_RETIRED
    return OTHER


def state_of(failure_class: str) -> str:
    """The state a failure class stands for (the classes of errors.ADVICE)."""
    return classify(gerr.GrokError(failure_class, failure_class=failure_class))
