"""API keys: `Authorization: Bearer <key>` or `x-api-key: <key>`, several keys allowed.

Only the check lives here; where it is enforced is decided by the app (before_request).
"""

from __future__ import annotations

import hmac

from flask import Request


def presented_key(request: Request) -> str | None:
    """The key the client sent, from either header (None when absent)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    key = request.headers.get("x-api-key", "").strip()
    return key or None


def key_is_valid(presented: str | None, keys: tuple[str, ...]) -> bool:
    """Constant-time comparison against every configured key (no early exit on a match)."""
    if not presented:
        return False
    candidate = presented.encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(candidate, key.encode())
    return matched


def request_is_authorized(request: Request, keys: tuple[str, ...]) -> bool:
    """True when no key is configured, or the request carries one of the keys."""
    return not keys or key_is_valid(presented_key(request), keys)


def public_route(view):
    """Mark a view that needs no API key because it checks a credential of its own (e.g. the
    signature of an asset link). The app-wide API-key check must skip views carrying it."""
    view.public = True
    return view
