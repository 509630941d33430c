"""Finding the build's index set in its JavaScript (docs/grok-protocol.md: the token).

The page's signer lazily loads a generator module (id 1645000, written `1645e3` by the
minifier) from a chunk of its own; the chunk names change every release. The generator
reads five seed bytes: one picks the curve group (`x[n[5] % 4]`), four are reduced mod 16
by an obfuscated helper (`f(n[21],16)`): the segment, then the three time factors.

The generator is obfuscated and the patterns below may stop matching any day, so what they
find is only a candidate: the deriver tries it with a live canary, then the sets that
grok.com used before (`KNOWN_INDEX_SETS`), newest first.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from .fingerprint import IndexSet

GENERATOR_MODULE = re.compile(r"\b1645(?:e3|000)\b")
_LOADER_CALL = re.compile(r"\(\s*1645(?:e3|000)\s*\)")
_MODULE_DEFINITION = re.compile(r"(?:^|[,{])\s*1645(?:e3|000)\s*:")
_PROMISE_ALL = "Promise.all(["
_CHUNK_PATH = re.compile(r"static/chunks/[A-Za-z0-9_.~%/-]+?\.js")
_MOD16 = re.compile(r"\([\w$]+\[(\d+)\]\s*,\s*16\)")
_MOD4_GROUP = re.compile(r"\[[\w$]+\[(\d+)\]\s*%\s*4\]")
_OBFUSCATOR_MARKS = ("String.fromCharCode", "charCodeAt")
GENERATOR_MAX_BYTES = 256 * 1024
DEFAULT_GROUP_BYTE = 5  # every build seen, 2025-2026

# The index sets grok.com used (G, S, t1, t2, t3), newest first; each was checked
# against browser-captured values.
KNOWN_INDEX_SETS: tuple[tuple[str, IndexSet], ...] = (
    ("2026-09-15", IndexSet(5, 10, (36, 5, 24))),
    ("2026-09-09b", IndexSet(5, 33, (1, 14, 37))),
    ("2026-09-09", IndexSet(5, 39, (3, 31, 36))),
    ("2026-08-18", IndexSet(5, 12, (8, 20, 29))),
    ("2026-07-25", IndexSet(5, 21, (4, 14, 7))),
    ("until 2026-07-24", IndexSet(5, 41, (19, 29, 36))),
    ("older", IndexSet(5, 5, (22, 23, 24))),
)


def generator_reference(loader_source: str, loader_url: str) -> str | None:
    """The URL of the generator chunk a loader chunk pulls in before calling module 1645e3.

    The loader reads `Promise.all([..."static/chunks/<name>.js"...]).then(...(1645e3))`:
    the nearest Promise.all before the call names the chunk, served under the same /_next/
    prefix as the loader itself.
    """
    for call in _LOADER_CALL.finditer(loader_source):
        start = loader_source.rfind(_PROMISE_ALL, max(0, call.start() - 4096), call.start())
        if start < 0:
            continue
        end = loader_source.find("]", start)
        if end < 0 or end > call.start():
            continue
        path = _CHUNK_PATH.search(loader_source, start, end)
        if path is None:
            continue
        prefix = loader_url.split("/_next/", 1)[0] + "/_next/"
        return urljoin(prefix, path.group(0))
    return None


def defines_generator(source: str) -> bool:
    """Whether a chunk defines module 1645e3 itself (as opposed to calling it)."""
    return _MODULE_DEFINITION.search(source) is not None


def looks_obfuscated(source: str) -> bool:
    """The obfuscator's signature, for chunks that may hold the generator (GF's filter)."""
    return len(source) <= GENERATOR_MAX_BYTES and all(mark in source for mark in _OBFUSCATOR_MARKS)


def read_index_set(source: str) -> tuple[IndexSet | None, str]:
    """The index set a generator chunk's source reads, and how it was found (or why not)."""
    mod16 = [int(n) for n in _MOD16.findall(source)[:4]]
    if len(mod16) < 4:
        return None, f"{len(mod16)} of the 4 'x[n],16' byte reads"
    if any(n >= 48 for n in mod16):
        return None, f"byte positions {mod16} outside the 48-byte seed"
    group = _MOD4_GROUP.search(source)
    group_byte = int(group.group(1)) if group else DEFAULT_GROUP_BYTE
    if group_byte >= 48:
        return None, f"group byte position {group_byte} outside the seed"
    how = "read from the generator chunk" + ("" if group else f" (group byte assumed {DEFAULT_GROUP_BYTE})")
    return IndexSet(group_byte, mod16[0], (mod16[1], mod16[2], mod16[3])), how


def chunk_name(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1]
