"""With no cookies the server starts, says what is missing, serves /health, and every
Grok-backed route answers 503 not_configured pointing to /setup."""

import json
import urllib.error
import urllib.request

import pytest

from tests.support.gunicorn import GunicornServer


@pytest.fixture(scope="module")
def bare_server():
    with GunicornServer({}) as srv:
        yield srv


def _call(url, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def test_starts_and_logs_what_is_missing(bare_server):
    logs = bare_server.logs()
    assert "GROK_SSO_COOKIE is not set" in logs
    assert "/setup" in logs
    # Nothing pins the statsig values: they will be derived from grok.com's page, with no fallback.
    assert "statsig=auto (derived from grok.com's page; fallback: none)" in logs


def test_health_is_served(bare_server):
    status, _, body = _call(bare_server.url + "/health")
    assert status == 200 and json.loads(body) == {"status": "ok", "service": "grok-web-api"}


def test_grok_backed_routes_answer_503_not_configured(bare_server):
    status, headers, body = _call(bare_server.url + "/v1/chat", "POST", {"message": "hi"})
    assert status == 503
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["type"] == "not_configured"
    assert "GROK_SSO_COOKIE" in problem["detail"] and "/setup" in problem["detail"]
    assert problem["missing"] == ["GROK_SSO_COOKIE"]


def test_every_grok_backed_route_is_gated(flask_app_unconfigured):
    """Every /v1 and /raw rule that calls grok.com answers 503 before validating input."""
    client = flask_app_unconfigured.test_client()
    checked = 0
    for rule in flask_app_unconfigured.url_map.iter_rules():
        if not rule.rule.startswith(("/v1/", "/raw/")) or rule.websocket:  # plain HTTP there is a 426
            continue
        view = flask_app_unconfigured.view_functions[rule.endpoint]
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<gid:{arg}>", "x1").replace(f"<path:{arg}>", "x1").replace(f"<{arg}>", "x1")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            resp = client.open(path, method=method, json={})
            if getattr(view, "uses_upstream", True):
                assert resp.status_code == 503, (method, path, resp.json)
                if path.startswith("/v1/messages"):  # the Anthropic API answers in its own error shape
                    assert resp.json["error"]["type"] == "api_error"
                    assert "GROK_SSO_COOKIE" in resp.json["error"]["message"]
                else:
                    assert resp.json["type"] == "not_configured"
            else:
                assert resp.status_code != 503, (method, path)
            checked += 1
    assert checked >= 1


@pytest.fixture
def flask_app_unconfigured():
    from app import create_app
    from app.settings import Settings

    return create_app(Settings.from_mapping({}))
