"""Unit tests of the pure media parts: SSRF address decisions, sniffing, link signing, the disk
cache, and the parsing/decoding of OpenAI media content parts."""

from __future__ import annotations

import base64
import logging
import os
import threading

import pytest

from app.media import addresses, sniff
from app.media.cache import AssetCache
from app.media.fetch import Budget, Fetcher, FetchPolicy, FetchRefused, TooLarge
from app.media.inputs import ChatMedia, MediaError, MediaLimits, latest_user_turn, load, media_parts, parse_part
from app.media.signing import AssetSigner, asset_path_of, clean_asset_path, load_key
from app.state.local import LocalStore
from tests.fakegrok.media import jpeg

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
GIF = b"GIF89a" + b"\x00" * 16
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8


# -- SSRF address classes -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "address, expected",
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12::1", "private"),
        ("169.254.10.10", "link-local"),
        ("fe80::1", "link-local"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "private"),
        ("100.64.0.1", "non-public"),
        ("192.0.2.1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),  # IPv4-mapped
        ("2002:7f00:1::1", "loopback"),
        ("2002:a9fe:a9fe::", "metadata"),  # 6to4
        ("64:ff9b::a00:1", "private"),  # NAT64
        ("8.8.8.8", None),
        ("1.1.1.1", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_address_categories(address, expected):
    assert addresses.category(addresses.parse(address)) == expected


def test_allowing_private_addresses_never_allows_metadata_multicast_or_unspecified():
    for address in ("127.0.0.1", "10.0.0.1", "169.254.1.1", "::1", "100.64.0.1"):
        ip = addresses.parse(address)
        assert addresses.refusal(ip) is not None
        assert addresses.refusal(ip, allow_private=True) is None
    for address in ("169.254.169.254", "fd00:ec2::254", "224.0.0.1", "0.0.0.0"):
        assert addresses.refusal(addresses.parse(address), allow_private=True) is not None


def test_address_literals():
    assert addresses.parse("[::1]") == addresses.parse("::1")
    assert addresses.parse("fe80::1%eth0") == addresses.parse("fe80::1")
    assert addresses.parse("example.com") is None


class _NoTransport:
    def stream(self, *a, **kw):  # the guard must refuse before any connection
        raise AssertionError("a refused URL must not be requested")


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://example.com/x.png", "only http:// and https://"),
        ("file:///etc/passwd", "only http:// and https://"),
        ("http://user:pw@example.com/x.png", "credentials"),
        ("http://127.0.0.1/x.png", "loopback"),
        ("http://[::1]:8080/x.png", "loopback"),
        ("http://10.0.0.7/x.png", "private"),
        ("http://169.254.169.254/latest/meta-data", "metadata"),
        ("http://rebind.test/x.png", "private"),  # resolves to a private address
        ("http://mixed.test/x.png", "loopback"),  # one public, one loopback address: refused
    ],
)
def test_fetcher_refuses_before_connecting(url, message):
    table = {"rebind.test": ["192.168.0.5"], "mixed.test": ["93.184.216.34", "127.0.0.1"]}
    fetcher = Fetcher(FetchPolicy(), transport=_NoTransport(), resolver=lambda host, port: table[host])
    with pytest.raises(FetchRefused) as info:
        fetcher.fetch(url, 1000)
    assert message in info.value.message


def test_allowlist_is_exact_host_and_port():
    fetcher = Fetcher(
        FetchPolicy(allowlist=frozenset({"images.lan:8080"})),
        transport=_NoTransport(),
        resolver=lambda host, port: ["10.0.0.9"],
    )
    from app.media.fetch import _parse

    assert fetcher.vet(_parse("http://images.lan:8080/a.png")) == "10.0.0.9"
    with pytest.raises(FetchRefused):
        fetcher.vet(_parse("http://images.lan:8081/a.png"))
    with pytest.raises(FetchRefused):
        fetcher.vet(_parse("http://other.lan:8080/a.png"))


def test_budget_is_shared():
    budget = Budget(10)
    budget.consume(6)
    with pytest.raises(TooLarge):
        budget.consume(5)


# -- sniffing ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data, mime",
    [
        (PNG, "image/png"),
        (jpeg("x"), "image/jpeg"),
        (GIF, "image/gif"),
        (WEBP, "image/webp"),
        (b"%PDF-1.7\n...", "application/pdf"),
        (b"PK\x03\x04rest", "application/zip"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00", "video/mp4"),
        (b"\x00\x00\x00\x1cftypavif", "image/avif"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio/wav"),
        (b"ID3\x03\x00", "audio/mpeg"),
        (b"hello, world\n", "text/plain"),
        ("héllo".encode(), "text/plain"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"),
        (b"\x00\x01\x02\x03binary", None),
        (b"\xc3\x28 invalid utf-8", None),
        (b"", None),
    ],
)
def test_sniff(data, mime):
    assert sniff.sniff(data) == mime


def test_a_text_file_cut_inside_a_character_is_still_text():
    data = ("x" * (sniff.SNIFF_BYTES - 1) + "é" * 10).encode()
    assert sniff.sniff(data) == "text/plain"


def test_refine_trusts_the_declared_type_only_where_bytes_cannot_tell():
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert sniff.refine("application/zip", docx) == docx
    assert sniff.refine("text/plain", "text/csv; charset=utf-8") == "text/csv"
    assert sniff.refine("image/png", "image/jpeg") == "image/png"  # the bytes win
    assert sniff.refine("text/plain", "image/png") == "text/plain"  # a lie is not believed
    assert sniff.refine(None, "image/png") == "application/octet-stream"


# -- signed links ------------------------------------------------------------------------------------
KEY = b"k" * 32


def test_signed_link_round_trip_and_failures():
    signer = AssetSigner(KEY, ttl=600)
    path = "users/u1/generated/abc/image.jpg"
    exp, sig = signer.sign(path, now=1000)
    assert exp == 1600
    assert signer.check(path, str(exp), sig, now=1500) is None
    assert "expired" in signer.check(path, str(exp), sig, now=1601)
    assert "invalid" in signer.check("users/u1/generated/abd/image.jpg", str(exp), sig, now=1500)
    assert "invalid" in signer.check(path, str(exp + 1), sig, now=1500)  # a longer life cannot be forged
    assert "invalid" in AssetSigner(b"o" * 32, 600).check(path, str(exp), sig, now=1500)
    assert "no signature" in signer.check(path, None, None)
    assert "malformed" in signer.check(path, "12x", sig)
    assert "malformed" in signer.check(path, str(exp), sig[:-1])


def test_link_is_absolute_and_escapes_the_path():
    signer = AssetSigner(KEY, ttl=60)
    link = signer.link("https://api.example.com", "users/u/a b's.jpg", now=0)
    assert link.startswith("https://api.example.com/v1/assets/users/u/a%20b%27s.jpg?exp=60&sig=")


@pytest.mark.parametrize(
    "raw, ok",
    [
        ("users/u/generated/i/image.jpg", True),
        ("users/u/a:b/c.jpg", True),
        ("", False),
        ("/users/u/x.jpg", False),
        ("users/../etc/passwd", False),
        ("users/./x", False),
        ("users//x", False),
        ("https://evil.com/x.jpg", False),
        ("evil.com:80/x", False),
        ("users/%2e%2e/x", False),
        ("users/x?y=1", False),
        ("users\\x", False),
        ("users/x\n", False),
        ("a/" * 600, False),
    ],
)
def test_clean_asset_path(raw, ok):
    assert (clean_asset_path(raw) == raw) is ok


def test_asset_path_of_accepts_relative_paths_and_urls_under_the_asset_host_only():
    base = "https://assets.grok.com"
    assert asset_path_of("users/u/i/image.jpg", base) == "users/u/i/image.jpg"
    assert asset_path_of("/users/u/i/image.jpg", base) == "users/u/i/image.jpg"
    assert asset_path_of("https://assets.grok.com/users/u/i/image.jpg", base) == "users/u/i/image.jpg"
    assert asset_path_of("https://imagine-public.x.ai/x.jpg", base) is None
    assert asset_path_of("https://assets.grok.com.evil.com/x.jpg", base) is None


def test_generated_key_is_shared_and_configured_key_wins(tmp_path):
    assert load_key("configured-key-1234", LocalStore(tmp_path)) == b"configured-key-1234"
    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(load_key(None, LocalStore(tmp_path)))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(results[0]) == 32


def test_a_generated_key_is_kept_in_its_file_and_read_back_after_a_restart(tmp_path):
    key_file = tmp_path / ".env.asset-key"
    first = load_key(None, LocalStore(tmp_path / "run1"), key_file)
    assert key_file.stat().st_mode & 0o777 == 0o600 and bytes.fromhex(key_file.read_text()) == first
    # A restart: a new run directory (the old one is gone), the same key file.
    assert load_key(None, LocalStore(tmp_path / "run2"), key_file) == first
    assert load_key("configured-key-0123456789", LocalStore(tmp_path / "run3"), key_file) != first


def test_a_key_file_that_cannot_be_written_is_said_at_startup(tmp_path, caplog):
    caplog.set_level(logging.WARNING)  # an app made earlier in this process may have raised it
    missing_dir = tmp_path / "no-such-dir" / ".env.asset-key"
    key = load_key(None, LocalStore(tmp_path / "run"), missing_dir)
    assert len(key) == 32 and not missing_dir.exists()
    assert "links stop working when the server restarts" in caplog.text and "ASSET_KEY_FILE" in caplog.text


def test_a_signer_accepts_the_links_of_its_older_keys():
    old = AssetSigner(b"o" * 32, ttl=600)
    exp, sig = old.sign("users/u/a.jpg", now=1000)
    new = AssetSigner(b"n" * 32, ttl=600, older_keys=(old.key,))
    assert new.check("users/u/a.jpg", str(exp), sig, now=1500) is None
    assert new.sign("users/u/a.jpg", now=1000) != (exp, sig)
    assert AssetSigner(b"n" * 32, ttl=600).check("users/u/a.jpg", str(exp), sig, now=1500) is not None


# -- disk cache -------------------------------------------------------------------------------------
def _store(cache: AssetCache, path: str, size: int) -> None:
    writer = cache.writer(path)
    writer.write(b"x" * size)
    writer.commit()


def test_cache_evicts_least_recently_used(tmp_path):
    cache = AssetCache(tmp_path, max_bytes=300)
    for i, name in enumerate(("a", "b", "c")):
        _store(cache, name, 100)
        os.utime(cache.get(name), (1000 + i, 1000 + i))  # a oldest, c newest
    assert cache.get("a") is not None  # a hit makes "a" the most recently used
    _store(cache, "d", 100)  # 400 > 300: the least recently used ("b") goes
    assert cache.get("b") is None
    assert all(cache.get(n) is not None for n in ("a", "c", "d"))
    assert cache.total_bytes() == 300


def test_cache_files_are_named_by_hash_and_written_atomically(tmp_path):
    cache = AssetCache(tmp_path, max_bytes=10_000)
    writer = cache.writer("../../etc/passwd")
    writer.write(b"partial")
    assert cache.get("../../etc/passwd") is None  # not visible before commit
    writer.commit()
    stored = cache.get("../../etc/passwd")
    assert stored.parent == tmp_path and len(stored.name) == 64
    assert stored.read_bytes() == b"partial"


def test_cache_drops_an_asset_bigger_than_the_cap_and_can_be_disabled(tmp_path):
    cache = AssetCache(tmp_path / "c", max_bytes=50)
    writer = cache.writer("big")
    writer.write(b"x" * 40)
    writer.write(b"x" * 40)
    assert not writer.active
    assert writer.commit() is False and cache.get("big") is None
    assert list((tmp_path / "c").iterdir()) == []
    off = AssetCache(tmp_path / "off", max_bytes=0)
    assert off.writer("x") is None and off.get("x") is None and not (tmp_path / "off").exists()


def test_aborted_writes_leave_nothing(tmp_path):
    cache = AssetCache(tmp_path, max_bytes=1000)
    writer = cache.writer("a")
    writer.write(b"123")
    writer.abort()
    assert list(tmp_path.iterdir()) == []


# -- content parts ----------------------------------------------------------------------------------
def data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def test_parse_parts():
    part = parse_part({"type": "image_url", "image_url": {"url": data_uri("image/png", PNG)}}, 2, 1)
    assert (part.where, part.kind, part.source, part.declared_type) == (
        "messages[2].content[1]",
        "image",
        "data",
        "image/png",
    )
    assert part.name() == "image-2-1.png"
    url = parse_part({"type": "image_url", "image_url": {"url": "https://x.test/p/cat.webp?s=1"}}, 0, 0)
    assert (url.source, url.name()) == ("url", "image-0-0.webp")
    assert parse_part({"type": "image_url", "image_url": "https://x.test/a.png"}, 0, 0).source == "url"
    f = parse_part({"type": "file", "file": {"file_data": "aGVsbG8=", "filename": "../notes (v2).txt"}}, 1, 0)
    assert (f.kind, f.source, f.name()) == ("file", "base64", "notes (v2).txt")
    assert parse_part({"type": "text", "text": "hi"}, 0, 0) is None


@pytest.mark.parametrize(
    "part, message",
    [
        ({"type": "image_url", "image_url": {"url": "javascript:alert(1)"}}, "data: URI or an http(s) URL"),
        ({"type": "image_url", "image_url": {}}, "data: URI or an http(s) URL"),
        ({"type": "file", "file": {"file_id": "file-abc"}}, "file_id references are not supported"),
        ({"type": "file", "file": {}}, "needs file_data"),
        ({"type": "file"}, "needs a 'file' object"),
    ],
)
def test_malformed_parts_name_their_position(part, message):
    with pytest.raises(MediaError) as info:
        parse_part(part, 3, 2)
    assert info.value.where == "messages[3].content[2]" and message in info.value.message


LIMITS = MediaLimits(max_image_bytes=1000, max_request_bytes=1500)


def _load(part_dict, budget=None):
    return load(
        parse_part(part_dict, 0, 0),
        Fetcher(FetchPolicy(), transport=_NoTransport()),
        LIMITS,
        budget or Budget(LIMITS.max_request_bytes),
    )


def test_load_sniffs_the_type_and_checks_images():
    item = _load({"type": "image_url", "image_url": {"url": data_uri("image/png", jpeg("x"))}})
    assert (item.mime, item.name) == ("image/jpeg", "image-0-0.jpg")  # the bytes win over the claim
    with pytest.raises(MediaError, match="not a PNG, JPEG, GIF or WEBP image \\(looks like application/pdf\\)"):
        _load({"type": "image_url", "image_url": {"url": data_uri("image/png", b"%PDF-1.4 x")}})
    with pytest.raises(MediaError, match="not valid base64"):
        _load({"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@@"}})
    with pytest.raises(MediaError, match="is empty"):
        _load({"type": "file", "file": {"file_data": "data:text/plain;base64,"}})
    text = _load({"type": "file", "file": {"file_data": data_uri("text/csv", b"a,b\n1,2\n"), "filename": "t.csv"}})
    assert (text.mime, text.name, text.content) == ("text/csv", "t.csv", b"a,b\n1,2\n")


def test_base64_over_several_slices_decodes_exactly_and_strictly(monkeypatch):
    from app.media import inputs

    monkeypatch.setattr(inputs, "CODEC_SLICE", 8)  # many slices for a small input
    part = parse_part({"type": "file", "file": {"file_data": "x"}}, 0, 0)
    data = bytes(range(256)) * 3 + b"tail"
    for alphabet in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = alphabet(data).decode()
        assert inputs._decode_base64(part, encoded, 10_000) == data
        assert inputs._decode_base64(part, encoded.rstrip("="), 10_000) == data
        spaced = " \n".join(encoded[i : i + 7] for i in range(0, len(encoded), 7))
        assert inputs._decode_base64(part, spaced, 10_000) == data
    # Padding inside the text: every 8-character slice alone would decode.
    with pytest.raises(MediaError, match="not valid base64"):
        inputs._decode_base64(part, "QQ==QUFBQUFB", 10_000)
    with pytest.raises(MediaError, match="not valid base64"):
        inputs._decode_base64(part, "QUFBQUFB" + "QU@B", 10_000)
    assert inputs.b64encode_cooperatively(data) == base64.b64encode(data).decode()
    # Whitespace of every kind str.split() knows is removed; a text without any is used as it is.
    for space in inputs._ASCII_WHITESPACE:
        assert inputs._decode_base64(part, space.join([encoded[:8], encoded[8:]]), 10_000) == data
    assert inputs._without_whitespace(encoded) is encoded


def test_load_enforces_the_image_cap_and_the_request_budget():
    with pytest.raises(MediaError, match="larger than the limit of 1000 bytes"):
        _load({"type": "image_url", "image_url": {"url": data_uri("image/png", PNG + b"\x00" * 1000)}})
    budget = Budget(LIMITS.max_request_bytes)
    _load({"type": "file", "file": {"file_data": base64.b64encode(b"a" * 1000).decode()}}, budget)
    with pytest.raises(MediaError, match="MAX_REQUEST_MEDIA_BYTES"):
        _load({"type": "file", "file": {"file_data": base64.b64encode(b"b" * 600).decode()}}, budget)


def test_media_parts_and_the_latest_user_turn():
    messages = [
        {"role": "system", "content": "s"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "a"},
                {"type": "image_url", "image_url": {"url": "https://x.test/1.png"}},
            ],
        },
        {"role": "assistant", "content": "ok"},
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "https://x.test/2.png", "detail": "high"}}],
        },
        {"role": "tool", "content": "r", "tool_call_id": "c"},
    ]
    assert [p.where for p in media_parts(messages)] == ["messages[1].content[1]", "messages[3].content[0]"]
    assert latest_user_turn(messages) == 3
    assert ChatMedia([], {(1, 1): ("image", "image-1-1.png")}).placeholder(1, 1) == "[image: image-1-1.png]"


def test_whitespace_leaves_wrapped_base64_slice_by_slice(monkeypatch):
    from app.media import inputs
    from tests.support.hub import turns_given_away

    wrapped = "QUJD QUJD\r\nQU\tJD " * 9
    monkeypatch.setattr(inputs, "CODEC_SLICE", 8)
    assert inputs._without_whitespace(wrapped) == "".join(wrapped.split())
    monkeypatch.undo()
    big = ("QUJD" * 19 + "\n") * (inputs.CODEC_SLICE // 20)  # ~4 slices
    assert turns_given_away(lambda: inputs._without_whitespace(big)) >= 3
