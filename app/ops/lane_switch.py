"""The chat-lane switch in the shared-state store (app.grok.lanes.LaneSwitch over app.state).

One value, space "lane", key "chat": `{"lane": "ws", "at": <unix time>, "reason": …}`. Every
worker of every host sharing the store reads it before a chat (at most once a second; once it
says "ws" it is never read again, since the switch only goes one way); the first worker whose
request showed grok.com's REST chat retired writes it with `put_new`, so exactly one call in
the whole deployment reports the switch and logs it. On one host the store is the run
directory's, so a restart tries REST again; with Redis the switch outlives restarts until the
key is deleted.
"""

from __future__ import annotations

import logging
import os
import time

from ..state import Store

log = logging.getLogger(__name__)

SPACE = "lane"
KEY = "chat"
REFRESH_SECONDS = 1.0


class StoreLaneSwitch:
    def __init__(self, store: Store):
        self.store = store
        self._state: dict | None = None
        self._read_at = float("-inf")

    def current(self) -> dict | None:
        state = self._state
        if state is not None and state.get("lane") == "ws":
            return state  # one way: nothing can switch it back while this server runs
        now = time.monotonic()
        if now - self._read_at >= REFRESH_SECONDS:
            self._read_at = now
            try:
                value = self.store.get(SPACE, KEY)
            except Exception:  # the store is down: keep what was known, the chat goes on
                log.debug("chat lane switch unreadable", exc_info=True)
            else:
                self._state = value if isinstance(value, dict) else None
        return self._state

    def switch(self, lane: str, reason: str) -> bool:
        state = {"lane": lane, "at": time.time(), "reason": reason[:500], "pid": os.getpid()}
        try:
            made = self.store.put_new(SPACE, KEY, state)
        except Exception:  # the store is down: this worker switches on its own meanwhile
            log.warning("could not share the chat lane switch; this worker switches alone", exc_info=True)
            made = True
        if made:
            self._state = state
        else:
            self._state, self._read_at = None, float("-inf")
            self.current()
        return made
