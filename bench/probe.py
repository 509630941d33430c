"""A /health prober in a process of its own: `python -m bench.probe HOST PORT INTERVAL`.

The load client saturates its own event loop while it drives 1000 streams; a probe greenlet
inside it would measure that loop's backlog, not the server's. Prints the latencies (ms) as
a JSON list when it receives SIGTERM.
"""

from __future__ import annotations

import http.client
import json
import signal
import sys
import time

FAILED_MS = 10_000.0


def main(host: str, port: int, interval: float) -> None:
    latencies: list[float] = []
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    while not stop:
        started = time.perf_counter()
        try:
            conn = http.client.HTTPConnection(host, port, timeout=10)
            conn.request("GET", "/health")
            resp = conn.getresponse()
            resp.read()
            conn.close()
            latencies.append((time.perf_counter() - started) * 1000 if resp.status == 200 else FAILED_MS)
        except OSError:
            latencies.append(FAILED_MS)
        time.sleep(interval)
    print(json.dumps(latencies))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
