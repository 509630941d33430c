"""/v1/chat: upstream requests produced, streamed answers, validation, error mapping, relay behaviour.

In-process tests (Flask test client) cover what is sent upstream and what comes back;
the relay's timing behaviour (incremental delivery, idle timeout, failures after the
first byte, client disconnects) is tested through a real gunicorn gevent worker.
"""

from __future__ import annotations

import json
import time
from itertools import pairwise

import pytest

from tests.fakegrok.scenarios import ANTI_BOT, BAD_CREDENTIALS, TOO_MANY
from tests.support.gunicorn import app_env, live_server_fixtures
from tests.support.streams import LineStream, json_lines

APP = "/rest/app-chat"
NDJSON = "application/x-ndjson"


def ndjson(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == NDJSON
    return [json.loads(line) for line in response.get_data().split(b"\n") if line.strip()]


def upstream(fake, path: str) -> list[dict]:
    return fake.requests_log(path)


def new_conversation(client, message="hello") -> tuple[str, str]:
    """Start a conversation; (conversation id, assistant response id)."""
    lines = ndjson(client.post("/v1/chat", json={"message": message}))
    conversation_id = lines[0]["result"]["conversation"]["conversationId"]
    model = next(
        line["result"]["response"]["modelResponse"]
        for line in lines
        if "modelResponse" in line.get("result", {}).get("response", {})
    )
    return conversation_id, model["responseId"]


def answer_text(lines: list[dict]) -> str:
    text = []
    for line in lines:
        payload = line.get("result", {})
        payload = payload.get("response", payload)
        if isinstance(payload.get("token"), str) and not payload.get("isThinking"):
            text.append(payload["token"])
    return "".join(text)


# --------------------------------------------------------------------------- what goes upstream
def test_new_chat_streams_and_sends_typed_fields_unknown_fields_and_no_nulls(client, fake):
    body = {
        "message": "hi there",
        "modeId": "fast",
        "temporary": True,
        "disableMemory": None,
        "imageGenerationCount": 2,
        "toolOverrides": {"webSearch": False},
        "futureUpstreamField": {"nested": [1, 2]},
    }
    lines = ndjson(client.post("/v1/chat", json=body))
    assert "conversation" in lines[0]["result"]
    assert lines[-1]["result"]["response"] == {
        "token": "",
        "isThinking": False,
        "isSoftStop": True,
        "responseId": lines[-1]["result"]["response"]["responseId"],
    }
    assert "You said: hi there" in answer_text(lines)
    [sent] = upstream(fake, f"{APP}/conversations/new")
    assert sent["method"] == "POST" and sent["statsig"] == "ok" and sent["query"] == {}
    assert sent["body"] == {
        "message": "hi there",
        "modeId": "fast",
        "temporary": True,
        "imageGenerationCount": 2,
        "toolOverrides": {"webSearch": False},
        "futureUpstreamField": {"nested": [1, 2]},
    }


def test_continue_chat_sends_the_same_way_to_the_conversation(client, fake):
    conversation_id, response_id = new_conversation(client)
    body = {"message": "and then?", "parentResponseId": response_id, "modeId": None, "laterField": "x"}
    lines = ndjson(client.post(f"/v1/chat/{conversation_id}/message", json=body))
    assert "userResponse" in lines[0]["result"]  # continuation framing: no result.response wrapper
    assert "You said: and then?" in answer_text(lines)
    [sent] = upstream(fake, f"{APP}/conversations/{conversation_id}/responses")
    assert sent["method"] == "POST" and sent["statsig"] == "ok"
    assert sent["body"] == {"message": "and then?", "parentResponseId": response_id, "laterField": "x"}


def test_quick_answer_sends_only_the_query(client, fake):
    lines = ndjson(client.post("/v1/chat/quick", json={"query": "capital of France?"}))
    assert answer_text(lines).startswith("Quick answer: capital of France?")
    [sent] = upstream(fake, f"{APP}/quick-answer")
    assert sent["method"] == "POST" and sent["body"] == {"query": "capital of France?"}


def test_quick_answer_drops_other_fields_with_a_log_line(client, fake, caplog):
    caplog.set_level("INFO")
    ndjson(client.post("/v1/chat/quick", json={"query": "x", "modelName": "grok-4"}))
    [sent] = upstream(fake, f"{APP}/quick-answer")
    assert sent["body"] == {"query": "x"}
    assert "ignoring unknown body fields ['modelName']" in caplog.text


def test_reconnect_replays_the_stored_answer(client, fake):
    _, response_id = new_conversation(client, "remember me")
    lines = ndjson(client.get(f"/v1/chat/{response_id}/reconnect"))
    assert "You said: remember me" in answer_text(lines)
    [sent] = upstream(fake, f"{APP}/conversations/reconnect-response-v2/")
    assert sent["method"] == "GET" and sent["path"].endswith(f"/{response_id}") and sent["body"] is None


def test_stop_answers_stopped_like_the_reference(client, fake):
    conversation_id, _ = new_conversation(client)
    response = client.post(f"/v1/chat/{conversation_id}/stop")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json() == {"status": "stopped"}
    [sent] = upstream(fake, f"{APP}/conversations/{conversation_id}/stop-inflight-responses")
    assert sent["method"] == "POST" and sent["body"] is None  # the JSON literal null, as grok.com's UI sends


def test_cancel_answers_cancelled_like_the_reference(client, fake):
    # grok.com answers an empty 204; clients of the reference server read {"status": "cancelled"}.
    _, response_id = new_conversation(client)
    response = client.post(f"/v1/chat/{response_id}/cancel")
    assert response.status_code == 200 and response.get_json() == {"status": "cancelled"}
    [sent] = upstream(fake, f"{APP}/conversations/inflight-response/{response_id}")
    assert sent["method"] == "DELETE" and sent["body"] is None


@pytest.mark.parametrize("route", ["/v1/chat/{id}/stop", "/v1/chat/{id}/cancel"])
def test_ids_are_percent_encoded_upstream(client, fake, route):
    response = client.post(route.replace("{id}", "odd:id+x"))
    assert response.status_code == 404  # the fake knows no such id
    [sent] = fake.requests_log(APP)
    assert "/odd%3Aid%2Bx" in sent["path"]


# --------------------------------------------------------------------------- validation
BAD_BODIES = [
    ("/v1/chat", {"modeId": "fast"}, "message"),
    ("/v1/chat", {"message": 5}, "message"),
    ("/v1/chat", {"message": "x", "temporary": "yes"}, "temporary"),
    ("/v1/chat", {"message": "x", "disableSearch": 1}, "disableSearch"),
    ("/v1/chat", {"message": "x", "imageGenerationCount": True}, "imageGenerationCount"),
    ("/v1/chat", {"message": "x", "imageGenerationCount": -1}, "imageGenerationCount"),
    ("/v1/chat", {"message": "x", "imageGenerationCount": 1.5}, "imageGenerationCount"),
    ("/v1/chat", {"message": "x", "fileAttachments": [1]}, "fileAttachments[0]"),
    ("/v1/chat", {"message": "x", "toolOverrides": ["webSearch"]}, "toolOverrides"),
    ("/v1/chat", {"message": "x", "selectedFileTextContentStartPosition": "3"}, "selectedFileTextContentStartPosition"),
    ("/v1/chat/{cid}/message", {"parentResponseId": "p"}, "message"),
    ("/v1/chat/{cid}/message", {"message": "x", "parentResponseId": 7}, "parentResponseId"),
    ("/v1/chat/{cid}/message", {"message": "x", "enableNsfw": "true"}, "enableNsfw"),
    ("/v1/chat/quick", {}, "query"),
    ("/v1/chat/quick", {"query": ["x"]}, "query"),
]


@pytest.mark.parametrize("route,body,field", BAD_BODIES)
def test_invalid_bodies_are_422_naming_the_field_and_never_sent(client, fake, route, body, field):
    response = client.post(route.replace("{cid}", "c0ffee00-1111-4222-8333-444455556666"), json=body)
    assert response.status_code == 422, response.get_data(as_text=True)
    problem = response.get_json()
    assert response.mimetype == "application/problem+json"
    assert problem["type"] == "invalid_request" and field in problem["errors"]
    assert problem["error"]["param"] == field
    assert fake.requests_log(APP) == []


@pytest.mark.parametrize("route", ["/v1/chat", "/v1/chat/quick", "/v1/chat/abc/message"])
def test_malformed_json_non_json_and_non_object_bodies(client, fake, route):
    broken = client.post(route, data=b'{"message": ', content_type="application/json")
    assert broken.status_code == 400 and broken.get_json()["type"] == "invalid_request"
    plain = client.post(route, data=b"message=hi", content_type="text/plain")
    assert plain.status_code == 415 and plain.get_json()["type"] == "unsupported_media_type"
    array = client.post(route, json=["hi"])
    assert array.status_code == 422
    assert fake.requests_log(APP) == []


IMPLAUSIBLE_IDS = ["..", "a..b", "a%5Cb", "a%20b", "a%00b", "a%25b", "x" * 300]


@pytest.mark.parametrize(
    "method,route",
    [
        ("POST", "/v1/chat/{id}/message"),
        ("GET", "/v1/chat/{id}/reconnect"),
        ("POST", "/v1/chat/{id}/stop"),
        ("POST", "/v1/chat/{id}/cancel"),
    ],
)
@pytest.mark.parametrize("bad_id", IMPLAUSIBLE_IDS)
def test_implausible_ids_are_400_before_any_upstream_call(client, fake, method, route, bad_id):
    response = client.open(
        route.replace("{id}", bad_id), method=method, json={"message": "x"} if method == "POST" else None
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    problem = response.get_json()
    # A dot segment is refused by the app-wide raw-URI check, which names no parameter.
    assert problem["type"] == "invalid_path" and problem["error"]["param"] in ("conversation_id", "response_id", None)
    assert fake.requests_log(APP) == []


# --------------------------------------------------------------------------- upstream error mapping
CID = "c0ffee00-1111-4222-8333-444455556666"
RID = "bbbb1111-2222-4333-8444-555566667777"
ROUTES = {
    "new": ("POST", "/v1/chat", {"message": "x"}, f"{APP}/conversations/new"),
    "quick": ("POST", "/v1/chat/quick", {"query": "x"}, f"{APP}/quick-answer"),
    "message": ("POST", f"/v1/chat/{CID}/message", {"message": "x"}, f"{APP}/conversations/{CID}/responses"),
    "reconnect": ("GET", f"/v1/chat/{RID}/reconnect", None, f"{APP}/conversations/reconnect-response-v2/{RID}"),
    "stop": ("POST", f"/v1/chat/{CID}/stop", None, f"{APP}/conversations/{CID}/stop-inflight-responses"),
    "cancel": ("POST", f"/v1/chat/{RID}/cancel", None, f"{APP}/conversations/inflight-response/{RID}"),
}
UPSTREAM_FAILURES = {
    "not_found": (404, {"code": 5, "message": "Conversation not found", "details": []}, {}, 404, "not_found"),
    "rate_limited": (429, TOO_MANY, {"Retry-After": "30"}, 429, "rate_limited"),
    "expired": (401, BAD_CREDENTIALS, {}, 503, "auth_expired"),
    "anti_bot": (403, ANTI_BOT, {}, 403, "anti_bot"),
    "server_error": (500, {"code": 13, "message": "Internal error", "details": []}, {}, 502, "upstream_error"),
}


@pytest.mark.parametrize("failure", UPSTREAM_FAILURES)
@pytest.mark.parametrize("route", ROUTES)
def test_upstream_failures_map_to_problems(client, fake, route, failure):
    method, path, body, upstream_path = ROUTES[route]
    status, upstream_body, headers, expected_status, expected_type = UPSTREAM_FAILURES[failure]
    fake.enqueue(upstream_path, status=status, body=upstream_body, headers=headers)
    response = client.open(path, method=method, json=body)
    assert response.status_code == expected_status
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["type"] == expected_type and problem["upstream_status"] == status
    if failure == "rate_limited":
        assert response.headers["Retry-After"] == "30" and problem["retry_after_seconds"] == 30
    [sent] = fake.requests_log(APP)
    assert sent["path"] == upstream_path and sent["method"] == ("DELETE" if route == "cancel" else method)
    assert sent["canned"] is True


def test_not_configured_is_503_without_upstream_call(fake):
    from app import create_app
    from app.settings import Settings

    env = {k: v for k, v in app_env(fake).items() if not k.startswith("GROK_SSO")}
    response = create_app(Settings.from_mapping(env)).test_client().post("/v1/chat", json={"message": "x"})
    assert response.status_code == 503 and response.get_json()["type"] == "not_configured"
    assert fake.requests_log(APP) == []


# --------------------------------------------------------------------------- the relay under gunicorn
# Short heartbeat and idle timeout, so the relay's timing behaviour shows in seconds.
module_server, live = live_server_fixtures(HEARTBEAT_SECS="0.2", STREAM_IDLE_TIMEOUT_SECS="1.5")


def chat(server, message: str) -> LineStream:
    return LineStream(server.url, "POST", "/v1/chat", {"message": message})


def test_lines_are_relayed_as_they_arrive(live):
    stream = chat(live, "#scenario:slow?n=6&delay=0.3")
    assert stream.status == 200 and stream.headers["Content-Type"] == NDJSON
    assert stream.headers["Cache-Control"] == "no-cache" and stream.headers["X-Accel-Buffering"] == "no"
    arrivals = [(t, json.loads(line)) for t, line in stream.lines() if line.strip()]
    tokens = [t for t, line in arrivals if line.get("result", {}).get("response", {}).get("token", "").startswith("s")]
    assert len(tokens) == 6
    # The first token was readable long before the last one was generated (1.5 s of upstream delays).
    assert tokens[-1] - tokens[0] > 1.0
    assert all(later > earlier for earlier, later in pairwise(tokens))


def test_heartbeats_are_empty_lines_between_lines(live):
    stream = chat(live, "#scenario:first_token_delay?delay=1")
    lines = [line for _, line in stream.lines()]
    assert lines.count(b"") >= 2  # about one per 0.2 s of the 1 s silence
    assert all(json.loads(line) for line in lines if line)


def test_the_idle_timeout_is_not_a_total_one(live):
    # 2.5 s in total, never more than 0.5 s of silence: longer than the 1.5 s idle timeout, and fine.
    lines = json_lines(chat(live, "#scenario:slow?n=6&delay=0.5"))
    assert not any("error" in line for line in lines)
    assert lines[-1]["result"]["response"]["isSoftStop"] is True


def test_an_idle_upstream_ends_the_stream_with_an_error_line(live):
    started = time.monotonic()
    lines = json_lines(chat(live, "#scenario:idle?gap=600"))
    assert time.monotonic() - started < 10
    assert "Before the gap." in answer_text(lines)
    error = lines[-1]["error"]
    assert error["type"] == "gateway_timeout" and error["status"] == 504 and error["failure_class"] == "timeout"
    assert "error" not in error  # only the problem members, not the OpenAI copy
    live.fake.wait_stats(lambda s: s["streams_aborted"] == 1)  # and the upstream transfer was dropped


@pytest.mark.parametrize("rst", ["0", "1"])
def test_a_dropped_upstream_ends_the_stream_with_an_error_line(live, rst):
    lines = json_lines(chat(live, f"#scenario:drop?rst={rst}"))
    assert "Dropping the connection" in answer_text(lines)
    assert lines[-1]["error"]["type"] == "upstream_error" and lines[-1]["error"]["status"] == 502


def test_upstream_inband_errors_are_relayed_as_sent(live):
    lines = json_lines(chat(live, "#scenario:inband_error?code=8&where=top"))
    assert lines[-1]["error"]["code"] == 8  # grok.com's own error line, untouched
    assert "Partial answer then" in answer_text(lines)


@pytest.mark.parametrize("scenario", ["idle?gap=600", "slow?n=200&delay=0.1"])
def test_a_client_disconnect_aborts_the_upstream_within_a_second(live, scenario):
    stream = chat(live, f"#scenario:{scenario}")
    next(line for _, line in stream.lines() if b"token" in line)
    live.fake.wait_stats(lambda s: s["streams_started"] == 1)
    stream.disconnect()
    gone = time.time()
    stats = live.fake.wait_stats(lambda s: s["streams_aborted"] == 1, timeout=1.0)
    assert stats["aborts"][0]["time"] - gone < 1.0
    assert stats["streams_completed"] == 0
