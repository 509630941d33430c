"""/metrics and /status under several workers read every worker's sample files; a file another
worker has created but not yet sized must not fail the scrape (prometheus/client_python#1199)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector

from app.ops.metrics import _WorkerFilesCollector
from tests.support.environ import hermetic_environ
from tests.support.gunicorn import ROOT


def write_counter(path, pid, value):
    samples = MmapedDict(str(path / f"counter_{pid}.db"))
    key = mmap_key("grok_web_api_requests", "grok_web_api_requests_total", ["route"], ["/health"], "Requests")
    samples.write_value(key, value, 0.0)
    samples.close()


def test_a_file_still_being_created_is_left_out_of_the_scrape(tmp_path):
    write_counter(tmp_path, 101, 3.0)
    write_counter(tmp_path, 102, 4.0)
    (tmp_path / "gauge_livesum_103.db").touch()  # created, not yet sized
    with pytest.raises(struct.error):  # what the stock collector does with it
        MultiProcessCollector(CollectorRegistry(), path=str(tmp_path)).collect()
    registry = CollectorRegistry()
    registry.register(_WorkerFilesCollector(str(tmp_path)))
    text = generate_latest(registry).decode()
    assert 'grok_web_api_requests_total{route="/health"} 7.0' in text


def test_every_readable_file_is_merged(tmp_path):
    write_counter(tmp_path, 101, 1.0)
    registry = CollectorRegistry()
    registry.register(_WorkerFilesCollector(str(tmp_path)))
    assert 'grok_web_api_requests_total{route="/health"} 1.0' in generate_latest(registry).decode()


WORKER = """
import os, sys
os.environ["PROMETHEUS_MULTIPROC_DIR"] = sys.argv[1]
from app.ops import metrics
worker = metrics.create()
worker.worker_started()
worker.request_answered("/v1/chat", "POST", 200, 0.1)
worker.request_answered("/health", "GET", 200, 0.001)  # a probe: not an API request
worker.stream_started("/v1/chat")
worker.upstream_failures.labels("anti_bot").inc()
print(os.getpid())
"""
READER = """
import json, os, sys
os.environ["PROMETHEUS_MULTIPROC_DIR"] = sys.argv[1]
from prometheus_client import multiprocess
from app.ops import metrics
multiprocess.mark_process_dead(int(sys.argv[2]))  # what gunicorn's child_exit does
print(json.dumps(metrics.create().status_figures()))
"""


def test_status_figures_come_from_every_workers_samples_with_one_dead_worker_rule(tmp_path):
    def run(script, *args):
        env = hermetic_environ(PYTHONPATH=str(ROOT))
        done = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path), *args], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    dead, _alive = run(WORKER), run(WORKER)
    figures = json.loads(run(READER, dead))
    # The dead worker's counts stay in the totals; its worker and stream gauges are gone.
    assert figures["requests_served"] == 2 and figures["streams_started"] == 2
    assert figures["failures_by_class"] == {"anti_bot": 2}
    assert figures["workers"] == 1 and figures["active_streams"] == 1
    assert figures["last_request_at"] is not None
