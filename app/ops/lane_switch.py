"""The chat-lane switch of one host, in a file of the run directory (app.grok.lanes.LaneSwitch).

Every worker reads `chat_lane.json` before a chat (a `stat`, and a read only when the file
changed or a second passed); the first worker whose request showed grok.com's REST chat
retired writes the switch under a lock, and only that worker's call reports the change, so
the WARNING is logged once per host. A server restart starts a new run directory: REST is
tried again then. A shared-state store (several hosts) can replace this class behind the
same two methods.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .atomicfile import FileLock, read_json, write_json

FILE = "chat_lane.json"


class FileLaneSwitch:
    def __init__(self, rundir: Path):
        self.path = Path(rundir) / FILE
        self._lock_path = Path(rundir) / "chat_lane.lock"
        self._signature = None
        self._read_at = 0.0
        self._state: dict | None = None

    def current(self) -> dict | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        now = time.monotonic()
        if signature != self._signature or now - self._read_at > 1.0:
            data = read_json(self.path)
            self._state = data if isinstance(data, dict) else None
            self._signature, self._read_at = signature, now
        return self._state

    def switch(self, lane: str, reason: str) -> bool:
        with FileLock(self._lock_path):
            data = read_json(self.path)
            if isinstance(data, dict) and data.get("lane") == lane:
                return False
            state = {"lane": lane, "at": time.time(), "reason": reason, "pid": os.getpid()}
            write_json(self.path, state)
        self._state, self._signature = state, None
        return True
