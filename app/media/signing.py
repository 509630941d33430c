"""Signed asset links: `/v1/assets/<path>?exp=<unix time>&sig=<HMAC>`.

A link carries its own credential, so a browser or chat UI can open it without the API
key, and only for the path it was made for, until it expires. The signature is
HMAC-SHA256 over a version tag, the asset path and the expiry, base64url without padding;
it is checked in constant time.

The key is ASSET_SIGNING_KEY, or else a random key made by the first worker that needs one
and kept in the shared-state store (the run directory, or Redis across hosts), so every
worker of every host signs and verifies alike. A generated key is also written once to a
key file (ASSET_KEY_FILE, by default beside the settings file, mode 0600) and read back
from it at the next start, so links keep working across restarts (docs/security.md). A signer verifies with
every key it was given, so a key that changed (a host that made its own while Redis was
away, then learned the shared one) does not break the links it already handed out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import time
from pathlib import Path
from typing import Sequence
from urllib.parse import quote

log = logging.getLogger(__name__)

KEY_SPACE, KEY_NAME = "keys", "asset-signing"
_MESSAGE_TAG = b"grok-web-api asset link v1"
_SIG_RE = re.compile(r"[A-Za-z0-9_-]{43}")
# What an asset path may contain: relative, '/'-separated, no dot segments, no query.
# No '%': the path is signed as it is and the router sees it decoded, so escapes must never occur.
_SEGMENT_RE = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@-]+")
MAX_PATH_CHARS = 1024


class AssetSigner:
    """Signs with `key`; verifies with it and with any of `older_keys`."""

    def __init__(self, key: bytes, ttl: int, older_keys: Sequence[bytes] = ()):
        if len(key) < 16:
            raise ValueError("the asset signing key must be at least 16 bytes")
        self._key = key
        self._keys = (key, *(k for k in older_keys if k != key))
        self.ttl = ttl

    @property
    def key(self) -> bytes:
        return self._key

    def _mac(self, path: str, expires: int, key: bytes | None = None) -> str:
        message = b"\n".join((_MESSAGE_TAG, path.encode("utf-8"), str(expires).encode()))
        digest = hmac.new(key or self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, path: str, now: float | None = None) -> tuple[int, str]:
        expires = int(time.time() if now is None else now) + self.ttl
        return expires, self._mac(path, expires)

    def link(self, base_url: str, path: str, now: float | None = None) -> str:
        """The absolute signed URL of `path` on this server (`base_url` without a trailing '/')."""
        expires, sig = self.sign(path, now)
        return f"{base_url}/v1/assets/{quote(path, safe='/')}?exp={expires}&sig={sig}"

    def check(self, path: str, exp: str | None, sig: str | None, now: float | None = None) -> str | None:
        """None when the link is valid; otherwise why not (for the 403 detail)."""
        if not exp or not sig:
            return "the link has no signature (exp and sig query parameters)"
        if not (exp.isascii() and exp.isdigit()) or not _SIG_RE.fullmatch(sig):
            return "the link's signature is malformed"
        # Compare before looking at the expiry, so the answer's timing never depends on
        # how close a forged signature came.
        valid = False
        for key in self._keys:  # every key, always: the timing never tells which one matched
            valid |= hmac.compare_digest(self._mac(path, int(exp), key), sig)
        if not valid:
            return "the link's signature is invalid"
        if int(exp) < (time.time() if now is None else now):
            return "the link has expired"
        return None


def clean_asset_path(raw: str) -> str | None:
    """`raw` as a relative asset path, or None when it is not one (absolute URL, host, dot
    segments, empty segments, query, percent escapes, backslashes, control characters)."""
    if not raw or len(raw) > MAX_PATH_CHARS or raw.startswith("/"):
        return None
    segments = raw.split("/")
    for segment in segments:
        if segment in ("", ".", "..") or not _SEGMENT_RE.fullmatch(segment):
            return None
    if ":" in segments[0]:
        return None  # a scheme ("https:") or a host with a port
    return raw


def asset_path_of(url: str, assets_base: str) -> str | None:
    """The relative asset path of an asset reference from grok.com: a relative path, or an absolute
    URL under the asset host. None for anything else (another host is not ours to proxy)."""
    text = url.strip()
    base = assets_base.rstrip("/") + "/"
    if text.startswith(base):
        text = text[len(base) :]
    elif "://" in text or text.startswith("//"):
        return None
    return clean_asset_path(text.lstrip("/"))


def load_key(configured: str | None, store, key_file: str | os.PathLike | None = None) -> bytes:
    """ASSET_SIGNING_KEY, or the generated key: the one kept in `key_file` from an earlier start,
    else the shared one (the first writer's wins) from `store`, which is then kept in `key_file`."""
    if configured:
        return configured.encode("utf-8")
    kept = _read_key_file(key_file)
    store.put_new(KEY_SPACE, KEY_NAME, kept or secrets.token_hex(32))
    value = store.get(KEY_SPACE, KEY_NAME)
    try:
        key = bytes.fromhex(value)
    except (TypeError, ValueError):  # not ours (a hand-edited Redis): replace it
        value = kept or secrets.token_hex(32)
        store.put(KEY_SPACE, KEY_NAME, value)
        key = bytes.fromhex(value)
    if key_file is not None and kept is None:
        _keep(Path(key_file), value)
    return key


def _read_key_file(key_file) -> str | None:
    if key_file is None:
        return None
    try:
        text = Path(key_file).read_text().strip()
        bytes.fromhex(text)
    except (OSError, ValueError):
        return None
    return text if len(text) >= 32 else None


def _keep(path: Path, value: str) -> None:
    """Write the generated key to `path` (0600, created exclusively: the first worker's stays)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        log.warning(
            "ASSET_SIGNING_KEY is not set and the generated key cannot be kept in %s (%s): asset links "
            "stop working when the server restarts. Set ASSET_SIGNING_KEY, or ASSET_KEY_FILE to a "
            "writable path that persists",
            path,
            exc.strerror or exc,
        )
        return
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value + "\n")
