"""The upstream client's exceptions, and the classification of upstream failures.

Callers see only these types, never curl_cffi's::

    GrokError                     anything the client library raises
    ├── ConfigurationError        no cookie: the client cannot send requests
    ├── UpstreamHTTPError         grok.com answered a non-2xx status (.status, .body)
    │   ├── AuthExpired           the session cookies expired
    │   ├── AntiBotRejected       anti-bot check, stale challenge, Cloudflare page, blocked account
    │   ├── RateLimited           rate or usage limit (.retry_after)
    │   └── NotFound              404
    ├── TransportError            the request did not complete
    │   ├── UpstreamTimeout       no answer, or silence, for too long
    │   ├── UpstreamConnectionError   connecting failed, or (.dropped) the connection broke
    │   └── ServerShuttingDown    this server ended the transfer at its shutdown deadline
    ├── ResponseTooLarge          an answer read whole was over the transport's limit
    └── StreamError               an error grok.com reported inside its answer (.code)

Every error carries a `failure_class` (which layer broke, the same whatever form
grok.com used to report it) and `advice` (what the operator should do about it).
An HTTP error answer is turned into its exception by `error_for_status`, an error
inside a 200 stream by `inband_error`: nothing else builds them. What a client then
sees is one table in app/problems.py, keyed by failure class.
"""

from __future__ import annotations

import email.utils
import json
import re
import time

# failure_class values (documented in docs/troubleshooting.md)
AUTH_EXPIRED = "auth_expired"
ANTI_BOT = "anti_bot"
STALE_CHALLENGE = "stale_challenge"
CLOUDFLARE = "cloudflare_challenge"
USAGE_LIMIT = "usage_limit"
RATE_LIMITED = "rate_limited"
ACCOUNT_BLOCKED = "account_blocked"
PAYLOAD_OUTDATED = "payload_outdated"
NOT_FOUND = "not_found"
UPSTREAM = "upstream_error"
TIMEOUT = "timeout"
NETWORK = "network"
STREAM = "stream_error"
MODEL_UNAVAILABLE = "model_unavailable"
NOT_CONFIGURED = "not_configured"
SHUTTING_DOWN = "shutting_down"
STATSIG_UNAVAILABLE = "statsig_unavailable"
REST_LANE_RETIRED = "rest_lane_retired"
CASTLE = "castle_rejected"
CONTEXT_TOO_LONG = "context_too_long"

ADVICE = {
    AUTH_EXPIRED: "The grok.com session cookies expired: log in to grok.com again and update "
    "GROK_SSO_COOKIE and GROK_SSO_RW_COOKIE (see /setup).",
    ANTI_BOT: "grok.com's anti-bot check rejected the request: the x-statsig-id values are probably stale. "
    "With STATSIG_SOURCE=auto (the default) the server re-derives them from grok.com's page by itself "
    "(/status says how that went); pinned CHALLENGE_* values must be extracted again with the browser "
    "snippet (see /setup, docs/statsig.md).",
    STALE_CHALLENGE: "grok.com shipped a new frontend build and the x-statsig-id values are stale. "
    "With STATSIG_SOURCE=auto (the default) the server re-derives them from grok.com's page by itself "
    "(/status says how that went); pinned CHALLENGE_* values must be extracted again with the browser "
    "snippet (see /setup, docs/statsig.md).",
    CLOUDFLARE: "Cloudflare answered with a browser challenge page: this IP address or TLS "
    "fingerprint is being challenged. Try another network or set GROK_EXTRA_COOKIES with a "
    "cf_clearance cookie obtained with the same User-Agent.",
    USAGE_LIMIT: "The grok.com account reached its usage limit for this model; wait for the "
    "limit window to reset or use another model.",
    RATE_LIMITED: "grok.com is rate limiting this account and said not when it will accept requests "
    "again; wait a little before retrying.",
    ACCOUNT_BLOCKED: "grok.com reports this account as blocked; it cannot be used until xAI lifts the block.",
    PAYLOAD_OUTDATED: "grok.com rejected the request format as outdated ('please update your "
    "client'): the upstream protocol changed; update grok-web-api.",
    NOT_FOUND: "The requested grok.com resource does not exist.",
    UPSTREAM: "grok.com returned an error; retry later.",
    TIMEOUT: "grok.com did not answer in time; retry later.",
    NETWORK: "grok.com could not be reached: check this host's network, DNS and proxy settings.",
    STREAM: "grok.com reported an error inside the answer stream.",
    MODEL_UNAVAILABLE: "grok.com does not offer this model to this account (or the model was "
    "renamed): pick another model, or check the account's plan on grok.com.",
    NOT_CONFIGURED: "No grok.com cookies are configured: set GROK_SSO_COOKIE (see /setup).",
    SHUTTING_DOWN: "This server is restarting or shutting down and ended the upstream request "
    "at its graceful-shutdown deadline; retry the request.",
    STATSIG_UNAVAILABLE: "The server could not derive the x-statsig-id values from grok.com's page "
    "(STATSIG_SOURCE=derived): /status names the failing step. It retries by itself; to keep working "
    "meanwhile, set STATSIG_SOURCE=auto with CHALLENGE_* values as the fallback (docs/statsig.md).",
    REST_LANE_RETIRED: "grok.com no longer answers the REST chat endpoint this server uses (404/410 or "
    "'update your client'): the upstream protocol changed. With GROK_CHAT_LANE=auto (the default) chats "
    "move to grok.com's WebSocket lane by themselves (docs/websocket-lane.md).",
    CONTEXT_TOO_LONG: "grok.com refused the conversation as longer than the model accepts: shorten it "
    "(compact the history, drop old tool output or attachments) or start a new conversation.",
    CASTLE: "grok.com's WebSocket chat refused the turn for want of a Castle anti-bot token "
    "(castle_request_token), which only grok.com's page can mint. The cookies and the statsig values are "
    "not the cause. While grok.com's REST chat still answers, set GROK_CHAT_LANE=rest; otherwise "
    "update grok-web-api (see docs/websocket-lane.md).",
}

# Every failure class, in the order /status and /metrics list them.
FAILURE_CLASSES = tuple(ADVICE)


class GrokError(Exception):
    """Base class of everything the upstream client raises."""

    failure_class = UPSTREAM

    def __init__(self, message: str, *, failure_class: str | None = None):
        super().__init__(message)
        self.message = message
        if failure_class:
            self.failure_class = failure_class

    @property
    def advice(self) -> str:
        return ADVICE.get(self.failure_class, ADVICE[UPSTREAM])


class ConfigurationError(GrokError):
    """The client cannot send requests with the current settings (e.g. no cookie)."""

    failure_class = NOT_CONFIGURED


class UpstreamHTTPError(GrokError):
    """grok.com answered with a non-2xx status."""

    def __init__(
        self, status: int, body: str, message: str | None = None, *, failure_class=None, content_type: str | None = None
    ):
        self.status = status
        self.body = body
        self.content_type = content_type
        super().__init__(message or f"grok.com returned HTTP {status}", failure_class=failure_class)


class AuthExpired(UpstreamHTTPError):
    failure_class = AUTH_EXPIRED


class AntiBotRejected(UpstreamHTTPError):
    failure_class = ANTI_BOT


class RateLimited(UpstreamHTTPError):
    failure_class = RATE_LIMITED

    def __init__(self, status: int, body: str, retry_after: float | None = None, **kw):
        self.retry_after = retry_after
        super().__init__(status, body, **kw)

    @property
    def advice(self) -> str:
        if self.failure_class != RATE_LIMITED or self.retry_after is None:
            return super().advice
        # Only when grok.com named a delay is there one to point at (Retry-After says it too).
        seconds = max(1, round(self.retry_after))
        return f"grok.com is rate limiting this account; retry after {seconds} s (Retry-After)."


class NotFound(UpstreamHTTPError):
    failure_class = NOT_FOUND


class TransportError(GrokError):
    """The request did not complete at the transport level."""

    failure_class = NETWORK


class UpstreamTimeout(TransportError):
    failure_class = TIMEOUT


class UpstreamConnectionError(TransportError):
    """Connecting failed, or (dropped=True) the connection broke mid-response."""

    def __init__(self, message: str, *, dropped: bool = False):
        self.dropped = dropped
        super().__init__(message)


class ResponseTooLarge(GrokError):
    """An answer read whole (not streamed) was larger than the transport keeps (a 502)."""

    @property
    def advice(self) -> str:
        return "Read it through /raw/..., which streams grok.com's answer instead of keeping it whole."


class ServerShuttingDown(TransportError):
    """This server ended the transfer itself: its graceful-shutdown deadline came first."""

    failure_class = SHUTTING_DOWN


class StreamError(GrokError):
    """An error reported inside the NDJSON stream, or a stream that cannot be parsed."""

    failure_class = STREAM

    def __init__(self, message: str, *, code=None, failure_class: str | None = None):
        self.code = code
        super().__init__(message, failure_class=failure_class)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: the delta-seconds form or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _error_code(body: str):
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict):
        inner = data.get("error")
        if isinstance(inner, dict) and "code" in inner:
            return inner.get("code")
        return data.get("code")
    return None


# How grok.com (and the xAI models behind it) word a request longer than the model takes: the
# web app's own refusal ("your request is as expansive as the galaxy itself"), and the API's
# "maximum prompt length is N but the request contains M tokens". Bounded alternations only.
_TOO_LONG = re.compile(
    r"as expansive as the galaxy|make it more terrestrial|maximum (?:prompt|context) length"
    r"|context (?:length|window) exceeded|too many tokens"
    r"|(?:prompt|conversation|message|request|input) (?:is |was )?too (?:long|large)"
)


def classify_text(text: str, code=None) -> str | None:
    """The failure class a grok.com error message points at, if it is a known one."""
    lower = text.lower()
    if "just a moment" in lower and "<" in text:
        return CLOUDFLARE
    if "unauthenticated" in text or "Bad credentials" in text:
        return AUTH_EXPIRED
    if "blocked-user" in lower or "user is blocked" in lower or "email-domain-rejected" in lower:
        return ACCOUNT_BLOCKED
    if "page is out of date" in lower:
        return STALE_CHALLENGE
    if "update your client" in lower:
        return PAYLOAD_OUTDATED
    if "castle" in lower:
        return CASTLE
    if "anti-bot" in lower:
        return ANTI_BOT
    if "model is not found" in lower or "model not found" in lower:
        return MODEL_UNAVAILABLE
    if _TOO_LONG.search(lower):
        return CONTEXT_TOO_LONG
    if "usage limit" in lower:
        return USAGE_LIMIT
    if code == 8 or "too many requests" in lower or "resourceexhausted" in lower:
        return RATE_LIMITED
    return None


def inband_error(message: str, code: int | str | None = None) -> StreamError:
    """The exception for an error grok.com reported inside a 200 answer stream.

    Classified by the same rules as an HTTP error body, so a usage limit or an expired
    session is the same failure class whichever way grok.com reports it."""
    return StreamError(message, code=code, failure_class=classify_text(message, code) or STREAM)


def error_for_status(status: int, body: str, headers: dict[str, str] | None = None) -> UpstreamHTTPError:
    """Map a non-2xx upstream answer onto the exception hierarchy.

    The session's own failures are recognised first (auth text before anything else),
    then the bodies grok.com is known to send (docs/grok-protocol.md: error answers).
    """
    headers = headers or {}
    content_type = headers.get("content-type")
    code = _error_code(body)
    known = classify_text(body, code)
    if status == 413:  # the request itself (the whole conversation is in it) was too big
        known = CONTEXT_TOO_LONG
    if (headers.get("cf-mitigated") or "").lower() == "challenge":
        known = CLOUDFLARE
    message = _upstream_message(body) or f"HTTP {status}"
    if status == 429 or known in (RATE_LIMITED, USAGE_LIMIT) and status in (403, 429):
        return RateLimited(
            status,
            body,
            parse_retry_after(headers.get("retry-after")),
            message=f"grok.com rate limited the request: {message}",
            failure_class=USAGE_LIMIT if known == USAGE_LIMIT else RATE_LIMITED,
            content_type=content_type,
        )
    if known == CASTLE:
        return AntiBotRejected(
            status,
            body,
            f"grok.com's Castle anti-bot check refused the request: {message}",
            failure_class=CASTLE,
            content_type=content_type,
        )
    if status in (401, 403):
        if known == AUTH_EXPIRED:
            return AuthExpired(status, body, "grok.com session cookies expired", content_type=content_type)
        if known == CLOUDFLARE:
            return AntiBotRejected(
                status,
                body,
                "Cloudflare challenge page instead of an answer",
                failure_class=CLOUDFLARE,
                content_type=content_type,
            )
        if known in (ACCOUNT_BLOCKED, STALE_CHALLENGE):
            return AntiBotRejected(
                status, body, f"grok.com refused the request: {message}", failure_class=known, content_type=content_type
            )
        if known == MODEL_UNAVAILABLE:
            return UpstreamHTTPError(
                status, body, f"grok.com: {message}", failure_class=MODEL_UNAVAILABLE, content_type=content_type
            )
        if known == ANTI_BOT or code == 7:
            return AntiBotRejected(
                status, body, f"Anti-bot rejected (HTTP {status}): {message}", content_type=content_type
            )
    # A challenge page or an account rejection means the same whatever the status.
    if known == CLOUDFLARE:
        return AntiBotRejected(
            status,
            body,
            f"Cloudflare challenge page instead of an answer (HTTP {status})",
            failure_class=CLOUDFLARE,
            content_type=content_type,
        )
    if known == ACCOUNT_BLOCKED:
        return AntiBotRejected(
            status,
            body,
            f"grok.com refused the account: {message}",
            failure_class=ACCOUNT_BLOCKED,
            content_type=content_type,
        )
    if status == 404:
        return NotFound(status, body, f"grok.com: not found ({message})", content_type=content_type)
    return UpstreamHTTPError(
        status,
        body,
        f"grok.com returned HTTP {status}: {message}",
        failure_class=known if known in (PAYLOAD_OUTDATED, CONTEXT_TOO_LONG) else None,
        content_type=content_type,
    )


def _upstream_message(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        text = body.strip()
        if text.startswith("<"):
            return "HTML page"
        return text[:300]
    if isinstance(data, dict):
        inner = data.get("error")
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"][:300]
        if isinstance(data.get("message"), str):
            return data["message"][:300]
    return body.strip()[:300]
