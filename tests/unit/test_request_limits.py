"""The JSON nesting limit of every request body (app/web/request_limits.py)."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import create_app
from app.settings import Settings
from app.web.request_limits import MAX_JSON_DEPTH, json_depth, nests_too_deeply


def nested(depth: int, opener: str = "[", closer: str = "]") -> bytes:
    return (opener * depth + closer * depth).encode()


@pytest.mark.parametrize(
    "text,depth",
    [
        ("1", 0),
        ("[]", 1),
        ("{}", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ("[[], [[]], []]", 3),
        ('["[[[[", "]]]]]]"]', 1),  # brackets inside strings do not nest
        (r'["a\"[[[[", {"k\\": "[["}]', 2),  # nor after escaped quotes and backslashes
    ],
)
def test_depth_of_json_text(text, depth):
    assert json_depth(text.encode()) == depth
    if depth:
        assert json.loads(text) is not None


def _depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


_JSON = st.recursive(
    st.none() | st.integers() | st.text(alphabet='[]{}"\\ab'),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\ab'), inner, max_size=3),
    max_leaves=20,
)


@settings(max_examples=500, derandomize=True, database=None)
@given(value=_JSON, ascii_only=st.booleans())
def test_depth_agrees_with_the_parsed_value(value, ascii_only):
    assert json_depth(json.dumps(value, ensure_ascii=ascii_only).encode()) == _depth(value)


def test_the_limit_is_inclusive():
    assert not nests_too_deeply(nested(MAX_JSON_DEPTH))
    assert nests_too_deeply(nested(MAX_JSON_DEPTH + 1))
    assert nests_too_deeply(b'{"a":' * 100_000 + b"1" + b"}" * 100_000)
    assert nests_too_deeply(b"[" * 100_000)  # unbalanced: the parser would recurse as deep
    # Many brackets side by side are not deep.
    assert not nests_too_deeply(b"[" + b"[]," * 100_000 + b"[]]")


@pytest.fixture
def client():
    # No upstream call happens: every body here is refused before the view runs.
    app = create_app(Settings.from_mapping({"GROK_SSO_COOKIE": "x", "GROK_BASE_URL": "http://127.0.0.1:9"}))
    return app.test_client()


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/chat", "/v1/memory/by-conversation", "/v1/files"])
@pytest.mark.parametrize("body", [nested(100_000), nested(MAX_JSON_DEPTH + 1, '{"a":', "}")])
def test_deep_bodies_are_a_400_problem_on_every_json_route(client, path, body):
    resp = client.post(path, data=body, content_type="application/json")
    assert resp.status_code == 400
    assert resp.mimetype == "application/problem+json"
    assert resp.json["type"] == "invalid_request"
    assert resp.json["max_depth"] == MAX_JSON_DEPTH
    assert "deeper than 128 levels" in resp.json["detail"]


def test_get_json_is_guarded_too(client):
    from flask import request

    app = client.application

    @app.post("/__depth_probe")
    def probe():
        return {"parsed": request.get_json() is not None}

    assert client.post("/__depth_probe", data=nested(5_000), content_type="application/json").status_code == 400
    assert client.post("/__depth_probe", data=nested(3), content_type="application/json").json == {"parsed": True}
    # Not JSON: not checked (and not parsed as JSON by anyone).
    resp = client.post("/__depth_probe", data=nested(5_000), content_type="text/plain")
    assert resp.status_code == 415


def test_the_bracket_count_of_a_big_body_is_exact_and_lets_other_greenlets_run(monkeypatch):
    from app.web import request_limits
    from tests.support.hub import turns_given_away

    image = b'{"url":"' + b"QUJD" * (5 * request_limits.COUNT_SLICE // 4) + b'"}'
    found = []
    assert turns_given_away(lambda: found.append(nests_too_deeply(image))) >= 3
    assert found == [False]
    monkeypatch.setattr(request_limits, "COUNT_SLICE", 3)  # brackets on every slice boundary
    body = b"[{" * 40 + b"x" + b"}]" * 40
    assert request_limits._opening_brackets(body) == 80 and not nests_too_deeply(body)
    assert nests_too_deeply(b"[" * 200 + b"]" * 200)
