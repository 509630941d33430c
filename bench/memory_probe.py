"""The app plus one debug route that says what the worker's memory is made of (bench only).

    gunicorn -c gunicorn.conf.py bench.memory_probe:app      # the app (or MEMORY_APP=raw: bench/raw_relay.py)
    GET /__debug/memory?snapshot=/path/file   ->  RSS and heap figures, the live objects by type,
                                                 and (with MEMORY_TRACE=frames) a tracemalloc
                                                 snapshot written to that file

Used by bench/memory.py; never shipped (the package is app/ only).
"""

from gevent import monkey

monkey.patch_all()

import collections  # noqa: E402
import ctypes  # noqa: E402
import ctypes.util  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import tracemalloc  # noqa: E402
import types  # noqa: E402
import urllib.parse  # noqa: E402
from collections import deque  # noqa: E402

import greenlet  # noqa: E402

if os.environ.get("MEMORY_APP") == "raw":
    from bench.raw_relay import app as inner
else:
    from app import create_app

    inner = create_app()
if os.environ.get("MEMORY_TRACE"):  # frames per traceback; started after the imports, which it would slow down
    tracemalloc.start(int(os.environ["MEMORY_TRACE"]))
_libc = ctypes.CDLL(ctypes.util.find_library("c"))


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


def _smaps() -> dict:
    """RSS (KB) by kind of mapping: the brk heap, anonymous mappings, files (libraries)."""
    out: dict = collections.Counter()
    kind = "?"
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split(maxsplit=6)
            if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                name = head[5].strip() if len(head) > 5 else ""
                kind = "heap" if name == "[heap]" else "anon" if not name else "stack" if name == "[stack]" else "file"
            elif head[0] == "Rss:":
                out[kind] += int(head[1])
    return dict(out)


def _type_name(cls: type) -> str:
    module = cls.__dict__.get("__module__")
    return f"{cls.__qualname__}@{module}" if isinstance(module, str) else cls.__qualname__


def app(environ, start_response):
    if environ.get("PATH_INFO") != "/__debug/memory":
        return inner(environ, start_response)
    args = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
    body = json.dumps(memory_state(args)).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _obmalloc() -> dict:
    """pymalloc's own figures (sys._debugmallocstats writes them to the C stderr): KB in arenas,
    in objects, and free inside the arenas."""
    saved = os.dup(2)
    with tempfile.TemporaryFile() as f:
        os.dup2(f.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        text = f.read().decode()
    figures = {}
    for line in text.splitlines():
        if line.startswith("# ") and "=" in line:
            name, value = line[2:].split("=")
            figures[name.strip()] = int(value.strip().replace(",", ""))
    return {  # all 0 while tracemalloc hooks the allocator (no figures then)
        "obmalloc_arenas_kb": figures.get("arenas allocated current", 0) * 1024,
        "obmalloc_objects_kb": figures.get("bytes in allocated blocks", 0) // 1024,
        "obmalloc_free_kb": figures.get("bytes in available blocks", 0) // 1024,
    }


def _deepest_frames(greenlets) -> list[str]:
    """The Python frames of the parked greenlet with the most of them (a stream's, under load)."""
    best: list[str] = []
    for g in greenlets:
        if g.parent is None:  # the main greenlet: gunicorn's own frames
            continue
        frames, frame = [], g.gr_frame
        while frame is not None:
            code = frame.f_code
            frames.append(
                f"{code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno} {code.co_name} "
                f"stacksize={code.co_stacksize} locals={code.co_nlocals}"
            )
            frame = frame.f_back
        if len(frames) > len(best):
            best = frames
    return best


def _owners(objects) -> dict[str, int]:
    """Bound methods, closure cells and containers, named after what holds them, counted."""
    names: dict[int, str] = {}
    for o in objects:
        cls = type(o)
        if cls is types.FunctionType and o.__closure__:
            for cell in o.__closure__:
                names.setdefault(id(cell), f"cell of {o.__qualname__}")
        try:  # object's own lookup: proxies (flask's current_app) would ask their target
            attrs = object.__getattribute__(o, "__dict__") if cls not in (type, types.ModuleType) else None
        except Exception:  # noqa: BLE001 - no __dict__
            attrs = None
        if isinstance(attrs, dict):
            names.setdefault(id(attrs), f"__dict__ of {cls.__qualname__}")
            for key, value in attrs.items():
                if type(value) in (list, dict, set, deque, types.MethodType):
                    names.setdefault(id(value), f"{type(value).__name__} {cls.__qualname__}.{key}")
        slots = cls.__dict__.get("__slots__", ())
        for key in (slots,) if isinstance(slots, str) else slots:
            try:
                value = object.__getattribute__(o, key)
            except Exception:  # noqa: BLE001 - an empty slot
                continue
            if type(value) in (list, dict, set, deque, types.MethodType):
                names.setdefault(id(value), f"{type(value).__name__} {cls.__qualname__}.{key}")
        if cls is types.GeneratorType and o.gi_frame is not None:
            for key, value in o.gi_frame.f_locals.items():
                if type(value) in (list, dict, set, deque, types.MethodType):
                    names.setdefault(id(value), f"{type(value).__name__} local {o.__qualname__}.{key}")
    counts: collections.Counter = collections.Counter()
    for o in objects:
        cls = type(o)
        if cls is types.MethodType:
            counts[names.get(id(o)) or f"method {o.__func__.__qualname__}"] += 1
        elif cls in (list, dict, set, deque, types.CellType):
            counts[names.get(id(o), f"{cls.__name__} (unnamed)")] += 1
    return dict(counts.most_common(300))


def memory_state(args: dict) -> dict:
    gc.collect()
    if args.get("trim"):
        _libc.malloc_trim(0)
    _libc.mallinfo2.restype = _Mallinfo2
    mi = _libc.mallinfo2()
    out: dict = {}
    path = args.get("snapshot")
    if path and tracemalloc.is_tracing():  # before this probe's own walks allocate anything
        tracemalloc.take_snapshot().dump(path)
        out["traced_kb"] = tracemalloc.get_traced_memory()[0] // 1024
    objects = gc.get_objects()
    current = greenlet.getcurrent()
    by_type = collections.Counter(_type_name(type(o)) for o in objects)
    greenlets = [o for o in objects if issubclass(type(o), greenlet.greenlet) and not o.dead and o is not current]
    out |= {
        "pid": os.getpid(),
        "smaps_kb": _smaps(),
        "malloc_in_use_kb": mi.uordblks // 1024,
        "malloc_free_kb": mi.fordblks // 1024,
        "malloc_arena_kb": mi.arena // 1024,
        "malloc_mmap_kb": mi.hblkhd // 1024,
        **_obmalloc(),
        "objects": len(objects),
        "greenlets": len(greenlets),
        # The C stack each parked greenlet keeps a copy of (greenlet saves it on the heap).
        "greenlet_stack_saved_kb": sum(getattr(g, "_stack_saved", 0) for g in greenlets) // 1024,
        "frames": _deepest_frames(greenlets),
        "by_type": dict(by_type.most_common(400)),
    }
    if args.get("owners"):
        out["owners"] = _owners(objects)
    del objects, greenlets
    return out
