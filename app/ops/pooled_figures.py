"""/status's request, stream and failure counts for every host on one Redis.

Each host counts for itself, off the hot path: its workers' Prometheus samples
(app/ops/metrics.py). With REDIS_URL, one worker per host at a time (a lock in the host's run
directory) publishes the host's figures to Redis every PUBLISH_SECONDS from a background
greenlet, one field per host in one hash; /status reads that hash once, adds its own host's
live figures to the other hosts' recent ones, and shows its own host's alone under `host`.
A host that stops publishing (stopped, or cut off from Redis) leaves the sum after
MAX_AGE_SECONDS. No request, token or stream touches Redis for this.

While Redis is away the failover store answers from the run directory, which holds this
host's field only: /status shows this host's figures, and no request fails.
"""

from __future__ import annotations

import logging
import time
import uuid

import gevent

log = logging.getLogger("grok_web_api.state")

SPACE = "host-figures"
KEY = "hosts"
PUBLISH_SECONDS = 1.0
MAX_AGE_SECONDS = 10.0
SUMMED = ("requests_served", "active_streams", "streams_started")


def host_id(store) -> str:
    """This host's id: made once in its run directory, so all its workers share it."""
    local = store.local
    local.put_new("host", "id", uuid.uuid4().hex)
    return local.get("host", "id")


class PooledFigures:
    """Publishes this host's figures and reads the pool of hosts' (see the module docstring)."""

    def __init__(self, store, metrics, *, publish_seconds: float = PUBLISH_SECONDS):
        self.store = store
        self.metrics = metrics
        self.publish_seconds = publish_seconds
        self.shared = store.backend == "redis"
        self.host = host_id(store) if self.shared else None
        self._greenlet = None

    def start(self) -> None:
        if self.shared and self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        while True:
            try:
                self.publish()
            except Exception:  # never let bookkeeping end the loop
                log.exception("could not publish this host's figures")
            gevent.sleep(self.publish_seconds)

    def publish(self) -> bool:
        """Write this host's figures, unless another of its workers did within the interval."""
        if not self.store.local.try_lock("host-figures", self.publish_seconds * 0.9):
            return False  # held until it expires: one publication per interval per host
        self.store.map_set(SPACE, KEY, self.host, {"at": time.time(), **self.metrics.status_figures()})
        return True

    def view(self) -> dict:
        """/status's figures: every live host's sum (with `host`: this one's), or this host's."""
        own = self.metrics.status_figures()
        if not self.shared:
            return own
        now = time.time()
        others = [
            figures
            for host, figures in self.store.map_get(SPACE, KEY).items()
            if host != self.host and isinstance(figures, dict) and now - figures.get("at", 0) < MAX_AGE_SECONDS
        ]
        return {**pooled([own, *others]), "workers": own["workers"], "hosts": 1 + len(others), "host": own}


def pooled(hosts: list[dict]) -> dict:
    total = {name: sum(int(h.get(name) or 0) for h in hosts) for name in SUMMED}
    failures: dict[str, int] = {}
    for h in hosts:
        for failure_class, count in (h.get("failures_by_class") or {}).items():
            failures[failure_class] = failures.get(failure_class, 0) + int(count)
    last = max((h.get("last_request_at") or 0 for h in hosts), default=0)
    return {**total, "failures_by_class": failures, "last_request_at": int(last) or None}
