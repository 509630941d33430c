"""CORS: preflights answered before auth, origins from CORS_ORIGINS, exposed headers, no credentials.

With an API key the default is any origin (a page cannot send the key without the user's help);
without one, see test_access.py."""

from __future__ import annotations

import pytest
import requests

from tests.support.gunicorn import GunicornServer, app_env

PREFLIGHT = {
    "Origin": "https://chat.example",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type, x-reasoning-output, x-stainless-os",
}


@pytest.fixture(scope="module")
def keyed_server(fake_module):
    with GunicornServer(app_env(fake_module, API_KEY="cors-key-0123456789")) as srv:
        yield srv


def test_preflight_over_real_http(keyed_server):
    server = keyed_server
    resp = requests.options(server.url + "/v1/chat", headers=PREFLIGHT, timeout=10)
    assert resp.status_code == 204 and resp.content == b""
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    allowed = {h.strip().lower() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
    assert {
        "authorization",
        "x-api-key",
        "content-type",
        "x-request-id",
        "x-reasoning-output",
        "x-stainless-os",
    } <= allowed
    methods = {m.strip() for m in resp.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "PUT", "DELETE", "OPTIONS"} <= methods
    assert "Access-Control-Allow-Credentials" not in resp.headers


def test_actual_response_exposes_request_id_and_retry_after(keyed_server):
    server = keyed_server
    resp = requests.get(server.url + "/health", headers={"Origin": "https://chat.example"}, timeout=10)
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    exposed = {h.strip().lower() for h in resp.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"x-request-id", "retry-after", "x-response-time", "x-grok-conversation-id", "x-grok-continuity"} <= exposed
    assert "Access-Control-Allow-Credentials" not in resp.headers


@pytest.fixture
def listed(settings_for):
    from app import create_app

    return create_app(
        settings_for(CORS_ORIGINS="https://a.example, https://b.example", API_KEY="cors-key")
    ).test_client()


def test_listed_origin_is_echoed_and_varies(listed):
    resp = listed.options("/v1/chat", headers={**PREFLIGHT, "Origin": "https://b.example"})
    assert resp.status_code == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "https://b.example"
    assert "Origin" in resp.headers["Vary"]


def test_unlisted_origin_gets_no_grant(listed):
    pre = listed.options("/v1/chat", headers={**PREFLIGHT, "Origin": "https://evil.example"})
    assert pre.status_code == 204 and "Access-Control-Allow-Origin" not in pre.headers
    get = listed.get("/health", headers={"Origin": "https://evil.example"})
    assert get.status_code == 200 and "Access-Control-Allow-Origin" not in get.headers
    assert "Origin" in get.headers["Vary"]


def test_errors_carry_cors_headers_so_browsers_can_read_them(listed):
    resp = listed.post("/v1/chat", json={"message": "x"}, headers={"Origin": "https://a.example"})
    assert resp.status_code == 401
    assert resp.headers["Access-Control-Allow-Origin"] == "https://a.example"
    assert "www-authenticate" in resp.headers["Access-Control-Expose-Headers"].lower()


def test_plain_options_without_preflight_headers_is_not_a_preflight(listed):
    # Not a preflight, so not exempt from the key: it answers like any other method.
    assert listed.options("/v1/chat").status_code == 401
    resp = listed.options("/v1/chat", headers={"Authorization": "Bearer cors-key"})
    assert resp.status_code == 200 and "POST" in resp.headers["Allow"]
