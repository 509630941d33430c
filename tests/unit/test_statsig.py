import base64
import hashlib
import struct
import uuid

import pytest
import responses

from app.grok import statsig

HEADER = bytes(range(49))
PATH = "/rest/app-chat/conversations/new"
VECTOR_KEY0 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMJCNBAFM8GBqpmoLPEfSOYG7lXMYAw"
VECTOR_KEY5A = "WltYWV5fXF1SU1BRVldUVUpLSElOT0xNQkNAQUZHREV6e3h5fn98fXJzcHF2d3R1asrXXlsWqjow/DBRZh2IY9vhzylCWQ"


def test_reference_vector_xor_0():
    assert statsig.build_token(HEADER, "!abc", 3, "POST", PATH, 1700000000, 0) == VECTOR_KEY0


def test_reference_vector_xor_5a():
    assert statsig.build_token(HEADER, "!abc", 3, "POST", PATH, 1700000000, 0x5A) == VECTOR_KEY5A


def test_raw_layout_matches_section_3_3():
    raw = base64.b64decode(VECTOR_KEY0 + "==")
    assert raw[:49] == HEADER
    assert raw[49:53] == bytes.fromhex("908d0401") == struct.pack("<I", 17075600)
    expected = hashlib.sha256(b"POST!/rest/app-chat/conversations/new!17075600!abc").digest()[:16]
    assert raw[53:69] == expected == bytes.fromhex("4cf0606aa66a0b3c47d23981bb957318")
    assert raw[69] == 3


def test_counter_clamped_at_zero_before_epoch():
    token = statsig.build_token(HEADER, "!x", 3, "GET", "/p", statsig.EPOCH - 100, 0)
    assert base64.b64decode(token + "==")[49:53] == b"\0\0\0\0"


def test_method_is_uppercased_in_hash():
    assert statsig.build_token(HEADER, "!x", 3, "post", PATH, 1700000000, 0) == statsig.build_token(
        HEADER, "!x", 3, "POST", PATH, 1700000000, 0
    )


def test_signer_tokens_are_94_chars_unpadded_and_fresh():
    signer = statsig.ChallengeSigner(HEADER, "!abc", 3)
    sigs = [signer.sign("POST", PATH) for _ in range(32)]
    tokens = {s.statsig_id for s in sigs}
    for s in sigs:
        assert len(s.statsig_id) == 94 and "=" not in s.statsig_id
        raw = base64.b64decode(s.statsig_id + "==")
        assert len(raw) == 70
        key = raw[0] ^ HEADER[0]
        assert bytes(b ^ key for b in raw)[:49] == HEADER
        uuid.UUID(s.request_id)
    assert len(tokens) > 1, "the random XOR key must vary"
    assert len({s.request_id for s in sigs}) == 32


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("00", "49 bytes"),
        ("0" * 97, "odd number"),
        ("zz" * 49, "hex digits"),
        ("é" * 98, "hex digits"),
    ],
)
def test_parse_header_hex_rejects(value, fragment):
    with pytest.raises(ValueError, match=fragment):
        statsig.parse_header_hex(value)


def test_parse_header_hex_accepts_upper_and_lower_case():
    assert statsig.parse_header_hex(HEADER.hex().upper()) == HEADER


# The page's error fallback (docs/statsig.md: nothing left), 72 bytes, no padding.
X1_FALLBACK = "eDE6VHlwZUVycm9yOiBDYW5ub3QgcmVhZCBwcm9wZXJ0aWVzIG9mIHVuZGVmaW5lZCAocmVhZGluZyAnY2hpbGROb2Rlcycp"


def test_no_signer_sends_the_pages_error_value_with_fresh_id():
    a, b = statsig.NoSigner().sign("GET", "/x"), statsig.NoSigner().sign("POST", "/y")
    assert a.statsig_id == b.statsig_id == X1_FALLBACK and a.request_id != b.request_id
    assert len(base64.b64decode(a.statsig_id)) == 72


PROVIDER = "http://signer.test/sign"


@responses.activate
def test_provider_posts_path_and_method_and_uses_answer():
    responses.post(
        PROVIDER,
        json={"x-statsig-id": "abc", "x-xai-request-id": "rid-1"},
        match=[responses.matchers.json_params_matcher({"path": PATH, "method": "POST"})],
    )
    sig = statsig.ProviderSigner(PROVIDER).sign("post", PATH)
    assert sig == statsig.Signature("abc", "rid-1")


@responses.activate
def test_provider_missing_request_id_gets_uuid():
    responses.post(PROVIDER, json={"x-statsig-id": "abc"})
    sig = statsig.ProviderSigner(PROVIDER).sign("GET", "/x")
    assert sig.statsig_id == "abc"
    uuid.UUID(sig.request_id)


@responses.activate
@pytest.mark.parametrize(
    "kwargs",
    [
        {"status": 500, "json": {"x-statsig-id": "abc"}},
        {"status": 200, "body": "not json"},
        {"status": 200, "json": ["list"]},
        {"status": 200, "json": {"x-statsig-id": 5}},
        {"status": 200, "json": {"x-statsig-id": "bad\nvalue"}},
    ],
)
def test_provider_failures_fall_back_to_empty_token_with_warning(kwargs, caplog):
    responses.post(PROVIDER, **kwargs)
    with caplog.at_level("WARNING"):
        sig = statsig.ProviderSigner(PROVIDER).sign("GET", "/x")
    assert sig.statsig_id == ""
    uuid.UUID(sig.request_id)
    assert "token provider" in caplog.text


@responses.activate
def test_provider_timeout_falls_back(caplog):
    import requests

    responses.post(PROVIDER, body=requests.exceptions.ConnectTimeout("slow"))
    with caplog.at_level("WARNING"):
        sig = statsig.ProviderSigner(PROVIDER).sign("GET", "/x")
    assert sig.statsig_id == "" and "token provider failed" in caplog.text


def test_provider_uses_5s_timeout():
    calls = {}

    class Session:
        def post(self, url, json, timeout):
            calls["timeout"] = timeout
            raise __import__("requests").exceptions.Timeout()

    statsig.ProviderSigner(PROVIDER, session=Session()).sign("GET", "/x")
    assert calls["timeout"] == 5.0
