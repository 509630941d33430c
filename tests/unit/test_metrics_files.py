"""/metrics under several workers reads every worker's sample files; a file another worker
has created but not yet sized must not fail the scrape (prometheus/client_python#1199)."""

from __future__ import annotations

import struct

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector

from app.ops.metrics import _WorkerFilesCollector


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
