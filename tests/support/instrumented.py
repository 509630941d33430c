"""The app plus one debug route, for fault tests and the soak benchmark (never shipped).

    gunicorn -c gunicorn.conf.py tests.support.instrumented:app
    GET /__debug/transport  ->  {"active_transfers", "aborted", "live_transfers",
                                 "paused_transfers", "buffered_bytes", "greenlets", "objects", "pid"}

`active_transfers` is the worker's `CurlPool.active_transfers` (transfers on the libcurl
multi handle); `live_transfers` counts every transfer object still reachable after a
garbage collection, so a greenlet parked on an upstream stream, or a forgotten reference,
shows up even when the multi handle no longer lists it; `greenlets` counts the live
greenlets other than the one answering; `objects` the objects the garbage collector
tracks (flat across rounds of the same load = no Python-level leak). `?trim=1` first returns
freed heap pages to the OS (malloc_trim), for RSS figures without allocator high-water. The
figures are per worker: run one worker.
"""

from gevent import monkey

monkey.patch_all()

import ctypes  # noqa: E402
import ctypes.util  # noqa: E402
import gc  # noqa: E402
import os  # noqa: E402

import greenlet  # noqa: E402
from flask import request  # noqa: E402

from app import create_app  # noqa: E402
from app.grok.transport import CurlPool, _Transfer  # noqa: E402

app = create_app()


@app.get("/__debug/transport")
def transport_state():
    gc.collect()
    if request.args.get("trim"):
        # Hand freed heap pages back to the OS, so RSS shows memory in use rather than the
        # allocator's high-water mark (glibc keeps freed pages below the top of the heap).
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    transport = CurlPool.for_this_process()
    objects = gc.get_objects()
    # type(), not isinstance(): isinstance asks proxies such as flask_smorest's current_api
    # for their __class__, which fails outside their context.
    transfers = [obj for obj in objects if type(obj) is _Transfer]
    current = greenlet.getcurrent()
    greenlets = [
        obj for obj in objects if issubclass(type(obj), greenlet.greenlet) and not obj.dead and obj is not current
    ]
    return {
        "active_transfers": transport.active_transfers,
        "aborted": transport.aborted,
        "live_transfers": len(transfers),
        "paused_transfers": sum(1 for t in transfers if t.paused and not t.finished),
        "buffered_bytes": sum(t.buffered for t in transfers),
        "greenlets": len(greenlets),
        "objects": len(objects),
        "pid": os.getpid(),
    }
