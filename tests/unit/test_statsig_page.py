"""Reading grok.com's page and script chunks (docs/grok-protocol.md: the token): the forms
the spec lists, the ways a page can be broken, and hostile input."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.grok.statsig import chunks
from app.grok.statsig.derive import (
    FETCH_CONCURRENCY,
    MAX_SCRIPTS,
    PAGE_MAX_BYTES,
    SCRIPT_MAX_BYTES,
    SCRIPTS_MAX_TOTAL,
    Deriver,
)
from app.grok.statsig.fingerprint import IndexSet
from app.grok.statsig.page import PageError, allowed_script, read_curve_table, read_metas, read_page, read_scripts
from app.grok.transport import Response

DATA = json.loads((Path(__file__).resolve().parents[1] / "data" / "statsig-vectors.json").read_text())
CURVES = DATA["builds"]["2026-09-15"]["curves"]
PATHS = DATA["builds"]["2026-07-25"]["paths"]
SEED = base64.b64decode(DATA["builds"]["2026-09-15"]["vectors"][0]["seed"])
SEED_B64 = base64.b64encode(SEED).decode()
ORIGINS = ("https://grok.com", "https://cdn.grok.com")


def flight(value) -> str:
    """A value as the page carries it: JSON inside a JS string inside a flight push."""
    return f"<script>self.__next_f.push([1,{json.dumps('5:' + json.dumps(value))}])</script>"


def first_segment(table):
    return list(table[0][0])


# ---------------------------------------------------------------------- the seed
@pytest.mark.parametrize(
    "meta",
    [
        f'<meta name="grok-site-verification" content="{SEED_B64}">',
        f'<meta content="{SEED_B64}" name="grok-site-verification"/>',
        f"<META NAME='grok-site\u2015verification' CONTENT='{SEED_B64}'>",
        f'<meta name="grok\u2010site\u2011verification" content="{SEED_B64.rstrip("=")}">',
        f'<meta name="grok-site-verification" content="{base64.urlsafe_b64encode(SEED).decode()}">',
    ],
    ids=["plain", "content-first", "upper-u2015", "hyphens-unpadded", "urlsafe"],
)
def test_seed_meta_forms(meta):
    assert read_metas(f"<html><head>{meta}</head></html>")[0] == SEED


def test_seed_in_flight_data():
    html = "<script>" + json.dumps(json.dumps({"name": "grok-site-verification", "content": SEED_B64})) + "</script>"
    assert read_metas(html)[0] == SEED


@pytest.mark.parametrize(
    "content, found",
    [(base64.b64encode(b"x" * 47).decode(), "47 bytes, not 48"), ("not base64!!", "not base64")],
)
def test_bad_seed_says_what_it_found(content, found):
    with pytest.raises(PageError) as err:
        read_metas(f'<meta name="grok-site-verification" content="{content}">')
    assert err.value.step == "seed" and found in err.value.found


def test_a_cloudflare_page_is_described_as_such():
    html = "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>cf-chl</body></html>"
    with pytest.raises(PageError) as err:
        read_metas(html)
    assert err.value.step == "seed"
    assert "titled 'Just a moment...'" in err.value.found and "Cloudflare" in err.value.found


def test_release_marker():
    html = '<meta name="baggage" content="sentry-environment=production,sentry-release=grok-web%40deadbeef12,x=1">'
    html += f'<meta name="grok-site-verification" content="{SEED_B64}">'
    assert read_metas(html) == (SEED, "deadbeef12")


# ---------------------------------------------------------------------- the curve table
def test_curves_in_escaped_flight_data():
    table, form = read_curve_table(flight(["$", "$L92", None, {"curves": CURVES}]))
    assert form == "curves" and first_segment(table) == [204, 0, 182, 206, 197, 172, 197, 36, 152, 8, 69]


def test_curves_unescaped():
    table, _ = read_curve_table("<script>var x=" + json.dumps({"curves": CURVES}) + "</script>")
    assert len(table) == 4 and all(len(group) == 16 for group in table)


def test_curves_twice_takes_the_first():
    other = [[dict(c, deg=1) for c in group] for group in CURVES]
    table, _ = read_curve_table(flight({"curves": CURVES}) + flight({"curves": other}))
    assert table[0][0][6] == 197


def test_a_broken_first_curves_falls_through_to_a_valid_one():
    table, _ = read_curve_table(flight({"curves": [[1, 2]]}) + flight({"curves": CURVES}))
    assert table[0][0][6] == 197


@pytest.mark.parametrize(
    "curves, found",
    [
        (CURVES[:3], "3 groups, not 4"),
        ([CURVES[0][:15], *CURVES[1:]], "group 0 has 15 entries"),
        ([[dict(CURVES[0][0], deg=256)] + CURVES[0][1:], *CURVES[1:]], "outside 0-255"),
        ([[dict(CURVES[0][0], deg=1.5)] + CURVES[0][1:], *CURVES[1:]], "not a whole number"),
        ([[{"color": [1, 2, 3]}] + CURVES[0][1:], *CURVES[1:]], "color[6] / bezier[4]"),
    ],
)
def test_invalid_curves_say_what_is_wrong(curves, found):
    with pytest.raises(PageError) as err:
        read_curve_table(flight({"curves": curves}))
    assert err.value.step == "curves" and found in err.value.found


def test_unknown_curve_keys_are_noted_not_fatal():
    extra = [[dict(c, spin=1) for c in group] for group in CURVES]
    notes: list[str] = []
    table, _ = read_curve_table(flight({"curves": extra}), notes)
    assert table[0][0][6] == 197 and "spin" in notes[0]


def test_older_spinner_paths():
    html = "".join(f'<path d="{p}"></path>' for p in PATHS)
    table, form = read_curve_table(html)
    assert form == "paths" and first_segment(table) == [76, 147, 184, 172, 140, 213, 188, 166, 187, 15, 37]


def test_no_table_at_all():
    with pytest.raises(PageError) as err:
        read_curve_table("<html><title>Grok</title></html>")
    assert err.value.step == "curves" and "0 spinner paths" in err.value.found


@pytest.mark.parametrize(
    "html",
    [
        '"curves":' + "[" * 300_000,
        '\\"curves\\":' + "[[" * 200_000,
        '"curves":[[' + '"\\\\' * 100_000,
        '"curves":[[' * 100_000,
    ],
    ids=["open-brackets", "escaped-open-brackets", "unterminated-string", "many-tables"],
)
def test_hostile_tables_fail_cleanly(html):
    with pytest.raises(PageError):
        read_curve_table(html)


# ---------------------------------------------------------------------- scripts
def test_scripts_from_grok_origins_only_in_page_order():
    html = (
        '<script src="https://cdn.grok.com/_next/static/chunks/a1.js"></script>'
        '<link rel="preload" href="/_next/static/chunks/b2.js?dpl=x">'
        '<script src="https://evil.example/_next/static/chunks/c3.js"></script>'
        '<script src="http://cdn.grok.com/_next/static/chunks/d4.js"></script>'
        '<script src="https://cdn.grok.com/_next/static/chunks/a1.js"></script>'
        '<script>self.__next_f.push([1,"I[\\"/_next/static/chunks/e5.js\\"]"])</script>'
        '<script src="https://user:pw@cdn.grok.com/_next/static/chunks/f6.js"></script>'
    )
    assert read_scripts(html, "https://grok.com/", ORIGINS) == (
        "https://cdn.grok.com/_next/static/chunks/a1.js",
        "https://grok.com/_next/static/chunks/b2.js",
        "https://grok.com/_next/static/chunks/e5.js",
    )


@pytest.mark.parametrize(
    "url, allowed",
    [
        ("https://cdn.grok.com/_next/static/chunks/x.js", True),
        ("https://cdn.grok.com.evil.example/_next/static/chunks/x.js", False),
        ("https://cdn.grok.com/other/x.js", False),
        ("file:///etc/_next/static/chunks/x.js", False),
        ("https://cdn.grok.com:8443/_next/static/chunks/x.js", False),
    ],
)
def test_allowed_script(url, allowed):
    assert allowed_script(url, ORIGINS) is allowed


def test_read_page_puts_it_together_and_names_the_build():
    html = (
        f'<meta name="grok-site-verification" content="{SEED_B64}">'
        '<meta name="baggage" content="sentry-release=grok-web@0123456789abcdef">'
        '<script src="https://cdn.grok.com/_next/static/chunks/a1.js"></script>' + flight({"curves": CURVES})
    )
    page = read_page(html, "https://grok.com/", ORIGINS)
    assert page.seed == SEED and page.release == "0123456789abcdef" and page.build_id == "0123456789ab"
    assert page.scripts == ("https://cdn.grok.com/_next/static/chunks/a1.js",)
    without_release = read_page(html.replace("grok-web@", "x"), "https://grok.com/", ORIGINS)
    assert without_release.build_id.startswith("t") and len(without_release.build_id) == 12


# ---------------------------------------------------------------------- the generator chunk
@pytest.mark.parametrize(
    "source, expected",
    [
        ("f(n[24],16)*g(n[17],16)*h(n[8],16)*k(n[11],16);x=q[n[5]%4]", [5, 24, 17, 8, 11]),
        ("f(n[47],16)*g(n[31],16)*h(n[8],16)*k(n[14],16);x=q[n[5]%4]", [5, 47, 31, 8, 14]),
        ("a($e[21], 16)*a($e[4],16)*a($e[14],16)*a($e[7],16);p=c[$e[9] % 4]", [9, 21, 4, 14, 7]),
    ],
)
def test_index_set_from_generator_source(source, expected):
    index, how = chunks.read_index_set(source)
    assert index == IndexSet.of(expected) and how == "read from the generator chunk"


def test_index_set_group_byte_defaults_to_5_and_says_so():
    index, how = chunks.read_index_set("f(n[1],16)+f(n[2],16)+f(n[3],16)+f(n[4],16)")
    assert index == IndexSet(5, 1, (2, 3, 4)) and "assumed 5" in how


def test_index_set_missing_says_how_many_reads_were_found():
    assert chunks.read_index_set("f(n[1],16)+f(n[2],16)") == (None, "2 of the 4 'x[n],16' byte reads")
    assert chunks.read_index_set("f(n[1],16)*f(n[2],16)*f(n[3],16)*f(n[99],16)")[0] is None


def test_generator_reference_from_the_loader():
    loader = (
        '4629918:(e,t,n)=>{n.e(1);return Promise.all([n.e("static/chunks/aa11.js"),'
        'n.e("static/chunks/bb22.js")]).then(()=>n(1645e3))}'
    )
    url = "https://cdn.grok.com/_next/static/chunks/loader.js"
    assert chunks.generator_reference(loader, url) == "https://cdn.grok.com/_next/static/chunks/aa11.js"
    assert chunks.generator_reference(loader.replace("1645e3", "16450"), url) is None
    assert chunks.generator_reference("n(1645000)", url) is None  # no Promise.all before the call


def test_generator_definition_and_obfuscation_markers():
    assert chunks.defines_generator('push(["x",{1645e3:(e,t,n)=>{}}])')
    assert chunks.defines_generator("{4629918:a,1645000:function(e){}}")
    assert not chunks.defines_generator("n(1645e3)")
    assert chunks.looks_obfuscated("String.fromCharCode(1);a.charCodeAt(0)")
    assert not chunks.looks_obfuscated("String.fromCharCode(1)")
    assert not chunks.looks_obfuscated("String.fromCharCode charCodeAt" + " " * chunks.GENERATOR_MAX_BYTES)


# ---------------------------------------------------------------------- the other forms the spec lists
def test_seed_in_flight_data_with_content_first_and_escaped_twice():
    pair = json.dumps([["$", "meta", "0", {"content": SEED_B64, "name": "grok\u2010site-verification"}]])
    assert read_metas(flight(pair))[0] == SEED
    assert read_metas("<script>" + json.dumps(json.dumps(pair)) + "</script>")[0] == SEED


def test_seed_under_another_grok_site_meta_is_used_and_noted():
    notes: list[str] = []
    html = f'<meta name="grok-site-verification-v2" content="{SEED_B64}">'
    assert read_metas(html, notes)[0] == SEED
    assert notes == [
        'no <meta name="grok-site-verification">: the seed was read from <meta name="grok-site-verification-v2">'
    ]


def test_seed_from_any_meta_of_48_bytes_as_a_last_guess():
    notes: list[str] = []
    short = base64.b64encode(b"g" * 32).decode()
    html = f'<meta name="google-site-verification" content="{short}"><meta name="page-token" content="{SEED_B64}">'
    assert read_metas(html, notes)[0] == SEED and '48-byte <meta name="page-token">' in notes[0]
    with pytest.raises(PageError) as err:
        read_metas(f'<meta name="google-site-verification" content="{short}">')
    assert err.value.step == "seed"


def test_curves_without_their_key_are_found_by_their_entries():
    for html in (flight(["$", "$L92", None, {"spin": CURVES}]), "<script>var t=" + json.dumps(CURVES) + "</script>"):
        notes: list[str] = []
        table, form = read_curve_table(html, notes)
        assert form == "curves" and first_segment(table) == [204, 0, 182, 206, 197, 172, 197, 36, 152, 8, 69]
        assert notes == ['no "curves" key: the curve table was found by its {"color":...} entries']


def test_spinner_paths_in_the_flight_data():
    html = flight([["$", "path", str(i), {"d": p}] for i, p in enumerate(PATHS)])
    table, form = read_curve_table(html)
    assert form == "paths" and first_segment(table) == [76, 147, 184, 172, 140, 213, 188, 166, 187, 15, 37]


def test_chunk_paths_relative_to_the_asset_prefix():
    relative = '<script>self.__next_f.push([1,"5:I[91234,[\\"static/chunks/g7.js\\"],\\"default\\"]"])</script>'
    on_cdn = '<script src="https://cdn.grok.com/_next/static/chunks/a1.js"></script>' + relative
    assert read_scripts(on_cdn, "https://grok.com/", ORIGINS) == (
        "https://cdn.grok.com/_next/static/chunks/a1.js",
        "https://cdn.grok.com/_next/static/chunks/g7.js",
    )
    assert read_scripts(relative, "https://grok.com/imagine", ORIGINS) == (
        "https://grok.com/_next/static/chunks/g7.js",
    )


@pytest.mark.parametrize(
    "source, expected",
    [
        ("a(r[0x15],0x10)*a(r[0x4],0x10)*a(r[0xe],0x10)*a(r[0x7],0x10);p=c[a(r[0x5],0x4)]", [5, 21, 4, 14, 7]),
        (
            "(0,o.Z)(t.seed[10],16)*(0,o.Z)(t.seed[36],16)*o.Z(t.seed[5],16)*o.Z(t.seed[24],16);c[t.seed[5]%4]",
            [5, 10, 36, 5, 24],
        ),
        ("m( n[12] , 16 )+m(n[8],16)+m(n[20],16)+m(n[29],16);g=m(n[5],4)", [5, 12, 8, 20, 29]),
    ],
    ids=["hex-literals", "member-reads", "helper-group"],
)
def test_index_set_from_other_minified_shapes(source, expected):
    assert chunks.read_index_set(source)[0] == IndexSet.of(expected)


def test_generator_definitions_in_turbopacks_flat_form():
    assert chunks.defines_generator("push([document.currentScript,1645e3,e=>{e.v(1)}])")
    assert chunks.defines_generator("push([document.currentScript,8,e=>{},1645000,(e,t,n)=>{}])")
    assert chunks.defines_generator("push([s,1645e3,function(e){}])")
    assert not chunks.defines_generator("x=[1645e3,2]") and not chunks.defines_generator("n.bind(n,1645e3)")


def test_generator_references_every_chunk_the_loader_pulls_and_the_2025_form():
    url = "https://cdn.grok.com/_next/static/chunks/loader.js"
    turbopack = 'e.v(t=>Promise.all(["static/chunks/o1.js","static/chunks/g2.js"].map(t=>e.l(t))).then(()=>t(1645e3)))'
    assert chunks.generator_references(turbopack, url) == [
        "https://cdn.grok.com/_next/static/chunks/o1.js",
        "https://cdn.grok.com/_next/static/chunks/g2.js",
    ]
    bound = 'Promise.all([n.e("static/chunks/g3.js")]).then(n.bind(n,1645e3))'
    assert chunks.generator_references(bound, url) == ["https://cdn.grok.com/_next/static/chunks/g3.js"]
    older = '{a:"static/chunks/x9.js"},{m:function(){return r.e("static/chunks/g4.js").then(r.bind(r,1645e3))}}'
    assert chunks.generator_references(older, url) == ["https://cdn.grok.com/_next/static/chunks/g4.js"]


def test_chunk_references_of_a_generator_shell():
    shell = 'push([s,1645e3,e=>{e.v(t=>Promise.all(["static/chunks/b5.js"].map(t=>e.l(t))).then(()=>t(512)))}])'
    url = "https://cdn.grok.com/_next/static/chunks/shell.js"
    assert chunks.chunk_references(shell, url) == ["https://cdn.grok.com/_next/static/chunks/b5.js"]


@pytest.mark.parametrize("unit", ["\\", '\\"', "\\\\u2010"], ids=["backslashes", "escaped-quotes", "escaped-dashes"])
def test_hostile_pages_at_the_size_limit_fail_cleanly(unit):
    # A page as large as the deriver accepts, made of what the flight-data patterns start with:
    # scanning it must stay linear (a quadratic scan would not finish within the test timeout).
    html = unit * (PAGE_MAX_BYTES // len(unit))
    with pytest.raises(PageError) as err:
        read_page(html, "https://grok.com/", ORIGINS)
    assert err.value.step == "seed"


# ---------------------------------------------------------------------- the deriver's bounds
class ScriptHost:
    """Stands in for the client's script fetches only (the client itself is tested against the
    fake grok.com): every chunk is as large as a chunk may be."""

    def __init__(self):
        self.config = SimpleNamespace(base_url="https://grok.com", cookie_header=None)
        self.fetched: list[str] = []

    def fetch_script(self, url: str, *, limit: int) -> Response:
        self.fetched.append(url)
        return Response(200, {}, b"/*" + b"x" * (SCRIPT_MAX_BYTES - 4) + b"*/", url)


def test_one_derivation_reads_at_most_its_script_budget():
    host = ScriptHost()
    deriver = Deriver(host)
    urls = [f"https://cdn.grok.com/_next/static/chunks/c{i}.js" for i in range(MAX_SCRIPTS)]
    kept = deriver._fetch_scripts(urls[:40]) | deriver._fetch_scripts(urls[40:])
    assert sum(len(source) for source in kept.values()) <= SCRIPTS_MAX_TOTAL
    assert len(kept) == SCRIPTS_MAX_TOTAL // SCRIPT_MAX_BYTES
    # The budget is the derivation's, not each batch's: the second batch read (almost) nothing.
    assert len(host.fetched) < SCRIPTS_MAX_TOTAL // SCRIPT_MAX_BYTES + FETCH_CONCURRENCY
