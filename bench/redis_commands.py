"""Redis commands per chat request: what one stream costs the shared-state store.

    python -m bench.redis_commands            # 200 streams on one host; writes bench/results/redis_commands.json
    python -m bench.redis_commands --streams 50

One gunicorn host (one gevent worker) with REDIS_URL, the two accounts of `make
bench-two-hosts`, on the fake grok.com: after a warm-up, Redis' command statistics are reset, the streams are sent one
after another (the OpenAI chat completions of `make bench-two-hosts`), and the commands Redis
served meanwhile are divided by the number of streams. Background work (quota sync, session
checks, the /status counts a host publishes every second) is in the figures too: it is
reported per second of the run beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis

from bench.load import Target, openai_body, write_report
from bench.two_hosts import pool_env
from tests.fakegrok.harness import FakeGrok
from tests.support.gunicorn import GunicornServer
from tests.support.redis import RedisServer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
STREAM = "#scenario:slow?n=5&delay=0.01"


def command_counts(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items() if name != "cmdstat_info"}


def measure(streams: int) -> dict:
    with RedisServer() as server, FakeGrok(extra_args=[]) as fake, tempfile.TemporaryDirectory() as tmp:
        env = dict(pool_env(fake, Path(tmp)), REDIS_URL=server.url, REDIS_PREFIX=f"bench{uuid.uuid4().hex[:6]}:")
        client = redis.Redis.from_url(server.url)
        with GunicornServer(env, workers=1) as host:
            target = Target("host", "127.0.0.1", host.port, "/v1/chat/completions", openai_body())
            for _ in range(20):
                target.stream(STREAM)
            time.sleep(1.5)
            client.config_resetstat()
            start = time.monotonic()
            for _ in range(streams):
                status, *_ = target.stream(STREAM)
                assert status == 200, status
            seconds = time.monotonic() - start
            during = command_counts(client)
            client.config_resetstat()
            time.sleep(seconds if seconds < 5 else 5)
            idle_seconds = seconds if seconds < 5 else 5
            idle = command_counts(client)
    per_second_idle = {k: v / idle_seconds for k, v in idle.items()}
    # What the host sends with no request, taken out of the per-request figures.
    per_request = {k: round((v - per_second_idle.get(k, 0) * seconds) / streams, 2) for k, v in sorted(during.items())}
    return {
        "streams": streams,
        "seconds": round(seconds, 2),
        "commands_per_request": {k: v for k, v in per_request.items() if v > 0.004},
        "total_per_request": round(sum(v for v in per_request.values() if v > 0), 2),
        "idle_per_second": {k: round(v, 2) for k, v in sorted(per_second_idle.items()) if v},
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_commands")
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--out", default=str(RESULTS / "redis_commands.json"))
    args = parser.parse_args(argv)
    report = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **measure(args.streams),
    }
    print(json.dumps(report, indent=2))
    write_report(args.out, report)


if __name__ == "__main__":
    main()
