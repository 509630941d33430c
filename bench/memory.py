"""What the memory of N open streams is made of: one gevent worker, N OpenAI streams held open.

    python -m bench.memory                          # 200, 500 and 1000 streams
    python -m bench.memory --levels 500 --raw       # the raw relay (bench/raw_relay.py) instead
    python -m bench.memory --levels 300 --prompt-kb 40   # requests with a 40 KB prompt
    python -m bench.memory --levels 1000 --parked 6      # 1000 starts parked mid-start (a burst's peak)
    python -m bench.memory --levels 300 --trace 12 --delay 1 --env WORKER_TIMEOUT=900
                                                    # plus tracemalloc (12 frames) by file, line, traceback

The worker serves bench/memory_probe.py (the app plus GET /__debug/memory). For each level
it reads the worker idle (after the same 100-stream warm-up as `make bench`), opens N streams
of --tokens tokens --delay seconds apart (400 x 0.1 s by default: long enough for all of them to
be open at once after admission), waits until every client has its first token, reads the
worker again and prints the difference per stream: RSS, malloc's and pymalloc's bytes in use,
the brk heap and anonymous mappings, the greenlets' saved C stacks, the frames of one parked
stream, live objects by type and by what holds them. Each level's idle reading follows the
previous level, so the first level is the clean one. tracemalloc slows the worker several
times over: give it slow streams (--delay 1) and a long worker timeout, and read RSS from a run
without it (it counts tracemalloc's own bookkeeping). It prints figures; it is not a test.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
from gevent.pool import Pool  # noqa: E402

from bench.proc import rss_kb, wait_worker  # noqa: E402
from tests.fakegrok.harness import FakeGrok  # noqa: E402
from tests.support.gunicorn import GunicornServer, app_env  # noqa: E402

RAW = False  # --raw: the raw relay (bench/raw_relay.py) instead of the app
PROMPT: list[dict] = []  # --prompt-kb: a system prompt and earlier turns sent with every request


def probe(url: str, snapshot: str = "", trim: bool = False) -> dict:
    query = "?owners=1" + ("&snapshot=" + snapshot if snapshot else "")
    if trim:
        query += "&trim=1"
    with urllib.request.urlopen(url + "/__debug/memory" + query, timeout=120) as resp:
        return json.loads(resp.read())


def stream(port: int, scenario: str, first: list, stop: gevent.event.Event) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        if RAW:
            path, body, token = "/", {"message": f"#scenario:{scenario}"}, b'"token":"'
        else:
            message = {"role": "user", "content": f"#scenario:{scenario}"}
            path, body, token = (
                "/v1/chat/completions",
                {"model": "auto", "stream": True, "messages": [*PROMPT, message]},
                b'"content":"',
            )
        conn.request("POST", path, body=json.dumps(body), headers={"content-type": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            return False
        seen = False
        while not stop.is_set():
            line = resp.readline()
            if not line:
                break
            if not seen and token in line:
                seen = True
                first.append(1)
        return True
    finally:
        conn.close()


def level(srv, worker: int, n: int, trace: bool, tmp: Path, tokens: int, delay: float, parked: float = 0) -> dict:
    gevent.sleep(1.0)
    idle_rss = rss_kb(worker)
    idle = probe(srv.url, str(tmp / f"idle-{n}.snap") if trace else "")
    first: list = []
    stop = gevent.event.Event()
    pool = Pool(n)
    scenario = f"first_token_delay?delay={parked:g}&text=hi" if parked else f"slow?n={tokens}&delay={delay}"
    for _ in range(n):
        pool.spawn(stream, srv.port, scenario, first, stop)
    if parked:  # read while every start waits for grok.com's first token, mid-start
        gevent.sleep(parked * 0.6)
    else:
        deadline = time.monotonic() + 300
        while len(first) < n and time.monotonic() < deadline:
            gevent.sleep(0.2)
        gevent.sleep(1.0)
    open_rss = rss_kb(worker)
    busy = probe(srv.url, str(tmp / f"busy-{n}.snap") if trace else "")
    stop.set()
    pool.kill()
    gevent.sleep(3.0)
    row = {
        "streams": n,
        "started": len(first),
        "rss_idle_mb": round(idle_rss / 1024, 1),
        "rss_open_mb": round(open_rss / 1024, 1),
        "rss_per_stream_kb": round((open_rss - idle_rss) / n, 1),
        "malloc_in_use_per_stream_kb": round((busy["malloc_in_use_kb"] - idle["malloc_in_use_kb"]) / n, 1),
        "malloc_free_per_stream_kb": round((busy["malloc_free_kb"] - idle["malloc_free_kb"]) / n, 1),
        "obmalloc_objects_per_stream_kb": round((busy["obmalloc_objects_kb"] - idle["obmalloc_objects_kb"]) / n, 1),
        "obmalloc_arenas_per_stream_kb": round((busy["obmalloc_arenas_kb"] - idle["obmalloc_arenas_kb"]) / n, 1),
        "mmap_per_stream_kb": round((busy["malloc_mmap_kb"] - idle["malloc_mmap_kb"]) / n, 1),
    }
    for kind in sorted(set(idle["smaps_kb"]) | set(busy["smaps_kb"])):
        diff = busy["smaps_kb"].get(kind, 0) - idle["smaps_kb"].get(kind, 0)
        row[f"smaps_{kind}_per_stream_kb"] = round(diff / n, 1)
    row["objects_per_stream"] = round((busy["objects"] - idle["objects"]) / n, 1)
    row["greenlets"] = busy["greenlets"]
    row["greenlet_stack_saved_per_stream_kb"] = round(
        (busy["greenlet_stack_saved_kb"] - idle["greenlet_stack_saved_kb"]) / n, 1
    )
    print(json.dumps(row))
    print("  a stream's Python frames (innermost first):")
    for frame in busy["frames"]:
        print("    " + frame)
    for title, key in (("by type", "by_type"), ("by holder", "owners")):
        per = {t: round((busy[key].get(t, 0) - idle[key].get(t, 0)) / n, 2) for t in set(busy[key]) | set(idle[key])}
        print(f"  live objects per stream, {title}:")
        for t, c in sorted(per.items(), key=lambda kv: -kv[1])[:45]:
            print(f"    {c:8.2f}  {t}")
    if trace:
        before = tracemalloc.Snapshot.load(str(tmp / f"idle-{n}.snap"))
        after = tracemalloc.Snapshot.load(str(tmp / f"busy-{n}.snap"))
        print(f"  tracemalloc per stream: {(busy['traced_kb'] - idle['traced_kb']) / n:.1f} KB")
        for key, count in (("filename", 30), ("lineno", 50), ("traceback", 25)):
            print(f"  by {key}:")
            for stat in after.compare_to(before, key)[:count]:
                if stat.size_diff <= 0:
                    continue
                where = stat.traceback.format(limit=12 if key == "traceback" else 1)
                print(f"    {stat.size_diff / n / 1024:7.2f} KB {stat.count_diff / n:6.1f} blocks  {where[-1].strip()}")
                if key == "traceback":
                    for frame in where[:-1]:
                        print("                " + frame.strip())
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.memory")
    parser.add_argument("--levels", default="200,500,1000")
    parser.add_argument("--trace", type=int, default=0, help="tracemalloc frames (0: off)")
    parser.add_argument("--tokens", type=int, default=400, help="tokens per stream")
    parser.add_argument("--delay", type=float, default=0.1, help="seconds between tokens")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the worker")
    parser.add_argument("--prompt-kb", type=int, default=0, help="a system prompt and history of about this size")
    parser.add_argument("--raw", action="store_true", help="the raw relay baseline instead of the app")
    parser.add_argument(
        "--parked",
        type=float,
        default=0,
        help="read N starts parked mid-start instead: grok.com's first token comes after this many seconds",
    )
    args = parser.parse_args(argv)
    global RAW
    RAW = args.raw
    if args.prompt_kb:  # an agent's request: a system prompt (half) and earlier turns (the rest)
        half = "Be precise and brief. " * (args.prompt_kb * 512 // 22)
        PROMPT.extend(
            [{"role": "system", "content": half}]
            + [{"role": r, "content": half[: len(half) // 4]} for r in ("user", "assistant") * 2]
        )
    if RAW:
        args.env.append("MEMORY_APP=raw")
    extra = dict(kv.split("=", 1) for kv in args.env)
    if args.trace:
        extra["MEMORY_TRACE"] = str(args.trace)
    rows = []
    with FakeGrok(extra_args=[]) as fake, tempfile.TemporaryDirectory() as tmp:
        fake.configure(reuse_grace=3600)
        env = app_env(fake, LOG_LEVEL="warn", SESSION_CHECK_INTERVAL_SECS="3600", **extra)
        srv = GunicornServer(env, workers=1, app_module="bench.memory_probe:app")
        try:
            worker = wait_worker(srv.proc.pid)
            warm = Pool(100)
            warm.map(lambda _: stream(srv.port, "slow?n=5&delay=0.05", [], gevent.event.Event()), range(100))
            for n in [int(x) for x in args.levels.split(",")]:
                rows.append(level(srv, worker, n, bool(args.trace), Path(tmp), args.tokens, args.delay, args.parked))
        finally:
            srv.close()
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
