"""One upstream-failure model: the same grok.com failure gets the same status on every route,
whether grok.com reported it as an HTTP status or as an error inside its answer stream (before
any answer). Every failure class x both forms x every route family that reaches grok.com's chat.
"""

from __future__ import annotations

import json

import pytest
import simple_websocket

from tests.fakegrok.scenarios import (
    ANTI_BOT,
    BAD_CREDENTIALS,
    BLOCKED,
    CLOUDFLARE_HTML,
    INVALID_REQUEST,
    MODEL_NOT_FOUND,
    OUT_OF_DATE,
    TOO_LONG,
    TOO_MANY,
    USAGE_LIMIT_MSG,
)
from tests.support.gunicorn import live_server_fixtures

NEW = "/rest/app-chat/conversations/new"
# The failures are produced as grok.com's REST chat answers them; on GROK_CHAT_LANE=auto an
# "update your client" answer would be retried on the WebSocket lane instead (tested there).
LANE = "rest"


@pytest.fixture
def client(settings_for):
    from app import create_app

    return create_app(settings_for(GROK_CHAT_LANE=LANE)).test_client()


def _inner(body: dict) -> dict:
    return body.get("error", body)


# failure: (HTTP form: status, body, headers), in-band error object, then what every route answers:
# (status, problem type, failure class of the HTTP form, failure class of the in-band form)
FAILURES = {
    "auth_expired": ((401, BAD_CREDENTIALS, {}), BAD_CREDENTIALS, (503, "auth_expired", "auth_expired", None)),
    "anti_bot": ((403, ANTI_BOT, {}), _inner(ANTI_BOT), (403, "anti_bot", "anti_bot", None)),
    "stale_challenge": ((403, OUT_OF_DATE, {}), OUT_OF_DATE, (403, "anti_bot", "stale_challenge", None)),
    "cloudflare_challenge": (
        (403, CLOUDFLARE_HTML.decode(), {"Content-Type": "text/html", "cf-mitigated": "challenge"}),
        {"message": CLOUDFLARE_HTML.decode()},
        (403, "anti_bot", "cloudflare_challenge", None),
    ),
    "account_blocked": ((403, BLOCKED, {}), BLOCKED, (403, "account_blocked", "account_blocked", None)),
    "usage_limit": (
        (429, {"error": {"message": USAGE_LIMIT_MSG}}, {}),
        {"message": USAGE_LIMIT_MSG},
        (429, "rate_limited", "usage_limit", None),
    ),
    "rate_limited": ((429, TOO_MANY, {}), _inner(TOO_MANY), (429, "rate_limited", "rate_limited", None)),
    "model_unavailable": (
        (403, MODEL_NOT_FOUND, {}),
        _inner(MODEL_NOT_FOUND),
        (404, "not_found", "model_unavailable", None),
    ),
    "payload_outdated": (
        (400, INVALID_REQUEST, {}),
        INVALID_REQUEST,
        (502, "upstream_error", "payload_outdated", None),
    ),
    "context_too_long": (
        (400, TOO_LONG, {}),
        TOO_LONG,
        (400, "context_length_exceeded", "context_too_long", None),
    ),
    "unclassified": (
        (500, {"code": 13, "message": "Internal error", "details": []}, {}),
        {"code": 13, "message": "model crashed", "details": []},
        (502, "upstream_error", "upstream_error", "stream_error"),
    ),
}
FORMS = ("http", "in-stream")
# /raw shows grok.com's own answers: only what the failure table does not single out keeps
# grok.com's status there (its body is passed through in every case).
RAW_AS_SENT = {"upstream_error", "stream_error", "not_found"}


def expected(failure: str, form: str) -> tuple[int, str, str]:
    status, type_, http_class, inband_class = FAILURES[failure][2]
    return status, type_, (inband_class or http_class) if form == "in-stream" else http_class


def enqueue(fake, failure: str, form: str) -> None:
    (status, body, headers), inband, _ = FAILURES[failure]
    if form == "http":
        fake.enqueue(NEW, status=status, body=body, headers=headers)
        return
    # grok.com's bookkeeping lines come first; the error arrives before any answer.
    conversation = {"conversationId": "c0ffee00-1111-4222-8333-444455556666", "title": "New conversation"}
    response = {"error": inband, "isThinking": False, "isSoftStop": False, "responseId": "r-1"}
    fake.enqueue(NEW, lines=[{"result": {"conversation": conversation}}, {"result": {"response": response}}])


HTTP_ROUTES = {
    "openai": ("/v1/chat/completions", {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}),
    "openai-stream": (
        "/v1/chat/completions",
        {"model": "auto", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    ),
    "images": ("/v1/images/generations", {"prompt": "a lighthouse"}),
    "native": ("/v1/chat", {"message": "hi"}),
    "raw": ("/raw/conversations/new", {"message": "hi"}),
}


@pytest.mark.parametrize("route", HTTP_ROUTES)
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("failure", FAILURES)
def test_a_failure_gets_one_status_on_every_http_route(client, fake, failure, form, route):
    status, type_, failure_class = expected(failure, form)
    enqueue(fake, failure, form)
    path, body = HTTP_ROUTES[route]
    response = client.post(path, json=body)
    if route == "raw":
        if failure_class in RAW_AS_SENT:
            status = FAILURES[failure][0][0] if form == "http" else 200
        assert response.status_code == status, response.get_data(as_text=True)[:300]
        if response.mimetype != "application/problem+json":  # grok.com's JSON body, passed through
            if form == "http":
                assert response.headers["X-Grok-Failure-Class"] == failure_class
            return
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert (problem["type"], problem["failure_class"]) == (type_, failure_class)


module_server, live = live_server_fixtures(HEARTBEAT_SECS="0.5", GROK_CHAT_LANE=LANE)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("failure", FAILURES)
def test_a_failure_gets_one_status_on_the_websocket_chat(live, failure, form):
    status, type_, failure_class = expected(failure, form)
    enqueue(live.fake, failure, form)
    ws = simple_websocket.Client.connect(live.url.replace("http", "ws") + "/v1/chat/ws")
    try:
        ws.send(json.dumps({"type": "chat", "message": "hi"}))
        while True:
            frame = json.loads(ws.receive(timeout=10))
            if frame["type"] in ("error", "done"):
                break
    finally:
        ws.close()
    assert frame["type"] == "error", frame
    problem = frame["problem"]
    assert (problem["status"], problem["type"], problem["failure_class"]) == (status, type_, failure_class)


# The agent APIs answer the same statuses in their own error shapes: OpenAI's codes that Codex
# acts on for /v1/responses, Anthropic's types for /v1/messages (docs/agents.md: errors).
RESPONSES_CODES = {
    "usage_limit": "insufficient_quota",
    "rate_limited": "rate_limit_exceeded",
    "context_too_long": "context_length_exceeded",
}
OPENAI_TYPES = {400: "invalid_request_error", 403: "permission_error", 404: "not_found_error", 429: "rate_limit_error"}
ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}
AGENT_ROUTES = {
    "responses": ("/v1/responses", {"model": "auto", "input": "hi"}),
    "responses-stream": ("/v1/responses", {"model": "auto", "input": "hi", "stream": True}),
    "messages": (
        "/v1/messages",
        {"model": "claude-x", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]},
    ),
    "messages-stream": (
        "/v1/messages?beta=true",
        {"model": "claude-x", "max_tokens": 9, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    ),
}


@pytest.mark.parametrize("route", AGENT_ROUTES)
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("failure", FAILURES)
def test_a_failure_gets_one_status_on_the_agent_apis(client, fake, failure, form, route):
    status, _, failure_class = expected(failure, form)
    enqueue(fake, failure, form)
    path, body = AGENT_ROUTES[route]
    response = client.post(path, json=body)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    error = response.get_json()["error"]
    if route.startswith("responses"):
        assert error["code"] == RESPONSES_CODES.get(failure_class, "server_error")
        assert error["type"] == OPENAI_TYPES.get(status, "api_error")
    else:
        assert response.get_json()["type"] == "error"
        assert error["type"] == ANTHROPIC_TYPES.get(status, "api_error")
        # Anthropic's words for it, on which Claude Code compacts the conversation
        assert error["message"].startswith("prompt is too long") == (failure == "context_too_long")


@pytest.mark.parametrize("route", ["responses-stream", "messages-stream"])
def test_an_upstream_silence_past_the_idle_timeout_still_ends_the_agent_stream(settings_for, fake, route):
    from app import create_app

    app = create_app(settings_for(GROK_CHAT_LANE=LANE, STREAM_IDLE_TIMEOUT_SECS="1", HEARTBEAT_SECS="0.3"))
    path, body = AGENT_ROUTES[route]
    silent = "hi #scenario:idle?gap=5"  # a token, then 5 s of silence
    body = {**body, "input": silent} if "input" in body else {**body, "messages": [{"role": "user", "content": silent}]}
    response = app.test_client().post(path, json=body)
    assert response.status_code == 200
    last = [line for line in response.get_data(as_text=True).splitlines() if line.startswith("data: ")][-1]
    event = json.loads(last[6:])
    if route.startswith("responses"):
        assert event["type"] == "response.failed" and event["response"]["error"]["code"] == "server_error"
    else:
        assert event["type"] == "error" and event["error"]["type"] == "api_error"
