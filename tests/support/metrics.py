"""Reading /metrics in tests: parsed samples, and waiting for every gunicorn worker to be up."""

from __future__ import annotations

import time

import requests
from prometheus_client.parser import text_string_to_metric_families


def scrape(server, headers: dict | None = None) -> dict[str, list]:
    """{family name: [Sample, ...]} from one scrape (answered by whichever worker)."""
    resp = requests.get(server.url + "/metrics", headers=headers or {}, timeout=10)
    resp.raise_for_status()
    return {family.name: family.samples for family in text_string_to_metric_families(resp.text)}


def value(samples: dict[str, list], sample_name: str, **labels) -> float:
    """Sum of the samples called `sample_name` whose labels include `labels` (0 when none)."""
    return sum(
        s.value
        for family in samples.values()
        for s in family
        if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def worker_pids(samples: dict[str, list]) -> set[str]:
    """Workers that created the app (each reports its session_valid sample)."""
    return {s.labels["pid"] for s in samples.get("grok_web_api_session_valid", [])}


def wait_for_workers(server, count: int, headers: dict | None = None, timeout: float = 20.0) -> set[str]:
    """Wait until `count` workers have loaded the app, so a signal sent now is never lost
    (gunicorn drops a SIGTERM that reaches a worker before it installed its handlers)."""
    deadline = time.monotonic() + timeout
    while True:
        pids = worker_pids(scrape(server, headers))
        if len(pids) >= count or time.monotonic() > deadline:
            return pids
        time.sleep(0.1)
