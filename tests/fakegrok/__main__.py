"""``python -m tests.fakegrok --port N [options]``: run the fake grok.com (prints FAKEGROK_READY port=<p>)."""

from __future__ import annotations

import argparse
import gc
import os
import resource
import signal
import sys
import threading

from .server import make_server
from .statsig import DEFAULT_HEADER_HEX, header_bytes


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tests.fakegrok", description="Fake grok.com for tests")
    ap.add_argument("--port", type=int, default=0, help="TCP port (0 = ephemeral)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--sso", default="test-sso")
    ap.add_argument("--sso-rw", default="test-sso-rw")
    ap.add_argument("--header-hex", default=DEFAULT_HEADER_HEX)
    ap.add_argument("--suffix", default="!test-suffix")
    ap.add_argument("--trailer", type=int, default=3)
    ap.add_argument("--clock-window", type=float, default=30)
    ap.add_argument("--auth-failure-status", type=int, choices=(401, 403), default=401)
    ap.add_argument("--stale-build", action="store_true")
    ap.add_argument("--verbose", action="store_true", help="access log on stderr")
    args = ap.parse_args(argv)
    try:
        header_bytes(args.header_hex)
    except ValueError as exc:
        ap.error(str(exc))
    if not 0 <= args.trailer <= 255:
        ap.error("--trailer must be 0..255")
    return args


def _freeze_survivors(phase: str, info: dict) -> None:
    """After a full collection, what survived it (the stored conversations, mostly) is kept
    out of the next ones: a gc callback.

    The fake keeps every conversation it served, some thirty lists and dicts per chat, and a
    full collection holds the GIL of every thread while it walks them all: after a few
    1000-stream bursts these pauses reached a second, and grok.com stalling for a second
    showed up in the bench as the server's first-token tail (docs/benchmarks.md, "The load
    client"). A survivor that later becomes part of a garbage cycle is never collected; in a
    test process that is a few bytes.
    """
    if phase == "stop" and info["generation"] == 2:
        gc.freeze()


def main(argv=None):
    args = parse_args(argv)
    gc.callbacks.append(_freeze_survivors)
    try:  # 1000+ concurrent streams need more than the usual 1024 descriptors
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = hard if hard != resource.RLIM_INFINITY else 65536
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError):
        pass
    threading.stack_size(512 * 1024)
    clock_window = int(args.clock_window) if float(args.clock_window).is_integer() else args.clock_window
    config = {
        "sso": args.sso,
        "sso_rw": args.sso_rw,
        "header_hex": args.header_hex.lower(),
        "suffix": args.suffix,
        "trailer": args.trailer,
        "clock_window": clock_window,
        "stale_build": args.stale_build,
        "auth_failure_status": args.auth_failure_status,
    }
    server = make_server(args.host, args.port, config, verbose=args.verbose)

    def stop(signum, frame):
        sys.stdout.flush()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"FAKEGROK_READY port={server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        os._exit(0)


if __name__ == "__main__":
    main()
