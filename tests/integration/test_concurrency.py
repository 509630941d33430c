"""50 slow upstream streams through the real app under gunicorn's gevent worker progress
in parallel, /health keeps answering, and gevent's monitor reports no blocked hub."""

import http.client
import json
import threading
import time
from urllib.parse import urlsplit

from tests.support.gunicorn import GunicornServer, app_env

STREAMS = 50
TOKENS = 20
DELAY = 0.1


def _stream(url: str, results: list, index: int) -> None:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    body = json.dumps({"message": f"#scenario:slow?n={TOKENS}&delay={DELAY}"})
    start = time.monotonic()
    conn.request("POST", "/v1/chat", body=body, headers={"content-type": "application/json"})
    resp = conn.getresponse()
    token_times = []
    while True:
        line = resp.readline()
        if not line:
            break
        if b'"token":"s' in line:
            token_times.append(time.monotonic())
    conn.close()
    results[index] = (resp.status, start, token_times)


def test_fifty_slow_streams_in_parallel_with_a_responsive_hub(fake_module):
    # A blocked hub longer than 0.5 s is reported; a stock blocking curl_cffi call would
    # block it for a whole 2 s stream.
    env = app_env(fake_module, GEVENT_MAX_BLOCKING_TIME="0.5")
    with GunicornServer(env, workers=1, gevent_monitor=True) as srv:
        results: list = [None] * STREAMS
        threads = [threading.Thread(target=_stream, args=(srv.url, results, i)) for i in range(STREAMS)]
        health_latencies = []
        stop = threading.Event()

        def probe():
            parts = urlsplit(srv.url)
            while not stop.is_set():
                started = time.monotonic()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                conn.request("GET", "/health")
                assert conn.getresponse().status == 200
                conn.close()
                health_latencies.append(time.monotonic() - started)
                time.sleep(0.05)

        prober = threading.Thread(target=probe)
        started = time.monotonic()
        prober.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        elapsed = time.monotonic() - started
        stop.set()
        prober.join(10)

        assert all(r is not None and r[0] == 200 and len(r[2]) == TOKENS for r in results), results
        # Each stream lasts ~2 s. Serialized, 50 of them would take ~100 s; in parallel ~2-3 s.
        assert elapsed < 25, f"streams did not run in parallel ({elapsed:.1f} s)"
        # Every stream was incremental: its tokens spread over most of its 2 s, not one burst.
        spreads = [r[2][-1] - r[2][0] for r in results]
        assert min(spreads) > (TOKENS - 1) * DELAY * 0.5
        # /health kept answering while the streams ran.
        assert len(health_latencies) >= 10
        assert max(health_latencies) < 2.0
        logs = srv.logs()
        assert "appears to be blocked" not in logs, logs[-3000:]
        assert "Traceback" not in logs
