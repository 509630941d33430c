"""Soak: rounds of concurrent OpenAI streams where half the clients leave mid-stream.

    python -m bench.soak                     # 5 rounds x 500 streams, half abandoned
    python -m bench.soak --rounds 3 --streams 100

The app runs under gunicorn with one gevent worker (tests/support/instrumented.py: the app
plus GET /__debug/transport) against the fake grok.com. Each stream is
`#scenario:slow?n=40&delay=0.05` (40 tokens over 2 s); every other client closes its
connection after a few chunks. After each round the soak waits until neither the fake
nor the worker holds a transfer, then prints the worker's RSS, the completions and errors
of the clients that stayed, the upstream aborts and the transfers still open.

RSS is read twice after each round: as it is, and after the worker returned freed heap
pages to the OS (malloc_trim). The first includes the allocator's high-water mark, which
can step up in a later round with a higher peak and then stays flat; the second is memory
in use, and so is what the verdict compares. The count of Python objects is printed too.

Verdict: trimmed RSS after every later round within 5% of round 1, no transfer left open
after any round, no error for a client that stayed, the worker never replaced. It prints
figures; it is not a test.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

import gevent  # noqa: E402
from gevent.pool import Pool  # noqa: E402

from bench.proc import rss_kb  # noqa: E402
from tests.fakegrok.harness import FakeGrok  # noqa: E402
from tests.support.gunicorn import GunicornServer, app_env  # noqa: E402

RSS_GROWTH_LIMIT = 0.05


def debug(url: str, trim: bool = False) -> dict:
    with urllib.request.urlopen(url + "/__debug/transport" + ("?trim=1" if trim else ""), timeout=30) as resp:
        return json.loads(resp.read())


def one_stream(port: int, scenario: str, tokens: int, leave_after: int | None) -> str:
    """'completed', 'left' (closed on purpose), or 'error: ...' for a client that stayed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        body = {
            "model": "auto",
            "stream": True,
            "messages": [{"role": "user", "content": f"soak #scenario:{scenario}"}],
        }
        conn.request(
            "POST", "/v1/chat/completions", body=json.dumps(body), headers={"content-type": "application/json"}
        )
        resp = conn.getresponse()
        if resp.status != 200:
            return f"error: HTTP {resp.status} {resp.read()[:200]!r}"
        chunks, done = 0, False
        while True:
            line = resp.readline()
            if not line:
                break
            if not line.startswith(b"data: "):
                continue
            if line.startswith(b"data: [DONE]"):
                done = True
            elif line.startswith(b'data: {"error"'):
                return f"error: {line[6:200].decode(errors='replace')}"
            elif b'"content":"' in line and b'"content":""' not in line:
                chunks += 1
                if leave_after is not None and chunks >= leave_after:
                    return "left"
        if not done or chunks != tokens:
            return f"error: stream ended after {chunks}/{tokens} tokens without [DONE]"
        return "completed"
    except OSError as exc:
        return f"error: {exc!r}"
    finally:
        conn.close()


def settle(url: str, fake: FakeGrok, timeout: float = 30.0) -> tuple[dict, dict, float]:
    """Wait until no transfer is open on either side; returns (fake stats, worker state, seconds)."""
    started = time.monotonic()
    while True:
        stats, state = fake.stats(), debug(url)
        quiet = stats["active_streams"] == 0 and state["active_transfers"] == 0
        if quiet or time.monotonic() - started > timeout:
            return stats, state, time.monotonic() - started
        gevent.sleep(0.1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--tokens", type=int, default=40)
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--leave-after", type=int, default=3, help="chunks an abandoning client reads")
    args = parser.parse_args(argv)
    scenario = f"slow?n={args.tokens}&delay={args.delay}"

    with FakeGrok() as fake:
        fake.configure(reuse_grace=3600)
        env = app_env(fake, LOG_LEVEL="warn", SESSION_CHECK_INTERVAL_SECS="3600")
        with GunicornServer(env, workers=1, app_module="tests.support.instrumented:app") as srv:
            worker = debug(srv.url)["pid"]
            print(
                f"soak: {args.rounds} rounds x {args.streams} concurrent OpenAI streams "
                f"({args.tokens} tokens, {args.delay * 1000:.0f} ms apart), every other client leaves "
                f"after {args.leave_after} chunks; worker pid {worker}"
            )
            print(
                f"{'round':>5} {'wall s':>7} {'stayed ok':>10} {'left':>5} {'errors':>6} {'aborts':>6} "
                f"{'done up':>7} {'settle s':>8} {'fake open':>9} {'worker open':>11} {'reachable':>9} "
                f"{'greenlets':>9} {'objects':>8} {'RSS MB':>7} {'trimmed':>7}"
            )
            print(
                "  (aborts: upstream answers cut when a client left; done up: upstream answers sent in full,"
                " incl. those of clients that left after the end; open/reachable: transfers after the round)"
            )
            rows, errors_seen = [], []
            for number in range(1, args.rounds + 1):
                before = fake.stats()
                started = time.monotonic()
                leave = [args.leave_after if i % 2 else None for i in range(args.streams)]
                results = Pool(args.streams).map(
                    lambda i, leave=leave: one_stream(srv.port, scenario, args.tokens, leave[i]), range(args.streams)
                )
                wall = time.monotonic() - started
                stats, state, settled = settle(srv.url, fake)
                gevent.sleep(1.0)
                rss = rss_kb(worker) / 1024
                debug(srv.url, trim=True)
                in_use = rss_kb(worker) / 1024
                errors = [r for r in results if r.startswith("error")]
                errors_seen += errors
                row = {
                    "round": number,
                    "wall_s": round(wall, 2),
                    "completed": results.count("completed"),
                    "stayed": leave.count(None),
                    "left": results.count("left"),
                    "errors": len(errors),
                    "aborts": stats["streams_aborted"] - before["streams_aborted"],
                    "upstream_done": stats["streams_completed"] - before["streams_completed"],
                    "settle_s": round(settled, 2),
                    "fake_open": stats["active_streams"],
                    "worker_open": state["active_transfers"],
                    "reachable": state["live_transfers"],
                    "greenlets": state["greenlets"],
                    "objects": state["objects"],
                    "rss_mb": round(rss, 2),
                    "rss_trimmed_mb": round(in_use, 2),
                }
                rows.append(row)
                print(
                    f"{number:>5} {wall:>7.2f} {row['completed']:>5}/{row['stayed']:<4} {row['left']:>5} "
                    f"{row['errors']:>6} {row['aborts']:>6} {row['upstream_done']:>7} {settled:>8.2f} "
                    f"{row['fake_open']:>9} {row['worker_open']:>11} {row['reachable']:>9} {row['greenlets']:>9} "
                    f"{row['objects']:>8} {rss:>7.2f} {in_use:>7.2f}"
                )
            logs = srv.logs()

    for error in sorted(set(errors_seen))[:10]:
        print("  error:", error)

    def growth(key: str) -> float:
        first = rows[0][key]
        return max((r[key] - first) / first for r in rows[1:]) if len(rows) > 1 else 0.0

    raw, trimmed = growth("rss_mb"), growth("rss_trimmed_mb")
    leaks = [r["round"] for r in rows if r["fake_open"] or r["worker_open"] or r["reachable"]]
    errors = sum(r["errors"] for r in rows)
    restarted = logs.count("Booting worker") > 1
    ok = trimmed < RSS_GROWTH_LIMIT and not leaks and not errors and not restarted
    objects = sorted({r["objects"] for r in rows})
    print(
        f"verdict: {'PASS' if ok else 'FAIL'}: RSS growth after round 1 {trimmed * 100:+.1f}% trimmed "
        f"(limit {RSS_GROWTH_LIMIT * 100:.0f}%; {raw * 100:+.1f}% before trimming), "
        f"transfers left open after rounds {leaks or 'none'}, "
        f"{errors} errors for clients that stayed, worker {'restarted' if restarted else 'never restarted'}; "
        f"Python objects after the rounds {objects[0]}..{objects[-1]}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
