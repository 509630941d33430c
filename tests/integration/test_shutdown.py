"""Graceful shutdown and reload: streams end with a final error event, never a cut connection."""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time

import requests

from tests.support.gunicorn import app_env
from tests.support.metrics import scrape, value, wait_for_workers, worker_pids


def open_chat(server, message: str, timeout: float = 30) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    conn.request(
        "POST",
        "/v1/chat",
        body=json.dumps({"message": message, "temporary": True}),
        headers={"Content-Type": "application/json"},
    )
    resp = conn.getresponse()
    assert resp.status == 200
    return conn, resp


def test_sigterm_ends_long_streams_with_an_error_line_and_lets_short_ones_finish(fake, start_server):
    server = start_server(app_env(fake, GRACEFUL_TIMEOUT="4"), workers=1)
    wait_for_workers(server, 1)
    long_conn, long_resp = open_chat(server, "go #scenario:slow?n=400&delay=0.05")  # ~20 s
    short_conn, short_resp = open_chat(server, "go #scenario:slow?n=15&delay=0.1")  # ~1.5 s
    first = long_resp.readline()
    assert json.loads(first)["result"]
    # A client's idle keep-alive connection must not keep the worker until the kill.
    idle = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    idle.request("GET", "/health")
    assert idle.getresponse().read()

    server.signal(signal.SIGTERM)
    sent_at = time.monotonic()
    # http.client raises IncompleteRead on a cut chunked body: reading to the end proves a clean end.
    rest = long_resp.read()
    ended_after = time.monotonic() - sent_at
    short_body = short_resp.read()
    long_conn.close()
    short_conn.close()

    last = json.loads(rest.rstrip(b"\n").rsplit(b"\n", 1)[-1])
    assert last["error"]["type"] == "shutting_down" and last["error"]["status"] == 503
    assert "server shutting down" in last["error"]["detail"]
    assert ended_after < 4, "the stream must end before gunicorn's graceful timeout kills the worker"
    # The short stream finished on its own, complete.
    assert b'"error"' not in short_body and b"isSoftStop" in short_body

    assert server.proc.wait(timeout=10) == 0
    assert idle.sock.recv(1) == b""  # closed by the server at the deadline
    idle.close()
    logs = server.log_path.read_text()
    assert "ended 1 upstream transfer(s) with a shutting_down error" in logs
    # The worker exited by itself, before gunicorn's graceful timeout or the master's SIGKILL.
    assert "Worker exiting (pid:" in logs and "Worker graceful timeout" not in logs
    fake.wait_stats(lambda s: s["streams_aborted"] >= 1)


def test_sighup_reload_keeps_serving_and_lets_streams_finish(fake, start_server):
    # The old workers drain for up to 3 s (5 s minus the margin), enough for the 2 s stream.
    server = start_server(app_env(fake, GRACEFUL_TIMEOUT="5"), workers=2)
    before = wait_for_workers(server, 2)
    conn, stream = open_chat(server, "go #scenario:slow?n=20&delay=0.1")  # ~2 s, spans the reload
    stream.readline()

    results: list[object] = []
    stop = threading.Event()

    def hammer():
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    health = session.get(server.url + "/health", timeout=10).status_code
                    chat = session.post(server.url + "/v1/chat", timeout=10, json={"message": "hi", "temporary": True})
                    results.append((health, chat.status_code, b"isSoftStop" in chat.content))
                except requests.RequestException as exc:  # a refused or reset request fails the test
                    results.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    server.signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    after: set[str] = set()
    while time.monotonic() < deadline:
        after = worker_pids(scrape(server))
        if len(after) == 2 and not after & before:
            break
        time.sleep(0.2)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(15)
    body = stream.read()
    conn.close()

    assert len(after) == 2 and not after & before, "new workers replace the old ones"
    assert results and all(r == (200, 200, True) for r in results), [r for r in results if r != (200, 200, True)]
    assert b'"error"' not in body and b"isSoftStop" in body
    # Counters of the old workers survive them; their live gauges are gone (child_exit).
    samples = scrape(server)
    assert worker_pids(samples) == after
    assert value(samples, "grok_web_api_requests_total", route="/health", status="200") >= len(results)
    assert value(samples, "grok_web_api_active_streams") == 0
