"""Image bytes and the asset host of the fake grok.com (stdlib only).

grok.com serves generated images and uploaded files from ``assets.grok.com/<path>``; a browser
fetches them with the session cookies (no x-statsig-id). The fake serves the same paths under
``/assets/<path>`` of its own address, so ``GROK_ASSETS_URL=<fake>/assets`` in tests.

``jpeg(tag, size)`` builds a real baseline JPEG (an 8x8 grey square whose shade comes from the
tag) carrying ``tag`` in a COM segment, padded with more COM segments up to about ``size`` bytes.
Any decoder opens it; tests can read the tag back with ``jpeg_comment`` to tell images apart.
"""

from __future__ import annotations

import hashlib
import struct

_SOI, _EOI = b"\xff\xd8", b"\xff\xd9"
_JFIF = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
_COM_MAX = 65533  # segment payload limit (the length field counts itself)


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _tables() -> bytes:
    dqt = _segment(0xDB, b"\x00" + bytes([1]) * 64)  # all-ones quantisation table 0
    sof = _segment(0xC0, b"\x08" + struct.pack(">HH", 8, 8) + b"\x01\x01\x11\x00")  # 8x8, 1 component
    # DC table 0: the 12 size categories, each a 4-bit code (canonical: category k -> code k).
    dc_counts = bytes([0, 0, 0, 12] + [0] * 12)
    dht_dc = _segment(0xC4, b"\x00" + dc_counts + bytes(range(12)))
    # AC table 0: only end-of-block (symbol 0x00), code "0".
    dht_ac = _segment(0xC4, b"\x10" + bytes([1] + [0] * 15) + b"\x00")
    return dqt + sof + dht_dc + dht_ac


def _scan(shade: int) -> bytes:
    """Entropy-coded data of one block whose pixels all equal `shade` (0-255)."""
    dc = 8 * (shade - 128)  # the DCT's DC term of a flat block, quantiser 1
    size = abs(dc).bit_length()
    extra = dc if dc >= 0 else (dc - 1) & ((1 << size) - 1)
    bits = format(size, "04b") + (format(extra, f"0{size}b") if size else "") + "0"  # + EOB
    bits += "1" * (-len(bits) % 8)
    data = int(bits, 2).to_bytes(len(bits) // 8, "big")
    sos = _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    return sos + data.replace(b"\xff", b"\xff\x00")


def jpeg(tag: str, size: int = 0) -> bytes:
    """A decodable JPEG carrying `tag`, at least `size` bytes long when size > 0."""
    raw_tag = tag.encode("utf-8")[:_COM_MAX]
    shade = hashlib.sha256(raw_tag).digest()[0]
    head = _SOI + _JFIF + _segment(0xFE, raw_tag)
    body = _tables() + _scan(shade) + _EOI
    pad = size - len(head) - len(body)
    padding = b""
    while pad > 4:
        n = min(_COM_MAX, pad - 4)
        padding += _segment(0xFE, b"." * n)
        pad -= n + 4
    return head + padding + body


def jpeg_comment(data: bytes) -> str | None:
    """The first COM segment's text of a JPEG made by `jpeg` (None if there is none)."""
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker == 0xFE:
            return data[i + 4 : i + 2 + length].decode("utf-8", "replace")
        if marker == 0xDA:
            return None
        i += 2 + length
    return None


def asset_path(raw_path: str) -> str | None:
    """`/assets/<path>` -> `<path>` (None for anything else)."""
    if not raw_path.startswith("/assets/"):
        return None
    return raw_path[len("/assets/") :]
