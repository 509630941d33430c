"""Self-tests of the fake grok.com's extra accounts (tests/fakegrok/accounts.py): own stores,
quota windows answered as grok.com does, expired and blocked accounts."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.fakegrok.harness import FakeGrok

APP = "/rest/app-chat"


@pytest.fixture(scope="module")
def fake():
    with FakeGrok() as f:
        yield f


@pytest.fixture(autouse=True)
def _clean(fake):
    fake.reset()


def call(fake, method, path, body=None, account=None):
    headers = fake.grok_headers(method, path, json_body=body is not None)
    if account is not None:
        headers["cookie"] = f"sso={account['sso']}; sso-rw={account['sso_rw']}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(fake.url(path), data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def conversation_of(raw: bytes) -> str:
    for line in raw.splitlines():
        conv = json.loads(line).get("result", {}).get("conversation")
        if conv:
            return conv["conversationId"]
    raise AssertionError(raw)


def test_each_account_has_its_own_conversations(fake):
    work = fake.add_account("work")
    status, _, raw = call(fake, "POST", APP + "/conversations/new", {"message": "hi"}, work)
    assert status == 200
    cid = conversation_of(raw)
    assert call(fake, "GET", f"{APP}/conversations/{cid}", account=work)[0] == 200
    assert call(fake, "GET", f"{APP}/conversations/{cid}")[0] == 404  # the default account's store
    home = fake.add_account("home")
    assert call(fake, "GET", f"{APP}/conversations/{cid}", account=home)[0] == 404
    assert fake.accounts()["work"]["conversations"] == [cid]
    assert [e["account"] for e in fake.requests_log(APP + "/conversations/")] == ["work", "work", None, "home"]


def test_a_spent_quota_is_a_429_until_the_window_frees_a_query(fake):
    work = fake.add_account("work", quota={"fast": {"total": 2, "window": 600}})
    for _ in range(2):
        assert call(fake, "POST", APP + "/conversations/new", {"message": "hi", "modeId": "fast"}, work)[0] == 200
    status, headers, _ = call(fake, "POST", APP + "/conversations/new", {"message": "hi", "modeId": "fast"}, work)
    assert status == 429 and 590 <= int(headers["Retry-After"]) <= 601
    # Another mode has its own window; the rate-limits endpoint reports each.
    assert call(fake, "POST", APP + "/conversations/new", {"message": "hi", "modeId": "expert"}, work)[0] == 200
    _, _, raw = call(fake, "POST", "/rest/rate-limits", {"modelName": "fast"}, work)
    assert json.loads(raw)["remainingQueries"] == 0 and json.loads(raw)["totalQueries"] == 2
    _, _, raw = call(fake, "POST", "/rest/rate-limits", {"modelName": "expert"}, work)
    assert json.loads(raw)["remainingQueries"] == 139
    fake.change_account("work", reset_usage=True)
    assert call(fake, "POST", APP + "/conversations/new", {"message": "hi", "modeId": "fast"}, work)[0] == 200


def test_an_inband_limit_is_grok_coms_usage_limit_error(fake):
    work = fake.add_account("work", quota={"auto": {"total": 0, "window": 600}}, limit="inband")
    status, _, raw = call(fake, "POST", APP + "/conversations/new", {"message": "hi"}, work)
    assert status == 200 and b"usage limit" in raw.lower()


@pytest.mark.parametrize("status, code, word", [("expired", 401, b"Bad credentials"), ("blocked", 403, b"blocked")])
def test_expired_and_blocked_accounts(fake, status, code, word):
    work = fake.add_account("work")
    fake.change_account("work", status=status)
    got, _, raw = call(fake, "GET", APP + "/conversations?pageSize=1", account=work)
    assert got == code and word in raw
    fake.change_account("work", status="ok")
    assert call(fake, "GET", APP + "/conversations?pageSize=1", account=work)[0] == 200


def test_unknown_cookies_are_still_refused(fake):
    status, _, _ = call(fake, "GET", APP + "/conversations", account={"sso": "nobody", "sso_rw": "nobody"})
    assert status == 401
