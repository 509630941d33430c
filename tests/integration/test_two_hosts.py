"""Two hosts behind one load balancer: two independent gunicorn servers (each its own run
directory and port) on one Redis and one fake grok.com with several accounts. What one host
learns or creates, the other honours; Redis going away mid-traffic costs no request."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import uuid
from itertools import pairwise
from pathlib import Path

import pytest

from tests.fakegrok.harness import FakeGrok
from tests.support.accounts import add_fake_accounts, pool_env
from tests.support.gunicorn import GunicornServer
from tests.support.redis import RedisServer

APP = "/rest/app-chat"
CHECK = APP + "/conversations"
INTERVAL = 3  # seconds between session checks (the test minimum is 1)


class Host:
    def __init__(self, server: GunicornServer):
        self.server = server
        self.url = server.url

    def call(self, method: str, path: str, body=None, headers=None) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, path, data, {"Content-Type": "application/json", **(headers or {})})
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def chat(self, text="hello", model="auto") -> tuple[int, dict, bytes]:
        body = {"model": model, "messages": [{"role": "user", "content": text}]}
        return self.call("POST", "/v1/chat/completions", body)

    def status(self) -> dict:
        return json.loads(self.call("GET", "/status")[2])

    def accounts(self) -> dict:
        return {a["label"]: a for a in self.status()["accounts"]}

    def warnings(self, words: str) -> list[str]:
        return [line for line in self.server.logs().splitlines() if " WARNING " in line and words in line]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Redis, the fake with three accounts, and two hosts sharing the accounts file."""
    shared = tmp_path_factory.mktemp("two-hosts")
    with RedisServer() as redis, FakeGrok() as fake:
        accounts_file = shared / "accounts.json"
        accounts = {
            "work": {"quota": {"auto": {"total": 0, "window": 900}}},
            "home": {"quota": {"*": {"total": 100_000, "window": 7200}}},  # enough for all the traffic
            "spare": {"status": "expired"},
        }
        add_fake_accounts(fake, accounts_file, accounts)
        env = pool_env(
            fake,
            accounts_file,
            REDIS_URL=redis.url,
            REDIS_PREFIX=f"hosts{uuid.uuid4().hex[:6]}:",
            SESSION_CHECK_INTERVAL_SECS=INTERVAL,
            GROK_WEB_API_TEST_MIN_INTERVAL=1,
            GROK_WEB_API_TEST_NO_WATCHER="",  # the background session checks run
            PUBLIC_BASE_URL="http://lb.invalid",  # links name the load balancer, not a host
        )
        with GunicornServer(env) as a, GunicornServer(env) as b:
            yield fake, redis, Host(a), Host(b)


def served(fake, path=APP + "/conversations/new") -> list[tuple]:
    return [(e["account"], e["status"]) for e in fake.requests_log(path)]


def wait_for(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(0.1)
    return value


def test_the_hosts_keep_separate_run_directories_and_share_redis(setup):
    _, redis, a, b = setup
    assert a.server.tmp != b.server.tmp and a.url != b.url
    for host in (a, b):
        assert host.status()["shared_state"] == {
            "backend": "redis",
            "redis": redis.url,
            "redis_reachable": True,
        }


def test_a_cooldown_caused_through_one_host_is_honoured_by_the_other(setup):
    fake, _, a, b = setup
    for _ in range(40):  # until host a's choice fell on work (out of quota) once
        status, _, body = a.chat()
        assert status == 200, body
        if ("work", 429) in served(fake):
            break
    assert served(fake).count(("work", 429)) == 1
    fake.clear()
    for _ in range(10):
        assert b.chat()[0] == 200
    assert {name for name, _ in served(fake)} == {"home"}  # b never asks work
    work = b.accounts()["work"]
    assert work["state"] == "cooling" and work["cooldowns"]["auto"]["seconds_left"] > 800


def test_a_conversation_created_on_one_host_is_continued_and_deleted_through_the_other(setup):
    fake, _, a, b = setup
    owners = {}
    for _ in range(6):
        status, _, body = a.call("POST", "/v1/chat", {"message": "hi"})
        assert status == 200
        cid = json.loads(body.splitlines()[0])["result"]["conversation"]["conversationId"]
        owners[cid] = fake.requests_log(APP + "/conversations/new")[-1]["account"]
    fake.clear()
    for cid, owner in owners.items():
        assert b.call("POST", f"/v1/chat/{cid}/message", {"message": "more"})[0] == 200
        assert b.call("DELETE", f"/v1/conversations/{cid}")[0] == 200
        assert {e["account"] for e in fake.requests_log(f"{APP}/conversations/{cid}")} == {owner}
        assert cid not in fake.accounts()[owner]["conversations"]


def test_an_asset_link_signed_by_one_host_is_served_by_the_other(setup):
    fake, _, a, b = setup
    status, _, body = a.chat("draw #scenario:image?count=1")
    assert status == 200
    content = json.loads(body)["choices"][0]["message"]["content"]
    link = re.search(r"\(http://lb\.invalid(/v1/assets/[^)]+)\)", content).group(1)
    maker = fake.requests_log(APP + "/conversations/new")[-1]["account"]
    status, headers, data = b.call("GET", link)
    assert status == 200 and headers["Content-Type"].startswith("image/") and data[:2] == b"\xff\xd8"
    assert fake.requests_log("/assets/")[-1]["account"] == maker  # with the account that made it
    tampered = link.replace("sig=", "sig=A")
    assert b.call("GET", tampered)[0] == 403


def test_the_counts_on_status_are_both_hosts(setup):
    _, _, a, b = setup
    before = b.status()
    assert before["hosts"] == 2 and before["host"]["requests_served"] <= before["requests_served"]
    for _ in range(3):
        assert a.chat()[0] == 200
    assert a.call("POST", "/v1/chat", {"message": "hi"})[0] == 200  # a stream
    # b learns a's counts within a publication interval or two, without serving any of it. (a's
    # whole count, not "before + 4": b's "before" may hold a figure a published before the
    # previous test's last requests.)
    a_alone = a.status()["host"]["requests_served"]
    after = wait_for(
        lambda: (s := b.status())["requests_served"] == s["host"]["requests_served"] + a_alone and s, timeout=5
    )
    assert after["requests_served"] >= before["requests_served"] + 4
    assert after["streams_started"] >= before["streams_started"] + 1
    assert after["host"]["requests_served"] == before["host"]["requests_served"]
    # And a learns b's (published up to a second ago: b's last requests may be newer than that).
    b_alone = after["host"]["requests_served"]
    own = wait_for(lambda: (s := a.status())["requests_served"] == s["host"]["requests_served"] + b_alone and s, 5)
    assert after["requests_served"] == own["requests_served"] and own["hosts"] == 2
    assert after["failures_by_class"].get("rate_limited", 0) >= own["host"]["failures_by_class"].get("rate_limited", 0)


def test_one_session_check_per_interval_and_account_across_both_hosts(setup):
    fake, _, a, b = setup
    wait_for(lambda: len(fake.requests_log(CHECK)) > 0, timeout=10)
    start = time.time()
    time.sleep(INTERVAL * 3 + 1)
    checks = [
        e
        for e in fake.requests_log(CHECK)
        if e["method"] == "GET" and e["query"].get("pageSize") == ["1"] and e["time"] >= start
    ]
    per_account = {}
    for entry in checks:
        per_account.setdefault(entry["account"], []).append(entry["time"])
    assert set(per_account) <= {"work", "home", "spare"} and {"work", "home"} <= set(per_account)
    for name, times in per_account.items():
        # ~3 checks in 3 intervals; two uncoordinated hosts would make twice as many.
        assert 2 <= len(times) <= 4, (name, [round(t - start, 2) for t in times])
        assert min((y - x for x, y in pairwise(times)), default=INTERVAL) >= INTERVAL - 0.2


def test_an_expired_account_is_parked_once_for_both_hosts(setup):
    _, _, a, b = setup
    wait_for(lambda: a.accounts()["spare"]["state"] == "parked", timeout=15)
    assert b.accounts()["spare"]["parked"]["failure_class"] == "auth_expired"
    assert len(a.warnings("account spare parked") + b.warnings("account spare parked")) == 1


def test_redis_killed_and_restarted_mid_traffic_loses_no_request(setup):
    fake, redis, a, b = setup
    results: list[int] = []
    stop = threading.Event()

    def traffic(host: Host):
        while not stop.is_set():
            results.append(host.chat()[0])

    threads = [threading.Thread(target=traffic, args=(host,)) for host in (a, b, a, b)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    redis.kill()
    time.sleep(2.0)
    alone = b.status()  # only its own counts while Redis is away, and no failure
    assert alone["requests_served"] == alone["host"]["requests_served"] and alone["hosts"] == 1
    during = len(results)
    redis.start()  # empty: the outage lost every key
    time.sleep(3.0)
    stop.set()
    for thread in threads:
        thread.join(60)
    assert results and set(results) == {200}, sorted(set(results))
    assert len(results) > during > 0  # traffic went on through the outage and after it
    for host in (a, b):
        assert len(host.warnings("shared state unavailable")) == 1
        assert len(host.warnings("reachable again")) == 1
        assert host.status()["shared_state"]["redis_reachable"] is True
    # Back on one Redis: a cooldown one host learns now is the other's too.
    fake.change_account("home", quota={"fast": {"total": 0, "window": 600}})
    for _ in range(40):
        a.chat(model="fast")
        if ("home", 429) in served(fake):
            break
    assert ("home", 429) in served(fake), served(fake)[-10:]
    assert "fast" in a.accounts()["home"]["cooldowns"], a.accounts()["home"]
    assert wait_for(lambda: "fast" in b.accounts()["home"]["cooldowns"], timeout=5), b.accounts()["home"]


def test_secrets_never_reach_the_logs_or_status(setup):
    fake, _, a, b = setup
    cookies = [v for acc in fake.accounts().values() for v in (acc["sso"], acc["sso_rw"])]
    for host in (a, b):
        text = host.server.logs() + json.dumps(host.status())
        assert not [c for c in cookies if c in text]
        assert Path(host.server.tmp).exists()
