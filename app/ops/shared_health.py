"""What every worker of one server knows about grok.com, kept in one shared file.

The server's view of the upstream is split into conditions, each "ok", "unknown"
or the failure class that last broke it:

  session   auth_expired | account_blocked       (the cookies)
  anti_bot  anti_bot | stale_challenge | cloudflare_challenge | castle_rejected
                                                 (the statsig values / IP / the WebSocket's Castle check)
  protocol  payload_outdated                     (our request format)
  network   network                              (grok.com unreachable)

Evidence comes from every upstream outcome (this is a `SessionState` observer):
any 2xx proves the session and the network; a 2xx POST also proves the anti-bot
values and the request format (grok.com may not check the token on GETs); an accepted
WebSocket chat turn (method "WS") proves the format, not the statsig values.

The conditions and the last failure live in `health.json` in the runtime
directory, so every worker reports the same. A change of a condition is decided
under a lock, so exactly one worker (the one that observed it) logs it, once, at
WARNING with the advice of `errors.ADVICE`.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from ..grok import errors as gerr
from .atomicfile import FileLock, read_json, write_json

log = logging.getLogger("grok_web_api.health")

OK = "ok"
UNKNOWN = "unknown"
COMPONENT_OF = {
    gerr.AUTH_EXPIRED: "session",
    gerr.ACCOUNT_BLOCKED: "session",
    gerr.ANTI_BOT: "anti_bot",
    gerr.STALE_CHALLENGE: "anti_bot",
    gerr.CLOUDFLARE: "anti_bot",
    gerr.CASTLE: "anti_bot",
    gerr.PAYLOAD_OUTDATED: "protocol",
    gerr.NETWORK: "network",
}
_BROKEN = {
    "session": "grok.com session problem",
    "anti_bot": "grok.com anti-bot rejections started",
    "protocol": "grok.com rejects our request format",
    "network": "grok.com is unreachable",
}
_RECOVERED = {
    "session": "grok.com session valid again",
    "anti_bot": "grok.com anti-bot rejections stopped: requests are accepted again",
    "protocol": "grok.com accepts our request format again",
    "network": "grok.com is reachable again",
}


def _empty() -> dict:
    return {"conditions": {}, "last_failure": None}


class SharedHealth:
    """The shared conditions of one server (see the module docstring)."""

    def __init__(self, rundir: Path):
        self.path = Path(rundir) / "health.json"
        self._lock_path = Path(rundir) / "health.lock"
        self._signature = None
        self._read_at = 0.0
        self._view = _empty()

    # ------------------------------------------------------------------ reading
    def snapshot(self) -> dict:
        """The shared state as last written (re-read when the file changed, or after 1 s: file
        timestamps are coarse and inode numbers get reused, so the stat alone can miss a change)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return _empty()
        signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        now = time.monotonic()
        if signature != self._signature or now - self._read_at > 1.0:
            self._view = read_json(self.path) or _empty()
            self._signature, self._read_at = signature, now
        return self._view

    def condition(self, component: str) -> str:
        return (self.snapshot()["conditions"].get(component) or {}).get("value", UNKNOWN)

    # ------------------------------------------------------------------ evidence
    def observe(self, state, outcome) -> None:
        """The SessionState observer: every upstream outcome is evidence."""
        if outcome.error is None:
            self.success(outcome.method)
        else:
            self.failure(outcome.error, outcome.method)

    def success(self, method: str | None) -> None:
        proven = {"session": OK, "network": OK}
        if method == "POST":
            proven.update(anti_bot=OK, protocol=OK)
        elif method == "WS":  # a WebSocket turn carries no statsig: it proves the format only
            proven.update(protocol=OK)
        conditions = self.snapshot()["conditions"]
        if all((conditions.get(c) or {}).get("value") == v for c, v in proven.items()):
            return  # the common case: nothing changes, no lock, no write
        self._update(proven, None)

    def failure(self, error: gerr.GrokError, method: str | None) -> None:
        cls = error.failure_class
        component = None if getattr(error, "dropped", False) else COMPONENT_OF.get(cls)
        record = {
            "failure_class": cls,
            "message": error.message,
            "advice": error.advice,
            "at": time.time(),
            "upstream_status": getattr(error, "status", None),
            "method": method,
        }
        self._update({component: cls} if component else {}, record)

    # ------------------------------------------------------------------ writing
    def _update(self, wanted: dict[str, str], failure: dict | None) -> None:
        transitions = []
        with FileLock(self._lock_path):
            state = read_json(self.path) or _empty()
            now = time.time()
            for component, value in wanted.items():
                old = (state["conditions"].get(component) or {}).get("value", UNKNOWN)
                if old != value:
                    state["conditions"][component] = {"value": value, "since": now}
                    transitions.append((component, old, value))
            if failure is not None:
                state["last_failure"] = failure
            if transitions or failure is not None:
                write_json(self.path, state)
        for transition in transitions:
            _log_transition(*transition)


def _log_transition(component: str, old: str, new: str) -> None:
    if new == OK:
        if old == UNKNOWN:
            if component == "session":
                log.info("grok.com session valid")
            return
        log.warning("%s (was %s)", _RECOVERED[component], old)
        return
    advice = gerr.ADVICE.get(new, gerr.ADVICE[gerr.UPSTREAM])
    headline = {gerr.AUTH_EXPIRED: "grok.com session expired", gerr.ACCOUNT_BLOCKED: "grok.com account blocked"}.get(
        new, _BROKEN[component]
    )
    log.warning("%s (%s): %s", headline, new, advice)
