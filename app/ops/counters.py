"""Request, stream and failure counters that every gunicorn worker reports alike.

Each worker owns one small memory-mapped file in the runtime directory and bumps
its slots in place (no system call per request). A reader sums the files of all
workers, so /status gives the same totals whichever worker answers. When a
worker dies its counts are folded into `retired.json` (by the master's
`child_exit` hook, or by the next reader that finds the dead worker's file), so
they never vanish; its active streams, being gone, are not carried over.
"""

from __future__ import annotations

import mmap
import os
import struct
import time
from pathlib import Path

from ..grok.errors import FAILURE_CLASSES
from .atomicfile import FileLock, read_json, write_json

MAGIC = b"GWACNT01"
_HEADER = struct.Struct("<8sq")  # magic, pid
REQUESTS = "requests_served"
LAST_REQUEST_MS = "last_request_at_ms"
ACTIVE_STREAMS = "active_streams"
STREAMS = "streams_started"
OTHER_FAILURE = "other"
FAILURE_PREFIX = "failures."
SLOTS = (
    REQUESTS,
    LAST_REQUEST_MS,
    ACTIVE_STREAMS,
    STREAMS,
    *(FAILURE_PREFIX + c for c in (*FAILURE_CLASSES, OTHER_FAILURE)),
)
_INDEX = {name: i for i, name in enumerate(SLOTS)}
_SIZE = _HEADER.size + 8 * len(SLOTS)
# Summed over workers; the others are combined differently (max, live only).
_SUMMED = tuple(s for s in SLOTS if s not in (LAST_REQUEST_MS, ACTIVE_STREAMS))


def _directory(rundir: Path) -> Path:
    path = Path(rundir) / "counters"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def _worker_file(directory: Path, pid: int) -> Path:
    return directory / f"worker-{pid}.bin"


class WorkerCounters:
    """This process's counters. The file is (re)created lazily by the process that uses it,
    so an app built before a fork never shares its counters with its children."""

    def __init__(self, rundir: Path):
        self.rundir = Path(rundir)
        self._pid: int | None = None
        self._map: mmap.mmap | None = None

    def _slots(self) -> mmap.mmap:
        pid = os.getpid()
        if self._pid != pid or self._map is None:
            directory = _directory(self.rundir)
            path = _worker_file(directory, pid)
            # A dead process that had this pid left counts behind: keep them before truncating.
            fold_dead(self.rundir, pids={pid} if path.exists() else None)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.ftruncate(fd, _SIZE)
                self._map = mmap.mmap(fd, _SIZE)
            finally:
                os.close(fd)
            _HEADER.pack_into(self._map, 0, MAGIC, pid)
            self._pid = pid
        return self._map

    def open(self) -> None:
        """Create this process's file now, so /status counts the worker before it serves anything."""
        self._slots()

    def add(self, name: str, amount: int = 1) -> None:
        slots = self._slots()
        offset = _HEADER.size + 8 * _INDEX[name]
        (value,) = struct.unpack_from("<q", slots, offset)
        struct.pack_into("<q", slots, offset, value + amount)

    def set(self, name: str, value: int) -> None:
        struct.pack_into("<q", self._slots(), _HEADER.size + 8 * _INDEX[name], int(value))

    def get(self, name: str) -> int:
        return struct.unpack_from("<q", self._slots(), _HEADER.size + 8 * _INDEX[name])[0]

    def request(self) -> None:
        self.add(REQUESTS)
        self.set(LAST_REQUEST_MS, int(time.time() * 1000))

    def failure(self, failure_class: str) -> None:
        name = FAILURE_PREFIX + failure_class
        self.add(name if name in _INDEX else FAILURE_PREFIX + OTHER_FAILURE)


def _read_worker(path: Path) -> tuple[int, dict[str, int]] | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(raw) < _SIZE:
        return None
    magic, pid = _HEADER.unpack_from(raw, 0)
    if magic != MAGIC:
        return None
    values = struct.unpack_from(f"<{len(SLOTS)}q", raw, _HEADER.size)
    return pid, dict(zip(SLOTS, values, strict=True))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fold_dead(rundir: Path, pids: set[int] | None = None) -> None:
    """Move the counts of dead workers (or of `pids`) into retired.json, then drop their files."""
    directory = _directory(rundir)
    candidates = []
    for path in directory.glob("worker-*.bin"):
        read = _read_worker(path)
        if read is None:
            continue
        pid, _ = read
        if (pids is not None and pid in pids) or not _alive(pid):
            candidates.append(path)
    if not candidates:
        return
    with FileLock(directory / "fold.lock"):
        retired = read_json(directory / "retired.json", {}) or {}
        folded = []
        for path in candidates:
            read = _read_worker(path)  # again, under the lock: another reader may have folded it
            if read is None:
                continue
            _, values = read
            for name in _SUMMED:
                retired[name] = retired.get(name, 0) + values[name]
            retired[LAST_REQUEST_MS] = max(retired.get(LAST_REQUEST_MS, 0), values[LAST_REQUEST_MS])
            folded.append(path)
        if folded:
            write_json(directory / "retired.json", retired, fsync=True)
            for path in folded:
                path.unlink(missing_ok=True)


def totals(rundir: Path) -> dict:
    """Counters summed over every worker of this server, dead ones included."""
    fold_dead(rundir)
    directory = _directory(rundir)
    total = {name: 0 for name in SLOTS}
    retired = read_json(directory / "retired.json", {}) or {}
    for name in _SUMMED:
        total[name] += int(retired.get(name, 0))
    total[LAST_REQUEST_MS] = int(retired.get(LAST_REQUEST_MS, 0))
    workers = 0
    for path in directory.glob("worker-*.bin"):
        read = _read_worker(path)
        if read is None:
            continue
        workers += 1
        _, values = read
        for name in _SUMMED:
            total[name] += values[name]
        total[ACTIVE_STREAMS] += values[ACTIVE_STREAMS]
        total[LAST_REQUEST_MS] = max(total[LAST_REQUEST_MS], values[LAST_REQUEST_MS])
    failures = {
        name[len(FAILURE_PREFIX) :]: total[name] for name in SLOTS if name.startswith(FAILURE_PREFIX) and total[name]
    }
    return {
        "requests_served": total[REQUESTS],
        "last_request_at": total[LAST_REQUEST_MS] // 1000 or None,
        "active_streams": max(0, total[ACTIVE_STREAMS]),
        "streams_started": total[STREAMS],
        "failures_by_class": failures,
        "workers": workers,
    }
