"""/status's counts over several hosts on one Redis (app/ops/pooled_figures.py): summed over
the hosts that published lately, one publication per interval per host, own figures live."""

from __future__ import annotations

import time

from app.ops.pooled_figures import KEY, SPACE, PooledFigures
from app.state import open_store


class Counted:
    """A host's Prometheus figures, as Metrics.status_figures gives them."""

    def __init__(self, requests=0, active=0, started=0, failures=None, last=None, workers=2):
        self.figures = {
            "requests_served": requests,
            "last_request_at": last,
            "active_streams": active,
            "streams_started": started,
            "failures_by_class": failures or {},
            "workers": workers,
        }

    def status_figures(self) -> dict:
        return dict(self.figures)


def test_each_host_sees_the_sum_and_its_own(redis_session, redis_prefix, tmp_path):
    stores = [open_store(redis_session.url, tmp_path / name, redis_prefix) for name in ("a", "b", "b")]
    a = PooledFigures(stores[0], Counted(10, 1, 4, {"rate_limited": 2}, last=1000))
    b = PooledFigures(stores[1], Counted(5, 2, 3, {"rate_limited": 1, "network": 1}, last=2000, workers=3))
    b_other_worker = PooledFigures(stores[2], b.metrics)
    assert a.host != b.host == b_other_worker.host  # one id per run directory (host), not per worker
    assert a.publish() and b.publish()
    assert not b_other_worker.publish()  # the host published within the interval already
    seen_by_b = b.view()
    assert seen_by_b["requests_served"] == 15 and seen_by_b["active_streams"] == 3 and seen_by_b["streams_started"] == 7
    assert seen_by_b["failures_by_class"] == {"rate_limited": 3, "network": 1}
    assert seen_by_b["last_request_at"] == 2000 and seen_by_b["hosts"] == 2 and seen_by_b["workers"] == 3
    assert seen_by_b["host"] == b.metrics.status_figures()
    # b's own figures are read live, a's as last published.
    b.metrics.figures["requests_served"] = 7
    a.metrics.figures["requests_served"] = 99
    assert b.view()["requests_served"] == 17 and a.view()["requests_served"] == 104


def test_a_host_that_stops_publishing_leaves_the_sum(redis_session, redis_prefix, tmp_path):
    a = PooledFigures(open_store(redis_session.url, tmp_path / "a", redis_prefix), Counted(10))
    b = PooledFigures(open_store(redis_session.url, tmp_path / "b", redis_prefix), Counted(5))
    a.publish()
    assert b.view()["requests_served"] == 15
    stale = {**a.metrics.status_figures(), "at": time.time() - 11}
    a.store.map_set(SPACE, KEY, a.host, stale)
    view = b.view()
    assert view["requests_served"] == 5 and view["hosts"] == 1


def test_without_redis_the_figures_are_the_hosts_alone(tmp_path):
    figures = PooledFigures(open_store(None, tmp_path), Counted(3))
    assert not figures.shared
    assert figures.view() == Counted(3).status_figures()
