"""Benchmark: the server under gunicorn (1 gevent worker) against the fake grok.com.

    python -m bench                 # every scenario, prints a table, writes bench/results/latest.json
    python -m bench --quick         # smaller counts, for a smoke run
    python -m bench --only ttft,throughput
    python -m bench --ramp 2         # concurrency: arrivals spread over 2 s instead of all at once
    python -m bench --no-pin        # workers share every CPU with the fake and the client

Scenarios (issue 6):
  ttft         time to first token, client -> server -> fake vs client -> fake, 200 requests
  concurrency  100/250/500/1000 concurrent OpenAI streams (40 tokens, 100 ms apart): completion,
               errors, first-token p50/p99, /health p50/p99 meanwhile, worker RSS and RSS per stream
  admission    the 1000-stream burst once more, with the admission policy before arrival order
               (bench/returning_first.py), with today's and through the raw relay (no admission
               control at all), in the same run: first-token p99/p50
  throughput   20 concurrent streams of 5000 tokens, no delay: tokens/s and worker CPU us/token for
               /v1/chat/completions and the native NDJSON relay, each beside a raw relay baseline
  small        non-streaming completions with an instant fake: requests/s, p50/p99
  count_tokens Claude Code's /context: bursts of 26 parallel /v1/messages/count_tokens calls, ms per burst
  continuity   a 20-turn agent loop (20 KB system prompt, tools, 1 KB tool results) with and without
               conversation continuity: upstream request bytes and time to first token per turn
  ws           the same chats on the mgw WebSocket lane (GROK_CHAT_LANE=ws, a server of its own):
               time to first token, throughput and 100/250/500 concurrent OpenAI streams
  two_hosts    500/1000 concurrent streams on one host, then spread over two hosts on one Redis
               (bench/two_hosts.py): completion, errors, first-token and /health p50/p99

With two CPUs or more, the gunicorn workers are pinned to the first and the fake grok.com and
this client to the others, and /health is probed from a process of its own (bench/probe.py).
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
from gevent.pool import Pool  # noqa: E402

from bench.continuity import continuity_summary, per_turn_table, run_continuity  # noqa: E402
from bench.load import Target, native_body, openai_body, pct, print_table, write_report  # noqa: E402
from bench.proc import cpu_seconds, rss_kb, wait_worker  # noqa: E402
from bench.two_hosts import print_report, run_two_hosts  # noqa: E402
from tests.fakegrok.harness import FakeGrok  # noqa: E402
from tests.support.gunicorn import GunicornServer, app_env  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CHAT_NEW = "/rest/app-chat/conversations/new"
# How far the fake grok.com yields the shared core to the load client (see pin).
UPSTREAM_NICENESS = 10


def run_ttft(targets, n):
    out = {}
    for t in targets:
        stream_ttft, once = [], []
        for _ in range(n):
            status, first, _, _, _ = t.stream("#scenario:first_token_delay?delay=0.05&text=hello%20there")
            if status == 200 and first is not None:
                stream_ttft.append(first * 1000)
            status, secs = t.once("#scenario:first_token_delay?delay=0.05&text=hello%20there")
            if status == 200:
                once.append(secs * 1000)
        out[t.name] = {
            "stream_ttft_ms_p50": statistics.median(stream_ttft) if stream_ttft else None,
            "stream_ttft_ms_p99": pct(stream_ttft, 99),
            "nonstream_ms_p50": statistics.median(once) if once else None,
            "nonstream_ms_p99": pct(once, 99),
            "samples": len(stream_ttft),
        }
    direct = out.get("fake-direct")
    if direct:
        for name, row in out.items():
            if name != "fake-direct" and row["stream_ttft_ms_p50"] is not None:
                row["stream_overhead_ms_p50"] = row["stream_ttft_ms_p50"] - direct["stream_ttft_ms_p50"]
                row["nonstream_overhead_ms_p50"] = row["nonstream_ms_p50"] - direct["nonstream_ms_p50"]
    return out


def run_concurrency(target, server_url, worker, levels, ramp=0.0, fake_pid=None):
    rows = []
    host, port = server_url.split("//")[1].split(":")
    # Warm-up, not reported: the first streams a worker serves grow its heap and caches once,
    # which would otherwise be charged to the first level's RSS per stream.
    Pool(100).map(lambda _: target.stream("#scenario:slow?n=5&delay=0.05"), range(100))
    gevent.sleep(1.0)
    # Per stream = (peak during the level - the idle worker's RSS) / streams. The idle figure
    # is taken once: freed heap is kept by the worker, so a "before" taken after a bigger
    # level would hide what the streams cost.
    base_rss = rss_kb(worker)
    for n in levels:
        gevent.sleep(1.0)
        peak = [rss_kb(worker)]
        done = gevent.event.Event()
        prober = subprocess.Popen(
            [sys.executable, "-m", "bench.probe", host, port, "0.02"], stdout=subprocess.PIPE, cwd=ROOT
        )
        gevent.sleep(0.3)

        def sample(done=done, peak=peak):
            while not done.is_set():
                peak[0] = max(peak[0], rss_kb(worker))
                gevent.sleep(0.1)

        def one(i, n=n):
            if ramp:
                gevent.sleep(ramp * i / n)  # arrivals spread evenly over `ramp` seconds
            try:
                return target.stream("#scenario:slow?n=40&delay=0.1")
            except Exception as exc:  # noqa: BLE001 - counted as an error
                return (0, None, 0, 0, False, repr(exc))

        probes = [gevent.spawn(sample)]
        start = time.perf_counter()
        cpu0, fake0, self0 = cpu_seconds(worker), _cpu(fake_pid), _cpu(os.getpid())
        results = Pool(n).map(one, range(n))
        wall = time.perf_counter() - start
        worker_cpu = cpu_seconds(worker) - cpu0
        # On a 2-core machine the fake grok.com and this load client compete with the worker.
        fake_cpu, client_cpu = _cpu(fake_pid) - fake0, _cpu(os.getpid()) - self0
        done.set()
        gevent.joinall(probes)
        prober.send_signal(signal.SIGTERM)
        health = json.loads(prober.communicate()[0])
        ok = sum(1 for r in results if r[0] == 200 and r[4] and r[3] == 40)
        first = [r[1] * 1000 for r in results if r[0] == 200 and r[1] is not None]
        rows.append(
            {
                "streams": n,
                "ramp_s": ramp,
                "worker_cpu_s": round(worker_cpu, 2),
                "fake_cpu_s": round(fake_cpu, 2),
                "client_cpu_s": round(client_cpu, 2),
                "completed": ok,
                "errors": n - ok,
                "wall_s": round(wall, 2),
                "health_p50_ms": round(pct(health, 50), 1),
                "health_p99_ms": round(pct(health, 99), 1),
                "first_token_p50_ms": round(pct(first, 50)),
                "first_token_p99_ms": round(pct(first, 99)),
                "first_token_p99_over_p50": round(pct(first, 99) / pct(first, 50), 2) if first else None,
                "rss_idle_mb": round(base_rss / 1024, 1),
                "rss_peak_mb": round(peak[0] / 1024, 1),
                "rss_per_stream_kb": round((peak[0] - base_rss) / n, 1),
            }
        )
    return rows


def run_admission(target, now_srv, now_worker, before_srv, before_worker, relay, streams, fake_pid):
    """The same burst against the app with the old admission policy and with today's, twice
    each, alternating, so both see the same machine; every run is reported. The raw relay
    (`relay`: its target, server and worker; no app and no admission control) takes the same
    burst, for comparison."""
    before = Target("before", target.host, before_srv.port, target.path, target.body_for)
    relay_target, relay_srv, relay_worker = relay
    rows = {}
    for run in (1, 2):
        for name, t, srv, worker in (
            ("returning first (before)", before, before_srv, before_worker),
            ("arrival order (now)", target, now_srv, now_worker),
            ("raw relay (no admission)", relay_target, relay_srv, relay_worker),
        ):
            rows[f"{name} #{run}"] = run_concurrency(t, srv.url, worker, [streams], fake_pid=fake_pid)[0]
    return rows


def _cpu(pid):
    return cpu_seconds(pid) if pid else 0.0


def run_throughput(targets, workers, streams=20, tokens=5000):
    rows = {}
    for t in targets:
        pid = workers[t.name]
        cpu0 = cpu_seconds(pid)
        start = time.perf_counter()
        results = Pool(streams).map(lambda _, t=t: t.stream(f"#scenario:long?n={tokens}&size=8"), range(streams))
        wall = time.perf_counter() - start
        cpu = cpu_seconds(pid) - cpu0
        got = sum(r[3] for r in results)
        rows[t.name] = {
            "tokens": got,
            "expected": streams * tokens,
            "wall_s": round(wall, 2),
            "tokens_per_s": round(got / wall),
            "cpu_us_per_token": round(cpu * 1e6 / max(got, 1), 1),
        }
    return rows


def run_small(target, clients=20, per_client=50):
    latencies = []

    def client(_):
        host, port = target.host, target.port
        conn = http.client.HTTPConnection(host, port, timeout=30)
        for _ in range(per_client):
            t0 = time.perf_counter()
            conn.request(
                "POST", target.path, body=json.dumps(target.body_for("hi", stream=False)), headers=target.headers_for()
            )
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                latencies.append((time.perf_counter() - t0) * 1000)
        conn.close()

    start = time.perf_counter()
    Pool(clients).map(client, range(clients))
    wall = time.perf_counter() - start
    return {
        "requests": clients * per_client,
        "ok": len(latencies),
        "rps": round(len(latencies) / wall),
        "p50_ms": round(pct(latencies, 50), 1),
        "p99_ms": round(pct(latencies, 99), 1),
    }


def run_count_tokens(host, port, bursts=20):
    """Claude Code's /context: 26 count_tokens requests at once, each one system-prompt section
    (0.5-20 KB) with none, one or all of its tools. The figure is the time a whole burst takes."""
    request = json.loads((ROOT / "tests" / "data" / "agents" / "claude_code_request.json").read_text())
    tools = request["tools"]
    bodies = [
        json.dumps(
            {
                "model": "claude-opus-5-5",
                "messages": [{"role": "user", "content": "Section text, as a system prompt has. " * (12 + 20 * i)}],
                "tools": [tools[:0], tools[:1], tools][i % 3],
            }
        )
        for i in range(26)
    ]
    headers = {"Content-Type": "application/json", "anthropic-version": "2023-06-01"}

    def one(body):
        conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.request("POST", "/v1/messages/count_tokens?beta=true", body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        conn.close()
        return resp.status

    walls, failed = [], 0
    for _ in range(bursts):
        start = time.perf_counter()
        failed += sum(status != 200 for status in Pool(26).map(one, bodies))
        walls.append((time.perf_counter() - start) * 1000)
    return {"bursts": bursts, "failed": failed, "p50_ms": round(pct(walls, 50), 1), "max_ms": round(max(walls), 1)}


def run_ws(srv, worker, relay_t, relay_worker, fake, quick, ramp, continuity=False):
    """The WebSocket lane's rows: the same scenarios as the REST lane's, on a server of its own."""
    host = "127.0.0.1"
    if continuity:
        out_continuity = run_continuity(host, srv.port, fake)
        print_table("WebSocket lane: agent loop, upstream bytes and TTFT per turn", per_turn_table(out_continuity))
        print_table("WebSocket lane: agent loop", continuity_summary(out_continuity))
    openai_ws = Target("openai-ws", host, srv.port, "/v1/chat/completions", openai_body())
    native_ws = Target("native-ws", host, srv.port, "/v1/chat", native_body)
    out = {"ttft": run_ttft([openai_ws, native_ws], 20 if quick else 200)}
    print_table("WebSocket lane: time to first token (ms)", out["ttft"])
    workers = {"openai-ws": worker, "native-ws": worker, "raw-relay": relay_worker}
    out["throughput"] = run_throughput([relay_t, openai_ws, native_ws], workers, tokens=1000 if quick else 5000)
    base = out["throughput"]["raw-relay"]["tokens_per_s"]
    for row in out["throughput"].values():
        row["ratio_to_raw"] = round(row["tokens_per_s"] / base, 2) if base else None
    print_table("WebSocket lane: throughput (20 streams)", out["throughput"])
    levels = [50, 100] if quick else [100, 250, 500]
    out["concurrency"] = run_concurrency(openai_ws, srv.url, worker, levels, ramp=ramp, fake_pid=fake.proc.pid)
    print_table("WebSocket lane: concurrency (40 tokens x 100 ms)", {str(r["streams"]): r for r in out["concurrency"]})
    if continuity:
        out["continuity"] = out_continuity
    return out


def pin(server, load, upstream=()) -> bool:
    """The gunicorn workers on CPU 0; the load client and the fake grok.com (`upstream`) on the others.

    A gevent worker runs on one core at most; pinning keeps the load generators (which in
    production are grok.com and the users, elsewhere) from taking turns on that core. On the
    shared core the fake runs niced: it answers with a thread per stream, and the scheduler
    shares a core per thread, so in a 1000-stream burst the client (one thread) waited up to a
    second for the CPU before it read a first token the server had already sent, and that
    wait was counted as first-token latency (docs/benchmarks.md, "The load client").
    """
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return False
    for pids, where in ((server, cpus[:1]), ((*load, *upstream), cpus[1:])):
        for pid in pids:
            for task in os.listdir(f"/proc/{pid}/task"):  # every thread; new ones inherit it
                os.sched_setaffinity(int(task), where)
    for pid in upstream:
        for task in os.listdir(f"/proc/{pid}/task"):
            os.setpriority(os.PRIO_PROCESS, int(task), UPSTREAM_NICENESS)
    return True


def has_route(url, path):
    host, port = url.split("//")[1].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=5)
    c.request("GET", "/openapi.json")
    paths = json.loads(c.getresponse().read()).get("paths", {})
    return path in paths


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--only", default="ttft,concurrency,admission,throughput,small,count_tokens,continuity,ws,two_hosts"
    )
    parser.add_argument("--out", default=str(RESULTS / "latest.json"))
    parser.add_argument(
        "--no-pin", action="store_true", help="let the workers share every CPU with the fake grok.com and this client"
    )
    parser.add_argument(
        "--ramp",
        type=float,
        default=0.0,
        help="concurrency: spread the stream arrivals over this many seconds (default: all at once)",
    )
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    quick = args.quick
    report = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }

    with FakeGrok(extra_args=[]) as fake:
        fake.configure(reuse_grace=3600)
        env = app_env(fake, LOG_LEVEL="warn", SESSION_CHECK_INTERVAL_SECS="3600")
        app_srv = GunicornServer(env, workers=1)
        relay_srv = GunicornServer(env, workers=1, app_module="bench.raw_relay:app")
        before_srv = GunicornServer(env, workers=1, app_module="bench.returning_first:app")
        ws_srv = GunicornServer(dict(env, GROK_CHAT_LANE="ws"), workers=1) if "ws" in only else None
        try:
            host = "127.0.0.1"
            app_worker = wait_worker(app_srv.proc.pid)
            relay_worker = wait_worker(relay_srv.proc.pid)
            before_worker = wait_worker(before_srv.proc.pid)
            ws_worker = wait_worker(ws_srv.proc.pid) if ws_srv else None
            has_openai = has_route(app_srv.url, "/v1/chat/completions")
            openai_t = Target("openai", host, app_srv.port, "/v1/chat/completions", openai_body())
            native_t = Target("native", host, app_srv.port, "/v1/chat", native_body)
            relay_t = Target("raw-relay", host, relay_srv.port, "/", native_body)
            direct_t = Target(
                "fake-direct",
                host,
                fake.port,
                CHAT_NEW,
                native_body,
                headers_for=lambda: fake.grok_headers("POST", CHAT_NEW),
            )
            app_targets = [openai_t, native_t] if has_openai else [native_t]
            workers = {"openai": app_worker, "native": app_worker, "raw-relay": relay_worker}
            report["pinned"] = not args.no_pin and pin(
                server=[p for p in (app_worker, relay_worker, before_worker, ws_worker) if p],
                load=[os.getpid()],
                upstream=[fake.proc.pid],
            )

            if "ttft" in only:
                report["ttft"] = run_ttft([direct_t, relay_t, *app_targets], 20 if quick else 200)
                print_table("Time to first token (ms)", report["ttft"])
            if "throughput" in only:
                report["throughput"] = run_throughput(
                    [relay_t, *app_targets], workers, streams=20, tokens=1000 if quick else 5000
                )
                base = report["throughput"]["raw-relay"]["tokens_per_s"]
                for row in report["throughput"].values():
                    row["ratio_to_raw"] = round(row["tokens_per_s"] / base, 2) if base else None
                print_table("Throughput (20 streams)", report["throughput"])
            if "small" in only:
                report["small"] = run_small(app_targets[0], per_client=10 if quick else 50)
                print_table("Small non-streaming requests", {app_targets[0].name: report["small"]})
            if "count_tokens" in only and has_route(app_srv.url, "/v1/messages/count_tokens"):
                report["count_tokens"] = run_count_tokens(host, app_srv.port, bursts=5 if quick else 20)
                print_table("count_tokens: bursts of 26 at once (ms per burst)", {"messages": report["count_tokens"]})
            if "continuity" in only and has_openai:
                report["continuity"] = run_continuity(host, app_srv.port, fake)
                print_table(
                    "Agent loop, 20 tool turns: upstream bytes and TTFT per turn", per_turn_table(report["continuity"])
                )
                print_table("Agent loop, 20 tool turns", continuity_summary(report["continuity"]))
            if "concurrency" in only:
                levels = [50, 100] if quick else [100, 250, 500, 1000]
                report["concurrency"] = run_concurrency(
                    app_targets[0], app_srv.url, app_worker, levels, ramp=args.ramp, fake_pid=fake.proc.pid
                )
                print_table("Concurrency (40 tokens x 100 ms)", {str(r["streams"]): r for r in report["concurrency"]})
            if "admission" in only and has_openai:
                report["admission"] = run_admission(
                    openai_t,
                    app_srv,
                    app_worker,
                    before_srv,
                    before_worker,
                    (relay_t, relay_srv, relay_worker),
                    200 if quick else 1000,
                    fake.proc.pid,
                )
                print_table("Admission in a burst: before and after, same run", report["admission"])
            if ws_srv is not None:
                report["ws"] = run_ws(
                    ws_srv, ws_worker, relay_t, relay_worker, fake, quick, args.ramp, continuity="continuity" in only
                )
        finally:
            app_srv.close()
            relay_srv.close()
            before_srv.close()
            if ws_srv is not None:
                ws_srv.close()

    if "two_hosts" in only:  # servers of its own, once the ones above are gone
        report["two_hosts"] = run_two_hosts(quick)
        print_report(report["two_hosts"])

    write_report(args.out, report)


if __name__ == "__main__":
    main()
