"""The session watcher, /status and /health/session under real gunicorn with several workers.

The fake grok.com's request log counts the checks (`GET /rest/app-chat/conversations?pageSize=1`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

from tests.support.gunicorn import app_env

CHECK_PATH = "/rest/app-chat/conversations"


def get(url: str, headers: dict | None = None) -> tuple[int, dict]:
    """One request on a fresh connection (so gunicorn may hand it to any worker)."""
    req = urllib.request.Request(url, headers={"Connection": "close", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def checks(fake) -> list[dict]:
    return [
        r
        for r in fake.requests_log(CHECK_PATH)
        if r["method"] == "GET" and r["path"] == CHECK_PATH and r["query"].get("pageSize") == ["1"]
    ]


def watcher_env(fake, interval: int = 2, **extra):
    return app_env(
        fake,
        SESSION_CHECK_INTERVAL_SECS=interval,
        GROK_WEB_API_TEST_MIN_INTERVAL=1,
        GROK_WEB_API_TEST_NO_WATCHER="",
        **extra,
    )


def wait_for(predicate, timeout: float, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def warnings(srv, word: str) -> list[str]:
    return [line for line in srv.logs().splitlines() if " WARNING " in line and word in line]


def test_first_check_runs_at_startup_in_the_background(fake, start_server):
    # grok.com takes 6 s to answer the check: the server serves meanwhile.
    fake.enqueue(CHECK_PATH, method="GET", status=200, body={"conversations": []}, delay=6)
    srv = start_server(watcher_env(fake, interval=60), workers=2)
    wait_for(lambda: checks(fake), timeout=5)  # the check is in flight
    assert get(srv.url + "/health")[0] == 200
    status, body = get(srv.url + "/status")
    assert status == 200 and body["last_check"] is None
    body = wait_for(lambda: get(srv.url + "/status")[1]["last_check"], timeout=15)
    assert body["session"] == "valid"
    assert len(checks(fake)) == 1


def test_one_check_per_interval_across_three_workers(fake, start_server):
    start_server(watcher_env(fake, interval=2), workers=3)
    wait_for(lambda: checks(fake), timeout=5)
    first = time.time()
    time.sleep(7)
    seen = checks(fake)
    window = [r for r in seen if r["time"] >= first]
    # 7 s / 2 s interval: about 3 checks; uncoordinated workers would make 3 times as many.
    assert 2 <= len(window) <= 5, [round(r["time"] - first, 2) for r in window]
    gaps = [b["time"] - a["time"] for a, b in pairwise(seen)]
    assert min(gaps) >= 1.9, gaps  # never two checks within one interval
    # Every check was followed by the anti-bot canary (a signed POST), once.
    canaries = fake.requests_log("/rest/rate-limits")
    assert abs(len(canaries) - len(seen)) <= 1
    assert all(r["status"] == 200 for r in seen + canaries)


def test_every_worker_reports_the_same_state(fake, start_server):
    srv = start_server(watcher_env(fake, interval=60), workers=3)
    wait_for(lambda: get(srv.url + "/status")[1]["last_check"], timeout=10)
    wait_for(lambda: get(srv.url + "/status")[1]["workers"] == 3, timeout=20)  # all booted
    # Traffic on whatever workers gunicorn picks, some of it failing upstream.
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: get(srv.url + "/v1/no-such-route"), range(12)))
    fake.enqueue(
        "/rest/app-chat/conversations/new",
        status=429,
        times=3,
        body={"error": {"code": 8, "message": "Too many requests"}},
        headers={"Retry-After": "7"},
    )
    for _ in range(3):
        req = urllib.request.Request(
            srv.url + "/v1/chat",
            data=b'{"message":"hi"}',
            method="POST",
            headers={"Content-Type": "application/json", "Connection": "close"},
        )
        try:
            urllib.request.urlopen(req, timeout=10)
        except urllib.error.HTTPError as exc:
            assert exc.code == 429
    views, answered_by = [], set()
    for _ in range(30):
        status, body = get(srv.url + "/status")
        assert status == 200
        answered_by.add(body["worker_pid"])
        views.append(
            {
                k: body[k]
                for k in (
                    "requests_served",
                    "last_request_at",
                    "session",
                    "session_valid",
                    "failures_by_class",
                    "last_failure",
                    "last_check",
                    "uptime_seconds",
                    "workers",
                    "conditions",
                )
            }
        )
    assert {v["workers"] for v in views} == {3}
    assert len(answered_by) >= 2, "the views must come from different workers"
    for view in views:
        view.pop("uptime_seconds")
    assert all(view == views[0] for view in views), "workers disagree"
    first = views[0]
    # 12 unknown routes + 3 chats; /status and /health probes are not counted.
    assert first["requests_served"] == 15
    assert first["failures_by_class"] == {"rate_limited": 3}
    assert first["last_failure"]["failure_class"] == "rate_limited"
    assert "retry" in first["last_failure"]["advice"]
    assert first["session"] == "valid" and first["session_valid"] is True


def test_session_expiry_logged_once_across_workers_and_recovery(fake, start_server):
    srv = start_server(watcher_env(fake, interval=1), workers=3)
    wait_for(lambda: get(srv.url + "/status")[1]["session"] == "valid", timeout=10)
    before = len(checks(fake))
    fake.configure(sso="other-sso")  # the server's cookies no longer work
    wait_for(lambda: get(srv.url + "/status")[1]["session"] == "expired", timeout=10)
    # Several more checks see the same expired session: still one line.
    wait_for(lambda: len(checks(fake)) >= before + 4, timeout=15)
    expired = warnings(srv, "expired")
    assert len(expired) == 1, expired
    assert "GROK_SSO_COOKIE" in expired[0] and "/setup" in expired[0]
    assert all(get(srv.url + "/status")[1]["session_valid"] is False for _ in range(6))
    status, body = get(srv.url + "/health/session")
    assert status == 503 and body["session"] == "expired" and body["message"] == "Grok SSO cookies expired"
    fake.configure(sso=fake_sso_default())
    wait_for(lambda: get(srv.url + "/status")[1]["session"] == "valid", timeout=10)
    wait_for(lambda: len(checks(fake)) >= before + 7, timeout=15)
    assert len(warnings(srv, "session valid again")) == 1
    assert len(warnings(srv, "session expired")) == 1
    assert "test-sso" not in srv.logs() and "other-sso" not in srv.logs()


def fake_sso_default() -> str:
    return "test-sso"


def test_anti_bot_rejections_logged_once_when_they_start_and_stop(fake, start_server):
    srv = start_server(watcher_env(fake, interval=1), workers=2)
    wait_for(lambda: get(srv.url + "/status")[1]["last_check"], timeout=10)
    fake.configure(stale_build=True)  # grok.com shipped a new build: the challenge values are stale
    body = wait_for(
        lambda: (lambda b: b if b["conditions"]["anti_bot"] == "stale_challenge" else None)(
            get(srv.url + "/status")[1]
        ),
        timeout=10,
    )
    assert "snippet" in body["last_failure"]["advice"] and "/setup" in body["last_failure"]["advice"]
    time.sleep(3)  # more failing checks
    assert len(warnings(srv, "anti-bot rejections started")) == 1
    fake.configure(stale_build=False)
    wait_for(lambda: get(srv.url + "/status")[1]["conditions"]["anti_bot"] == "ok", timeout=10)
    time.sleep(2)
    assert len(warnings(srv, "anti-bot rejections stopped")) == 1
    assert len(warnings(srv, "anti-bot rejections started")) == 1


def test_health_session_is_single_flight_and_cached(fake, start_server):
    srv = start_server(app_env(fake), workers=3)
    fake.clear()
    # The check takes 1 s upstream; 24 concurrent callers on 3 workers share one check.
    fake.enqueue(CHECK_PATH, method="GET", status=200, body={"conversations": []}, delay=1)
    with ThreadPoolExecutor(24) as pool:
        results = list(pool.map(lambda _: get(srv.url + "/health/session"), range(24)))
    assert all(
        r == (200, {"status": "ok", "session": "valid", "checked_at": results[0][1]["checked_at"]}) for r in results
    ), results
    for _ in range(10):
        assert get(srv.url + "/health/session")[0] == 200
    assert len(checks(fake)) == 1


def test_health_session_not_configured(fake, start_server):
    env = app_env(fake)
    del env["GROK_SSO_COOKIE"], env["GROK_SSO_RW_COOKIE"]
    srv = start_server(env)
    status, body = get(srv.url + "/health/session")
    assert status == 503 and body["session"] == "not_configured" and "GROK_SSO_COOKIE" in body["message"]
    assert checks(fake) == []
    status, body = get(srv.url + "/status")
    assert body["session"] == "not_configured" and body["configured"] is False


def test_status_reference_fields(fake, start_server):
    srv = start_server(
        app_env(
            fake,
            TOKEN_PROVIDER_URL="http://127.0.0.1:9/sign",
            CHALLENGE_HEADER_HEX="",
            CHALLENGE_SUFFIX="",
            STATSIG_SOURCE="provider",
        )
    )
    status, body = get(srv.url + "/status")
    assert status == 200
    assert re.fullmatch(r"\d+h \d+m \d+s", body["uptime"]) and body["uptime_seconds"] >= 0
    # The token provider counts as a loaded challenge source.
    assert body["challenge_loaded"] is True and body["statsig_source"] == "provider"
    assert body["version"] and body["requests_served"] == 0 and body["last_request_at"] is None
    assert body["active_streams"] == 0
    assert body["shared_state"] == {"backend": "local"}
    text = json.dumps(body)
    for secret in (fake.sso, fake.sso_rw, fake.header_hex, fake.suffix):
        assert secret not in text


def worker_pids(srv) -> set[int]:
    children = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == srv.proc.pid:  # the parent pid
                children.add(int(entry))
    return children


def test_counts_of_a_dead_worker_are_kept(fake, start_server):
    srv = start_server(app_env(fake), workers=2)
    wait_for(lambda: get(srv.url + "/status")[1]["workers"] == 2, timeout=20)  # both booted
    for _ in range(10):
        get(srv.url + "/v1/no-such-route")
    before = get(srv.url + "/status")[1]
    assert before["requests_served"] == 10 and before["workers"] == 2
    victims = worker_pids(srv)
    assert len(victims) == 2
    for pid in victims:  # both workers die; gunicorn starts new ones
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: len(worker_pids(srv) - victims) == 2, timeout=20)
    after = wait_for(lambda: (lambda b: b if b["workers"] == 2 else None)(get(srv.url + "/status")[1]), timeout=20)
    assert after["requests_served"] == 10
    assert after["last_request_at"] == before["last_request_at"]
