"""The state workers share: conditions with one log line per transition."""

from __future__ import annotations

import logging

import pytest

from app.grok import errors as e
from app.ops import logs
from app.ops.shared_health import SharedHealth
from app.state import open_store
from app.state.local import LocalStore

EXPIRED = e.error_for_status(401, '{"code":16,"message":"Bad credentials. [WKE=unauthenticated:bad-credentials]"}')
STALE = e.error_for_status(403, '{"code":7,"message":"This page is out of date. Reload to continue."}')


@pytest.fixture(autouse=True)
def _fresh_redactor(monkeypatch):
    # The process-wide log redactor (app.ops.logs) keeps every secret other tests' settings
    # taught it (some are one letter long) and rewrites records in place.
    monkeypatch.setattr(logs, "redactor", logs.Redactor())


def transitions(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "grok_web_api.health" and r.levelno >= logging.WARNING]


@pytest.fixture(params=["two workers", "two hosts"])
def two_stores(request, tmp_path):
    """Two views of the same shared state: workers of one host, or hosts sharing a Redis."""
    if request.param == "two workers":
        return LocalStore(tmp_path), LocalStore(tmp_path)
    url = request.getfixturevalue("redis_session").url
    prefix = request.getfixturevalue("redis_prefix")
    return open_store(url, tmp_path / "a", prefix), open_store(url, tmp_path / "b", prefix)


def test_two_workers_log_a_transition_once_and_agree(two_stores, caplog):
    caplog.set_level(logging.INFO)
    one, two = SharedHealth(two_stores[0]), SharedHealth(two_stores[1])
    one.success("GET")
    for worker in (one, two, one, two):  # every worker sees the expiry, repeatedly
        worker.failure(EXPIRED, "GET")
    assert two.condition("session") == one.condition("session") == "auth_expired"
    assert len(transitions(caplog)) == 1 and "session expired" in transitions(caplog)[0]
    assert "GROK_SSO_COOKIE" in transitions(caplog)[0]
    two.success("GET")
    one.success("GET")
    assert one.condition("session") == "ok"
    assert transitions(caplog)[1:] == ["grok.com session valid again (was auth_expired)"]


def test_only_a_post_clears_anti_bot(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    health = SharedHealth(LocalStore(tmp_path))
    health.failure(STALE, "POST")
    health.success("GET")  # grok.com may not check the token on GETs
    assert health.condition("anti_bot") == "stale_challenge"
    health.success("POST")
    assert health.condition("anti_bot") == "ok"
    assert [m.split(":")[0] for m in transitions(caplog)] == [
        "grok.com anti-bot rejections started (stale_challenge)",
        "grok.com anti-bot rejections stopped",
    ]
    last = health.snapshot()["last_failure"]
    assert last["failure_class"] == "stale_challenge" and "/setup" in last["advice"]


def test_transient_failures_change_no_condition(tmp_path, caplog):
    health = SharedHealth(LocalStore(tmp_path))
    health.failure(e.error_for_status(429, "{}"), "POST")
    health.failure(e.UpstreamConnectionError("reset", dropped=True), "POST")
    assert health.snapshot()["conditions"] == {}
    assert health.snapshot()["last_failure"]["failure_class"] == "network"
    assert transitions(caplog) == []
