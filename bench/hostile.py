"""How much a hostile request stalls everyone else: /health latency while heavy requests run.

    python -m bench.hostile            # prints a table, writes bench/results/hostile.json
    make bench-hostile

One gevent worker (as in production, every client of a worker shares its one thread) and the
fake grok.com. For each kind of heavy request, a few of them are sent at once while a probe in
a process of its own (bench/probe.py) asks /health every 20 ms; the table shows how long the
heavy requests took and the /health latencies meanwhile (p50, p99, max). A request the server
refuses early (the stop and tool caps) costs next to nothing, which is the point of refusing it.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.fakegrok.harness import FakeGrok
from tests.fakegrok.media import jpeg
from tests.support.gunicorn import GunicornServer, app_env

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def _tool(i: int) -> dict:
    properties = {f"p{j}": {"type": "string", "description": "x" * 100} for j in range(50)}
    return {
        "type": "function",
        "function": {"name": f"tool_{i}", "description": "d" * 200, "parameters": {"properties": properties}},
    }


def _bodies() -> dict[str, bytes]:
    image = "data:image/jpeg;base64," + base64.b64encode(jpeg("x") + os.urandom(19 * 1024 * 1024)).decode()
    user = {"role": "user", "content": "hi"}
    return {
        "3 images of 19 MiB as data URLs": json.dumps(
            {
                "model": "auto",
                "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}}] * 3}],
            }
        ).encode(),
        "128 tools of 8 KB (the tool cap)": json.dumps(
            {"model": "auto", "messages": [user], "tools": [_tool(i) for i in range(128)]}
        ).encode(),
        "1000 tools of 8 KB (refused)": json.dumps(
            {"model": "auto", "messages": [user], "tools": [_tool(i) for i in range(1000)]}
        ).encode(),
        "20000 stop strings (refused)": json.dumps(
            {"model": "auto", "messages": [user], "stop": [f"s{i}" for i in range(20_000)]}
        ).encode(),
        # Large media bodies are allowed for their long strings; this one is all small values.
        "80 MB of small numbers (refused)": json.dumps(
            {"model": "auto", "messages": [user], "numbers": [0] * 26_000_000}
        ).encode(),
        "a 20 MB prompt": json.dumps(
            {"model": "auto", "messages": [{"role": "user", "content": "word " * 4_000_000}]}
        ).encode(),
    }


def _post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))] if values else float("nan")


def main(parallel: int = 3) -> list[dict]:
    rows = []
    with FakeGrok() as fake, GunicornServer(app_env(fake, LOG_LEVEL="warning")) as server:
        url = server.url + "/v1/chat/completions"
        for name, body in _bodies().items():
            prober = subprocess.Popen(
                [sys.executable, "-m", "bench.probe", "127.0.0.1", str(server.port), "0.02"],
                stdout=subprocess.PIPE,
                cwd=ROOT,
            )
            time.sleep(0.5)
            started = time.perf_counter()
            with ThreadPoolExecutor(parallel) as pool:
                statuses = list(pool.map(_post, [url] * parallel, [body] * parallel))
            took = time.perf_counter() - started
            time.sleep(0.2)
            prober.send_signal(signal.SIGTERM)
            health = json.loads(prober.communicate()[0])
            rows.append(
                {
                    "request": name,
                    "body_mb": round(len(body) / 1e6, 1),
                    "parallel": parallel,
                    "statuses": sorted(set(statuses)),
                    "took_s": round(took, 2),
                    "health_p50_ms": round(_pct(health, 50), 1),
                    "health_p99_ms": round(_pct(health, 99), 1),
                    "health_max_ms": round(max(health), 1),
                }
            )
    return rows


if __name__ == "__main__":
    table = main()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "hostile.json").write_text(json.dumps(table, indent=2))
    columns = list(table[0])
    print(" | ".join(columns))
    for row in table:
        print(" | ".join(str(row[c]) for c in columns))
