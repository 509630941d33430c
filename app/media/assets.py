"""GET /v1/assets/<path>?exp=&sig=: grok.com's generated images and files, through this server.

grok.com's asset host only answers with the account's cookies, so its URLs are useless to
clients (docs/grok-protocol.md: assets). This route fetches the asset with the cookies and the browser
fingerprint, streams it to the client while writing it to the disk cache, and serves later
requests from the cache. The link's signature is the credential (no API key): an unsigned,
tampered or expired link gets 403 problem+json.

The content type comes from the bytes (magic numbers), never from upstream headers alone;
only types that cannot run script are served inline (INLINE_TYPES), everything else as an
attachment, and every response carries `nosniff` and a sandboxing CSP, so an asset can never
run as a page of this server.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Iterator

import marshmallow as ma
from flask import Response

from ..grok.errors import TransportError
from ..problems import Problem, from_grok_error
from ..routing import ASSET, for_owned
from ..web.auth import public_route
from ..web.blueprint import Blueprint
from ..web.streaming import STREAM_HEADERS
from . import sniff
from .services import services
from .signing import clean_asset_path

log = logging.getLogger(__name__)

blp = Blueprint(
    "assets",
    __name__,
    url_prefix="/v1/assets",
    description="Generated images and files from grok.com (signed links, no API key)",
)

CHUNK = 64 * 1024
HEAD_BYTES = sniff.SNIFF_BYTES + 1  # read before answering, to tell the content type
# Shown in the browser: raster images, PDF, plain text, audio and video, none of which can run
# script. Everything else (SVG, HTML, XML, JavaScript, archives, unknown bytes) is a download:
# as a page of this server's origin it could act with the user's access to it.
INLINE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/avif",
        "image/bmp",
        "image/x-icon",
        "application/pdf",
        "text/plain",
        "audio/mpeg",
        "audio/ogg",
        "audio/wav",
        "audio/flac",
        "video/mp4",
        "video/webm",
        "video/quicktime",
    }
)
MAX_BROWSER_CACHE = 24 * 3600


class AssetLinkQuery(ma.Schema):
    exp = ma.fields.String(
        metadata={"description": "Expiry (Unix time) the link was signed with", "example": "1767225600"}
    )
    sig = ma.fields.String(
        metadata={
            "description": "HMAC signature of the path and expiry",
            "example": "3_a5eimlRHVi0NWpo8xw6NCenoFer66KYu6mk4UDEk0",
        }
    )


@blp.route("/<path:asset_path>", methods=["GET"])
@public_route
@blp.arguments(AssetLinkQuery, location="query", as_kwargs=True)
@blp.doc(
    summary="An asset of grok.com (signed link from a chat or images answer)",
    security=[],
    responses={
        200: {"description": "The asset's bytes"},
        403: {"description": "Missing, invalid or expired signature"},
    },
)
def get_asset(asset_path: str, exp: str | None = None, sig: str | None = None):
    path = clean_asset_path(asset_path)
    if path is None:
        raise Problem(
            400,
            "invalid_path",
            "not an asset path: a relative path without '.', '..', empty segments or percent escapes",
            param="asset_path",
        )
    media = services()
    why = media.signer.check(path, exp, sig)
    if why is not None:
        raise Problem(403, "forbidden", f"{why}; ask for a new link (chat answer or /v1/images)")
    max_age = max(0, min(MAX_BROWSER_CACHE, int(exp) - int(time.time())))
    try:
        # Fetched with the account that made the asset (recorded when its link was made).
        head, size, chunks, declared = open_asset(path, media.cache, for_owned(ASSET, path).client)
    except TransportError as exc:
        # The asset host is not grok.com: its failures must not read as "grok.com is unreachable".
        problem = from_grok_error(exc)
        raise Problem(
            problem.status,
            problem.type,
            f"the asset host (GROK_ASSETS_URL) did not answer: {exc.message}. grok.com itself may be fine; "
            "check this host's network and DNS, then open the link again",
            failure_class=exc.failure_class,
        ) from None
    mime = sniff.refine(sniff.sniff(head), declared)
    headers = {
        "Cache-Control": f"private, max-age={max_age}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        "Content-Disposition": ("inline" if mime.split(";")[0].strip().lower() in INLINE_TYPES else "attachment")
        + f'; filename="{_filename(path)}"',
        "X-Accel-Buffering": STREAM_HEADERS["X-Accel-Buffering"],
    }
    if size is not None:
        headers["Content-Length"] = str(size)
    return Response(chunks, mimetype=mime, headers=headers, direct_passthrough=True)


def open_asset(path: str, cache, client, strict: bool = False) -> tuple[bytes, int | None, Iterator[bytes], str | None]:
    """(first bytes, size if known, all the bytes as chunks, upstream's declared type) of an asset,
    from the cache or else from grok.com (then cached as it streams). Upstream errors before the
    body are raised at once; a failure mid-body ends the chunks early (`strict`: raises it)."""
    cached = cache.get(path)
    if cached is not None:
        return _from_file(cached)
    return _from_upstream(path, cache, client, strict)


def read_asset(path: str, cache, client) -> bytes:
    """An asset's bytes (through the cache). Needs no app context (it runs on helper greenlets)."""
    return b"".join(open_asset(path, cache, client, strict=True)[2])


def _filename(path: str) -> str:
    last = path.rsplit("/", 1)[-1]
    return "".join(ch for ch in last if ch.isalnum() or ch in "._-") or "asset"


def _from_file(file: Path):
    handle = open(file, "rb")
    head = handle.read(HEAD_BYTES)
    size = file.stat().st_size

    def chunks() -> Iterator[bytes]:
        try:
            data = head
            while data:
                yield data
                data = handle.read(CHUNK)
        finally:
            handle.close()

    return head, size, chunks(), None


def _from_upstream(path: str, cache, client, strict: bool):
    upstream = client.fetch_asset(path)  # raises the mapped GrokError on a non-2xx answer
    source = upstream.chunks()
    head = b""
    try:
        for data in source:
            head += data
            if len(head) >= HEAD_BYTES:
                break
    except BaseException:
        upstream.close()
        raise
    encoded = "content-encoding" in upstream.headers  # libcurl decodes: the length would be wrong
    length = upstream.headers.get("content-length", "")
    size = int(length) if length.isdigit() and not encoded else None
    writer = cache.writer(path)

    def chunks() -> Iterator[bytes]:
        complete = False
        try:
            for data in _continue(head, source):
                if writer is not None:
                    writer.write(data)
                yield data
            complete = True
        except Exception as exc:  # a client already has the status line: end the body early
            log.warning("asset %s: the upstream transfer failed mid-body (%s)", path, exc)
            if strict:
                raise
        finally:
            upstream.close()
            if writer is not None and complete:
                writer.commit()
            elif writer is not None:
                writer.abort()

    return head, size, chunks(), upstream.headers.get("content-type")


def _continue(head: bytes, rest) -> Iterator[bytes]:
    if head:
        yield head
    yield from rest
