"""What every worker of every host knows about grok.com, kept in the shared-state store.

The server's view of the upstream is split into conditions, each "ok", "unknown"
or the failure class that last broke it:

  session   auth_expired | account_blocked       (the cookies)
  anti_bot  anti_bot | stale_challenge | cloudflare_challenge | statsig_unavailable
                                                 (the statsig values / IP)
  protocol  rest_lane_retired                    (404/410 on the REST chat lane, "update your client")
  network   network                              (grok.com unreachable)

Evidence comes from every upstream outcome (this is a `SessionState` observer):
any 2xx proves the session and the network; a 2xx POST also proves the anti-bot
values and the request format (grok.com may not check the token on GETs).

The conditions and the last failure live in the shared-state store (app/state: the
run directory on one host, Redis across hosts), so every worker of every host reports the
same. A condition changes by an atomic exchange, so exactly one worker (the one that
observed it first) logs the change, once, at WARNING with the advice of `errors.ADVICE` and
what the server does about it by itself.

`drift()` sums the conditions up as the one thing that is broken now (app.grok.drift's
classes), with that advice, for /status and /setup.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from ..grok import drift
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
    gerr.STATSIG_UNAVAILABLE: "anti_bot",
    gerr.REST_LANE_RETIRED: "protocol",
    gerr.NETWORK: "network",
}
# The order in which broken conditions explain each other: with the network down nothing
# else can be judged; expired cookies make every signed request fail too.
_DRIFT_ORDER = ("network", "session", "anti_bot", "protocol")
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

    def __init__(self, store, automatic: Callable[[str], str] | None = None):
        self.store = store
        # automatic(drift state) says what the server does about it by itself (logs, /status).
        self.automatic = automatic or (lambda state: "")
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
            self.failure(outcome.error, outcome.method, getattr(outcome, "account", None), outcome.path)

    def success(self, method: str | None, account: str | None = None) -> None:
        proven = {"network": OK}
        if account is None:  # a pool account's session is the pool's business (app/grok/accounts.py)
            proven["session"] = OK
        if method == "POST":
            proven.update(anti_bot=OK, protocol=OK)
        conditions = self.snapshot(FRESH_SECONDS)["conditions"]
        if all((conditions.get(c) or {}).get("value") == v for c, v in proven.items()):
            return  # the common case: nothing changes, nothing written
        self._update(proven, None)

    def failure(
        self, error: gerr.GrokError, method: str | None, account: str | None = None, path: str | None = None
    ) -> None:
        cls = error.failure_class
        component = None if getattr(error, "dropped", False) else COMPONENT_OF.get(cls)
        value = cls
        if drift.rest_lane_retired(error, path):
            # "update your client" or 404/410 where the chat lane lives: the lane itself is gone.
            component, value = "protocol", gerr.REST_LANE_RETIRED
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
        self._update({component: value} if component else {}, record)

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
                self._log_transition(component, old_value, value)
        self._read_at = -FRESH_SECONDS

    # ------------------------------------------------------------------ the summary
    def drift(self) -> dict:
        """The one thing broken now (app.grok.drift's state), since when, the advice and what the
        server does about it automatically."""
        conditions = self.snapshot()["conditions"]
        for component in _DRIFT_ORDER:
            entry = conditions.get(component) or {}
            value = entry.get("value", UNKNOWN)
            if value in (OK, UNKNOWN):
                continue
            state = drift.state_of(value)
            return {
                "state": state,
                "since": entry.get("since"),
                "failure_class": value,
                "advice": gerr.ADVICE.get(value, gerr.ADVICE[gerr.UPSTREAM]),
                "automatic": self.automatic(state),
            }
        known = any((conditions.get(c) or {}).get("value") == OK for c in _DRIFT_ORDER)
        return {
            "state": drift.OK if known else UNKNOWN,
            "since": None,
            "failure_class": None,
            "advice": None,
            "automatic": None,
        }

    def _log_transition(self, component: str, old: str, new: str) -> None:
        if new == OK:
            if old == UNKNOWN:
                if component == "session":
                    log.info("grok.com session valid")
                return
            log.warning("%s (was %s)", _RECOVERED[component], old)
            return
        advice = gerr.ADVICE.get(new, gerr.ADVICE[gerr.UPSTREAM])
        headline = {
            gerr.AUTH_EXPIRED: "grok.com session expired",
            gerr.ACCOUNT_BLOCKED: "grok.com account blocked",
            gerr.REST_LANE_RETIRED: "grok.com retired the REST chat lane",
        }.get(new, _BROKEN[component])
        automatic = self.automatic(drift.state_of(new))
        log.warning("%s (%s): %s%s", headline, new, advice, f" Automatically: {automatic}" if automatic else "")


def automatic_action(state: str, statsig_mode: str, check_interval: int, chat_lane: str = "auto") -> str:
    """What the server does by itself about a drift state (for the log line and /status)."""
    derives = statsig_mode in ("auto", "derived")
    return {
        drift.COOKIES: f"nothing it can do: the session is checked every {check_interval} s and requests work "
        "again as soon as new cookies are saved (/setup, or update-keys --reload).",
        drift.ACCOUNT: "nothing it can do: requests fail until xAI lifts the block.",
        drift.STALE_STATSIG: (
            "it re-derives the x-statsig-id values from grok.com's page (once per build for all workers) "
            "and retries each rejected request once with them; /status shows the outcome."
            if derives
            else f"nothing: STATSIG_SOURCE={statsig_mode} pins the values; set STATSIG_SOURCE=auto to derive them."
        ),
        drift.CLOUDFLARE: f"nothing it can do: it probes again every {check_interval} s.",
        drift.REST_LANE_RETIRED: {
            "auto": "each chat refused this way is retried at once on grok.com's WebSocket lane, and the "
            "server then switches to it (GROK_CHAT_LANE=auto; /status shows chat_lane).",
            "ws": "nothing needed: GROK_CHAT_LANE=ws already sends chats over grok.com's WebSocket lane.",
        }.get(
            chat_lane,
            f"nothing: GROK_CHAT_LANE={chat_lane} pins the REST lane; set it to auto or ws to chat over "
            "grok.com's WebSocket lane.",
        ),
        drift.NETWORK: f"it probes again every {check_interval} s; each new request tries grok.com again.",
    }.get(state, "")
