"""A pool of grok.com accounts on one host (in-process app, the fake grok.com with several
accounts): quota-aware choice, failover before any byte, cooldowns, parking, stickiness by
owned id, the account header, /status, /metrics and /setup."""

from __future__ import annotations

import json
import logging
import re

import pytest

from app import create_app
from app.grok.accounts import DEFAULT_COOLDOWN, Account
from app.ops import logs
from app.ops.accounts import add_account
from app.settings import Settings
from tests.support.accounts import add_fake_accounts, pool_env
from tests.support.gunicorn import free_port
from tests.support.proxies import ConnectProxy, Socks5Proxy

APP = "/rest/app-chat"


@pytest.fixture(autouse=True)
def _fresh_redactor(monkeypatch):
    monkeypatch.setattr(logs, "redactor", logs.Redactor())


class Pool:
    """An app on an accounts file, with the fake's accounts behind it."""

    def __init__(self, fake, tmp_path, names, proxies=None, **settings):
        self.fake = fake
        self.path = tmp_path / "accounts.json"
        self.cookies = add_fake_accounts(fake, self.path, names, proxies)
        self.app = create_app(Settings.from_mapping(pool_env(fake, self.path, **settings)))
        self.client = self.app.test_client()

    def chat(self, text="hello", model="auto", stream=False, **headers):
        body = {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream}
        return self.client.post("/v1/chat/completions", json=body, headers=headers)

    def served_by(self, path=APP + "/conversations/new") -> list:
        """Which account each upstream request of `path` went to, and how it was answered."""
        return [(e["account"], e["status"]) for e in self.fake.requests_log(path)]

    def status(self) -> dict:
        return {a["label"]: a for a in self.client.get("/status").get_json()["accounts"]}


def test_requests_spread_over_the_accounts_and_prefer_the_most_quota(fake, tmp_path):
    pool = Pool(fake, tmp_path, {"work": {}, "home": {}})
    for _ in range(30):
        assert pool.chat().status_code == 200
    used = {name for name, _ in pool.served_by()}
    assert used == {"work", "home"}  # ties spread (at random: 30 picks all alike are a 1 in 10^9 chance)
    # After a quota sync the account with more queries left gets the requests.
    fake.change_account("work", quota={"auto": {"total": 100, "window": 7200}})
    runtime = pool.app.extensions["grok_web_api"]
    assert sorted(runtime.pool.sync_due(0)) == ["home", "work"]
    fake.clear()
    for _ in range(6):
        assert pool.chat().status_code == 200
    assert {name for name, _ in pool.served_by()} == {"home"}
    status = pool.status()
    assert status["home"]["quota"]["auto"]["total"] == 140 and status["home"]["tier"] == "super"
    assert status["work"]["quota"]["auto"]["remaining"] <= 100


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("limit", ["http", "inband"])
def test_a_rate_limited_account_is_cooled_down_and_the_request_served_by_another(fake, tmp_path, stream, limit):
    pool = Pool(fake, tmp_path, {"work": {"quota": {"auto": {"total": 0, "window": 900}}, "limit": limit}, "home": {}})
    seen = set()
    for _ in range(40):  # until the (random) choice fell on work once
        response = pool.chat(stream=stream)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert b"[DONE]" in response.get_data() if stream else response.get_json()["choices"]
        seen = {name for name, _ in pool.served_by()}
        if "work" in seen:
            break
    assert pool.served_by().count(("work", 429 if limit == "http" else 200)) == 1  # tried once, then cooled
    assert {n for n, s in pool.served_by() if s == 200 and n == "home"}
    work = pool.status()["work"]
    # Until Retry-After; an in-band limit says no time: the mode's window, else DEFAULT_COOLDOWN.
    expected = 900 if limit == "http" else DEFAULT_COOLDOWN
    assert work["state"] == "cooling" and expected - 30 < work["cooldowns"]["auto"]["seconds_left"] <= expected + 2
    assert work["failures"] == {"rate_limited" if limit == "http" else "usage_limit": 1}
    assert pool.chat(model="fast").status_code == 200  # only the auto mode cools down


def test_when_every_account_is_limited_the_client_gets_the_earliest_retry_after(fake, tmp_path):
    pool = Pool(
        fake,
        tmp_path,
        {
            "work": {"quota": {"auto": {"total": 0, "window": 900}}},
            "home": {"quota": {"auto": {"total": 0, "window": 300}}},
        },
    )
    response = pool.chat()
    assert response.status_code == 429
    assert sorted(n for n, _ in pool.served_by()) == ["home", "work"]  # each tried once
    assert 290 <= int(response.headers["Retry-After"]) <= 302
    body = response.get_json()
    assert body["type"] == "rate_limited" and body["error"]["type"] == "rate_limit_error"
    fake.clear()
    again = pool.chat()  # no account is asked while all cool down
    assert again.status_code == 429 and pool.served_by() == []
    assert int(again.headers["Retry-After"]) <= int(response.headers["Retry-After"])


def test_retries_are_bounded_by_the_setting(fake, tmp_path):
    spent = {"quota": {"auto": {"total": 0, "window": 600}}}
    pool = Pool(fake, tmp_path, {"a": spent, "b": spent, "c": spent, "d": {}}, ACCOUNT_RETRIES="1")
    for _ in range(10):
        fake.clear()
        response = pool.chat()
        served = pool.served_by()
        assert len(served) <= 2  # one try and one retry
        assert (response.status_code == 200) == (("d", 200) in served)


def test_an_expired_account_is_parked_with_one_warning_until_its_cookies_change(fake, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    pool = Pool(fake, tmp_path, {"work": {"status": "expired"}, "home": {}})
    for _ in range(6):
        assert pool.chat().status_code == 200
    assert pool.served_by().count(("work", 401)) <= 1
    # Only this pool's accounts: an app of an earlier test in the same process may still log about its own.
    parked = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.getMessage().startswith(("account work parked", "account home parked"))
    ]
    assert len(parked) == 1 and parked[0].startswith("account work parked") and "accounts add" in parked[0]
    work = pool.status()["work"]
    assert work["state"] == "parked" and work["parked"]["failure_class"] == "auth_expired"
    assert pool.client.get("/status").get_json()["session"] == "valid"  # home still serves
    # Fixed on grok.com's side, the account stays parked (its cookies did not change) ...
    fake.change_account("work", status="ok")
    fake.clear()
    for _ in range(6):
        pool.chat()
    assert {n for n, _ in pool.served_by()} == {"home"}
    # ... until it gets new cookies (accounts add on its label), which the server follows at once.
    renewed = fake.add_account("work", sso="work-sso-renewed", sso_rw="work-rw-renewed")
    add_account(pool.path, Account("work", renewed["sso"], renewed["sso_rw"]))
    assert pool.status()["work"]["state"] == "active"
    for _ in range(40):
        pool.chat()
        if "work" in {n for n, _ in pool.served_by()}:
            break
    assert ("work", 200) in pool.served_by()


def test_when_every_account_is_parked_the_diagnosis_is_the_answer(fake, tmp_path):
    pool = Pool(fake, tmp_path, {"work": {"status": "blocked"}, "home": {"status": "blocked"}})
    first = pool.chat()
    assert first.status_code == 403 and first.get_json()["type"] == "account_blocked"
    fake.clear()
    again = pool.chat()
    assert again.status_code == 403 and pool.served_by() == []
    body = again.get_json()
    assert sorted(a["account"] for a in body["accounts"]) == ["home", "work"]
    assert pool.client.get("/status").get_json()["session"] == "blocked"


def test_conversations_files_and_assets_stay_with_their_account(fake, tmp_path):
    pool = Pool(fake, tmp_path, {"work": {}, "home": {}})
    client = pool.client
    ids = {}
    while set(ids.values()) != {"work", "home"} and len(ids) < 40:  # conversations on both accounts
        lines = [json.loads(x) for x in client.post("/v1/chat", json={"message": "hi"}).get_data().splitlines() if x]
        cid = lines[0]["result"]["conversation"]["conversationId"]
        ids[cid] = fake.requests_log(APP + "/conversations/new")[-1]["account"]
    assert set(ids.values()) == {"work", "home"}
    fake.clear()
    for cid, owner in ids.items():
        assert client.get(f"/v1/conversations/{cid}").status_code == 200
        assert client.post(f"/v1/chat/{cid}/message", json={"message": "more"}).status_code == 200
        assert client.delete(f"/v1/conversations/{cid}").status_code == 200
        assert {e["account"] for e in fake.requests_log(f"{APP}/conversations/{cid}")} == {owner}
    # A file goes to the account it was uploaded to, and so does a chat attaching it.
    upload = client.post("/v1/files", json={"fileName": "a.txt", "fileMimeType": "text/plain", "content": "aGkK"})
    file_id = upload.get_json()["fileMetadataId"]
    owner = fake.requests_log(APP + "/upload-file")[-1]["account"]
    for _ in range(4):
        assert client.post("/v1/chat", json={"message": "read it", "fileAttachments": [file_id]}).status_code == 200
        assert client.get(f"/v1/files/{file_id}/metadata").status_code == 200
    assert {e["account"] for e in fake.requests_log(APP + "/conversations/new")} == {owner}
    # A generated image is fetched through the proxy with the account that made it.
    fake.clear()
    for _ in range(4):
        answer = pool.chat("draw #scenario:image?count=1").get_json()["choices"][0]["message"]["content"]
        link = re.search(r"\((http[^)]+/v1/assets/[^)]+)\)", answer).group(1)
        maker = fake.requests_log(APP + "/conversations/new")[-1]["account"]
        assert client.get(link.split("localhost", 1)[-1]).status_code == 200
        assert fake.requests_log("/assets/")[-1]["account"] == maker


def test_the_account_header_chooses_and_unknown_labels_are_refused(fake, tmp_path):
    pool = Pool(fake, tmp_path, {"work": {}, "home": {}})
    for _ in range(4):
        assert pool.client.get("/v1/conversations", headers={"X-Grok-Account": "home"}).status_code == 200
        assert pool.chat(**{"X-Grok-Account": "work"}).status_code == 200
    assert {e["account"] for e in fake.requests_log(APP + "/conversations?")} | {
        e["account"] for e in fake.requests_log(APP + "/conversations") if e["method"] == "GET"
    } == {"home"}
    assert {n for n, _ in pool.served_by()} == {"work"}
    refused = pool.client.get("/v1/conversations", headers={"X-Grok-Account": "nobody"})
    assert refused.status_code == 400 and "work" in refused.get_json()["detail"]
    assert pool.client.get("/v1/conversations", headers={"X-Grok-Account": "bad label!"}).status_code == 400


def test_status_metrics_and_setup_report_each_account_without_secrets(fake, tmp_path):
    pool = Pool(fake, tmp_path, {"work": {}, "home": {"status": "expired"}})
    # "home" is parked once a request or its session check meets the expired cookie; which
    # account the first chats go to is the pool's (spread) choice, so chat until it was tried.
    for _ in range(40):
        pool.chat()
        if pool.client.get("/status").get_json()["accounts"][1]["state"] == "parked":
            break
    for _ in range(3):
        pool.chat()
    status = pool.client.get("/status").get_json()
    assert [a["label"] for a in status["accounts"]] == ["work", "home"]
    assert status["accounts"][0]["requests"] >= 3 and status["configured"] is True
    metrics = pool.client.get("/metrics").get_data(as_text=True)
    assert 'grok_web_api_account_state{account="home",state="parked"} 1.0' in metrics
    assert re.search(r'grok_web_api_account_requests_total\{account="work"\} [3-9]', metrics)
    setup = pool.client.get("/setup", headers={"Accept": "application/json"}).get_json()
    assert [a["label"] for a in setup["accounts"]] == ["work", "home"]
    page = pool.client.get("/setup", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'data-label="home" data-state="parked"' in page
    secrets = [v for c in pool.cookies.values() for v in (c["sso"], c["sso_rw"])]
    for text in (json.dumps(status), metrics, json.dumps(setup), page):
        assert not [s for s in secrets if s in text]


def test_setup_adds_an_account_through_the_guarded_form(fake, tmp_path):
    pool = Pool(fake, tmp_path, {"work": {}}, API_KEY="k-0123456789abcdef")
    made = fake.add_account("home")
    body = {"label": "home", "sso": made["sso"], "sso_rw": made["sso_rw"]}
    # Neither loopback nor an API key: refused, nothing written.
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    refused = pool.client.post("/setup/accounts", json=body, environ_base=remote)
    assert refused.status_code == 403 and "home" not in pool.path.read_text()
    # From the server itself no key is needed (as for the settings form); elsewhere the key is.
    done = pool.client.post("/setup/accounts", json=body, base_url="http://localhost")
    assert done.status_code == 200 and done.get_json() == {"label": "home", "added": True, "accounts": ["work", "home"]}
    assert made["sso"] not in done.get_data(as_text=True)
    keyed = pool.client.post(
        "/setup/accounts", json=body, environ_base=remote, headers={"Authorization": "Bearer k-0123456789abcdef"}
    )
    assert keyed.status_code == 200 and keyed.get_json()["added"] is False  # new cookies for the same label
    bad = pool.client.post("/setup/accounts", json={**body, "label": "no good"}, base_url="http://localhost")
    assert bad.status_code == 422
    for _ in range(40):
        pool.chat(Authorization="Bearer k-0123456789abcdef")
        if "home" in {n for n, _ in pool.served_by()}:
            break
    assert "home" in {n for n, _ in pool.served_by()}


def test_a_native_chat_refused_in_band_moves_to_another_account(fake, tmp_path):
    limited = {"quota": {"auto": {"total": 0, "window": 600}}, "limit": "inband"}
    pool = Pool(fake, tmp_path, {"work": limited, "home": {}})
    for _ in range(40):
        response = pool.client.post("/v1/chat", json={"message": "hi"})
        assert response.status_code == 200 and b"usage limit" not in response.get_data().lower()
        if "work" in {n for n, _ in pool.served_by()}:
            break
    assert [n for n, _ in pool.served_by()].count("work") == 1  # refused once, then cooling
    first = json.loads(response.get_data().splitlines()[0])
    cid = first["result"]["conversation"]["conversationId"]
    assert pool.app.extensions["grok_web_api"].pool.owner("conv", cid) == "home"


def test_an_account_with_a_proxy_of_its_own_uses_it_and_only_it(fake, tmp_path):
    # grok.com is named by an address nothing listens on: only work's own proxy reaches the fake;
    # the settings' proxy (for every other account) refuses everything.
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    fake.configure(base_url=base)
    target = f"127.0.0.1:{port}"
    with ConnectProxy({}) as shared, Socks5Proxy({target: fake.port}) as own:
        pool = Pool(
            fake,
            tmp_path,
            {"work": {}, "home": {}},
            proxies={"work": own.url},
            GROK_BASE_URL=base,
            GROK_ASSETS_URL=base + "/assets",
            GROK_PROXY_URL=shared.url,
            ACCOUNT_RETRIES="0",
        )
        for _ in range(2):
            assert pool.chat(**{"X-Grok-Account": "work"}).status_code == 200
            assert pool.client.get("/v1/conversations", headers={"X-Grok-Account": "work"}).status_code == 200
            refused = pool.client.get("/v1/conversations", headers={"X-Grok-Account": "home"})
            assert refused.status_code == 503 and refused.get_json()["failure_class"] == "network"
        assert set(own.tunnels) == {target} and shared.refused and set(shared.refused) == {target}
        assert {e["account"] for e in fake.requests_log(APP)} == {"work"}
        status = pool.status()
        assert status["work"]["proxy"] == own.url and status["home"]["proxy"] is None


def test_a_continued_conversation_stays_on_its_account(fake, tmp_path):
    pool = Pool(fake, tmp_path, {"work": {}, "home": {}})
    for _ in range(6):  # the pool picks at random: a follow-up on the other account would be a 404
        messages = [{"role": "user", "content": "hello there"}]
        first = pool.client.post("/v1/chat/completions", json={"model": "expert", "messages": messages})
        owner = fake.requests_log(APP + "/conversations/new")[-1]["account"]
        messages += [first.get_json()["choices"][0]["message"], {"role": "user", "content": "and then?"}]
        second = pool.client.post("/v1/chat/completions", json={"model": "expert", "messages": messages})
        assert second.status_code == 200 and second.headers["X-Grok-Continuity"] == "continued"
        conversation = first.headers["X-Grok-Conversation-Id"]
        follow_up = fake.requests_log(f"{APP}/conversations/{conversation}/responses")
        assert [e["account"] for e in follow_up] == [owner]
    # While its account cannot serve the mode, the next turn is a new conversation elsewhere.
    fake.change_account(owner, quota={"expert": {"total": 0, "window": 600}})
    pool.app.extensions["grok_web_api"].pool.cool_down(owner, "expert", 600, "rate_limited")
    messages += [second.get_json()["choices"][0]["message"], {"role": "user", "content": "still there?"}]
    third = pool.client.post("/v1/chat/completions", json={"model": "expert", "messages": messages})
    assert third.status_code == 200 and third.headers["X-Grok-Continuity"] == "new"
    assert fake.requests_log(APP + "/conversations/new")[-1]["account"] != owner
