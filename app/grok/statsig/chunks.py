"""Finding the build's index set in its JavaScript (docs/grok-protocol.md: the token).

The page's signer lazily loads a generator module (id 1645000, written `1645e3` by the
minifier) from a chunk of its own; the chunk names change every release. A loader names
the chunks to fetch before calling the module (`Promise.all([..."static/chunks/x.js"...])
.then(()=>n(1645e3))`, or the path just before the call); the chunk that defines the module
(`1645e3:(e,t,n)=>{` in an object, or `,1645e3,e=>{` in Turbopack's flat list) may be only a
shell that pulls the body from another chunk. The generator reads five seed bytes: one
picks the curve group (`x[n[5] % 4]`, or the helper below with 4), four are reduced mod 16
by an obfuscated helper (`f(n[21],16)`, numbers possibly written in hex: `f(n[0x15],0x10)`):
the segment, then the three time factors.

The generator is obfuscated and the patterns below may stop matching any day, so what they
find is only a candidate: the deriver tries it with a live canary, then the sets that
grok.com used before (`KNOWN_INDEX_SETS`), newest first.
"""

from __future__ import annotations

import itertools
import re
from urllib.parse import urljoin, urlsplit

from .fingerprint import IndexSet

GENERATOR_MODULE = re.compile(r"\b1645(?:e3|000)\b")
_MODULE_ID = r"1645(?:e3|000)"
# n(1645e3), n.A(1645e3), n.bind(n, 1645e3): a call that loads the module.
_LOADER_CALL = re.compile(r"[(,]\s*" + _MODULE_ID + r"\s*\)")
_MODULE_DEFINITION = re.compile(r"(?:^|[,{\[])\s*" + _MODULE_ID + r"\s*(?::|,\s*(?:\(|function\b|async\b|[\w$]+\s*=>))")
_PROMISE_ALL = "Promise.all(["
_CHUNK_PATH = re.compile(r"static/chunks/[A-Za-z0-9_.~%/-]+?\.js")
_QUOTED_CHUNK_PATH = re.compile(r"[\"'](?:/_next/)?(static/chunks/[A-Za-z0-9_.~%/-]+?\.js)[\"']")
_NUMBER = r"(\d+|0[xX][0-9a-fA-F]+)"
_BYTE = r"[\w$.]+\[\s*" + _NUMBER + r"\s*\]"  # n[21], t.seed[0x15]
_MOD16 = re.compile(r"\(\s*" + _BYTE + r"\s*,\s*(?:16|0[xX]0*10)\s*\)")
_MOD4_GROUP = re.compile(r"\[\s*" + _BYTE + r"\s*%\s*(?:4|0[xX]0*4)\s*\]|\(\s*" + _BYTE + r"\s*,\s*(?:4|0[xX]0*4)\s*\)")
MAX_REFERENCES = 8
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


def _number(text: str) -> int:
    return int(text, 0) if text[:2].lower() == "0x" else int(text)


def _under_prefix(path: str, loader_url: str) -> str:
    """A chunk path resolved under the same /_next/ prefix as the chunk that names it."""
    return urljoin(loader_url.split("/_next/", 1)[0] + "/_next/", path)


def generator_references(loader_source: str, loader_url: str) -> list[str]:
    """The URLs of the chunks a loader chunk pulls in before calling module 1645e3, in order.

    The loader reads `Promise.all([..."static/chunks/<name>.js"...]).then(...(1645e3))`: the
    nearest Promise.all before the call lists the chunks (the generator is usually the first,
    not always). Without a Promise.all, the nearest chunk path before the call within the
    same block names it (the 2025 form).
    """
    found: dict[str, None] = {}
    for call in itertools.islice(_LOADER_CALL.finditer(loader_source), MAX_REFERENCES):
        window = max(0, call.start() - 4096)
        start = loader_source.rfind(_PROMISE_ALL, window, call.start())
        end = loader_source.find("]", start) if start >= 0 else -1
        if start >= 0 and 0 <= end < call.start():
            paths = [m.group(0) for m in _CHUNK_PATH.finditer(loader_source, start, end)]
        else:
            block = loader_source.rfind("}", window, call.start()) + 1 or window
            paths = [m.group(1) for m in _QUOTED_CHUNK_PATH.finditer(loader_source, block, call.start())][-1:]
        for path in paths:
            found.setdefault(_under_prefix(path, loader_url))
    return list(found)[:MAX_REFERENCES]


def generator_reference(loader_source: str, loader_url: str) -> str | None:
    """The first chunk a loader pulls in before calling module 1645e3 (None when none)."""
    references = generator_references(loader_source, loader_url)
    return references[0] if references else None


def chunk_references(source: str, url: str) -> list[str]:
    """Every chunk a chunk names in a string (a generator shell's sub-chunks), in order."""
    found: dict[str, None] = {}
    for match in itertools.islice(_QUOTED_CHUNK_PATH.finditer(source), MAX_REFERENCES * 4):
        found.setdefault(_under_prefix(match.group(1), url))
    return list(found)[:MAX_REFERENCES]


def defines_generator(source: str) -> bool:
    """Whether a chunk defines module 1645e3 itself (as opposed to calling it)."""
    return _MODULE_DEFINITION.search(source) is not None


def looks_obfuscated(source: str) -> bool:
    """The obfuscator's signature, for chunks that may hold the generator (GF's filter)."""
    return len(source) <= GENERATOR_MAX_BYTES and all(mark in source for mark in _OBFUSCATOR_MARKS)


def read_index_set(source: str) -> tuple[IndexSet | None, str]:
    """The index set a generator chunk's source reads, and how it was found (or why not)."""
    mod16 = [_number(n) for n in _MOD16.findall(source)[:4]]
    if len(mod16) < 4:
        return None, f"{len(mod16)} of the 4 'x[n],16' byte reads"
    if any(n >= 48 for n in mod16):
        return None, f"byte positions {mod16} outside the 48-byte seed"
    group = _MOD4_GROUP.search(source)
    group_byte = _number(group.group(1) or group.group(2)) if group else DEFAULT_GROUP_BYTE
    if group_byte >= 48:
        return None, f"group byte position {group_byte} outside the seed"
    how = "read from the generator chunk" + ("" if group else f" (group byte assumed {DEFAULT_GROUP_BYTE})")
    return IndexSet(group_byte, mod16[0], (mod16[1], mod16[2], mod16[3])), how


def chunk_name(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1]
