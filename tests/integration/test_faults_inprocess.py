"""The faults of test_faults.py once more, in-process (Flask test client against the fake):
the same outcomes, and afterwards the process's transport has no active transfer and no
transfer object is left reachable (nothing parked on an upstream stream)."""

from __future__ import annotations

import gc
import time

import pytest

from app import create_app
from app.grok.transport import CurlPool, _Transfer

from .faults import MID_STREAM_FAULTS, ROUTES, STATUS_FAULTS, Outcome, request_for

IDLE = 0.5


@pytest.fixture
def app_client(settings_for):
    app = create_app(settings_for(HEARTBEAT_SECS="0.2", STREAM_IDLE_TIMEOUT_SECS=str(IDLE)))
    return app.test_client()


def live_transfers() -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if type(obj) is _Transfer)


@pytest.fixture(autouse=True)
def nothing_leaks(fake):
    yield
    assert CurlPool.for_this_process().active_transfers == 0
    assert live_transfers() == 0
    fake.wait_stats(lambda s: s["active_streams"] == 0, timeout=3)


def call(app_client, route: str, message: str) -> Outcome:
    path, body = request_for(route, message)
    resp = app_client.post(path, json=body)
    return Outcome.read(route, resp.status_code, resp.headers, resp.get_data())


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("fault", STATUS_FAULTS)
def test_upstream_error_status(app_client, route, fault):
    marker, status, type_, failure_class = STATUS_FAULTS[fault]
    call(app_client, route, f"x #scenario:{marker}").assert_problem(status, type_, failure_class)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("fault", MID_STREAM_FAULTS)
def test_upstream_fails_mid_answer(app_client, fake, route, fault):
    marker, status, type_ = MID_STREAM_FAULTS[fault]
    out = call(app_client, route, f"x #scenario:{marker}")
    if route == "openai":
        out.assert_problem(status, type_)
    else:
        out.assert_inband_error(type_)


@pytest.mark.parametrize("route", ROUTES)
def test_response_headers_too_late(app_client, route):
    call(app_client, route, "x #scenario:slow_headers?delay=2").assert_problem(504, "gateway_timeout")


@pytest.mark.parametrize("route", ["openai-stream", "openai"])
def test_oversized_line(app_client, route):
    out = call(app_client, route, "x #scenario:huge_line")
    if route == "openai":
        out.assert_problem(502, "upstream_error")
    else:
        out.assert_inband_error("upstream_error")


@pytest.mark.parametrize("route", ["openai-stream", "native"])
def test_closing_the_response_mid_stream_aborts_upstream(app_client, fake, route):
    path, body = request_for(route, "x #scenario:slow?n=100&delay=0.05")
    resp = app_client.post(path, json=body)
    chunks = iter(resp.response)
    for _ in range(3):
        next(chunks)
    assert CurlPool.for_this_process().active_transfers == 1
    resp.close()  # what gunicorn does when the client is gone
    closed = time.time()
    assert CurlPool.for_this_process().active_transfers == 0
    stats = fake.wait_stats(lambda s: s["streams_aborted"] == 1, timeout=3)
    assert stats["last_abort_time"] - closed < 1.0
