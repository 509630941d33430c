"""Content types from magic bytes (never from what a client or a remote server claims).

Pure. `sniff(data)` recognises the formats this server passes on: images, PDF, audio,
video, archives and plain text. Images sent to grok.com as image input must be one of
`UPLOAD_IMAGE_TYPES` (what grok.com's own upload accepts).
"""

from __future__ import annotations

SNIFF_BYTES = 4096

UPLOAD_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "image/tiff": "tiff",
    "image/x-icon": "ico",
    "image/avif": "avif",
    "image/heic": "heic",
    "image/svg+xml": "svg",
    "application/pdf": "pdf",
    "application/zip": "zip",
    "application/gzip": "gz",
    "audio/mpeg": "mp3",
    "audio/ogg": "ogg",
    "audio/wav": "wav",
    "audio/flac": "flac",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "text/plain": "txt",
}

# Containers whose specific type only the declared type can tell (a .docx is a zip).
_REFINABLE = {
    "application/zip": (
        "application/vnd.openxmlformats-officedocument.",
        "application/vnd.oasis.opendocument.",
        "application/epub+zip",
        "application/java-archive",
    ),
    "text/plain": (
        "text/",
        "application/json",
        "application/xml",
        "application/javascript",
        "application/x-yaml",
        "application/yaml",
        "application/sql",
        "application/x-sh",
    ),
}

_PREFIXES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"ID3", "audio/mpeg"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
    (b"\x1a\x45\xdf\xa3", "video/webm"),
)
_FTYP_BRANDS = {
    b"avif": "image/avif",
    b"avis": "image/avif",
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"mif1": "image/heic",
    b"msf1": "image/heic",
    b"qt  ": "video/quicktime",
}


def sniff(data: bytes) -> str | None:
    """The content type of `data` from its first bytes; None when unrecognised."""
    head = data[:SNIFF_BYTES]
    for prefix, mime in _PREFIXES:
        if head.startswith(prefix):
            return mime
    if head[:4] == b"RIFF" and len(head) >= 12:
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav"}.get(head[8:12])
    if head[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(head[8:12], "video/mp4")
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
        return "audio/mpeg"  # an MPEG audio frame header without an ID3 tag
    if _is_text(head, complete=len(data) <= SNIFF_BYTES):
        if b"<svg" in head[:1024].lower() and head.lstrip()[:1] == b"<":
            return "image/svg+xml"
        return "text/plain"
    return None


def _is_text(head: bytes, complete: bool) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the sniff window is still text.
        return not complete and exc.start >= len(head) - 3
    return True


def refine(sniffed: str | None, declared: str | None) -> str:
    """The type to use: the sniffed one, narrowed to the declared one only where bytes cannot tell
    (zip-based documents, text formats); application/octet-stream when nothing is recognised."""
    declared = (declared or "").split(";", 1)[0].strip().lower()
    if sniffed is None:
        return "application/octet-stream"
    if declared and declared != sniffed and declared.startswith(_REFINABLE.get(sniffed, ())):
        return declared
    return sniffed


def extension(mime: str) -> str:
    return EXTENSIONS.get(mime, "bin")
