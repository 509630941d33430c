"""Two hosts on one Redis against one host: the same burst of streams, on one machine.

    python -m bench.two_hosts                 # 500 and 1000 streams; writes bench/results/two_hosts.json
    python -m bench.two_hosts --quick         # 100 and 200 streams
    python -m bench --only two_hosts          # the same, as a scenario of `make bench`

Each configuration is its own servers (gunicorn, one gevent worker each) on one fake grok.com
with two accounts in an accounts file, and the load is OpenAI streams of 40 tokens 100 ms apart,
all arriving at once:

  one host, run-dir store   REDIS_URL unset: the shared state of one host, in its run directory
  one host, Redis           the same host with REDIS_URL: what Redis costs one host
  two hosts, Redis          two independent servers (own run directories and ports) on one
                            Redis, the streams alternating between them as a load balancer would

For each: streams completed and errors, first-token p50/p99, and /health p50/p99 probed every
20 ms from a process of its own per host (the worst host's figures for two hosts).

With four CPUs or more each host's worker gets a CPU of its own and the fake grok.com and this
client the rest. With fewer nothing is pinned, in every configuration alike: the hosts then
share the machine with the fake and the client, so the two-host figure says what coordinating
through Redis costs, not what a second machine adds.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from contextlib import ExitStack  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
from gevent.pool import Pool  # noqa: E402

from app.grok.accounts import Account  # noqa: E402
from app.ops.accounts import add_account  # noqa: E402
from bench.load import Target, openai_body, pct, print_table, write_report  # noqa: E402
from bench.proc import cpu_seconds, rss_kb, wait_worker  # noqa: E402
from tests.fakegrok.harness import FakeGrok  # noqa: E402
from tests.support.gunicorn import GunicornServer, app_env  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
STREAM = "#scenario:slow?n=40&delay=0.1"
TOKENS = 40
ACCOUNTS = ("first", "second")
PLENTY = {"*": {"total": 10_000_000, "window": 7200}}  # quota never decides here


class Host:
    """One server of a configuration: its gunicorn, its worker's pid, its stream target."""

    def __init__(self, server: GunicornServer):
        self.server = server
        self.worker = wait_worker(server.proc.pid)
        self.target = Target(f"host:{server.port}", "127.0.0.1", server.port, "/v1/chat/completions", openai_body())


def drive(hosts: list[Host], streams: int) -> dict:
    """`streams` at once, alternating between the hosts; /health probed on each meanwhile."""
    probers = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.probe", "127.0.0.1", str(h.server.port), "0.02"],
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        for h in hosts
    ]
    gevent.sleep(0.3)
    peak = {h.worker: rss_kb(h.worker) for h in hosts}
    done = gevent.event.Event()

    def sample():
        while not done.is_set():
            for pid in peak:
                peak[pid] = max(peak[pid], rss_kb(pid))
            gevent.sleep(0.1)

    def one(i):
        try:
            return hosts[i % len(hosts)].target.stream(STREAM)
        except Exception as exc:  # noqa: BLE001 - counted as an error
            return (0, None, 0, 0, False, repr(exc))

    sampler = gevent.spawn(sample)
    cpu_before = sum(cpu_seconds(h.worker) for h in hosts)
    start = time.perf_counter()
    results = Pool(streams).map(one, range(streams))
    wall = time.perf_counter() - start
    worker_cpu = sum(cpu_seconds(h.worker) for h in hosts) - cpu_before
    done.set()
    sampler.join()
    health = []
    for prober in probers:
        prober.send_signal(signal.SIGTERM)
        health.append(json.loads(prober.communicate()[0]))
    completed = sum(1 for r in results if r[0] == 200 and r[4] and r[3] == TOKENS)
    first = [r[1] * 1000 for r in results if r[0] == 200 and r[1] is not None]
    return {
        "hosts": len(hosts),
        "streams": streams,
        "completed": completed,
        "errors": streams - completed,
        "wall_s": round(wall, 2),
        "first_token_p50_ms": round(pct(first, 50)),
        "first_token_p99_ms": round(pct(first, 99)),
        "health_p50_ms": round(max(pct(h, 50) for h in health), 1),
        "health_p99_ms": round(max(pct(h, 99) for h in health), 1),
        "workers_cpu_s": round(worker_cpu, 2),
        "rss_peak_mb_per_host": round(max(peak.values()) / 1024, 1),
    }


def warm_up(hosts: list[Host]) -> None:
    """Not reported: each worker's first streams grow its heap and caches once."""
    Pool(100).map(lambda i: hosts[i % len(hosts)].target.stream("#scenario:slow?n=5&delay=0.05"), range(100))


def pin(hosts: list[Host], load: list[int]) -> bool:
    """Each host's worker on a CPU of its own, the fake and the client on the rest (4+ CPUs)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 4:
        return False
    for pid, where in [*((h.worker, cpus[i : i + 1]) for i, h in enumerate(hosts)), *((p, cpus[2:]) for p in load)]:
        for task in os.listdir(f"/proc/{pid}/task"):
            os.sched_setaffinity(int(task), where)
    return True


def run_two_hosts(quick: bool = False) -> dict:
    levels = [100, 200] if quick else [500, 1000]
    report: dict = {"levels": levels, "configurations": {}}
    with ExitStack() as stack:
        redis = stack.enter_context(RedisServer())
        fake = stack.enter_context(FakeGrok(extra_args=[]))
        fake.configure(reuse_grace=3600)
        accounts_file = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-hosts-"))) / "accounts.json"
        for name in ACCOUNTS:
            made = fake.add_account(name, quota=PLENTY)
            add_account(accounts_file, Account(name, made["sso"], made["sso_rw"]))
        base = app_env(
            fake,
            LOG_LEVEL="warn",
            SESSION_CHECK_INTERVAL_SECS="3600",
            GROK_SSO_COOKIE="",
            GROK_SSO_RW_COOKIE="",
            ACCOUNTS_FILE=str(accounts_file),
        )
        configurations = {
            "one host, run-dir store": (1, {}),
            "one host, Redis": (1, {"REDIS_URL": redis.url}),
            "two hosts, Redis": (2, {"REDIS_URL": redis.url}),
        }
        pinned = []
        for name, (count, extra) in configurations.items():
            env = dict(base, REDIS_PREFIX=f"bench{uuid.uuid4().hex[:6]}:", **extra)
            servers = [GunicornServer(env, workers=1) for _ in range(count)]
            try:
                hosts = [Host(s) for s in servers]
                pinned.append(pin(hosts, load=[fake.proc.pid, os.getpid()]))
                warm_up(hosts)
                rows = []
                for streams in levels:
                    gevent.sleep(1.0)
                    rows.append(drive(hosts, streams))
                report["configurations"][name] = rows
            finally:
                for server in servers:
                    server.close()
        report["pinned"] = all(pinned)
    return report


def print_report(report: dict) -> None:
    rows = {}
    for streams in report["levels"]:
        for name, by_level in report["configurations"].items():
            [row] = [r for r in by_level if r["streams"] == streams]
            rows[f"{name} ({streams})"] = row
    print_table(f"Two hosts on one Redis beside one host (pinned: {report['pinned']})", rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.two_hosts")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(RESULTS / "two_hosts.json"))
    args = parser.parse_args(argv)
    report = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **run_two_hosts(args.quick),
    }
    print_report(report)
    write_report(args.out, report)


if __name__ == "__main__":
    main()
