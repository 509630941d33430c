import pytest
from flask import Flask, request

from app.native.params import id_problem
from app.web.auth import key_is_valid, presented_key


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"Authorization": "Bearer k1"}, "k1"),
        ({"Authorization": "bearer  k1 "}, "k1"),
        ({"x-api-key": "k2"}, "k2"),
        ({"Authorization": "Basic abc"}, None),
        ({"Authorization": "Bearer "}, None),
        ({}, None),
    ],
)
def test_presented_key(headers, expected):
    app = Flask(__name__)
    with app.test_request_context(headers=headers):
        assert presented_key(request) == expected


def test_key_is_valid_against_any_configured_key():
    assert key_is_valid("k2", ("k1", "k2"))
    assert not key_is_valid("k3", ("k1", "k2"))
    assert not key_is_valid("", ("k1",))
    assert not key_is_valid(None, ("k1",))
    assert not key_is_valid("k1x", ("k1",))


@pytest.mark.parametrize("value", ["abc-123", "0b5c6f1e-9f0e-4e5b-8f5e-1c2d3e4f5a6b", "conv_1", "a.b", "x:y"])
def test_plausible_ids(value):
    assert id_problem(value) is None


@pytest.mark.parametrize(
    "value", ["", "..", "a..b", "a/b", "a\\b", "a b", "a\x00", "a\x7f", "a?b", "a#b", "a%2e", "x" * 257]
)
def test_implausible_ids(value):
    assert id_problem(value)


def test_gid_converter_rejects_before_upstream():
    from app import create_app
    from app.settings import Settings

    app = create_app(Settings.from_mapping({"GROK_SSO_COOKIE": "x", "GROK_BASE_URL": "http://127.0.0.1:9"}))
    called = []

    @app.route("/v1/probe/<gid:item_id>")
    def probe(item_id):
        called.append(item_id)
        return {"id": item_id}

    client = app.test_client()
    assert client.get("/v1/probe/ok-1").json == {"id": "ok-1"}
    resp = client.get("/v1/probe/a..b")
    assert resp.status_code == 400 and resp.json["type"] == "invalid_path" and resp.json["error"]["param"] == "item_id"
    assert called == ["ok-1"]
