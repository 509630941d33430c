"""Request logs, JSON lines and secret redaction, from a real gunicorn run."""

from __future__ import annotations

import json
import secrets

import pytest
import requests

from tests.fakegrok.harness import FakeGrok
from tests.support.gunicorn import app_env
from tests.support.metrics import wait_for_workers

K1 = "key-one-" + secrets.token_hex(12)
K2 = "key-two-" + secrets.token_hex(12)
CLEARANCE = "cfclear-" + secrets.token_hex(16)


@pytest.fixture(scope="module")
def secret_fake():
    """A fake grok.com whose credentials are long random values nobody else prints."""
    with FakeGrok(
        sso="sso-" + secrets.token_urlsafe(24),
        sso_rw="ssorw-" + secrets.token_urlsafe(24),
        header_hex=secrets.token_hex(49),
        suffix="!sfx-" + secrets.token_urlsafe(16),
    ) as fake:
        yield fake


def chat(server, message, headers=None, path="/v1/chat"):
    headers = {"x-api-key": K1, **(headers or {})}
    return requests.post(server.url + path, json={"message": message, "temporary": True}, headers=headers, timeout=15)


def parse_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            data = json.loads(line)  # every line of a LOG_FORMAT=json run is one JSON object
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}\n{text}")
        assert {"time", "level", "logger", "pid", "message"} <= set(data), line
        parsed.append(data)
    return parsed


def test_no_secret_is_ever_logged_and_every_line_is_json(secret_fake, start_server):
    fake = secret_fake
    # A short graceful timeout: idle keep-alive connections are closed at its deadline.
    server = start_server(
        app_env(
            fake,
            API_KEY=f"{K1},{K2}",
            LOG_FORMAT="json",
            LOG_LEVEL="debug",
            GROK_EXTRA_COOKIES=f"cf_clearance={CLEARANCE}",
            GRACEFUL_TIMEOUT="3",
        ),
        workers=2,
    )
    configured = [fake.sso, fake.sso_rw, fake.header_hex, fake.suffix, K1, K2, CLEARANCE]
    wait_for_workers(server, 2, {"x-api-key": K1})  # so both take requests and see the SIGTERM

    ok = chat(server, "hello #scenario:plain?text=fine", {"X-Request-ID": "trace-abc-123"})
    assert ok.status_code == 200 and ok.headers["X-Request-ID"] == "trace-abc-123"
    for scenario, status in (
        ("anti_bot", 403),
        ("expired", 503),
        ("rate_limited", 429),
        ("server_error", 502),
        ("blocked", 403),
    ):
        assert chat(server, f"x #scenario:{scenario}").status_code == status
    for scenario in ("inband_error", "drop", "malformed"):
        assert chat(server, f"x #scenario:{scenario}", {"X-Request-ID": f"trace-{scenario}"}).status_code == 200
    midway = requests.post(
        server.url + "/v1/chat/completions",
        timeout=15,
        json={"model": "auto", "stream": True, "messages": [{"role": "user", "content": "x #scenario:inband_error"}]},
        headers={"x-api-key": K1, "X-Request-ID": "trace-midway"},
    )
    assert midway.status_code == 200 and '"error"' in midway.text  # failed after the first chunk
    # Secrets sent by clients, in headers, query strings and paths.
    assert chat(server, "x", {"x-api-key": K1 + "-wrong"}).status_code == 401
    assert chat(server, "x", {"x-api-key": "", "Authorization": f"Bearer {fake.sso}"}).status_code == 401
    assert (
        chat(
            server, "x", {"Cookie": f"sso={fake.sso}; sso-rw={fake.sso_rw}", "x-statsig-id": fake.header_hex}
        ).status_code
        == 200
    )
    assert chat(server, "x", path=f"/v1/chat?api_key={K2}&sso={fake.sso}").status_code == 200
    assert requests.get(f"{server.url}/v1/{K2}/{fake.suffix}", headers={"x-api-key": K1}, timeout=10).status_code == 404
    echoed = requests.get(server.url + "/health", headers={"X-Request-ID": K2}, timeout=10)
    assert echoed.headers["X-Request-ID"] == K2  # the client's own value, echoed to it only
    bad_id = requests.get(server.url + "/health", headers={"X-Request-ID": "x" * 129}, timeout=10)
    assert bad_id.headers["X-Request-ID"] != "x" * 129 and len(bad_id.headers["X-Request-ID"]) == 36

    server.stop()  # gunicorn's shutdown lines are part of the run
    text = server.log_path.read_text()
    for secret in configured:
        assert secret not in text
        assert secret[:12] not in text, f"a 12-character prefix of a secret was logged: {secret[:4]}..."

    records = parse_lines(text)
    assert any(r["logger"].startswith("gunicorn") for r in records)
    requests_logged = [r for r in records if r["logger"] == "grok_web_api.request"]
    assert all("?" not in r["path"] for r in requests_logged)
    assert all({"request_id", "method", "path", "route", "status", "duration_ms"} <= set(r) for r in requests_logged)
    [traced] = [r for r in requests_logged if r["request_id"] == "trace-abc-123"]
    assert traced["status"] == 200 and traced["route"] == "/v1/chat" and traced["stream"] is True
    assert traced["upstream_status"] == 200 and traced["outcome"] == "completed"
    assert traced["first_byte_ms"] >= 0 and traced["stream_ms"] >= traced["first_byte_ms"]
    assert traced["bytes"] == len(ok.content)
    assert any(r["path"] == "/v1/[redacted]/[redacted]" for r in requests_logged)
    assert any(r["status"] == 401 and r.get("auth") == "invalid_key" for r in requests_logged)
    anti_bot = [r for r in requests_logged if r.get("upstream_failure") == "anti_bot"]
    assert anti_bot and anti_bot[0]["status"] == 403 and anti_bot[0]["upstream_status"] == 403
    # Log lines written inside a request carry its id, those written while a streamed body is
    # relayed (after the view returned) included.
    warnings = [r for r in records if r["level"] == "WARNING" and r["logger"].startswith("app")]
    assert warnings and all(r.get("request_id") for r in warnings)
    assert any(r["request_id"] == "trace-drop" and r["logger"] == "app.web.streaming" for r in warnings)
    # A failure grok.com reports mid-stream (after the view returned) is on that request's line.
    [midway_line] = [r for r in requests_logged if r["request_id"] == "trace-midway"]
    assert midway_line["stream"] is True and midway_line.get("upstream_failure"), midway_line
    # Streams that ended with an error event are not "completed".
    assert midway_line["outcome"] == "error" and midway_line["stream_error"], midway_line
    for name in ("trace-drop", "trace-inband_error"):
        [failed] = [r for r in requests_logged if r["request_id"] == name]
        assert failed["status"] == 200 and failed["outcome"] == "error" and failed["stream_error"], failed


def test_plain_request_line_and_response_headers(server):
    resp = requests.get(server.url + "/health?token=abc", headers={"X-Request-ID": "plain-trace-1"}, timeout=10)
    assert resp.headers["X-Request-ID"] == "plain-trace-1"
    assert resp.headers["X-Response-Time"].endswith("ms")
    float(resp.headers["X-Response-Time"][:-2])
    fresh = requests.get(server.url + "/health", timeout=10).headers["X-Request-ID"]
    assert len(fresh) == 36 and fresh != "plain-trace-1"
    line = next(line for line in server.logs().splitlines() if "request_id=plain-trace-1" in line)
    assert " grok_web_api.request: request " in line
    assert "method=GET path=/health route=/health status=200 duration_ms=" in line
    assert "token" not in line
