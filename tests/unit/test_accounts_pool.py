"""The account pool's decisions (app/grok/accounts.py), on a real run-directory store."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from app.grok import errors as gerr
from app.grok.accounts import (
    Account,
    AccountPool,
    NoAccountAvailable,
    UnknownAccount,
    infer_tier,
    mode_of,
    proxy_display,
)
from app.ops import logs
from app.state.local import LocalStore


@pytest.fixture(autouse=True)
def _fresh_redactor(monkeypatch):
    # The process-wide redactor keeps secrets other tests taught it (some one letter long).
    monkeypatch.setattr(logs, "redactor", logs.Redactor())


EXPIRED = gerr.error_for_status(401, '{"code":16,"message":"Bad credentials. [WKE=unauthenticated:bad-credentials]"}')
BLOCKED = gerr.error_for_status(403, '{"code":7,"message":"user is blocked [WKE=blocked-user]"}')


def too_many(retry_after=None):
    return gerr.error_for_status(429, "{}", {"retry-after": str(retry_after)} if retry_after else {})


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


class FakeClient:
    """What the pool asks of a client: its config's timeout and the rate-limits endpoint."""

    class config:
        request_timeout = 5.0

    def __init__(self, answers=None):
        self.answers = answers or {}
        self.asked = []

    def rate_limits(self, mode):
        import json

        from app.grok.transport import Response

        self.asked.append(mode)
        answer = self.answers.get(mode)
        if isinstance(answer, Exception):
            raise answer
        return Response(200, {}, json.dumps(answer or {}).encode())


def make_pool(tmp_path, labels=("a", "b", "c"), *, strict=True, clients=None, store=None):
    clock = Clock()
    accounts = [Account(label, f"sso-{label}") for label in labels]
    clients = clients or {label: FakeClient() for label in labels}
    pool = AccountPool(accounts, store or LocalStore(tmp_path), clients, strict=strict, clock=clock)
    return pool, clock


def test_the_account_with_the_most_quota_left_serves_and_ties_are_spread(tmp_path):
    pool, _ = make_pool(tmp_path)
    picks = Counter(pool.choose("auto").label for _ in range(300))
    assert set(picks) == {"a", "b", "c"} and min(picks.values()) > 50  # never synced: all full, spread
    pool.record_quota("a", "auto", {"remainingQueries": 5, "totalQueries": 50, "windowSizeSeconds": 7200})
    pool.record_quota("b", "auto", {"remainingQueries": 40, "totalQueries": 50, "windowSizeSeconds": 7200})
    pool.record_quota("c", "auto", {"remainingQueries": 40, "totalQueries": 50, "windowSizeSeconds": 7200})
    picks = Counter(pool.choose("auto").label for _ in range(200))
    assert set(picks) == {"b", "c"}
    for _ in range(36):  # requests started since the sync lower b's estimate below c's
        pool.started("b", "auto")
    assert {pool.choose("auto").label for _ in range(50)} == {"c"}
    assert pool.quotas(["b"])["b"]["auto"]["remaining"] == 4


def test_a_rate_limited_mode_cools_down_and_the_pool_answers_with_the_earliest_retry(tmp_path):
    pool, clock = make_pool(tmp_path, ("a", "b"))
    assert pool.failed("a", "auto", too_many(30)) is True
    assert {pool.choose("auto").label for _ in range(20)} == {"b"}
    assert pool.choose("fast").label in ("a", "b")  # only the mode that met the limit
    pool.failed("b", "auto", too_many(90))
    with pytest.raises(NoAccountAvailable) as info:
        pool.choose("auto")
    assert info.value.retry_after == pytest.approx(30) and info.value.failure_class == "rate_limited"
    clock.now += 31
    assert pool.choose("auto").label == "a"


def test_a_limit_without_retry_after_lasts_the_known_window(tmp_path):
    pool, clock = make_pool(tmp_path, ("a",))
    pool.record_quota("a", "expert", {"remainingQueries": 3, "totalQueries": 50, "windowSizeSeconds": 7200})
    usage = gerr.StreamError("You have reached your usage limit", failure_class=gerr.USAGE_LIMIT)
    pool.failed("a", "expert", usage)
    with pytest.raises(NoAccountAvailable) as info:
        pool.choose("expert")
    assert info.value.retry_after == pytest.approx(7200)
    # The periodic sync finds queries again: the usage-limit cooldown ends early.
    pool.record_quota("a", "expert", {"remainingQueries": 10, "totalQueries": 50, "windowSizeSeconds": 7200})
    assert pool.choose("expert").label == "a"


def test_the_sync_right_after_a_limit_does_not_lift_it(tmp_path):
    pool, _ = make_pool(tmp_path, ("a",))
    usage = gerr.StreamError("usage limit", failure_class=gerr.USAGE_LIMIT)
    pool.failed("a", "auto", usage)
    pool.record_quota("a", "auto", {"remainingQueries": 10, "totalQueries": 50}, lift=False)
    with pytest.raises(NoAccountAvailable):
        pool.choose("auto")


def test_an_empty_quota_cools_the_mode_for_its_window(tmp_path):
    pool, _ = make_pool(tmp_path, ("a", "b"))
    pool.record_quota("a", "fast", {"remainingQueries": 0, "totalQueries": 30, "windowSizeSeconds": 86400})
    assert {pool.choose("fast").label for _ in range(20)} == {"b"}
    assert pool.snapshot()[0]["cooldowns"]["fast"]["reason"] == "quota_exhausted"


def test_parking_is_logged_once_per_transition_and_ends_with_new_credentials(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    store = LocalStore(tmp_path)
    pool, _ = make_pool(tmp_path, ("a", "b"), store=store)
    other_worker, _ = make_pool(tmp_path, ("a", "b"), store=LocalStore(tmp_path))
    for p in (pool, other_worker, pool):
        p.failed("a", None, EXPIRED)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("account a parked") and "accounts add" in warnings[0]
    assert {pool.choose("auto").label for _ in range(20)} == {"b"}
    assert other_worker.snapshot()[0]["state"] == "parked"
    # A success on the parked account (a session check, a request) frees it, once.
    pool.observe(None, type("O", (), {"account": "a", "error": None})())
    other_worker.observe(None, type("O", (), {"account": "a", "error": None})())
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings[1:] == ["account a usable again (was auth_expired)"]
    # New cookies void a parking: the same label with other credentials is a new account.
    pool.failed("a", None, BLOCKED)
    renewed = AccountPool(
        [Account("a", "new-sso"), Account("b", "sso-b")], store, {"a": None, "b": None}, clock=pool.clock
    )
    assert "a" in pool.parked() and renewed.parked() == {}


def test_when_every_account_is_parked_the_diagnosis_is_the_answer(tmp_path):
    pool, _ = make_pool(tmp_path, ("a", "b"))
    pool.failed("a", "auto", BLOCKED)
    pool.failed("b", "auto", BLOCKED)
    with pytest.raises(NoAccountAvailable) as info:
        pool.choose("auto")
    assert info.value.retry_after is None and info.value.failure_class == "account_blocked"
    assert [p["account"] for p in info.value.parked] == ["a", "b"]


def test_a_pinned_account_is_used_or_explained(tmp_path):
    pool, _ = make_pool(tmp_path, ("a", "b"))
    assert pool.choose("auto", pinned="b").label == "b"
    pool.failed("b", "auto", too_many(12))
    with pytest.raises(NoAccountAvailable) as info:
        pool.choose("auto", pinned="b")
    assert info.value.retry_after == pytest.approx(12)
    with pytest.raises(UnknownAccount):
        pool.choose("auto", pinned="nobody")


def test_the_settings_account_alone_is_never_refused(tmp_path):
    pool, _ = make_pool(tmp_path, ("default",), strict=False)
    pool.failed("default", "auto", too_many(60))
    pool.failed("default", "auto", EXPIRED)
    assert pool.choose("auto").label == "default"
    assert pool.snapshot()[0]["failures"] == {"auth_expired": 1, "rate_limited": 1}


def test_disabled_accounts_serve_nothing(tmp_path):
    store = LocalStore(tmp_path)
    accounts = [Account("a", "x", enabled=False), Account("b", "y")]
    pool = AccountPool(accounts, store, {"a": None, "b": None})
    assert {pool.choose("auto").label for _ in range(10)} == {"b"}
    assert pool.default().label == "b"
    assert [a["state"] for a in pool.snapshot()] == ["disabled", "active"]


def test_quota_sync_reads_each_mode_once_per_interval_and_infers_the_tier(tmp_path):
    answers = {
        "fast": {"remainingQueries": 120, "totalQueries": 140, "windowSizeSeconds": 7200},
        "expert": {"remainingQueries": 40, "totalQueries": 50, "windowSizeSeconds": 7200},
    }
    clients = {"a": FakeClient(answers), "b": FakeClient({"fast": EXPIRED})}
    pool, clock = make_pool(tmp_path, ("a", "b"), clients=clients)
    pool.started("a", "expert")
    assert pool.sync_due(600) == ["a", "b"]
    assert clients["a"].asked == ["expert", "fast"] and clients["b"].asked == ["fast"]
    snap = {a["label"]: a for a in pool.snapshot()}
    assert snap["a"]["tier"] == "super" and snap["a"]["quota"]["expert"]["remaining"] == 40
    assert snap["b"]["tier"] is None and snap["b"]["quota"] == {}
    clock.now += 100
    assert pool.sync_due(600) == ["b"]  # a is fresh; b never got an answer
    clock.now += 600
    assert "a" in pool.sync_due(600)


def test_owners_are_remembered(tmp_path):
    pool, _ = make_pool(tmp_path, ("a", "b"))
    pool.own("conv", "c-1", "b")
    pool.own("conv", "c-2", "nobody")  # not an account of the pool: nothing recorded
    assert pool.owner("conv", "c-1") == "b" and pool.owner("conv", "c-2") is None
    assert pool.owner("file", "c-1") is None


def test_helpers():
    assert mode_of({"modeId": "expert"}) == "expert"
    assert mode_of({"modelMode": "grok-43"}) == "grok-43"
    assert mode_of({"modelName": "imagine-image-edit", "mediaGenInput": {}}) == "media"
    assert mode_of({}) == "auto"
    assert infer_tier({"fast": 30}) == "free" and infer_tier({"fast": 140}) == "super"
    assert infer_tier({"auto": 150}) == "heavy" and infer_tier({"expert": 50}) is None
    assert proxy_display("socks5h://user:pw@10.0.0.1:1080") == "socks5h://***@10.0.0.1:1080"
    account = Account("a", "sso-value-1234", proxy="http://u:pw-secret@proxy:3128")
    assert "sso-value" not in repr(account) and "pw-secret" in account.secrets
