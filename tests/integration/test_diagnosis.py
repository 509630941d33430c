"""Every upstream failure class, produced by the fake grok.com, reaches the client's problem
detail and /status (last failure, counters) with what the operator should do."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.support.gunicorn import app_env, free_port

USAGE_LIMIT = {"error": {"code": 8, "message": "You've reached your usage limit. Please try again later."}}


def call(url: str, method: str = "GET", body: dict | None = None) -> tuple[int, dict, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", "Connection": "close"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            if "json" not in resp.headers.get("Content-Type", "") or "ndjson" in resp.headers["Content-Type"]:
                return resp.status, dict(resp.headers), raw
            return resp.status, dict(resp.headers), json.loads(raw or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def chat(server, message: str):
    return call(server.url + "/v1/chat", "POST", {"message": message})


# (how to provoke it, problem status, problem type, failure class, words the detail must contain)
CASES = {
    "expired": ("#scenario:expired", 503, "auth_expired", "auth_expired", ["GROK_SSO_COOKIE", "/setup"]),
    "anti_bot": ("#scenario:anti_bot", 403, "anti_bot", "anti_bot", ["snippet", "/setup"]),
    "stale_build": (
        "config:stale_build",
        403,
        "anti_bot",
        "stale_challenge",
        ["new frontend build", "snippet", "/setup"],
    ),
    "cloudflare": ("#scenario:cloudflare", 403, "anti_bot", "cloudflare_challenge", ["Cloudflare", "cf_clearance"]),
    "blocked": ("#scenario:blocked", 403, "account_blocked", "account_blocked", ["blocked"]),
    "outdated": ("#scenario:outdated", 502, "upstream_error", "payload_outdated", ["update grok-web-api"]),
    "usage_limit": ("enqueue:usage_limit", 429, "rate_limited", "usage_limit", ["usage limit", "another model"]),
    "rate_limited": ("#scenario:rate_limited?retry_after=12", 429, "rate_limited", "rate_limited", ["retry"]),
    "model_not_found": ("#scenario:model_not_found", 404, "not_found", "model_unavailable", ["model"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_failure_class_reaches_problem_and_status(server, name):
    fake = server.fake
    how, status, type_, failure_class, words = CASES[name]
    message = "hello"
    if how == "config:stale_build":
        fake.configure(stale_build=True)
    elif how == "enqueue:usage_limit":
        fake.enqueue("/rest/app-chat/conversations/new", status=429, body=USAGE_LIMIT)
    else:
        message = f"hello {how}"
    try:
        code, headers, problem = chat(server, message)
    finally:
        fake.configure(stale_build=False)
        fake.clear_queue()
    assert code == status, problem
    assert headers["Content-Type"] == "application/problem+json"
    assert problem["type"] == type_ and problem["failure_class"] == failure_class
    for word in words:
        assert word in problem["detail"], (word, problem["detail"])
    if name == "rate_limited":
        assert headers["Retry-After"] == "12" and problem["retry_after_seconds"] == 12
    _, _, status_body = call(server.url + "/status")
    last = status_body["last_failure"]
    # With GROK_CHAT_LANE=auto, "update your client" from REST is retried on the WebSocket,
    # whose refusal (the same, here) is then the last failure.
    assert last["failure_class"] == failure_class and last["method"] == ("WS" if name == "outdated" else "POST")
    assert last["advice"] and last["advice"] in problem["detail"]
    assert status_body["failures_by_class"].get(failure_class, 0) >= 1
    text = json.dumps(status_body) + json.dumps(problem)
    assert fake.sso not in text and fake.header_hex not in text and fake.suffix not in text


def test_conditions_follow_the_evidence(server):
    """A stale challenge marks anti_bot; the next successful POST clears it; expiry marks the session."""
    fake = server.fake
    fake.configure(stale_build=True)
    try:
        chat(server, "hello")
    finally:
        fake.configure(stale_build=False)
    _, _, body = call(server.url + "/status")
    assert body["conditions"]["anti_bot"] == "stale_challenge"
    code, _, _ = call(server.url + "/v1/chat", "POST", {"message": "hello"})
    assert code == 200
    _, _, body = call(server.url + "/status")
    assert body["conditions"]["anti_bot"] == "ok" and body["conditions"]["session"] == "ok"
    chat(server, "hello #scenario:expired")
    _, _, body = call(server.url + "/status")
    assert body["session"] == "expired" and body["session_valid"] is False
    assert call(server.url + "/v1/chat", "POST", {"message": "hello"})[0] == 200
    _, _, body = call(server.url + "/status")
    assert body["session"] == "valid" and body["session_valid"] is True


def test_connection_refused_is_network(fake, start_server):
    closed = f"http://127.0.0.1:{free_port()}"
    srv = start_server(app_env(fake, GROK_BASE_URL=closed))
    code, headers, problem = chat(srv, "hello")
    assert code == 503 and problem["type"] == "upstream_unavailable"
    assert problem["failure_class"] == "network" and "network" in problem["detail"]
    _, _, body = call(srv.url + "/status")
    assert body["last_failure"]["failure_class"] == "network"
    assert body["conditions"]["network"] == "network"
    code, _, session = call(srv.url + "/health/session")
    assert code == 502 and session["session"] == "unknown" and session["failure_class"] == "network"
    assert session["message"] and "advice" in session


def test_in_band_usage_limit_is_recorded(grok_client):
    """An error inside a 200 stream (usage limit) is a failure too, for /status and metrics."""
    with grok_client.new_conversation({"message": "hi #scenario:usage_limit", "temporary": True}) as stream:
        events = list(stream.events())
    assert any(type(e).__name__ == "UpstreamError" for e in events)
    assert grok_client.state.last_failure.failure_class == "usage_limit"
    assert grok_client.state.failures_by_class == {"usage_limit": 1}
