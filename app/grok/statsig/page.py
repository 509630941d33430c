"""Reading a build's statsig inputs out of grok.com's HTML (docs/grok-protocol.md: the token).

What the page carries: the 48-byte seed in `<meta name="grok-site-verification">` (or, in
pages that stream their metadata, the same name/content pair in the flight data), the curve
table (4 groups x 16 segments) inside the Next.js flight data (`"curves":[[{"color":...}]]`,
JSON-escaped in a JS string) or, in older builds, as spinner path strings, the script chunks
it loads (absolute CDN URLs, /_next/ paths, or `"static/chunks/..."` strings relative to the
asset prefix), and a release marker (`sentry-release=grok-web@<sha>`) that changes every build.
Where one form is missing the readers try the others, and say so in the page's notes.

Every reader raises `PageError(step, found)`: which step failed and what the page held
instead, so the operator reads "no seed meta; found a 5 KB page titled 'Just a moment...'"
rather than a traceback. Parsing is bounded: the caller caps the page's size, and nothing
here is worse than linear in it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from .fingerprint import SEGMENT_LEN

GROUPS = 4
SEGMENTS = 16
SEED_LEN = 48
SEED_B64_CHARS = (62, 68)  # 48 bytes in base64, with or without padding and stray spaces
META_NAME = "grok-site-verification"
# Unicode hyphens and dashes grok.com has put in the meta's name.
_DASHES = dict.fromkeys(range(0x2010, 0x2016), "-")
_Q = r'\\*"'  # a JSON quote, escaped once or more inside the flight data's JS strings
# The same where a match may start: only at the start of a backslash run, or a page of
# backslashes would cost time quadratic in its size.
_Q0 = r'(?<!\\)\\*"'
_RSC_DASH = r"(?:-|[\u2010-\u2015]|\\+u201[0-5])"  # a hyphen, a Unicode dash, or its JSON escape
_RSC_NAME = _Q0 + r"name" + _Q + r"\s*:\s*" + _Q + r"grok" + _RSC_DASH + "site" + _RSC_DASH + "verification" + _Q
_RSC_CONTENT = _Q0 + r"content" + _Q + r"\s*:\s*" + _Q + r"([A-Za-z0-9+/_=-]{40,100})" + _Q
# The name/content pair of a meta tag in the flight data, in either order.
_RSC_SEED = re.compile(_RSC_NAME + r"\s*,\s*" + _RSC_CONTENT + "|" + _RSC_CONTENT + r"\s*,\s*" + _RSC_NAME)
_CURVES_KEY = re.compile(_Q0 + r'curves\\*"\s*:')
# The table itself, wherever it sits and whatever its key is called.
_CURVES_ARRAY = re.compile(r'\[\s*\[\s*\{\s*\\*"color\\*"\s*:')
_PATH = re.compile(r"M 10,30 C[^\n\"'\\<>]+")
_RELEASE = re.compile(r"grok-web(?:@|%40)([0-9a-f]{7,40})")
# Script URLs wherever the page names them: src/href attributes and the flight data's strings.
_SCRIPT = re.compile(
    r"(?:((?:https?:)?//[^/\s\"'\\<>()]+)|(?<![\w@.:%-]))(/_next/static/chunks/[A-Za-z0-9_.~%/-]+?\.js)"
    # A quoted path relative to the asset prefix, as the flight data and the chunk loader name them.
    r"|(?<=[\"'])(static/chunks/[A-Za-z0-9_.~%/-]+?\.js)"
)
_TITLE = re.compile(r"<title[^>]*>([^<]{0,120})", re.IGNORECASE)
MAX_SCRIPTS = 256
MAX_TABLE_CANDIDATES = 8
MAX_METAS = 512


class PageError(ValueError):
    """A step of reading the page failed; `found` says what was there instead."""

    def __init__(self, step: str, found: str):
        self.step = step
        self.found = found
        super().__init__(f"{step}: {found}")


@dataclass(frozen=True)
class PageData:
    url: str
    seed: bytes
    table: tuple[tuple[tuple[int, ...], ...], ...]
    table_form: str  # "curves" (2026) or "paths" (older spinner paths)
    scripts: tuple[str, ...]
    release: str | None
    notes: tuple[str, ...] = ()

    @property
    def build_id(self) -> str:
        """A short name for the build: its release sha, else a digest of its table and scripts."""
        if self.release:
            return self.release[:12]
        return "t" + table_digest(self.table, self.scripts)[:11]


def describe(html: str) -> str:
    """A one-line account of a page, for error messages (never its content)."""
    size = len(html.encode("utf-8", "replace"))
    title = _TITLE.search(html)
    what = f"a {size / 1024:.0f} KB page" if size >= 1024 else f"a {size}-byte page"
    if title and title.group(1).strip():
        what += f" titled {title.group(1).strip()[:80]!r}"
    if "just a moment" in html.lower() or "cf-chl" in html:
        what += " (a Cloudflare challenge)"
    return what


# ---------------------------------------------------------------------- the seed
class _MetaReader(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.seed_contents: list[str] = []
        self.similar: list[tuple[str, str]] = []  # other grok-site* metas: (name, content)
        self.others: list[tuple[str, str]] = []  # any other meta with a content
        self.baggage: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag != "meta" or len(self.others) > MAX_METAS:
            return
        values = {name.lower(): value or "" for name, value in attrs}
        name = values.get("name", "").translate(_DASHES).strip().lower()
        content = values.get("content", "")
        if name == META_NAME:
            self.seed_contents.append(content)
        elif name == "baggage":
            self.baggage.append(content)
        elif name.startswith("grok-site"):
            self.similar.append((name, content))
        elif content:
            self.others.append((name or values.get("property", "") or "?", content))

    handle_startendtag = handle_starttag


def _decode_seed(text: str) -> bytes:
    text = text.strip()
    for alphabet in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            raw = alphabet(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            continue
        if len(raw) == SEED_LEN:
            return raw
        raise PageError("seed", f"the grok-site-verification content decodes to {len(raw)} bytes, not {SEED_LEN}")
    raise PageError("seed", "the grok-site-verification content is not base64")


def _seed_of(text: str) -> bytes | None:
    try:
        return _decode_seed(text)
    except PageError:
        return None


def read_metas(html: str, notes: list[str] | None = None) -> tuple[bytes, str | None]:
    """The seed and the release marker (None when the page has none).

    The seed is looked for, in order: the grok-site-verification meta; the same name/content
    pair in the flight data; another meta named grok-site*; any meta whose content is 48
    bytes of base64. The last two are guesses a redesign may call for, noted as such."""
    notes = notes if notes is not None else []
    reader = _MetaReader()
    try:
        reader.feed(html)
        reader.close()
    except AssertionError:  # html.parser gives up on some malformed markup
        pass
    release = None
    for text in [*reader.baggage, html]:
        found = _RELEASE.search(text)
        if found:
            release = found.group(1)
            break
    if reader.seed_contents:
        return _decode_seed(reader.seed_contents[0]), release
    rsc = _RSC_SEED.search(html)
    if rsc:
        return _decode_seed(rsc.group(1) or rsc.group(2)), release
    for name, content in reader.similar:
        seed = _seed_of(content)
        if seed is not None:
            notes.append(f'no <meta name="{META_NAME}">: the seed was read from <meta name="{name[:40]}">')
            return seed, release
    for name, content in reader.others:
        if SEED_B64_CHARS[0] <= len(content.strip()) <= SEED_B64_CHARS[1] and (seed := _seed_of(content)):
            notes.append(f'no <meta name="{META_NAME}">: the seed was read from a 48-byte <meta name="{name[:40]}">')
            return seed, release
    raise PageError("seed", f'no <meta name="{META_NAME}"> in {describe(html)}')


# ---------------------------------------------------------------------- the curve table
def _balanced(text: str, start: int, *, strings: bool = True, limit: int = 64 * 1024) -> str | None:
    """The bracketed array starting at text[start] == '[' (None when it does not close within
    `limit` characters). With `strings`, brackets inside JSON strings are skipped; the flight
    data's escaped JSON (\\") is scanned without, its strings being plain keys."""
    depth = 0
    in_string = False
    escaped = False
    for i in range(start, min(len(text), start + limit)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"' and strings:
            in_string = True
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return None


def _unescape_json(fragment: str):
    """JSON that may sit inside one or more levels of JS string escaping (the flight data)."""
    for _ in range(4):
        try:
            return json.loads(fragment)
        except ValueError:
            if "\\" not in fragment:
                raise
            fragment = json.loads('"' + fragment + '"')  # one level of string escaping off
    return json.loads(fragment)


def _segment_of(entry, where: str, notes: list[str]) -> tuple[int, ...]:
    if not isinstance(entry, dict):
        raise PageError("curves", f"{where} is not an object")
    color, deg, bezier = entry.get("color"), entry.get("deg"), entry.get("bezier")
    if not (isinstance(color, list) and len(color) == 6 and isinstance(bezier, list) and len(bezier) == 4):
        raise PageError("curves", f"{where} lacks color[6] / bezier[4] (keys: {sorted(entry)[:8]})")
    values = [*color, deg, *bezier]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer() for v in values):
        raise PageError("curves", f"{where} holds a value that is not a whole number")
    if not all(0 <= v <= 255 for v in values):
        raise PageError("curves", f"{where} holds a value outside 0-255")
    extra = sorted(set(entry) - {"color", "deg", "bezier"})
    if extra and not notes:
        notes.append(f"curve entries carry keys this server does not know: {extra[:5]}")
    return tuple(int(v) for v in values)


def _table_of(value, notes: list[str]) -> tuple[tuple[tuple[int, ...], ...], ...]:
    if not isinstance(value, list) or len(value) != GROUPS:
        size = len(value) if isinstance(value, list) else type(value).__name__
        raise PageError("curves", f"the curves array has {size} groups, not {GROUPS}")
    table = []
    for g, group in enumerate(value):
        if not isinstance(group, list) or len(group) != SEGMENTS:
            raise PageError("curves", f"curve group {g} has {len(group) if isinstance(group, list) else 0} entries")
        table.append(tuple(_segment_of(entry, f"curve {g}.{s}", notes) for s, entry in enumerate(group)))
    return tuple(table)


def _table_starts(html: str):
    """(start of a candidate array, whether it sits in escaped JSON, how it was found): first
    the arrays under a "curves" key, then any array of arrays of {"color":...} objects."""
    # A real table is ~5 KB and named once or twice: a hostile page cannot make this scan more.
    for found in itertools.islice(_CURVES_KEY.finditer(html), MAX_TABLE_CANDIDATES):
        start = html.find("[", found.end(), found.end() + 16)
        if start >= 0:
            yield start, html[found.start()] == "\\", "curves"
    for found in itertools.islice(_CURVES_ARRAY.finditer(html), MAX_TABLE_CANDIDATES):
        yield found.start(), "\\" in found.group(), "color"


def _curves_table(html: str, notes: list[str]):
    problem = None
    for start, escaped, how in _table_starts(html):
        fragment = _balanced(html, start, strings=not escaped)
        if fragment is None:
            problem = PageError("curves", "the curves array never closes")
            continue
        try:
            value = _unescape_json(fragment)
        except ValueError:
            problem = PageError("curves", "the curves array is not JSON")
            continue
        try:
            table = _table_of(value, notes)
        except PageError as exc:
            problem = exc
            continue
        if how == "color":
            notes.append('no "curves" key: the curve table was found by its {"color":...} entries')
        return table
    if problem is not None:
        raise problem
    return None


def _path_segments(path: str) -> tuple[tuple[int, ...], ...]:
    pieces = path[len("M 10,30 C") :].split("C")
    segments = []
    for piece in pieces:
        numbers = tuple(int(n) for n in re.findall(r"\d+", piece))
        if len(numbers) != SEGMENT_LEN or any(n > 255 for n in numbers):
            raise PageError("curves", f"a spinner path segment has {len(numbers)} numbers, not {SEGMENT_LEN}")
        segments.append(numbers)
    if len(segments) != SEGMENTS:
        raise PageError("curves", f"a spinner path has {len(segments)} segments, not {SEGMENTS}")
    return tuple(segments)


def read_paths_table(paths: list[str]) -> tuple[tuple[tuple[int, ...], ...], ...]:
    """The older form: four spinner path strings `M 10,30 C r0,g0 b0,r1 g1,b1 h deg s e0,e1 e2,e3 C ...`."""
    return tuple(_path_segments(p) for p in paths)


def read_curve_table(html: str, notes: list[str] | None = None):
    """(table, form): the 2026 `curves` JSON, else four spinner paths."""
    notes = notes if notes is not None else []
    table = _curves_table(html, notes)
    if table is not None:
        return table, "curves"
    paths = list(dict.fromkeys(p.strip() for p in _PATH.findall(html)))
    if len(paths) >= GROUPS:
        return read_paths_table(paths[:GROUPS]), "paths"
    raise PageError("curves", f'no "curves" table and {len(paths)} spinner paths in {describe(html)}')


def table_digest(table, scripts=()) -> str:
    names = sorted(urlsplit(s).path.rsplit("/", 1)[-1] for s in scripts)
    return hashlib.sha256(json.dumps([table, names]).encode()).hexdigest()


# ---------------------------------------------------------------------- scripts
def allowed_script(url: str, origins: tuple[str, ...]) -> bool:
    """Only scripts from grok.com's own origins (the page's and the CDN's) are ever fetched."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.username or parts.password:
        return False
    return f"{parts.scheme}://{parts.netloc}".lower() in origins and "/_next/static/chunks/" in parts.path


def read_scripts(html: str, page_url: str, origins: tuple[str, ...]) -> tuple[str, ...]:
    """The page's /_next/static/chunks/*.js URLs from allowed origins, in page order, deduplicated.

    Paths relative to the asset prefix ("static/chunks/x.js") resolve against the prefix of the
    page's first absolute script (grok.com serves them from its CDN), else the page's own."""
    named: list[str] = []
    prefix = None
    for match in itertools.islice(_SCRIPT.finditer(html), MAX_SCRIPTS * 4):
        if match.group(3):
            named.append(match.group(3))
            continue
        url = urljoin(page_url, (match.group(1) or "") + match.group(2))
        named.append(url)
        if prefix is None and allowed_script(url, origins):
            prefix = url.split("/_next/", 1)[0] + "/_next/"
    prefix = prefix or origin(page_url) + "/_next/"
    found: dict[str, None] = {}
    for name in named:
        url = name if "/_next/" in name else urljoin(prefix, name)
        if allowed_script(url, origins):
            found.setdefault(url)
        if len(found) >= MAX_SCRIPTS:
            break
    return tuple(found)


def read_page(html: str, url: str, origins: tuple[str, ...]) -> PageData:
    notes: list[str] = []
    seed, release = read_metas(html, notes)
    table, form = read_curve_table(html, notes)
    return PageData(url, seed, table, form, read_scripts(html, url, origins), release, tuple(notes))


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
