"""The ``x-statsig-id`` challenge token, as the fake grok.com checks it.

Layout of the 70 plaintext bytes (docs/grok-protocol.md: the token)::

    0..48   static header (49 bytes, configured as 98 hex chars)
    49..52  counter = now - 1682924400, uint32 little-endian
    53..68  sha256(f"{METHOD}!{path}!{counter}{suffix}")[:16]
    69      trailer byte

All 70 bytes are XORed with one key byte, then base64-encoded (standard alphabet, no padding).

``sign`` exists so harness users can hand-craft requests; the product has its own signer and the
unit tests carry an independent one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
import time

EPOCH = 1682924400
TOKEN_LEN = 70
DEFAULT_HEADER_HEX = bytes(range(49)).hex()


def header_bytes(header_hex: str) -> bytes:
    """Parse the 98-hex-char header; raise ValueError if malformed."""
    if not isinstance(header_hex, str) or len(header_hex) != 98:
        raise ValueError("header_hex must be 98 hex characters")
    try:
        return bytes.fromhex(header_hex)
    except ValueError as exc:
        raise ValueError(f"header_hex is not hex: {exc}") from None


def digest16(method: str, path: str, counter: int, suffix: str) -> bytes:
    return hashlib.sha256(f"{method}!{path}!{counter}{suffix}".encode("utf-8")).digest()[:16]


def sign(
    method: str,
    path: str,
    header_hex: str = DEFAULT_HEADER_HEX,
    suffix: str = "!test-suffix",
    trailer: int = 3,
    now: float | None = None,
    key: int | None = None,
) -> str:
    """Produce a token for ``METHOD path`` (path without query string)."""
    hdr = header_bytes(header_hex)
    now_i = int(time.time() if now is None else now)
    counter = max(0, now_i - EPOCH)
    raw = hdr + struct.pack("<I", counter) + digest16(method.upper(), path, counter, suffix) + bytes([trailer & 0xFF])
    k = os.urandom(1)[0] if key is None else key & 0xFF
    return base64.b64encode(bytes(b ^ k for b in raw)).decode("ascii").rstrip("=")


def verify(
    token: str | None,
    method: str,
    path: str,
    header_hex: str,
    suffix: str,
    trailer: int,
    clock_window: float,
    now: float | None = None,
) -> tuple[bool, str]:
    """Return (ok, reason). reason is "ok" or a short machine-readable failure reason."""
    if token is None:
        return False, "missing"
    token = token.strip()
    if not token:
        return False, "empty"
    if "=" in token:
        return False, "padding"
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False, "not_base64"
    if len(raw) != TOKEN_LEN:
        return False, f"length_{len(raw)}"
    hdr = header_bytes(header_hex)
    k = raw[0] ^ hdr[0]
    plain = bytes(b ^ k for b in raw)
    if plain[:49] != hdr:
        return False, "header_mismatch"
    counter = struct.unpack("<I", plain[49:53])[0]
    now_i = int(time.time() if now is None else now)
    skew = (now_i - EPOCH) - counter
    if abs(skew) > clock_window:
        return False, f"clock_skew_{skew}"
    if plain[53:69] != digest16(method.upper(), path, counter, suffix):
        return False, "hash_mismatch"
    if plain[69] != (trailer & 0xFF):
        return False, "trailer_mismatch"
    return True, "ok"
