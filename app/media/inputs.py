"""Media inputs of a chat request: OpenAI `image_url` and `file` content parts -> grok.com uploads.

The parts of the latest user turn are decoded (data: URIs, base64 `file_data`) or fetched
(http(s) URLs, through the SSRF guard), checked (type from magic bytes, size caps) and
uploaded to grok.com (`POST /rest/app-chat/upload-file`), all of one request concurrently;
their `fileMetadataId`s are attached in the order the parts appear. Parts of earlier turns
are not re-sent: the flattened history names them (`[image: image-0-1.png]`).

A part that cannot be used is a `MediaError` naming it (`messages[2].content[1]`): the
request fails with 400 rather than reaching grok.com without it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

import gevent
import gevent.pool

from ..engine.pacing import give_turn
from ..grok.errors import GrokError
from . import sniff
from .fetch import Budget, Fetcher, FetchError, TooLarge

log = logging.getLogger(__name__)

UPLOAD_CONCURRENCY = 4
MAX_ATTACHMENTS = 10
_DATA_URI = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[\w.+-]+=[^;,]*)*)(?P<b64>;base64)?,", re.IGNORECASE
)
_UNSAFE_NAME = re.compile(r"[^\w.() +-]+")
_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")


class MediaError(ValueError):
    """A content part that cannot be sent; `where` names it, `message` says why."""

    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


@dataclass
class MediaPart:
    """An image or file content part, as the client sent it."""

    message_index: int
    part_index: int
    kind: str  # "image" | "file"
    source: str  # "data" (a data: URI), "url", "base64" (bare base64 file_data)
    value: str  # the URI, URL or base64 text
    filename: str | None = None
    declared_type: str | None = None

    @property
    def where(self) -> str:
        return f"messages[{self.message_index}].content[{self.part_index}]"

    @property
    def position(self) -> tuple[int, int]:
        return self.message_index, self.part_index

    def name(self, mime: str | None = None) -> str:
        """The file name grok.com sees and the history mentions: the client's file name, or one
        made from the part's position and type."""
        if self.filename:
            cleaned = _UNSAFE_NAME.sub("_", self.filename.replace("\\", "/").rsplit("/", 1)[-1]).strip(" .")
            if cleaned:
                return cleaned[:120]
        mime = mime or self.declared_type
        ext = sniff.extension(mime) if mime else _url_extension(self.value) if self.source == "url" else "bin"
        return f"{self.kind}-{self.message_index}-{self.part_index}.{ext}"


@dataclass
class Upload:
    """Bytes ready to go to grok.com."""

    where: str
    kind: str
    name: str
    mime: str
    content: bytes


def parse_part(part: Any, message_index: int, part_index: int) -> MediaPart | None:
    """The media part at this position (None for a part that is not image_url/file);
    raises MediaError when it is malformed."""
    if not isinstance(part, dict):
        return None
    where = f"messages[{message_index}].content[{part_index}]"
    at = (message_index, part_index)
    kind = part.get("type")
    if kind == "image_url":
        inner = part.get("image_url")
        url = inner.get("url") if isinstance(inner, dict) else inner
        if not isinstance(url, str) or not url.strip():
            raise MediaError(where, "image_url.url must be a data: URI or an http(s) URL")
        url = url.strip()
        if url[:5].lower() == "data:":  # not url.lower(): a data URL may be 80 MB
            return MediaPart(*at, "image", "data", url, declared_type=_data_uri_type(url))
        try:
            scheme = urlsplit(url).scheme.lower()
        except ValueError:  # e.g. "http://[::1": an unterminated IPv6 literal
            raise MediaError(where, "image_url.url is not a valid URL") from None
        if scheme in ("http", "https"):
            return MediaPart(*at, "image", "url", url)
        raise MediaError(where, "image_url.url must be a data: URI or an http(s) URL")
    if kind == "file":
        inner = part.get("file")
        if not isinstance(inner, dict):
            raise MediaError(where, "a file part needs a 'file' object with file_data")
        filename = inner.get("filename") if isinstance(inner.get("filename"), str) else None
        data = inner.get("file_data")
        if isinstance(data, str) and data.strip():
            data = data.strip()
            if data[:5].lower() == "data:":
                return MediaPart(*at, "file", "data", data, filename, _data_uri_type(data))
            return MediaPart(*at, "file", "base64", data, filename)
        if inner.get("file_id"):
            raise MediaError(
                where,
                "file_id references are not supported (this server has no Files API): send the content as file_data",
            )
        raise MediaError(where, "a file part needs file_data (base64 or a data: URI)")
    return None


def _data_uri_type(uri: str) -> str | None:
    match = _DATA_URI.match(uri)
    return match.group("mime").lower() if match and match.group("mime") else None


def _url_extension(url: str) -> str:
    try:
        last = unquote(urlsplit(url).path).rsplit("/", 1)[-1]
    except ValueError:
        return "img"
    ext = last.rsplit(".", 1)[-1].lower() if "." in last else ""
    return ext if ext.isalnum() and len(ext) <= 5 else "img"


# Decoding or encoding 20 MiB of base64 is ~0.1 s of C code during which the worker serves
# nothing else; done in slices with a yield to the hub between them, /health and the running
# streams go on meanwhile (make bench-hostile).
CODEC_SLICE = 1024 * 1024  # base64 characters per slice (a multiple of 4)


def _decode_base64(part: MediaPart, text: str, max_bytes: int) -> bytes:
    compact = _without_whitespace(text)
    if len(compact) * 3 // 4 > max_bytes + 2:
        raise MediaError(part.where, f"the {part.kind} is larger than the limit of {max_bytes} bytes")
    # The digits are compact[:size]; measured, not sliced off: a copy of 25 MB is a stall of its own.
    tail = compact[-8:]
    size = len(compact) - (len(tail) - len(tail.rstrip("=")))
    if compact.find("=", 0, size) >= 0:  # padding in the middle: each slice alone could still look valid
        raise MediaError(part.where, "the content is not valid base64")
    padding = "=" * (-size % 4)
    pieces = []
    try:  # standard or URL-safe alphabet, strictly (a stray character is an error, not skipped)
        for start in range(0, size, CODEC_SLICE):
            piece = compact[start : min(start + CODEC_SLICE, size)]
            if start + CODEC_SLICE >= size:
                piece += padding
            pieces.append(base64.b64decode(piece.translate(_URLSAFE_TO_STANDARD), validate=True))
            if size > CODEC_SLICE:
                give_turn()
    except (binascii.Error, ValueError):
        raise MediaError(part.where, "the content is not valid base64") from None
    return b"".join(pieces)


def _without_whitespace(text: str) -> str:
    """`text` without its whitespace (line-wrapped base64), in slices with a yield between them."""
    if len(text) <= CODEC_SLICE:
        return "".join(text.split())
    if text.isascii() and not _holds_ascii_whitespace(text):
        return text  # the usual case: no copy of the whole text
    pieces = []
    for start in range(0, len(text), CODEC_SLICE):
        pieces.append("".join(text[start : start + CODEC_SLICE].split()))
        give_turn()
    return "".join(pieces)


# What str.split() splits an ASCII text at.
_ASCII_WHITESPACE = " \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"


def _holds_ascii_whitespace(text: str) -> bool:
    for start in range(0, len(text), CODEC_SLICE):
        piece = text[start : start + CODEC_SLICE]
        if any(space in piece for space in _ASCII_WHITESPACE):
            return True
        give_turn()
    return False


def b64encode_cooperatively(content: bytes) -> str:
    """base64 of `content`, in slices with a yield to the hub between them (see CODEC_SLICE)."""
    step = CODEC_SLICE // 4 * 3  # whole 3-byte groups: the slices' encodings concatenate
    if len(content) <= step:
        return base64.b64encode(content).decode("ascii")
    pieces = []
    for start in range(0, len(content), step):
        pieces.append(base64.b64encode(content[start : start + step]).decode("ascii"))
        give_turn()
    return "".join(pieces)


def _decode_data_uri(part: MediaPart, max_bytes: int) -> bytes:
    match = _DATA_URI.match(part.value)
    if match is None:
        raise MediaError(part.where, "malformed data: URI")
    payload = part.value[match.end() :]
    if match.group("b64"):
        return _decode_base64(part, payload, max_bytes)
    data = unquote(payload).encode("utf-8")  # a percent-encoded (non-base64) data: URI
    if len(data) > max_bytes:
        raise MediaError(part.where, f"the {part.kind} is larger than the limit of {max_bytes} bytes")
    return data


class MediaLimits:
    def __init__(self, max_image_bytes: int, max_request_bytes: int):
        self.max_image_bytes = max_image_bytes
        self.max_request_bytes = max_request_bytes

    @classmethod
    def from_settings(cls, settings) -> "MediaLimits":
        return cls(settings.max_image_bytes, settings.max_request_media_bytes)

    def for_kind(self, kind: str) -> int:
        return self.max_image_bytes if kind == "image" else self.max_request_bytes


def load(part: MediaPart, fetcher: Fetcher, limits: MediaLimits, budget: Budget) -> Upload:
    """Decode or fetch a part and check what it is."""
    cap = limits.for_kind(part.kind)
    try:
        if part.source == "url":
            content = fetcher.fetch(part.value, cap, budget).content
        else:
            content = _decode_data_uri(part, cap) if part.source == "data" else _decode_base64(part, part.value, cap)
            budget.consume(len(content))
    except TooLarge as exc:
        raise MediaError(part.where, exc.message) from None
    except FetchError as exc:
        raise MediaError(part.where, f"cannot use {part.value[:200]}: {exc.message}") from None
    if not content:
        raise MediaError(part.where, f"the {part.kind} is empty")
    sniffed = sniff.sniff(content)
    if part.kind == "image":
        if sniffed not in sniff.UPLOAD_IMAGE_TYPES:
            what = f"looks like {sniffed}" if sniffed else "unrecognised content"
            raise MediaError(part.where, f"not a PNG, JPEG, GIF or WEBP image ({what})")
        mime = sniffed
    else:
        mime = sniff.refine(sniffed, part.declared_type)
    return Upload(part.where, part.kind, part.name(mime), mime, content)


def upload(client, item: Upload) -> str:
    """Upload one item to grok.com; returns its fileMetadataId."""
    reply = client.upload_file(
        {"fileName": item.name, "fileMimeType": item.mime, "content": b64encode_cooperatively(item.content)}
    )
    try:
        answer = json.loads(reply.content)
    except ValueError:
        answer = None
    file_id = answer.get("fileMetadataId") or answer.get("fileId") if isinstance(answer, dict) else None
    if not isinstance(file_id, str) or not file_id:
        raise GrokError("grok.com's upload answer has no fileMetadataId")
    log.debug("uploaded %s (%s, %d bytes) as %s", item.where, item.mime, len(item.content), file_id)
    return file_id


def run_concurrently(jobs: list[Callable[[], Any]], size: int = UPLOAD_CONCURRENCY) -> list[Any]:
    """Run `jobs` on greenlets (at most `size` at once); results in job order. The first failure
    stops the others and is raised."""
    if not jobs:
        return []
    if len(jobs) == 1:
        return [jobs[0]()]
    pool = gevent.pool.Pool(size)
    greenlets = [pool.spawn(job) for job in jobs]
    try:
        gevent.joinall(greenlets, raise_error=True)
        return [g.value for g in greenlets]
    finally:
        gevent.killall([g for g in greenlets if not g.dead], block=True)


class UploadFailed(Exception):
    """grok.com refused or failed the upload of a part; `error` is the upstream error."""

    def __init__(self, where: str, error: GrokError):
        super().__init__(f"{where}: {error.message}")
        self.where = where
        self.error = error


@dataclass
class ChatMedia:
    """What a chat request's media became: the attachments of its latest user turn (fileMetadataIds,
    in order) and the name of every media part, for the flattened history."""

    file_ids: list[str]
    names: dict[tuple[int, int], tuple[str, str]]  # (message, part) -> (kind, file name)

    def placeholder(self, message_index: int, part_index: int) -> str | None:
        found = self.names.get((message_index, part_index))
        return f"[{found[0]}: {found[1]}]" if found else None


def media_parts(messages: list) -> list[MediaPart]:
    """Every image/file part of every message, in order (raises MediaError for a malformed one)."""
    found = []
    for m, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for p, part in enumerate(content):
            parsed = parse_part(part, m, p)
            if parsed is not None:
                if isinstance(part.get("image_url"), dict) and part["image_url"].get("detail"):
                    log.debug("%s: image_url.detail is not passed to grok.com", parsed.where)
                found.append(parsed)
    return found


def latest_user_turn(messages: list) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        if isinstance(messages[index], dict) and messages[index].get("role") == "user":
            return index
    return None


def prepare_chat_media(messages: list, client, fetcher: Fetcher, limits: MediaLimits) -> ChatMedia:
    """Upload the media of the latest user turn (concurrently, attached in order) and name the rest."""
    parts = media_parts(messages)
    latest = latest_user_turn(messages)
    names: dict[tuple[int, int], tuple[str, str]] = {}
    current: list[MediaPart] = []
    for part in parts:
        if part.message_index == latest:
            current.append(part)
        else:
            names[part.position] = (part.kind, part.name())
    if len(current) > MAX_ATTACHMENTS:
        raise MediaError(
            current[MAX_ATTACHMENTS].where, f"at most {MAX_ATTACHMENTS} images and files can be attached to one message"
        )
    budget = Budget(limits.max_request_bytes)

    def send(part: MediaPart) -> tuple[str, str]:
        item = load(part, fetcher, limits, budget)
        try:
            return item.name, upload(client, item)
        except GrokError as exc:
            raise UploadFailed(part.where, exc) from None

    results = run_concurrently([lambda part=part: send(part) for part in current])
    for part, (name, _) in zip(current, results, strict=True):
        names[part.position] = (part.kind, name)
    return ChatMedia([file_id for _, file_id in results], names)
