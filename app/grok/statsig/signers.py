"""Signers: where each request's `x-statsig-id` comes from (docs/configuration.md: anti-bot signing sources).

`ChallengeSigner` makes tokens in-process from one build's values (the env triple or the
derived ones), `ProviderSigner` asks TOKEN_PROVIDER_URL per request, `NoSigner` (no values
at all: the chain's last resort) sends what grok.com's own page sends when its generator
fails, which grok.com may or may not accept. The STATSIG_SOURCE chain that picks among them
and renews derived values is `chain.StatsigChain`.

Each upstream request gets a fresh token and a fresh request id: a token is bound
to its method, path and second, and grok.com rejects a reused one.
"""

from __future__ import annotations

import base64
import logging
import os
import time
import uuid
from dataclasses import dataclass

from .. import hooks
from .token import HEADER_LEN, build_token

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Signature:
    statsig_id: str
    request_id: str
    # Which values made the token (a derived build's id), so a rejection can tell whether
    # newer values exist already (see StatsigChain.renew).
    values_id: str | None = None


def _new_request_id() -> str:
    return str(uuid.uuid4())


class Signer:
    """The interface GrokClient signs through. `prepare` and `renew` matter only to signers
    whose values can change while the server runs (the derived ones)."""

    source = "none"

    def sign(self, method: str, path: str) -> Signature:
        raise NotImplementedError

    def prepare(self, client) -> None:
        """Called before each signed request: make sure values exist (may wait for grok.com)."""

    def renew(self, client, signature: Signature, error) -> bool:
        """grok.com rejected `signature` as stale or anti-bot: True when new values are ready
        and the request is worth sending once more."""
        return False


# When the page's generator throws, the page sends base64 of a short tag and the error text
# instead of a token (docs/statsig.md: the last resort). This `x1:` form was reported still
# accepted on the chat start in August 2026 while other non-browser values were refused; an
# empty header never is.
ERROR_FALLBACK_TEXT = "x1:TypeError: Cannot read properties of undefined (reading 'childNodes')"
ERROR_FALLBACK = base64.b64encode(ERROR_FALLBACK_TEXT.encode()).decode()


class NoSigner(Signer):
    """No values to sign with: the page's own error value, a degraded last resort."""

    source = "none"

    def sign(self, method: str, path: str) -> Signature:
        return Signature(ERROR_FALLBACK, _new_request_id())


class ChallengeSigner(Signer):
    source = "env"

    def __init__(self, header: bytes, suffix: str, trailer: int = 3):
        if len(header) != HEADER_LEN:
            raise ValueError(f"challenge header must be {HEADER_LEN} bytes")
        if not 0 <= trailer <= 255:
            raise ValueError("challenge trailer must be 0-255")
        self.header = header
        self.suffix = suffix
        self.trailer = trailer

    def sign(self, method: str, path: str) -> Signature:
        token = build_token(self.header, self.suffix, self.trailer, method, path, time.time(), os.urandom(1)[0])
        return Signature(token, _new_request_id())


class ProviderSigner(Signer):
    """Asks TOKEN_PROVIDER_URL for each request's token.

    POST {"path", "method"} -> {"x-statsig-id", "x-xai-request-id"?}. Uses `requests`
    (gevent-patched sockets in the worker, so it is cooperative), a 5 s timeout and a
    status check; any failure falls back to an empty token with a warning.
    """

    source = "provider"

    def __init__(self, url: str, timeout: float = 5.0, session=None):
        import requests  # imported here: only provider users pay for it

        self.url = url
        self.timeout = timeout
        self._session = session or requests.Session()
        self._requests = requests

    def sign(self, method: str, path: str) -> Signature:
        try:
            with hooks.waits.released():
                resp = self._session.post(self.url, json={"path": path, "method": method.upper()}, timeout=self.timeout)
            if resp.status_code // 100 != 2:
                raise ValueError(f"token provider answered HTTP {resp.status_code}")
            data = resp.json()
            if not isinstance(data, dict):
                raise ValueError("token provider answer is not a JSON object")
        except (self._requests.RequestException, ValueError) as exc:
            log.warning(
                "token provider failed (%s); sending the request without a statsig token",
                type(exc).__name__ if isinstance(exc, self._requests.RequestException) else exc,
            )
            return Signature("", _new_request_id())
        token = data.get("x-statsig-id")
        if not isinstance(token, str) or not _header_safe(token):
            log.warning("token provider answer has no usable x-statsig-id; sending an empty token")
            token = ""
        request_id = data.get("x-xai-request-id")
        if not isinstance(request_id, str) or not request_id or not _header_safe(request_id):
            request_id = _new_request_id()
        return Signature(token, request_id)


def _header_safe(value: str) -> bool:
    return all(32 <= ord(ch) < 127 for ch in value)
