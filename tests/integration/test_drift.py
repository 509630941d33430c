"""The drift canary: what broke upstream (cookies, stale statsig values, Cloudflare, the REST
chat lane, the network), one WARNING per change, and the state, advice and automatic action on
/status and /setup."""

from __future__ import annotations

import json
import logging
import time
import urllib.request

import pytest

from app.grok import drift
from app.grok import errors as gerr
from app.ops.shared_health import SharedHealth, automatic_action
from app.state import open_store
from tests.support.gunicorn import app_env
from tests.support.waiting import wait_for

CHAT = "/rest/app-chat/conversations/new"
LIST = "/rest/app-chat/conversations"


# ---------------------------------------------------------------------- the classification
@pytest.mark.parametrize(
    "error, path, state",
    [
        (gerr.UpstreamConnectionError("refused"), CHAT, drift.NETWORK),
        (gerr.UpstreamTimeout("slow"), CHAT, drift.NETWORK),
        (gerr.UpstreamConnectionError("cut", dropped=True), CHAT, drift.OTHER),
        (gerr.error_for_status(401, '{"code":16,"message":"Bad credentials"}'), CHAT, drift.COOKIES),
        (gerr.error_for_status(403, '{"code":7,"message":"This page is out of date."}'), CHAT, drift.STALE_STATSIG),
        (
            gerr.error_for_status(403, '{"error":{"code":7,"message":"Request rejected by anti-bot rules."}}'),
            CHAT,
            drift.STALE_STATSIG,
        ),
        (gerr.error_for_status(403, "<html><title>Just a moment...</title></html>"), CHAT, drift.CLOUDFLARE),
        (
            gerr.error_for_status(400, '{"code":3,"message":"Invalid request. Please update your client."}'),
            CHAT,
            drift.REST_LANE_RETIRED,
        ),
        (gerr.error_for_status(404, '{"code":5,"message":"Not found"}'), CHAT, drift.REST_LANE_RETIRED),
        (gerr.error_for_status(410, "gone"), LIST, drift.REST_LANE_RETIRED),
        (gerr.error_for_status(404, '{"code":5,"message":"Not found"}'), LIST + "/abc", drift.OTHER),
        (gerr.error_for_status(404, '{"code":5,"message":"Not found"}'), "/rest/rate-limits", drift.OTHER),
        (
            gerr.error_for_status(403, '{"code":7,"message":"User is blocked [WKE=unauthorized:blocked-user]"}'),
            CHAT,
            drift.ACCOUNT,
        ),
    ],
)
def test_classify(error, path, state):
    assert drift.classify(error, path) == state


def test_classify_success_and_failure_classes():
    assert drift.classify(None) == drift.OK
    assert drift.state_of(gerr.STATSIG_UNAVAILABLE) == drift.STALE_STATSIG
    assert drift.state_of(gerr.REST_LANE_RETIRED) == drift.REST_LANE_RETIRED


# ---------------------------------------------------------------------- the shared summary
def test_drift_summary_and_one_warning_per_change(tmp_path, caplog):
    health = SharedHealth(open_store(None, tmp_path), automatic=lambda state: automatic_action(state, "auto", 300))
    assert health.drift()["state"] == "unknown"
    health.success("POST")
    assert health.drift() == {"state": "ok", "since": None, "failure_class": None, "advice": None, "automatic": None}
    stale = gerr.error_for_status(403, '{"code":7,"message":"This page is out of date."}')
    with caplog.at_level(logging.WARNING, logger="grok_web_api.health"):
        for _ in range(3):
            health.failure(stale, "POST", path=CHAT)
    summary = health.drift()
    assert summary["state"] == drift.STALE_STATSIG and summary["failure_class"] == gerr.STALE_CHALLENGE
    assert "re-derives the x-statsig-id values" in summary["automatic"] and summary["since"] <= time.time()
    started = [r for r in caplog.records if "anti-bot rejections started" in r.getMessage()]
    assert len(started) == 1 and "Automatically: it re-derives" in started[0].getMessage()
    # A broken network explains everything else, so it is what the summary names.
    health.failure(gerr.UpstreamConnectionError("refused"), "GET", path=LIST)
    assert health.drift()["state"] == drift.NETWORK
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="grok_web_api.health"):
        health.success("POST")
    assert health.drift()["state"] == drift.OK
    assert len([r for r in caplog.records if "anti-bot rejections stopped" in r.getMessage()]) == 1


def test_a_404_on_the_chat_start_marks_the_lane_but_keeps_the_failure(tmp_path):
    health = SharedHealth(open_store(None, tmp_path), automatic=lambda state: automatic_action(state, "auto", 300))
    health.failure(gerr.error_for_status(404, '{"code":5,"message":"Not found"}'), "POST", path=CHAT)
    snapshot = health.snapshot()
    assert snapshot["conditions"]["protocol"]["value"] == gerr.REST_LANE_RETIRED
    assert snapshot["last_failure"]["failure_class"] == gerr.NOT_FOUND
    assert health.drift()["state"] == drift.REST_LANE_RETIRED
    health.failure(gerr.error_for_status(404, '{"code":5,"message":"Not found"}'), "GET", path=LIST + "/c1")
    assert health.drift()["state"] == drift.REST_LANE_RETIRED  # unchanged: a missing conversation says nothing


@pytest.mark.parametrize(
    "state, mode, words",
    [
        (drift.STALE_STATSIG, "auto", "re-derives"),
        (drift.STALE_STATSIG, "env", "STATSIG_SOURCE=env pins the values"),
        (drift.COOKIES, "auto", "checked every 60 s"),
        (drift.CLOUDFLARE, "auto", "probes again every 60 s"),
        (drift.REST_LANE_RETIRED, "auto", "retried at once on grok.com's WebSocket lane"),
        (drift.NETWORK, "auto", "probes again"),
    ],
)
def test_automatic_action_texts(state, mode, words):
    assert words in automatic_action(state, mode, 60)


@pytest.mark.parametrize(
    "lane, words",
    [("auto", "then switches to it"), ("ws", "already sends chats"), ("rest", "=rest pins the REST lane")],
)
def test_what_the_chat_lane_setting_does_about_a_retired_rest_lane(lane, words):
    assert words in automatic_action(drift.REST_LANE_RETIRED, "auto", 60, lane)


# ---------------------------------------------------------------------- the canary, live
def get(url: str) -> dict:
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Connection": "close"}), timeout=30) as resp:
        return json.loads(resp.read())


def warnings(srv, words: str) -> list[str]:
    return [line for line in srv.logs().splitlines() if " WARNING " in line and words in line]


def test_the_watcher_reports_a_retired_rest_lane_once_and_its_return(fake, start_server):
    env = app_env(
        fake, SESSION_CHECK_INTERVAL_SECS=1, GROK_WEB_API_TEST_MIN_INTERVAL=1, GROK_WEB_API_TEST_NO_WATCHER=""
    )
    srv = start_server(env, workers=2)
    wait_for(lambda: get(srv.url + "/status")["drift"]["state"] == drift.OK)
    fake.enqueue(LIST, method="GET", status=410, body={"code": 5, "message": "Gone"}, times=1000)
    status = wait_for(lambda: (s := get(srv.url + "/status"))["drift"]["state"] == drift.REST_LANE_RETIRED and s)
    assert status["drift"]["advice"] == gerr.ADVICE[gerr.REST_LANE_RETIRED]
    assert "WebSocket lane" in status["drift"]["automatic"]
    setup = get(srv.url + "/setup")
    assert setup["drift"]["state"] == drift.REST_LANE_RETIRED
    time.sleep(2.5)  # more failing checks, by both workers
    assert len(warnings(srv, "grok.com retired the REST chat lane")) == 1
    fake.clear_queue()
    wait_for(lambda: get(srv.url + "/status")["drift"]["state"] == drift.OK)
    time.sleep(1.5)
    assert len(warnings(srv, "accepts our request format again")) == 1
    assert len(warnings(srv, "grok.com retired the REST chat lane")) == 1


def test_the_canary_names_stale_values_and_what_a_pinned_source_means(fake, start_server):
    env = app_env(
        fake, SESSION_CHECK_INTERVAL_SECS=1, GROK_WEB_API_TEST_MIN_INTERVAL=1, GROK_WEB_API_TEST_NO_WATCHER=""
    )
    srv = start_server(env, workers=1)
    wait_for(lambda: get(srv.url + "/status")["drift"]["state"] == drift.OK)
    fake.configure(stale_build=True)
    status = wait_for(lambda: (s := get(srv.url + "/status"))["drift"]["state"] == drift.STALE_STATSIG and s)
    assert "STATSIG_SOURCE=env pins the values" in status["drift"]["automatic"]
    assert status["statsig"]["source"] == "env"
    # Stale values are not a session problem: the cookies stay "ok".
    assert status["conditions"]["session"] == "ok"
    assert len(warnings(srv, "anti-bot rejections started")) == 1
