"""grok.com's `x-statsig-id` anti-bot token (reference-behaviour §3).

Two sources, in this order of precedence:
1. `ChallengeSigner`: the in-process generator, enabled when CHALLENGE_HEADER_HEX
   and CHALLENGE_SUFFIX are both set;
2. `ProviderSigner`: TOKEN_PROVIDER_URL, an external HTTP service asked per request.
With neither, `NoSigner` sends an empty token (grok.com then rejects POSTs).

Each upstream request gets a fresh token and a fresh request id: a token is bound
to its method, path and second, and grok.com rejects a reused one.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import struct
import time
import uuid
from dataclasses import dataclass

from . import hooks

log = logging.getLogger(__name__)

EPOCH = 1682924400  # 2023-05-01 07:00:00 UTC
HEADER_LEN = 49


@dataclass(frozen=True)
class Signature:
    statsig_id: str
    request_id: str


def _new_request_id() -> str:
    return str(uuid.uuid4())


def build_token(header: bytes, suffix: str, trailer: int, method: str, path: str, now: float, xor_key: int) -> str:
    """The token for one request; pure, so it is checked against the §3.3 vectors."""
    counter = max(0, int(now) - EPOCH)
    digest = hashlib.sha256(f"{method.upper()}!{path}!{counter}{suffix}".encode()).digest()[:16]
    raw = header + struct.pack("<I", counter & 0xFFFFFFFF) + digest + bytes((trailer,))
    if xor_key:
        raw = bytes(b ^ xor_key for b in raw)
    return base64.b64encode(raw).decode().rstrip("=")


def parse_header_hex(value: str) -> bytes:
    """CHALLENGE_HEADER_HEX -> 49 bytes; ValueError with a readable message otherwise."""
    text = value.strip()
    if not text.isascii():
        raise ValueError("must contain only hex digits (0-9, a-f)")
    if len(text) % 2:
        raise ValueError(f"has an odd number of characters ({len(text)}); expected 98 hex digits")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ValueError("must contain only hex digits (0-9, a-f)") from None
    if len(raw) != HEADER_LEN:
        raise ValueError(f"must be {HEADER_LEN} bytes (98 hex digits), got {len(raw)} bytes")
    return raw


class Signer:
    source = "none"

    def sign(self, method: str, path: str) -> Signature:
        raise NotImplementedError


class NoSigner(Signer):
    source = "none"

    def sign(self, method: str, path: str) -> Signature:
        return Signature("", _new_request_id())


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
