"""The pool's failover on both chat lanes (GROK_CHAT_LANE=rest and ws) and for every API that
starts a chat: a refusal grok.com sends before the answer (HTTP 429 on REST, an `error` event
on the WebSocket) or inside it (the in-band usage-limit error) cools that (account, mode) down
and moves the request to another account before any byte reached the client; when no account
can serve, the client gets 429 with the pool's earliest Retry-After."""

from __future__ import annotations

import json

import pytest

from tests.integration.test_account_pool import (  # noqa: F401 (the module's autouse fixture applies here too)
    APP,
    Pool,
    _fresh_redactor,
)

GATEWAY = "/ws/mgw/"
LANES = ("rest", "ws")
APIS = ("chat_completions", "responses", "messages", "native")


def spent(window: int, limit: str) -> dict:
    """An account with no query left on any mode, refusing over HTTP or in the answer."""
    return {"quota": {"*": {"total": 0, "window": window}}, "limit": limit}


def ask(pool: Pool, api: str, stream: bool = False):
    if api == "native":
        return pool.client.post("/v1/chat", json={"message": "hello"})
    messages = [{"role": "user", "content": "hello"}]
    body = {
        "chat_completions": ("/v1/chat/completions", {"model": "auto", "messages": messages}),
        "responses": ("/v1/responses", {"model": "auto", "input": "hello"}),
        "messages": ("/v1/messages", {"model": "auto", "max_tokens": 256, "messages": messages}),
    }[api]
    return pool.client.post(body[0], json={**body[1], "stream": stream})


def chat_starts(fake) -> list[tuple[str, bool]]:
    """(account, refused for quota) for each chat grok.com was asked to start, on either lane."""
    rest = fake.requests_log(APP + "/conversations/new")
    ws = [e for e in fake.requests_log(GATEWAY) if e.get("ws") is not None]
    return [(e.get("account"), e.get("reject") == "quota") for e in sorted(rest + ws, key=lambda e: e["seq"])]


CASES = [(api, stream) for api in APIS for stream in ((False,) if api == "native" else (False, True))]


@pytest.mark.parametrize("lane", LANES)
@pytest.mark.parametrize("limit", ["http", "inband"])
@pytest.mark.parametrize("api,stream", CASES)
def test_a_refused_chat_moves_to_another_account(fake, tmp_path, lane, limit, api, stream):
    pool = Pool(fake, tmp_path, {"work": spent(900, limit), "home": {}}, GROK_CHAT_LANE=lane)
    for _ in range(40):  # until the (random) choice fell on work once
        response = ask(pool, api, stream)
        text = response.get_data(as_text=True)
        assert response.status_code == 200, text
        assert "usage limit" not in text.lower() and "too many" not in text.lower(), text
        if "work" in {name for name, _ in chat_starts(fake)}:
            break
    starts = chat_starts(fake)
    assert starts.count(("work", True)) == 1 and ("work", False) not in starts, starts  # refused once, then cooled
    assert ("home", False) in starts and ("home", True) not in starts
    work = pool.status()["work"]
    assert work["state"] == "cooling" and work["cooldowns"], work
    assert work["failures"] == {"rate_limited" if limit == "http" else "usage_limit": 1}


def retry_after_problem(response, api: str) -> None:
    assert response.status_code == 429, response.get_data(as_text=True)
    body = response.get_json()
    kind = {
        "chat_completions": lambda: body["error"]["type"] == "rate_limit_error",
        "responses": lambda: body["error"]["type"] == "rate_limit_error",
        "messages": lambda: body["type"] == "error" and body["error"]["type"] == "rate_limit_error",
        "native": lambda: body["type"] == "rate_limited",
    }[api]
    assert kind(), body


@pytest.mark.parametrize("lane", LANES)
@pytest.mark.parametrize("limit", ["http", "inband"])
@pytest.mark.parametrize("api", APIS)
def test_when_no_account_can_serve_the_client_gets_the_earliest_retry_after(fake, tmp_path, lane, limit, api):
    pool = Pool(fake, tmp_path, {"work": spent(900, limit), "home": spent(300, limit)}, GROK_CHAT_LANE=lane)
    response = ask(pool, api)
    retry_after_problem(response, api)
    assert sorted(chat_starts(fake)) == [("home", True), ("work", True)]  # each tried once
    first = int(response.headers["Retry-After"])
    if limit == "http":  # grok.com said when: the earlier of the two windows
        assert 290 <= first <= 302, first
    fake.clear()
    again = ask(pool, api)  # no account is asked while all cool down
    retry_after_problem(again, api)
    assert chat_starts(fake) == [] and 1 <= int(again.headers["Retry-After"]) <= first


@pytest.mark.parametrize("status", ["expired", "blocked"])
def test_an_expired_or_blocked_account_is_parked_on_the_websocket_lane(fake, tmp_path, status):
    pool = Pool(fake, tmp_path, {"work": {"status": status}, "home": {}}, GROK_CHAT_LANE="ws")

    def asked():
        return [e for e in fake.requests_log() if e.get("account") == "work"]

    for _ in range(40):  # until the pool's (random) first choices fell on work once
        assert ask(pool, "chat_completions").status_code == 200
        if asked():
            break
    for _ in range(6):
        assert ask(pool, "chat_completions").status_code == 200
    assert {name for name, _ in chat_starts(fake)} == {"home"}
    work = pool.status()["work"]
    failure = "auth_expired" if status == "expired" else "account_blocked"
    assert work["state"] == "parked" and work["parked"]["failure_class"] == failure, work
    # Only the first request asked grok.com about work (its session endpoint or its upgrade).
    assert 1 <= len(asked()) <= 2 and all(e["path"] in ("/api/auth/session", GATEWAY) for e in asked()), asked()
    assert json.dumps(pool.status()).count(pool.cookies["work"]["sso"]) == 0
