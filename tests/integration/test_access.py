"""Who may reach the grok.com account (docs/security.md): safe without an API key, unchanged with one.

Attacks as the issue found them: a web page the user visits reading or deleting conversations
through the browser (cross-origin reads, a DELETE preflight, a cross-origin WebSocket), a DNS name
rebound to 127.0.0.1, another machine on the LAN, a non-preflight OPTIONS skipping the key.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
import requests
import simple_websocket

from app import create_app
from app.runtime import EXTENSION
from tests.support.gunicorn import GunicornServer, app_env

EVIL = "https://evil.example"
PREFLIGHT_DELETE = {"Origin": EVIL, "Access-Control-Request-Method": "DELETE"}
LAN = {"REMOTE_ADDR": "192.168.1.23"}


@pytest.fixture
def keyless(settings_for):
    return create_app(settings_for()).test_client()


def refused(resp, words: str) -> None:
    assert resp.status_code == 403, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert words in resp.get_json()["detail"]
    assert "Access-Control-Allow-Origin" not in resp.headers


# -- no API key: this machine only ---------------------------------------------------------------------
def test_keyless_defaults_serve_local_clients(keyless, fake):
    assert keyless.get("/v1/models").status_code == 200
    assert keyless.get("/health", base_url="http://127.0.0.1:3000").status_code == 200
    assert keyless.get("/health", base_url="http://[::1]:3000").status_code == 200


def test_keyless_refuses_cross_origin_reads_and_grants_no_cors(keyless):
    refused(keyless.get("/v1/conversations", headers={"Origin": EVIL}), "evil.example")
    refused(keyless.get("/health", headers={"Origin": "null"}), "CORS_ORIGINS")


def test_keyless_refuses_a_delete_preflight(keyless):
    resp = keyless.options("/v1/conversations", headers=PREFLIGHT_DELETE)
    refused(resp, "CORS_ORIGINS")
    assert "Access-Control-Allow-Methods" not in resp.headers


def test_keyless_refuses_a_rebound_host_name(keyless, fake):
    refused(keyless.get("/v1/conversations", base_url="http://attacker.example:3000"), "attacker.example")
    assert fake.requests_log() == []


def test_keyless_refuses_other_machines_whatever_host_they_claim(keyless):
    refused(keyless.get("/v1/models", environ_overrides=LAN), "own machine")
    refused(keyless.get("/v1/models", environ_overrides=LAN, base_url="http://localhost:3000"), "own machine")


def test_keyless_serves_its_own_pages_and_listed_origins(settings_for):
    client = create_app(settings_for(CORS_ORIGINS="https://chat.example")).test_client()
    own = client.get("/health", headers={"Origin": "http://localhost"})
    assert own.status_code == 200 and "Access-Control-Allow-Origin" not in own.headers
    listed = client.get("/v1/models", headers={"Origin": "https://chat.example"})
    assert listed.status_code == 200 and listed.headers["Access-Control-Allow-Origin"] == "https://chat.example"
    preflight = client.options("/v1/conversations", headers={**PREFLIGHT_DELETE, "Origin": "https://chat.example"})
    assert preflight.status_code == 204
    refused(client.get("/v1/models", headers={"Origin": EVIL}), "evil.example")


def test_keyless_websocket_from_another_origin_is_refused_before_the_upgrade(keyless):
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    refused(keyless.get("/v1/chat/ws", headers={**upgrade, "Sec-WebSocket-Version": "13", "Origin": EVIL}), "evil")


def test_a_proxy_on_this_machine_is_believed_only_when_trusted(settings_for):
    forwarded = {"X-Forwarded-For": "203.0.113.7"}
    untrusted = create_app(settings_for()).test_client()
    refused(untrusted.get("/v1/models", headers=forwarded), "own machine")
    trusted = create_app(settings_for(TRUSTED_PROXIES="127.0.0.1")).test_client()
    refused(trusted.get("/v1/models", headers=forwarded), "own machine")
    assert trusted.get("/v1/models", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200


def test_opted_in_network_mode_serves_other_machines_but_not_foreign_pages(settings_for):
    client = create_app(settings_for(HOST="0.0.0.0", ALLOW_UNAUTHENTICATED_NETWORK="true")).test_client()
    assert client.get("/v1/models", environ_overrides=LAN, base_url="http://grok.lan:3000").status_code == 200
    refused(client.get("/v1/models", environ_overrides=LAN, headers={"Origin": EVIL}), "evil.example")


def test_status_and_setup_say_which_mode_and_why(settings_for):
    client = create_app(settings_for()).test_client()
    access = client.get("/status").get_json()["access"]
    assert access["mode"] == "local" and not access["warning"] and "API_KEY" in access["summary"]
    opened = create_app(settings_for(HOST="0.0.0.0", ALLOW_UNAUTHENTICATED_NETWORK="true")).test_client()
    access = opened.get("/status").get_json()["access"]
    assert access["mode"] == "open_network" and access["warning"] and "WITHOUT AN API KEY" in access["summary"]
    assert opened.get("/setup", headers={"Accept": "application/json"}).get_json()["access"] == access
    page = opened.get("/setup", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'id="access-warning"' in page and "WITHOUT AN API KEY" in page


# -- with an API key: as before, plus the WebSocket Origin check -----------------------------------------
def test_keyed_server_serves_any_origin_and_other_machines_with_the_key(settings_for):
    client = create_app(settings_for(API_KEY="key-0123456789")).test_client()
    resp = client.get(
        "/v1/models",
        headers={"Origin": EVIL, "x-api-key": "key-0123456789"},
        environ_overrides=LAN,
        base_url="http://grok.example.com",
    )
    assert resp.status_code == 200 and resp.headers["Access-Control-Allow-Origin"] == "*"


def test_options_that_is_not_a_preflight_needs_the_key(settings_for):
    client = create_app(settings_for(API_KEY="key-0123456789")).test_client()
    assert client.options("/v1/conversations").status_code == 401
    assert client.options("/v1/conversations", headers={"Origin": EVIL}).status_code == 401


def test_a_key_removed_by_a_reload_leaves_the_server_local(settings_for):
    app = create_app(settings_for(API_KEY="key-0123456789"))
    client = app.test_client()
    assert client.get("/v1/models", headers={"x-api-key": "key-0123456789"}, environ_overrides=LAN).status_code == 200
    app.extensions[EXTENSION].apply(settings_for())  # the key is gone, the bind is still 0.0.0.0
    refused(client.get("/v1/models", environ_overrides=LAN), "own machine")


# -- under gunicorn: the bind, the startup line, the WebSocket handshake ------------------------------------
def test_keyless_server_binds_loopback_and_says_why(fake_module):
    with GunicornServer(app_env(fake_module, HOST="")) as srv:
        logs = srv.logs()
    assert f"Listening at: http://127.0.0.1:{srv.port}" in logs
    assert "access=local" in logs and "access: local only: no API_KEY is set" in logs


def test_keyless_network_bind_refuses_to_start_without_the_opt_in(fake_module):
    with pytest.raises(RuntimeError) as info:
        GunicornServer(app_env(fake_module, HOST="0.0.0.0"))
    assert "HOST: 0.0.0.0 would let other machines use the grok.com account without an API key" in str(info.value)


def test_opted_in_network_server_warns_loudly(fake_module):
    with GunicornServer(app_env(fake_module, HOST="0.0.0.0", ALLOW_UNAUTHENTICATED_NETWORK="true")) as srv:
        logs = srv.logs()
    assert "WARNING" in logs and "access: OPEN TO THE NETWORK WITHOUT AN API KEY" in logs


def _handshake(url: str, origin: str | None, key: str | None = None) -> bytes:
    parts = urlsplit(url)
    lines = [
        "GET /v1/chat/ws HTTP/1.1",
        f"Host: {parts.netloc}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    if origin:
        lines.append(f"Origin: {origin}")
    if key:
        lines.append(f"Authorization: Bearer {key}")
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return sock.recv(4096)


def test_websocket_origin_is_checked_against_cors_origins(fake_module):
    key = "ws-origin-key-0123456789"
    env = app_env(fake_module, API_KEY=key, CORS_ORIGINS="https://chat.example")
    with GunicornServer(env) as srv:
        assert _handshake(srv.url, EVIL, key).startswith(b"HTTP/1.1 403 ")
        assert _handshake(srv.url, "https://chat.example", key).startswith(b"HTTP/1.1 101 ")
        assert _handshake(srv.url, None, key).startswith(b"HTTP/1.1 101 ")
        # A real client with a refused Origin never gets a socket.
        with pytest.raises(simple_websocket.ConnectionError):
            simple_websocket.Client.connect(
                srv.url.replace("http", "ws") + "/v1/chat/ws",
                headers={"Authorization": f"Bearer {key}", "Origin": EVIL},
            )


def test_keyless_server_over_real_http_refuses_foreign_pages(fake_module):
    with GunicornServer(app_env(fake_module)) as srv:
        resp = requests.delete(srv.url + "/v1/conversations", headers={"Origin": EVIL}, timeout=10)
        assert resp.status_code == 403 and "Access-Control-Allow-Origin" not in resp.headers
        rebound = requests.get(srv.url + "/v1/models", headers={"Host": f"rebind.example:{srv.port}"}, timeout=10)
        assert rebound.status_code == 403
        assert _handshake(srv.url, EVIL).startswith(b"HTTP/1.1 403 ")
    assert fake_module.requests_log("/rest/app-chat/conversations") == []


# -- /setup's POST: who is local is decided by addresses ------------------------------------------------------
def _setup_post(client, headers=None, **kw):
    # An invalid value: a local client gets 422 (validated), anyone else 403 before validation.
    return client.post("/setup", json={"CHALLENGE_TRAILER": "256"}, headers=headers or {}, **kw).status_code


def test_setup_locality_comes_from_the_peer_and_trusted_proxies(settings_for):
    direct = create_app(settings_for(API_KEY="key-0123456789")).test_client()
    assert _setup_post(direct) == 422
    assert _setup_post(direct, environ_overrides=LAN, base_url="http://localhost:3000") == 403
    assert _setup_post(direct, {"X-Forwarded-For": "127.0.0.1"}) == 403  # a proxy nobody declared
    proxied = create_app(settings_for(API_KEY="key-0123456789", TRUSTED_PROXIES="127.0.0.1")).test_client()
    assert _setup_post(proxied, {"X-Forwarded-For": "127.0.0.1"}) == 422
    assert _setup_post(proxied, {"X-Forwarded-For": "127.0.0.1, 203.0.113.9"}) == 403
    assert _setup_post(proxied) == 403  # the trusted proxy forwarded no client address
    assert _setup_post(proxied, {"X-Forwarded-For": "203.0.113.9", "x-api-key": "key-0123456789"}) == 422
