"""The `x-statsig-id` token itself (docs/grok-protocol.md: the token), given a build's values.

A token is 70 bytes, base64 without padding: a random nonce byte, the 48-byte seed, a
seconds counter, 16 bytes of sha256 over "METHOD!path!counter" + salt + L, and a version
byte; everything after the nonce is XORed with it. The per-build part is a pair (seed, L),
which the environment carries in another shape: CHALLENGE_HEADER_HEX (a zero byte standing
for the nonce, then the seed), CHALLENGE_SUFFIX (salt + L) and CHALLENGE_TRAILER (3).
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass

EPOCH = 1682924400  # 2023-05-01 07:00:00 UTC
HEADER_LEN = 49
SEED_LEN = 48
SALT = "obfiowerehiring"
TRAILER = 3


def build_token(header: bytes, suffix: str, trailer: int, method: str, path: str, now: float, xor_key: int) -> str:
    """The token for one request; pure, so it is checked against published test vectors."""
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


@dataclass(frozen=True)
class ChallengeValues:
    """One build's values in the shape the token generator takes (and .env holds)."""

    header: bytes
    suffix: str
    trailer: int = TRAILER

    @classmethod
    def from_pair(cls, seed: bytes, fingerprint: str) -> "ChallengeValues":
        if len(seed) != SEED_LEN:
            raise ValueError(f"a seed has {SEED_LEN} bytes, got {len(seed)}")
        return cls(b"\0" + seed, SALT + fingerprint)

    def env_lines(self) -> list[str]:
        return [
            f"CHALLENGE_HEADER_HEX={self.header.hex()}",
            f"CHALLENGE_SUFFIX={self.suffix}",
            f"CHALLENGE_TRAILER={self.trailer}",
        ]
