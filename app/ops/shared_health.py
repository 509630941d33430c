"""What every worker of every host knows about grok.com, kept in the shared-state store.

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

The conditions and the last failure live in the shared-state store (app/state: the
run directory on one host, Redis across hosts), so every worker of every host reports the
same. A condition changes by an atomic exchange, so exactly one worker (the one that
observed it first) logs the change, once, at WARNING with the advice of `errors.ADVICE`.
"""

from __future__ import annotations

import logging
import time

from ..grok import errors as gerr

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


SPACE = "health"
COMPONENTS = ("session", "anti_bot", "protocol", "network")
LAST_FAILURE = "last_failure"
# How long a worker trusts its last read when deciding that a success changes nothing.
FRESH_SECONDS = 1.0


def _empty() -> dict:
    return {"conditions": {}, "last_failure": None}


class SharedHealth:
    """The shared conditions of the server (see the module docstring); `store` is an app.state store."""

    def __init__(self, store):
        self.store = store
        self._read_at = -FRESH_SECONDS
        self._view = _empty()

    # ------------------------------------------------------------------ reading
    def snapshot(self, max_age: float = 0.0) -> dict:
        """{"conditions": {component: {"value", "since"}}, "last_failure": {...} | None}."""
        now = time.monotonic()
        if now - self._read_at >= max_age:
            found = self.store.get_many(SPACE, (*COMPONENTS, LAST_FAILURE))
            conditions = {c: found[c] for c in COMPONENTS if isinstance(found.get(c), dict)}
            self._view = {"conditions": conditions, "last_failure": found.get(LAST_FAILURE)}
            self._read_at = now
        return self._view

    def condition(self, component: str) -> str:
        return (self.snapshot()["conditions"].get(component) or {}).get("value", UNKNOWN)

    # ------------------------------------------------------------------ evidence
    def observe(self, state, outcome) -> None:
        """The SessionState observer: every upstream outcome is evidence."""
        if outcome.error is None:
            self.success(outcome.method, getattr(outcome, "account", None))
        else:
            self.failure(outcome.error, outcome.method, getattr(outcome, "account", None))

    def success(self, method: str | None, account: str | None = None) -> None:
        proven = {"network": OK}
        if account is None:  # a pool account's session is the pool's business (app/grok/accounts.py)
            proven["session"] = OK
        if method == "POST":
            proven.update(anti_bot=OK, protocol=OK)
        elif method == "WS":  # a WebSocket turn carries no statsig: it proves the format only
            proven.update(protocol=OK)
        conditions = self.snapshot(FRESH_SECONDS)["conditions"]
        if all((conditions.get(c) or {}).get("value") == v for c, v in proven.items()):
            return  # the common case: nothing changes, nothing written
        self._update(proven, None)

    def failure(self, error: gerr.GrokError, method: str | None, account: str | None = None) -> None:
        cls = error.failure_class
        component = None if getattr(error, "dropped", False) else COMPONENT_OF.get(cls)
        if component == "session" and account is not None:
            component = None
        record = {
            "failure_class": cls,
            "message": error.message,
            "advice": error.advice,
            "at": time.time(),
            "upstream_status": getattr(error, "status", None),
            "method": method,
        }
        if account is not None:
            record["account"] = account
        self._update({component: cls} if component else {}, record)

    # ------------------------------------------------------------------ writing
    def _update(self, wanted: dict[str, str], failure: dict | None) -> None:
        now = time.time()
        if failure is not None:
            self.store.put(SPACE, LAST_FAILURE, failure)
        current = self.snapshot()["conditions"] if wanted else {}
        for component, value in wanted.items():
            if (current.get(component) or {}).get("value") == value:
                continue  # no change: the condition keeps the time it started
            old = self.store.exchange(SPACE, component, {"value": value, "since": now})
            old_value = old.get("value", UNKNOWN) if isinstance(old, dict) else UNKNOWN
            if old_value != value:  # only the writer that saw the old value logs the change
                _log_transition(component, old_value, value)
        self._read_at = -FRESH_SECONDS


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
