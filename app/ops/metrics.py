"""Prometheus metrics: the one place requests, streams and upstream failures are counted.

/metrics serves them, and /status reads its figures from the same collectors
(`status_figures`), so the two never disagree.

Under gunicorn every worker writes its samples to files in
PROMETHEUS_MULTIPROC_DIR (`<runtime dir>/metrics`, set by the master in
app.ops.gunicorn_config before any worker imports prometheus_client), and a read
answered by any worker aggregates all of them. One rule for dead workers: their
counters and histograms keep counting in the totals (their files stay), their live
gauges (active streams, the worker itself, session validity) go when the master
marks them dead (`child_exit`). Without that directory (Flask test client,
scripts) each app has a registry of its own, so many apps can live in one process.

Requests and streams are measured by app.web.telemetry for every route (the
WebSocket chat counts its turns as streams); the routes themselves never call
this module. Upstream failures are counted by observing the app's SessionState.
"""

from __future__ import annotations

import logging
import os
import struct
import time

from ..grok.session import Outcome, SessionState

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_FIRST_BYTE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120)
_STREAM_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


# Operations probes (by route): monitoring must not inflate /status's requests_served.
PROBE_ROUTES = ("/health", "/status", "/setup", "/metrics")


def is_probe(route: str) -> bool:
    return any(route == probe or route.startswith(probe + "/") for probe in PROBE_ROUTES)


def multiprocess_dir() -> str | None:
    path = os.environ.get(MULTIPROC_ENV)
    return path if path and os.path.isdir(path) else None


class Metrics:
    """The app's metric families; `registry` is None in multiprocess mode."""

    def __init__(self, registry=None):
        from prometheus_client import Counter, Gauge, Histogram

        self.registry = registry
        self.requests = Counter(
            "grok_web_api_requests",
            "HTTP requests answered, by route (URL rule), method and status",
            ["route", "method", "status"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "grok_web_api_request_duration_seconds",
            "Time from request start to the response headers (the whole request unless it streams)",
            ["route", "method"],
            buckets=_REQUEST_BUCKETS,
            registry=registry,
        )
        self.first_byte_seconds = Histogram(
            "grok_web_api_stream_first_byte_seconds",
            "Streaming responses: time from request start to the first body byte sent to the client",
            ["route"],
            buckets=_FIRST_BYTE_BUCKETS,
            registry=registry,
        )
        self.stream_seconds = Histogram(
            "grok_web_api_stream_duration_seconds",
            "Streaming responses: time from request start to the end of the stream",
            ["route", "outcome"],
            buckets=_STREAM_BUCKETS,
            registry=registry,
        )
        self.active_streams = Gauge(
            "grok_web_api_active_streams",
            "Streaming responses (and WebSocket chat turns) in progress",
            ["route"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.streams_started = Counter(
            "grok_web_api_streams_started",
            "Streaming responses (and WebSocket chat turns) started",
            ["route"],
            registry=registry,
        )
        self.last_request = Gauge(
            "grok_web_api_last_request_timestamp_seconds",
            "When the last API request was answered (health, status, setup and metrics probes aside)",
            multiprocess_mode="max",
            registry=registry,
        )
        self.workers = Gauge(
            "grok_web_api_workers",
            "Worker processes serving (1 per live worker)",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.model_turns = Counter(
            "grok_web_api_model_turns",
            "Model API requests by how their grok.com conversation was found (X-Grok-Continuity): "
            "continued, new, fallback or off",
            ["route", "continuity"],
            registry=registry,
        )
        self.upstream_failures = Counter(
            "grok_web_api_upstream_failures",
            "Failed grok.com requests, by failure class",
            ["failure_class"],
            registry=registry,
        )
        self.session_valid = Gauge(
            "grok_web_api_session_valid",
            "1 while the last grok.com answer showed a valid session, 0 once it reported the "
            "cookies expired (one sample per worker)",
            multiprocess_mode="liveall",
            registry=registry,
        )

    # -- called by app.web.telemetry -----------------------------------------------------------
    def request_answered(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in _METHODS else "other"
        self.requests.labels(route, method, str(status)).inc()
        self.request_seconds.labels(route, method).observe(seconds)
        if not is_probe(route):
            self.last_request.set(time.time())

    def model_turn(self, route: str, continuity: str) -> None:
        self.model_turns.labels(route, continuity).inc()

    def stream_started(self, route: str) -> None:
        self.active_streams.labels(route).inc()
        self.streams_started.labels(route).inc()

    def first_byte(self, route: str, seconds: float) -> None:
        self.first_byte_seconds.labels(route).observe(seconds)

    def stream_finished(self, route: str, seconds: float, outcome: str) -> None:
        self.active_streams.labels(route).dec()
        self.stream_seconds.labels(route, outcome).observe(seconds)

    def worker_started(self) -> None:
        self.workers.set(1)

    # -- SessionState observer ---------------------------------------------------------------
    def observe(self, state: SessionState) -> None:
        self.session_valid.set(1 if state.valid else 0)
        state.observers.append(self._upstream_outcome)

    def _upstream_outcome(self, state: SessionState, outcome: Outcome) -> None:
        if outcome.error is not None:
            self.upstream_failures.labels(outcome.error.failure_class).inc()
        self.session_valid.set(1 if state.valid else 0)

    def _registry(self):
        """This app's registry, or one reading every worker's sample files."""
        from prometheus_client import CollectorRegistry

        if self.registry is not None:
            return self.registry
        registry = CollectorRegistry()
        registry.register(_WorkerFilesCollector(multiprocess_dir()))
        return registry

    def exposition(self, accounts: list[dict] | None = None) -> tuple[bytes, str]:
        """The text exposition of every worker's samples (and of the pool's `accounts`, as
        /status shows them), and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        registry = self._registry()
        if accounts is not None:
            combined = CollectorRegistry()
            combined.register(_Merged(registry))
            combined.register(_AccountsCollector(accounts))
            registry = combined
        return generate_latest(registry), CONTENT_TYPE_LATEST

    def status_figures(self) -> dict:
        """/status's counts, read from the samples /metrics serves (every worker's)."""
        totals: dict[str, float] = {}
        requests = 0.0
        failures: dict[str, int] = {}
        for family in self._registry().collect():
            for sample in family.samples:
                if sample.name == "grok_web_api_requests_total":
                    if not is_probe(sample.labels["route"]):
                        requests += sample.value
                elif sample.name == "grok_web_api_upstream_failures_total" and sample.value:
                    failures[sample.labels["failure_class"]] = int(sample.value)
                elif sample.name in _FIGURES:
                    totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
        last = totals.get("grok_web_api_last_request_timestamp_seconds", 0.0)
        return {
            "requests_served": int(requests),
            "last_request_at": int(last) or None,
            "active_streams": max(0, int(totals.get("grok_web_api_active_streams", 0))),
            "streams_started": int(totals.get("grok_web_api_streams_started_total", 0)),
            "failures_by_class": failures,
            "workers": int(totals.get("grok_web_api_workers", 0)),
        }


_FIGURES = frozenset(
    {
        "grok_web_api_active_streams",
        "grok_web_api_streams_started_total",
        "grok_web_api_last_request_timestamp_seconds",
        "grok_web_api_workers",
    }
)


class _Merged:
    """Another registry's samples (every worker's, or the app's own), in a scrape's registry."""

    def __init__(self, registry):
        self.registry = registry

    def collect(self):
        return self.registry.collect()


class _AccountsCollector:
    """The pool's accounts, read from the shared-state store at scrape time (so every worker of
    every host on one Redis reports the same figures, counted once)."""

    STATES = ("active", "cooling", "parked", "disabled")

    def __init__(self, accounts: list[dict]):
        self.accounts = accounts

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        state = GaugeMetricFamily(
            "grok_web_api_account_state", "1 for each account's current state", labels=["account", "state"]
        )
        remaining = GaugeMetricFamily(
            "grok_web_api_account_quota_remaining",
            "Queries left per account and grok.com mode (estimated since the last rate-limits sync)",
            labels=["account", "mode"],
        )
        total = GaugeMetricFamily(
            "grok_web_api_account_quota_total", "Queries per window per account and mode", labels=["account", "mode"]
        )
        cooling = GaugeMetricFamily(
            "grok_web_api_account_cooldown_seconds",
            "Seconds until an account may serve a mode again",
            labels=["account", "mode"],
        )
        requests = CounterMetricFamily(
            "grok_web_api_account_requests", "Requests grok.com accepted, per account", labels=["account"]
        )
        failures = CounterMetricFamily(
            "grok_web_api_account_failures",
            "Failed grok.com requests per account and failure class",
            labels=["account", "failure_class"],
        )
        for account in self.accounts:
            label = account["label"]
            for name in self.STATES:
                state.add_metric([label, name], 1.0 if account["state"] == name else 0.0)
            for mode, quota in account["quota"].items():
                if quota.get("remaining") is not None:
                    remaining.add_metric([label, mode], quota["remaining"])
                if quota.get("total") is not None:
                    total.add_metric([label, mode], quota["total"])
            for mode, cooldown in account["cooldowns"].items():
                cooling.add_metric([label, mode], max(0.0, cooldown["seconds_left"]))
            requests.add_metric([label], account["requests"])
            for failure_class, count in account["failures"].items():
                failures.add_metric([label, failure_class], count)
        return [state, remaining, total, cooling, requests, failures]


class _WorkerFilesCollector:
    """prometheus_client's MultiProcessCollector, minus files another worker is still creating.

    A worker creates its sample file empty and sizes it a moment later; a scrape in between
    made MultiProcessCollector raise (prometheus/client_python#1199) and /metrics answer 500.
    Such a file holds no samples yet, so it is left out of this scrape.
    """

    def __init__(self, path: str | None):
        self.path = path

    def collect(self):
        import glob

        from prometheus_client.mmap_dict import MmapedDict
        from prometheus_client.multiprocess import MultiProcessCollector

        readable = []
        for name in glob.glob(os.path.join(self.path or "", "*.db")):
            try:
                MmapedDict.read_all_values_from_file(name)
            except (OSError, ValueError, struct.error):
                log.debug("metrics file %s is not readable yet; left out of this scrape", os.path.basename(name))
                continue
            readable.append(name)
        return MultiProcessCollector.merge(readable, accumulate=True)


_process_metrics: tuple[int, Metrics] | None = None


def _for_this_process() -> Metrics:
    """Multiprocess samples are keyed by metric name per process: one set per worker."""
    global _process_metrics
    from prometheus_client import values

    if values.ValueClass is values.MutexValue:
        # prometheus_client was imported before the directory was known (e.g. by a
        # gunicorn hook in the master): switch to file-backed values before creating any.
        values.ValueClass = values.get_value_class()
    if _process_metrics is None or _process_metrics[0] != os.getpid():
        _process_metrics = (os.getpid(), Metrics())
    return _process_metrics[1]


def create() -> Metrics:
    """The metrics of a new app: this worker's (under gunicorn), else a registry of its own."""
    if multiprocess_dir():
        return _for_this_process()
    from prometheus_client import CollectorRegistry

    return Metrics(CollectorRegistry(auto_describe=True))
