"""The session check (docs/grok-protocol.md: the session check) and the background session watcher.

`SessionCheck` performs `GrokClient.check_session()` at most once at a time per
account across every worker of every host: within a worker, concurrent callers share
one in-flight check (a gevent AsyncResult); across workers and hosts, whoever takes
the store's `session-check:<account>` lock checks and the others wait for (or skip to)
the result it writes to the store (app/state: the run directory, or Redis). A
result is reused while it is fresh enough for the caller (a few seconds for
/health/session, the check interval for the watcher) and only for the
credentials it was made with (`fingerprint`), so a key rotation is re-checked.

`SessionWatcher` is one greenlet per worker. Every tick (jittered) it first runs
`on_tick` (the settings reload poll), then checks if the last check of the whole
server is older than the interval and nobody else is checking. So with N workers
on M hosts there is still one check per interval, and the first one happens right
after startup, in the background. The outcome of every check reaches the shared
conditions through the client's SessionState observers (see shared_health).
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import gevent
from gevent.event import AsyncResult

from ..grok import errors as gerr
from ..grok import hooks
from ..grok.client import GrokClient

log = logging.getLogger("grok_web_api.watch")

VALID = "valid"
EXPIRED = "expired"
UNKNOWN = "unknown"
NOT_CONFIGURED = "not_configured"


def fingerprint(config) -> str:
    """A short digest identifying the credentials a check was made with (never the values)."""
    signer = config.signer
    parts = [config.base_url, config.cookie_header or "", type(signer).__name__]
    for attribute in ("header", "suffix", "trailer", "url"):
        value = getattr(signer, attribute, None)
        parts.append(value.hex() if isinstance(value, bytes) else str(value))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CheckResult:
    session: str  # valid | expired | unknown | not_configured
    at: float
    fingerprint: str
    message: str | None = None
    failure_class: str | None = None
    advice: str | None = None

    def fresh(self, fingerprint_: str, max_age: float) -> bool:
        return self.fingerprint == fingerprint_ and time.time() - self.at < max_age

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data) -> "CheckResult | None":
        try:
            return cls(**data)
        except TypeError:
            return None


SPACE = "check"
DEFAULT_ACCOUNT = "default"


class SessionCheck:
    """The session check of one account (`label`), through the shared-state `store`."""

    def __init__(self, store, client: GrokClient, label: str = DEFAULT_ACCOUNT, *, poll: float = 0.05):
        self.store = store
        self.client = client
        self.label = label
        self._lock_name = f"session-check:{label}"
        self._poll = poll
        self._inflight: AsyncResult | None = None

    def last(self) -> CheckResult | None:
        """The last check of this account, by whichever worker or host (None before the first)."""
        data = self.store.get(SPACE, self.label)
        return CheckResult.from_json(data) if isinstance(data, dict) else None

    def current_fingerprint(self) -> str:
        return fingerprint(self.client.config)

    def result(self, max_age: float) -> CheckResult:
        """A check no older than max_age for the current credentials; checks if needed."""
        fp = self.current_fingerprint()
        last = self.last()
        if last is not None and last.fresh(fp, max_age):
            return last
        if self._inflight is not None:  # this worker is already checking: share it
            with hooks.waits.released():  # no start slot is needed while waiting for it
                return self._inflight.get()
        self._inflight = inflight = AsyncResult()
        try:
            result, _ = self._across_workers(fp, max_age, wait=True)
        except BaseException as exc:
            inflight.set_exception(exc)
            raise
        finally:
            self._inflight = None
        inflight.set(result)
        return result

    def run_if_due(self, max_age: float, after_valid: Callable[[], None] | None = None) -> CheckResult | None:
        """Check when the last check is older than max_age and no other worker is checking.

        `after_valid` runs after a valid check, before its result is published (so a
        reader that sees the result knows it ran too). Returns the result only when
        this call performed the check."""
        fp = self.current_fingerprint()
        last = self.last()
        if (last is not None and last.fresh(fp, max_age)) or self._inflight is not None:
            return None
        result, performed = self._across_workers(fp, max_age, wait=False, after_valid=after_valid)
        return result if performed else None

    def _across_workers(
        self, fp: str, max_age: float, *, wait: bool, after_valid: Callable[[], None] | None = None
    ) -> tuple[CheckResult | None, bool]:
        hold = self.client.config.request_timeout + 10  # a holder that died frees it by then
        deadline = time.monotonic() + self.client.config.request_timeout + 5
        while True:
            token = self.store.try_lock(self._lock_name, hold)
            if token is not None:
                try:
                    last = self.last()  # another worker may have just finished
                    if last is not None and last.fresh(fp, max_age):
                        return last, False
                    result = self._perform()
                    if result.session == VALID and after_valid is not None:
                        after_valid()
                    self.store.put(SPACE, self.label, result.to_json())
                    return result, True
                finally:
                    self.store.unlock(self._lock_name, token)
            if not wait:
                return None, False
            time.sleep(self._poll)
            last = self.last()
            if last is not None and last.fresh(fp, max_age):
                return last, False
            if time.monotonic() >= deadline:
                return CheckResult(
                    UNKNOWN,
                    time.time(),
                    fp,
                    "timed out waiting for another worker's session check",
                    gerr.TIMEOUT,
                    gerr.ADVICE[gerr.TIMEOUT],
                ), False

    def _perform(self) -> CheckResult:
        config = self.client.config
        fp = fingerprint(config)
        if not config.cookie_header:
            return CheckResult(
                NOT_CONFIGURED,
                time.time(),
                fp,
                "GROK_SSO_COOKIE is not set",
                gerr.NOT_CONFIGURED,
                gerr.ADVICE[gerr.NOT_CONFIGURED],
            )
        try:
            self.client.check_session()
        except gerr.AuthExpired as exc:
            return CheckResult(EXPIRED, time.time(), fp, "Grok SSO cookies expired", exc.failure_class, exc.advice)
        except gerr.GrokError as exc:
            return CheckResult(UNKNOWN, time.time(), fp, exc.message, exc.failure_class, exc.advice)
        return CheckResult(VALID, time.time(), fp)


class SessionWatcher:
    """The per-worker background greenlet (see the module docstring).

    `checks()` gives the session checks to keep fresh (one per account of a pool); `after`
    runs at the end of every tick (the pool's quota sync)."""

    def __init__(
        self,
        checks: Callable[[], Sequence[SessionCheck]],
        interval: Callable[[], float],
        *,
        on_tick: Callable[[], None] | None = None,
        canary: Callable[[], None] | None = None,
        after: Callable[[], None] | None = None,
        enabled: bool = True,
    ):
        self.checks = checks
        self.enabled = enabled
        self.interval = interval
        self.on_tick = on_tick
        self.canary = canary
        self.after = after
        self._greenlet: gevent.Greenlet | None = None

    def tick_seconds(self) -> float:
        return min(1.0, self.interval() / 4)

    def start(self) -> gevent.Greenlet:
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._run)
        return self._greenlet

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None

    def run_once(self) -> list[CheckResult]:
        """One tick; returns the checks this worker performed."""
        if self.on_tick is not None:
            self.on_tick()  # apply a pending settings reload before deciding what to check
        if not self.enabled:
            return []
        done = []
        for check in self.checks():
            result = check.run_if_due(self.interval(), after_valid=self.canary)
            if result is not None:
                done.append(result)
        if self.after is not None:
            self.after()
        return done

    def _run(self) -> None:
        # Workers start together: spread their first look over one tick.
        gevent.sleep(random.uniform(0, self.tick_seconds()))
        while True:
            try:
                self.run_once()
            except gevent.GreenletExit:
                raise
            except Exception:
                log.exception("session watcher tick failed")
            gevent.sleep(self.tick_seconds() * random.uniform(0.75, 1.25))
