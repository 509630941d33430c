"""/metrics under gunicorn with two workers: samples from every worker, whichever answers."""

from __future__ import annotations

import re
import threading
import time

import pytest
import requests

from tests.support.gunicorn import GunicornServer, app_env
from tests.support.metrics import scrape, value, wait_for_workers, worker_pids

KEY = "metrics-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def two_workers(fake_module):
    with GunicornServer(app_env(fake_module, API_KEY=KEY), workers=2) as srv:
        srv.fake = fake_module
        wait_for_workers(srv, 2, AUTH)
        yield srv


def chat(server, message):
    return requests.post(
        server.url + "/v1/chat", json={"message": message, "temporary": True}, headers=AUTH, timeout=15
    )


def health_pids(server) -> set[str]:
    return set(re.findall(r"\[(\d+)\] grok_web_api\.request: request \S+ method=GET path=/health ", server.logs()))


def test_metrics_need_the_key(two_workers):
    resp = requests.get(two_workers.url + "/metrics", timeout=10)
    assert resp.status_code == 401
    ok = requests.get(two_workers.url + "/metrics", headers=AUTH, timeout=10)
    assert ok.status_code == 200 and ok.headers["Content-Type"].startswith("text/plain")


def test_request_counts_add_up_across_workers(two_workers):
    base = value(scrape(two_workers, AUTH), "grok_web_api_requests_total", route="/health", status="200")
    sent = 0
    # New connections, so both workers take some; stop once the log shows that they did.
    while sent < 10 or (len(health_pids(two_workers)) < 2 and sent < 300):
        assert requests.get(two_workers.url + "/health", timeout=10).status_code == 200
        sent += 1
    assert len(health_pids(two_workers)) == 2, "both workers answered /health"
    counts = {
        value(scrape(two_workers, AUTH), "grok_web_api_requests_total", route="/health", status="200") for _ in range(6)
    }
    assert counts == {base + sent}
    samples = scrape(two_workers, AUTH)
    assert value(samples, "grok_web_api_request_duration_seconds_count", route="/health", method="GET") == base + sent
    assert len(worker_pids(samples)) == 2


def test_streams_are_measured_without_the_route_doing_anything(two_workers):
    before = scrape(two_workers, AUTH)
    done = threading.Event()
    answer = {}

    def slow():
        answer["resp"] = chat(two_workers, "go #scenario:slow?n=15&delay=0.1")
        done.set()

    threading.Thread(target=slow).start()
    active = 0.0
    deadline = time.monotonic() + 5
    while not done.is_set() and time.monotonic() < deadline:
        active = max(active, value(scrape(two_workers, AUTH), "grok_web_api_active_streams", route="/v1/chat"))
        if active:
            break
        time.sleep(0.05)
    assert done.wait(15) and answer["resp"].status_code == 200
    assert active == 1
    after = scrape(two_workers, AUTH)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert value(after, "grok_web_api_active_streams", route="/v1/chat") == 0
    assert delta("grok_web_api_stream_first_byte_seconds_count", route="/v1/chat") == 1
    assert delta("grok_web_api_stream_duration_seconds_count", route="/v1/chat", outcome="completed") == 1
    assert delta("grok_web_api_stream_duration_seconds_sum", route="/v1/chat") >= 1.0
    # The first byte went out long before the stream's end.
    assert delta("grok_web_api_stream_first_byte_seconds_sum", route="/v1/chat") < 1.0
    assert delta("grok_web_api_requests_total", route="/v1/chat", method="POST", status="200") == 1


def test_upstream_failures_by_class_and_session_validity(two_workers):
    before = scrape(two_workers, AUTH)
    assert chat(two_workers, "x #scenario:anti_bot").status_code == 403
    assert chat(two_workers, "x #scenario:rate_limited").status_code == 429
    assert chat(two_workers, "x #scenario:expired").status_code == 503
    after = scrape(two_workers, AUTH)
    for failure_class in ("anti_bot", "rate_limited", "auth_expired"):
        assert (
            value(after, "grok_web_api_upstream_failures_total", failure_class=failure_class)
            - value(before, "grok_web_api_upstream_failures_total", failure_class=failure_class)
        ) == 1
    validity = {s.labels["pid"]: s.value for s in after["grok_web_api_session_valid"]}
    assert len(validity) == 2 and 0.0 in validity.values()
    # A success on each worker marks the session valid again.
    for _ in range(100):
        if 0.0 not in {s.value for s in scrape(two_workers, AUTH)["grok_web_api_session_valid"]}:
            break
        assert chat(two_workers, "hello").status_code == 200
    assert {s.value for s in scrape(two_workers, AUTH)["grok_web_api_session_valid"]} == {1.0}


def test_routes_are_labelled_by_rule_never_by_raw_path(two_workers):
    assert requests.get(two_workers.url + "/no/such/path-4711", headers=AUTH, timeout=10).status_code == 404
    text = requests.get(two_workers.url + "/metrics", headers=AUTH, timeout=10).text
    assert "path-4711" not in text
    assert value(scrape(two_workers, AUTH), "grok_web_api_requests_total", route="unmatched", status="404") >= 1


def test_many_apps_in_one_process_keep_separate_registries(settings_for):
    from app import create_app

    apps = [create_app(settings_for()) for _ in range(3)]
    for n, app in enumerate(apps):
        client = app.test_client()
        for _ in range(n + 1):
            assert client.get("/health").status_code == 200
    for n, app in enumerate(apps):
        text = app.test_client().get("/metrics").get_data(as_text=True)
        assert f'grok_web_api_requests_total{{method="GET",route="/health",status="200"}} {n + 1}.0' in text
