"""GROK_PROXY_URL and CONNECT_TIMEOUT_SECS take effect, and a reload applies them.

grok.com is named by an address nothing listens on (GROK_BASE_URL=http://127.0.0.1:<dead>);
only the proxy knows that this address is the fake grok.com. So every upstream request that
succeeds went through the proxy, and the proxy's log shows the tunnels it carried.
"""

from __future__ import annotations

import base64
import json

import pytest

from app import create_app
from app.ops import envfile
from app.settings import TABLE, Settings
from tests.support.gunicorn import app_env, free_port
from tests.support.proxies import ConnectProxy, SilentProxy, Socks5Proxy


@pytest.fixture
def dead(fake):
    """An upstream address nothing listens on, which the fake grok.com believes is its own."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    fake.configure(base_url=base)
    return f"127.0.0.1:{port}", base


def settings(fake, base: str, **overrides) -> dict[str, str]:
    return app_env(fake, GROK_BASE_URL=base, GROK_ASSETS_URL=base + "/assets", **overrides)


def chat(stream: bool) -> dict:
    return {"model": "auto", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}


# One request per way the app reaches grok.com: chat streamed and not, a native NDJSON stream, a
# native JSON route, raw, the session check, and images with their asset download.
REQUESTS = [
    ("POST", "/v1/chat/completions", chat(True)),
    ("POST", "/v1/chat/completions", chat(False)),
    ("POST", "/v1/chat", {"message": "hi"}),
    ("GET", "/v1/conversations", None),
    ("GET", "/raw/conversations", None),
    ("GET", "/health/session", None),
    ("POST", "/v1/images/generations", {"prompt": "two foxes", "response_format": "b64_json"}),
]


def send_all(client) -> list[tuple[str, int, bytes]]:
    return [
        (path, (r := client.open(path, method=method, json=body)).status_code, r.get_data())
        for method, path, body in REQUESTS
    ]


@pytest.mark.parametrize("proxy_class", [ConnectProxy, Socks5Proxy], ids=["http", "socks5h"])
def test_every_upstream_request_goes_through_the_proxy(fake, dead, proxy_class):
    target, base = dead
    with proxy_class({target: fake.port}) as proxy:
        client = create_app(Settings.from_mapping(settings(fake, base, GROK_PROXY_URL=proxy.url))).test_client()
        for path, status, body in send_all(client):
            assert status == 200, (path, body[:300])
        images = json.loads(body)["data"]
        assert base64.b64decode(images[0]["b64_json"])[:2] == b"\xff\xd8"  # the asset came through too
        assert proxy.tunnels and set(proxy.tunnels) == {target} and not proxy.refused
    assert len(fake.requests_log()) >= len(REQUESTS)


def test_without_the_proxy_the_same_address_is_unreachable(fake, dead):
    _, base = dead
    client = create_app(Settings.from_mapping(settings(fake, base))).test_client()
    response = client.post("/v1/chat/completions", json=chat(False))
    assert response.status_code == 503 and response.get_json()["failure_class"] == "network"


def test_the_connect_timeout_bounds_the_proxy_handshake(fake, dead):
    _, base = dead
    with SilentProxy() as proxy:
        env = settings(fake, base, GROK_PROXY_URL=proxy.url, CONNECT_TIMEOUT_SECS="0.3", STREAM_IDLE_TIMEOUT_SECS="20")
        client = create_app(Settings.from_mapping(env)).test_client()
        response = client.post("/v1/chat/completions", json=chat(False))
    problem = response.get_json()
    # libcurl's connect timeout (not the 20 s wait for response headers) ended the attempt.
    assert response.status_code == 504 and "Connection timed out after" in problem["detail"], problem


def test_a_reload_applies_a_new_proxy_to_the_next_request(fake, dead, tmp_path, monkeypatch):
    target, base = dead
    for row in TABLE:  # the reload reads the process environment too
        monkeypatch.delenv(row.env, raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in settings(fake, base).items()))
    app = create_app(Settings.load(environ={}, env_file=env_file))
    client = app.test_client()
    assert client.post("/v1/chat/completions", json=chat(False)).status_code == 503  # no proxy yet
    with ConnectProxy({target: fake.port}) as proxy:
        envfile.update(env_file, {"GROK_PROXY_URL": proxy.url, "CONNECT_TIMEOUT_SECS": "3"})
        envfile.request_reload(env_file, "test")
        response = client.post("/v1/chat/completions", json=chat(False))
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        assert proxy.tunnels == [target]
    transport = app.extensions["grok_web_api"].client.transport
    assert (transport.proxy, transport.connect_timeout) == (proxy.url, 3.0)
