"""grok.com's frontend builds, as the fake serves them: the page, its script chunks, the mode
list, and which ``x-statsig-id`` tokens a build accepts.

A build is what docs/grok-protocol.md (the token) describes: a page with the seed meta, a release marker
and the curve table in the flight data; script chunks (a loader that pulls the generator chunk
for module 1645e3, and decoys); a generator whose ``f(n[i],16)`` / ``q[n[g]%4]`` reads give the
index set. The fake does not compute fingerprints. Every build stands on one of the spec's
browser-captured builds (tests/data/statsig-vectors.json: seeds, curve table, index set, and the
L the browser computed for each seed), disguised so that the captured L stays right:

* the index set moves to other seed positions (an injective map of the positions), and each
  captured seed's bytes move with it, all other bytes random;
* the table's groups and segments are rotated, and the group / segment bytes shifted to match
  (where those bytes play no other role).

So a rotation brings a new seed, new index positions, a new table order, new chunk names and a
new release, and the fake still knows every valid (seed, L) pair. Tokens from a retired build
get the "page is out of date" answer, as grok.com gives them; ``generator: "obfuscated"`` serves
a generator whose reads are hidden (and keeps the spec's own index set, one of the sets grok.com
used, so a client can only find it by trying them); ``page`` breaks the page on purpose.

A build comes in one of two page forms (``form``), each a set of the shapes grok.com has used:

* ``"2026"``: the seed meta (content first, a Unicode hyphen on odd builds), the release marker,
  the curve table as escaped JSON in the flight data, absolute CDN script tags, a loader whose
  Promise.all names the generator chunk first, a generator defined as ``1645e3:(e,t,n)=>`` with
  decimal reads and ``c[n[g]%4]``;
* ``"turbopack"``: no meta tag (the seed's name/content pair streams in the flight data), no
  release marker, the table as the four spinner path strings, relative ``/_next/`` script tags
  plus a loader named only as ``"static/chunks/<name>.js"`` in the flight data, Turbopack's flat
  ``push([document.currentScript, id, factory, ...])`` chunks, a loader that lists another chunk
  before the generator, and a generator module that is only a shell pulling its body (the byte
  reads, with hex literals and the group read through the same helper) from a further chunk.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import re
import struct
import time
from pathlib import Path

from .scenarios import cloudflare_resp
from .statsig import EPOCH, TOKEN_LEN, digest16
from .wire import Resp

SALT = "obfiowerehiring"
VECTORS = Path(__file__).resolve().parents[1] / "data" / "statsig-vectors.json"
SPECS = ("2026-07-25", "2026-09-15")
PAGE_MODES = ("ok", "broken", "cloudflare", "login_redirect", "not_found")
GENERATOR_STYLES = ("plain", "obfuscated")
PAGE_FORMS = ("2026", "turbopack")
BODY_MODULE = 5120443  # the turbopack form's generator body
CHUNK_PREFIX = "/_next/static/chunks/"


def _load_specs() -> dict:
    data = json.loads(VECTORS.read_text())
    specs = {}
    for name, build in data["builds"].items():
        if "curves" in build:
            table = [[c["color"] + [c["deg"]] + c["bezier"] for c in group] for group in build["curves"]]
        else:
            table = [
                [[int(n) for n in re.findall(r"\d+", piece)] for piece in path[len("M 10,30 C") :].split("C")]
                for path in build["paths"]
            ]
        pairs = [(base64.b64decode(v["seed"]), v["L"]) for v in build["vectors"]]
        specs[name] = {"table": table, "index_set": build["index_set"], "pairs": pairs}
    return specs


class Build:
    def __init__(self, number: int, spec_name: str, spec: dict, generator: str, disguise: bool, form: str = "2026"):
        rng = random.Random(f"fakegrok-build-{number}-{spec_name}-{generator}")
        self.number = number
        self.spec = spec_name
        self.generator = generator
        self.form = form
        self.release = hashlib.sha1(f"release-{number}-{rng.random()}".encode()).hexdigest()
        g, s, t1, t2, t3 = spec["index_set"]
        roles = [g, s, t1, t2, t3]
        positions = sorted(set(roles))
        if disguise:
            moved = rng.sample(range(48), len(positions))
            where = dict(zip(positions, moved, strict=True))
        else:
            where = {p: p for p in positions}
        self.index_set = [where[p] for p in roles]
        table = [list(group) for group in spec["table"]]
        # Rotate the groups / segments when their byte has no other role (so shifting it is free).
        rotate_groups = rng.randrange(4) if disguise and roles.count(g) == 1 else 0
        rotate_segments = rng.randrange(16) if disguise and roles.count(s) == 1 else 0
        self.table = [
            [table[(gi + rotate_groups) % 4][(si + rotate_segments) % 16] for si in range(16)] for gi in range(4)
        ]
        self.pairs: dict[bytes, str] = {}
        for seed, fingerprint in spec["pairs"]:
            new = bytearray(rng.randbytes(48))
            for old_position, new_position in where.items():
                new[new_position] = seed[old_position]
            if rotate_groups:
                group = (seed[g] % 4 - rotate_groups) % 4
                new[where[g]] = (seed[g] & ~3) | group
            if rotate_segments:
                segment = (seed[s] % 16 - rotate_segments) % 16
                new[where[s]] = (seed[s] & ~15) | segment
            self.pairs[bytes(new)] = fingerprint
        self.seeds = list(self.pairs)
        self.served = 0
        names = [rng.randbytes(7).hex() for _ in range(7)]
        self.framework, self.main, self.decoy, self.loader, self.generator_chunk, self.other, self.shell = names
        self.chunks = {
            self.framework: _framework(),
            self.main: _main_app(),
            self.decoy: _decoy(),
            self.other: _framework(),
        }
        if form == "turbopack":
            self.chunks[self.loader] = _flat(
                f'4629918,e=>{{e.v(t=>Promise.all(["static/chunks/{self.other}.js",'
                f'"static/chunks/{self.shell}.js"].map(t=>e.l(t))).then(()=>t(1645e3)))}}'
            )
            self.chunks[self.shell] = _flat(
                f'1645e3,e=>{{e.v(t=>Promise.all(["static/chunks/{self.generator_chunk}'
                f'.js"].map(t=>e.l(t))).then(()=>t({BODY_MODULE})))}}'
            )
            self.chunks[self.generator_chunk] = _generator_body(self.index_set, generator)
        else:
            self.chunks[self.loader] = _loader(self.generator_chunk, self.other)
            self.chunks[self.generator_chunk] = _generator(self.index_set, generator)

    def next_seed(self) -> bytes:
        seed = self.seeds[self.served % len(self.seeds)]
        self.served += 1
        return seed

    def info(self) -> dict:
        return {
            "number": self.number,
            "spec": self.spec,
            "generator": self.generator,
            "form": self.form,
            "release": self.release if self.form == "2026" else None,
            "index_set": self.index_set,
            "chunks": sorted(self.chunks),
            "generator_chunk": self.generator_chunk,
            "pairs": [{"seed": base64.b64encode(seed).decode(), "L": fp} for seed, fp in self.pairs.items()],
        }


class Builds:
    """The current build and the retired ones (all guarded by the server state's lock)."""

    def __init__(self):
        self.specs = _load_specs()
        self.history: list[Build] = []
        self.rotate(SPECS[0], "plain", disguise=False)

    @property
    def current(self) -> Build:
        return self.history[-1]

    def rotate(
        self, spec: str | None = None, generator: str = "plain", disguise: bool = True, form: str = "2026"
    ) -> Build:
        if spec is None:
            spec = SPECS[len(self.history) % len(SPECS)]
        if spec not in self.specs:
            raise ValueError(f"unknown spec {spec!r}; known: {', '.join(self.specs)}")
        if generator not in GENERATOR_STYLES:
            raise ValueError(f"generator must be one of {', '.join(GENERATOR_STYLES)}")
        if form not in PAGE_FORMS:
            raise ValueError(f"form must be one of {', '.join(PAGE_FORMS)}")
        # An obfuscated generator keeps the spec's index set: one of the sets grok.com used.
        build = Build(len(self.history) + 1, spec, self.specs[spec], generator, disguise and generator == "plain", form)
        self.history.append(build)
        return build

    def chunk(self, name: str) -> str | None:
        """Old builds' chunks stay on the CDN, as they do on grok.com."""
        for build in reversed(self.history):
            if name in build.chunks:
                return build.chunks[name]
        return None

    def verify(self, token: str, method: str, path: str, clock_window: float) -> str | None:
        """ "ok", a failure reason, "stale_build" for a retired build's seed, or None when the token
        carries no build's seed at all (the caller then tries the configured static pair)."""
        try:
            raw = base64.b64decode(token.strip() + "=" * (-len(token.strip()) % 4), validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(raw) != TOKEN_LEN:
            return None
        plain = bytes(b ^ raw[0] for b in raw)
        seed = plain[1:49]
        current = self.current
        if seed not in current.pairs:
            if any(seed in old.pairs for old in self.history[:-1]):
                return "stale_build"
            return None
        counter = struct.unpack("<I", plain[49:53])[0]
        if abs(int(time.time()) - EPOCH - counter) > clock_window:
            return f"clock_skew_{int(time.time()) - EPOCH - counter}"
        if plain[53:69] != digest16(method.upper(), path, counter, SALT + current.pairs[seed]):
            return "hash_mismatch"
        if plain[69] != 3:
            return "trailer_mismatch"
        return "ok"

    def page(self, base_url: str, mode: str) -> str:
        build = self.current
        cdn = base_url + CHUNK_PREFIX
        if mode == "broken":
            # A redesign: no seed meta, no curves, other markup (what a parser must survive).
            return (
                "<!DOCTYPE html><html><head><title>Grok</title>"
                f'<script src="{cdn}{build.framework}.js" async></script></head>'
                '<body><div id="app" data-v="2">Loading…</div></body></html>'
            )
        seed = base64.b64encode(build.next_seed()).decode()
        if build.form == "turbopack":
            return _turbopack_page(build, seed)
        curves = [[{"color": seg[0:6], "deg": seg[6], "bezier": seg[7:11]} for seg in group] for group in build.table]
        flight = "72:" + json.dumps(["$", "$L92", None, {"curves": curves, "className": "spin"}], separators=(",", ":"))
        scripts = "".join(
            f'<script src="{cdn}{name}.js" async=""></script>' for name in (build.framework, build.main, build.decoy)
        )
        # The meta's attributes in the order Next.js writes them (content first), its name with a
        # Unicode hyphen on odd builds (grok.com has done both).
        name = "grok\u2010site-verification" if build.number % 2 else "grok-site-verification"
        return (
            '<!DOCTYPE html><html lang="en"><head><meta charSet="utf-8"/>'
            '<meta name="viewport" content="width=device-width, initial-scale=1"/>'
            f'<link rel="preload" as="script" fetchPriority="low" href="{cdn}{build.loader}.js"/>'
            f"{scripts}<title>Grok</title>"
            '<meta name="baggage" content="sentry-environment=production,'
            f'sentry-release=grok-web%40{build.release},sentry-public_key=f00d,sentry-trace_id=abc"/>'
            f'<meta content="{seed}" name="{name}"/>'
            '<link rel="icon" href="/favicon.ico"/></head><body><main id="app"></main>'
            f'<script src="{cdn}{build.loader}.js" async=""></script>'
            f"<script>self.__next_f.push([1,{json.dumps(flight)}])</script>"
            f'<script>self.__next_f.push([1,"73:I[\\"{CHUNK_PREFIX}{build.other}.js\\"]"])</script>'
            "</body></html>"
        )


def _turbopack_page(build: Build, seed: str) -> str:
    paths = "".join(
        f'<svg class="loading-x-anim-{i}" viewBox="0 0 100 100"><path d="{_spinner_path(group)}"></path></svg>'
        for i, group in enumerate(build.table)
    )
    meta = "4:" + json.dumps([["$", "meta", "0", {"name": "grok-site-verification", "content": seed}]])
    loader = "5:" + json.dumps([91234, [f"static/chunks/{build.loader}.js"], "default"])
    scripts = "".join(
        f'<script src="{CHUNK_PREFIX}{name}.js" async=""></script>'
        for name in (build.framework, build.main, build.decoy)
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charSet="utf-8"/>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>'
        f'{scripts}<title>Grok</title></head><body><main id="app">{paths}</main>'
        f"<script>self.__next_f.push([1,{json.dumps(meta)}])</script>"
        f"<script>self.__next_f.push([1,{json.dumps(loader)}])</script>"
        "</body></html>"
    )


def _spinner_path(group) -> str:
    """One curve group as the older spinner path: M 10,30 C r0,g0 b0,r1 g1,b1 h deg s e0,e1 e2,e3 C ..."""
    return "M 10,30 " + " ".join(
        f"C {r0},{g0} {b0},{r1} {g1},{b1} h {deg} s {e0},{e1} {e2},{e3}"
        for r0, g0, b0, r1, g1, b1, deg, e0, e1, e2, e3 in group
    )


# ---------------------------------------------------------------------- chunk sources
def _flat(body: str) -> str:
    """A chunk in Turbopack's flat form: the script element, then module ids and factories."""
    return f"(globalThis.TURBOPACK||(globalThis.TURBOPACK=[])).push([document.currentScript,{body}]);"


def _generator_body(index_set: list[int], style: str) -> str:
    """The turbopack form's generator body: hex literals, the group read through the helper too."""
    g, s, t1, t2, t3 = (hex(i) for i in index_set)
    if style == "obfuscated":
        return _generator(index_set, style).replace("1645e3:", f"{BODY_MODULE}:")
    return _flat(
        f'{BODY_MODULE},(e,t,n)=>{{"use strict";function a(e,t){{return e%t}}t.default=function(r){{'
        f"var x=a(r[{s}],0x10),q=a(r[{t1}],0x10)*a(r[{t2}],0x10)*a(r[{t3}],0x10);"
        f"return{{p:r.curves[a(r[{g}],0x4)][x],ms:Math.round(q/0xa)*0xa,d:0x1000}}}}}}"
    )


def _turbopack(name: str, body: str) -> str:
    return f'(globalThis.TURBOPACK||(globalThis.TURBOPACK=[])).push(["static/chunks/{name}.js",{{{body}}}]);'


def _framework() -> str:
    filler = "".join(f"function r{i}(e,t){{return e&&t?e+t:{i}}}" for i in range(40))
    return _turbopack("framework", f'8710:(e,t,r)=>{{"use strict";{filler}}}')


def _main_app() -> str:
    # Reads that look like the generator's (a hex parser, a modulo pick) and the header's name:
    # a client that searched every chunk for them would find the wrong index set.
    return _turbopack(
        "main",
        '93120:(e,t,r)=>{"use strict";let h="x-statsig-id";function p(e){return parseInt(e[12],16)+parseInt(e[30],16)'
        "+parseInt(e[2],16)+parseInt(e[44],16)}function q(e,n){return e[n[3]%4]}t.parse=p;t.pick=q;"
        "t.retry=16450;t.ms=4096}",
    )


def _decoy() -> str:
    # An obfuscated chunk that is not the generator (an analytics bundle).
    return _turbopack(
        "decoy",
        '55012:(e,t,r)=>{"use strict";var a=String.fromCharCode,b=function(s){return s.charCodeAt(0)};'
        "function c(e,n){return n(e[9],16)*n(e[17],16)*n(e[40],16)*n(e[1],16)}t.k=[e[n[8]%4]];t.c=c}",
    )


def _loader(generator: str, other: str) -> str:
    return _turbopack(
        "loader",
        '4629918:(e,t,n)=>{"use strict";n.d(t,{sign:()=>s});async function s(e){let{default:t}=await '
        f'Promise.all([n.e("static/chunks/{generator}.js"),n.e("static/chunks/{other}.js")]).then(()=>n(1645e3));'
        "return t(e)}",
    )


def _generator(index_set: list[int], style: str) -> str:
    g, s, t1, t2, t3 = index_set
    if style == "obfuscated":
        table = ",".join(str((i * 37 + 11) % 256) for i in range(64))
        body = (
            '1645e3:(e,t,n)=>{"use strict";var _0x1=[' + table + "],_0x2=String.fromCharCode,"
            "_0x3=function(a){return a.charCodeAt(0)^_0x1[a.length%64]};function o(r){var w=_0x1,"
            "k=function(i){return r[w[i]^w[i+1]]},m=function(i,j){return k(i)%j};"
            "return m(3,16)*m(7,16)*m(9,16)*m(11,16)+k(5)%4}t.default=o}"
        )
        return _turbopack("generator", body)
    body = (
        '1645e3:(e,t,n)=>{"use strict";function a(e,t){return e%t}function o(n){'
        f"let c=n.curves;var x=a(n[{s}],16);var q=a(n[{t1}],16)*a(n[{t2}],16)*a(n[{t3}],16);"
        f"let p=c[n[{g}]%4][x];return{{p,ms:Math.round(q/10)*10,d:4096}}}}t.default=o}}"
    )
    return _turbopack("generator", body)


# ---------------------------------------------------------------------- the mode list
DEFAULT_MODES = [
    {"id": "auto", "title": "Auto", "description": "Chooses Fast or Expert", "available": True},
    {"id": "fast", "title": "Fast", "description": "Quick responses", "available": True},
    {"id": "expert", "title": "Expert", "description": "Thinks hard", "available": True},
    {
        "id": "heavy",
        "title": "Heavy",
        "description": "Team of experts",
        "available": False,
        "upsell": {"tier": "SuperGrok Heavy"},
    },
    {"id": "build", "title": "Build", "description": "Grok Build", "available": True, "badge": "beta"},
]


def modes(req):
    """POST /rest/modes {"locale"}: the account's modes (config ``modes``, default DEFAULT_MODES)."""
    body = req.obj()
    if body is None:
        from .api import invalid

        return invalid(req, "body_not_object")
    listed = req.state.config.get("modes")
    return Resp(200, {"modes": DEFAULT_MODES if listed is None else listed, "defaultModeId": "auto"})


def serve(state, method: str, path: str, headers: dict) -> Resp | None:
    """The page and the script chunks (None for any other path)."""
    page_paths = ("/", "/imagine", "/index")
    if path not in page_paths and not path.startswith(CHUNK_PREFIX):
        return None
    if method not in ("GET", "HEAD"):
        return Resp(405, b"Method Not Allowed", "text/plain", {"Allow": "GET, HEAD"})
    if "Chrome/" not in headers.get("user-agent", ""):
        return cloudflare_resp()
    if path.startswith(CHUNK_PREFIX):
        name = path[len(CHUNK_PREFIX) :].removesuffix(".js")
        with state.lock:
            source = state.builds.chunk(name)
        if source is None:
            return Resp(404, NOT_FOUND_PAGE, "text/html; charset=utf-8")
        return Resp(200, source.encode(), "application/javascript; charset=utf-8", {"Cache-Control": "immutable"})
    mode = state.config.get("page", "ok")
    if mode == "cloudflare":
        return cloudflare_resp()
    logged_in = "sso=" in headers.get("cookie", "")
    if mode == "login_redirect" and logged_in:
        # A logged-in session that must pass MFA first: grok.com redirects; the public page has the seed.
        return Resp(307, b"", "text/plain", {"Location": "https://accounts.x.ai/mfa?redirect=grok-com"})
    with state.lock:
        html = state.builds.page(state.config["base_url"], mode)
    # /index answers 404 with the full page since 2026-08-13; "not_found" does that everywhere.
    status = 404 if path == "/index" or mode == "not_found" else 200
    return Resp(status, html.encode(), "text/html; charset=utf-8")


NOT_FOUND_PAGE = b"<!DOCTYPE html><html><head><title>404: This page could not be found.</title></head></html>"
