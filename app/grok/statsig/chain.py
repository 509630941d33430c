"""STATSIG_SOURCE: which values sign requests, and how derived values are kept current.

  auto      derived values; when deriving fails, the env triple, then TOKEN_PROVIDER_URL,
            then nothing (the default)
  derived   derived values only (requests fail with the derivation's reason otherwise)
  env       CHALLENGE_HEADER_HEX / _SUFFIX / _TRAILER only
  provider  TOKEN_PROVIDER_URL only

Derived values live in the client's SharedValues under one key, so all workers of a host
use the same ones and one of them derives for all: within a worker a derivation is shared
by every greenlet that needs it, across workers the store's lock lets one derive while the
others wait and then read its result. They are renewed

* when grok.com rejects a request as stale or anti-bot (`renew`): the request's values are
  compared with the current ones first, so the hundreds of requests that fail at a build
  change cause one derivation, and each is retried once with the new values;
* after STATSIG_TTL_SECS, in the background, while the old values keep signing;
* after a failed derivation, at a backoff (60 s doubling up to the TTL).
"""

from __future__ import annotations

import logging
import time

import gevent
from gevent.event import AsyncResult

from .. import errors as gerr
from .. import hooks
from .derive import BUDGET_SECONDS, DerivationError, Derived, Deriver
from .signers import ChallengeSigner, NoSigner, Signature, Signer

log = logging.getLogger("grok_web_api.statsig")

AUTO, DERIVED, ENV, PROVIDER = "auto", "derived", "env", "provider"
SOURCES = (AUTO, DERIVED, ENV, PROVIDER)
KEY = "statsig"
FIRST_RETRY_SECONDS = 60.0
# A rejection of values that a derivation just produced (or a failure just seen) does not
# start another derivation sooner than this: a same-build re-derivation gives the same values.
MIN_REDERIVE_SECONDS = 30.0
SYNC_SECONDS = 1.0
RENEWABLE = (gerr.STALE_CHALLENGE, gerr.ANTI_BOT)


class StatsigUnavailable(gerr.GrokError):
    """STATSIG_SOURCE=derived and no usable derived values."""

    failure_class = gerr.STATSIG_UNAVAILABLE


class StatsigChain(Signer):
    def __init__(
        self,
        mode: str = AUTO,
        *,
        env: ChallengeSigner | None = None,
        provider: Signer | None = None,
        cdn_url: str = "https://cdn.grok.com",
        ttl: float = 3600.0,
        budget: float = BUDGET_SECONDS,
    ):
        if mode not in SOURCES:
            raise ValueError(f"STATSIG_SOURCE must be one of {', '.join(SOURCES)}")
        self.mode = mode
        self.env = env
        self.provider = provider
        self.cdn_url = cdn_url
        self.ttl = ttl
        self.budget = budget
        self._store = None
        self._record: dict = {}
        self._read_at = float("-inf")
        self._values: Derived | None = None
        self._signer: ChallengeSigner | None = None
        self._inflight: AsyncResult | None = None
        self._refresh: gevent.Greenlet | None = None

    # ------------------------------------------------------------------ which values sign
    @property
    def derives(self) -> bool:
        return self.mode in (AUTO, DERIVED)

    def _fallback(self) -> Signer:
        if self.mode == ENV or (self.mode == AUTO and self.env is not None):
            return self.env or NoSigner()
        if self.mode in (PROVIDER, AUTO) and self.provider is not None:
            return self.provider
        return NoSigner()

    def active(self) -> tuple[Signer, str]:
        """The signer in use and the name of its values."""
        if self.derives:
            self._sync()
            if self._signer is not None and self._values is not None:
                return self._signer, self._values.id
            if self.mode == DERIVED:
                raise StatsigUnavailable(
                    "no derived x-statsig-id values (STATSIG_SOURCE=derived): " + self._failure_text()
                )
        signer = self._fallback()
        return signer, signer.source

    @property
    def source(self) -> str:  # type: ignore[override]
        """The source signing right now: derived, env, provider or none."""
        try:
            signer, _ = self.active()
        except StatsigUnavailable:
            return "none"
        return "derived" if signer is self._signer and self._signer is not None else signer.source

    @property
    def build(self) -> str | None:
        """The grok.com build of the derived values in use (None when none are)."""
        return self._values.build_id if self.source == "derived" and self._values is not None else None

    def sign(self, method: str, path: str) -> Signature:
        signer, values_id = self.active()
        signature = signer.sign(method, path)
        return Signature(signature.statsig_id, signature.request_id, values_id)

    # ------------------------------------------------------------------ keeping values current
    def prepare(self, client) -> None:
        if not self.derives:
            return
        self._bind(client)
        self._sync()
        values = self._values
        if values is None:
            if self._retry_due():
                self.derive(client, reason="no derived values yet")
        elif (
            time.time() - values.derived_at > self.ttl
            and self._retry_due()
            and (self._refresh is None or self._refresh.dead)
        ):
            self._refresh = gevent.spawn(self.derive, client, reason="the values are older than STATSIG_TTL_SECS")

    def renew(self, client, signature: Signature, error) -> bool:
        if not self.derives or getattr(error, "failure_class", None) not in RENEWABLE:
            return False
        self._bind(client)
        self._sync(force=True)
        if self._values is not None and self._values.id != signature.values_id:
            return True  # newer values exist already (another request or worker derived them)
        derived = self.derive(
            client, failed=signature.values_id, reason=f"grok.com answered {error.failure_class}: {error.message}"
        )
        if derived is not None:
            return derived.id != signature.values_id
        # No new derived values; auto may have moved on to its fallback (the env triple).
        try:
            signer, values_id = self.active()
        except StatsigUnavailable:
            return False
        return signer.source != "none" and values_id != signature.values_id

    def derive(self, client, *, failed: str | None = None, reason: str = "requested") -> Derived | None:
        """Derive (or adopt what another worker derived) once for every caller of this worker."""
        self._bind(client)
        if self._inflight is not None:
            # Waiting for another request's derivation: the application's start slot (if any)
            # is free meanwhile, or the waiters could hold every slot the deriver needs.
            with hooks.waits.released():
                return self._inflight.get()
        self._inflight = inflight = AsyncResult()
        derived = None
        try:
            derived = self._derive_exclusively(client, failed, reason)
        finally:
            self._inflight = None
            inflight.set(derived)
        return derived

    def _derive_exclusively(self, client, failed: str | None, reason: str) -> Derived | None:
        store = client.shared
        try:
            with store.lock(KEY, timeout=self.budget + 10):
                record = store.get(KEY) or {}
                usable = self._usable(record)
                attempt = record.get("attempt") or {}
                recent = time.time() - float(attempt.get("at") or 0) < MIN_REDERIVE_SECONDS
                if usable is not None and (
                    (failed is not None and usable.id != failed)
                    or (failed is None and time.time() - usable.derived_at <= self.ttl)
                ):
                    self._adopt(record)  # another worker derived meanwhile
                    return usable
                if recent and (not attempt.get("ok") or (failed is not None and attempt.get("trigger") == failed)):
                    self._adopt(record)
                    return None
                return self._run(client, record, usable, failed, reason)
        except TimeoutError:
            log.warning("statsig: another worker's derivation did not finish in time; keeping the current values")
            return None

    def _run(self, client, record: dict, previous: Derived | None, failed: str | None, reason: str) -> Derived | None:
        started = time.time()
        try:
            try:
                derived = Deriver(client, cdn_url=self.cdn_url, previous=previous).run(self.budget)
            except (DerivationError, gevent.GreenletExit):
                raise
            except Exception as exc:  # a bug here must not become every request's 500
                log.exception("statsig: the derivation failed unexpectedly")
                raise DerivationError("internal", client.config.base_url, type(exc).__name__) from None
        except DerivationError as exc:
            record["attempt"] = {"ok": False, "at": started, "reason": reason, "trigger": failed, **exc.to_json()}
            record["failures"] = int(record.get("failures") or 0) + 1
            if failed is not None and previous is not None and previous.id == failed:
                record["stale"] = failed  # rejected and not replaceable: stop signing with it
            client.shared.put(KEY, record)
            self._adopt(record)
            log.warning(
                "statsig: source %s: deriving the x-statsig-id values failed (%s) at %s; %s",
                self.source,
                reason,
                exc,
                self._fallback_text(),
            )
            return None
        record["values"] = derived.to_json()
        record["attempt"] = {"ok": True, "at": started, "reason": reason, "trigger": failed, "values_id": derived.id}
        record["failures"] = 0
        record["derivations"] = int(record.get("derivations") or 0) + 1
        record.pop("stale", None)
        client.shared.put(KEY, record)
        self._adopt(record)
        changed = previous is None or previous.build_id != derived.build_id
        log.log(
            logging.WARNING if failed is not None and changed else logging.INFO,
            "statsig: source derived: %s x-statsig-id values for grok.com build %s at %s (index set %s, %s; "
            "canary %s)%s%s",
            "derived" if changed else "re-derived",
            derived.build_id,
            time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(derived.derived_at)),
            derived.index_set,
            derived.index_source,
            derived.canary,
            f" after {reason}" if failed is not None else "",
            "".join(f"; note: {note}" for note in derived.notes[:4]),
        )
        return derived

    # ------------------------------------------------------------------ shared record
    def _bind(self, client) -> None:
        self._store = client.shared

    def _usable(self, record: dict) -> Derived | None:
        values = Derived.from_json(record["values"]) if record.get("values") else None
        if values is None or record.get("stale") == values.id:
            return None
        return values

    def _sync(self, force: bool = False) -> None:
        if self._store is None:
            return
        now = time.monotonic()
        if force or now - self._read_at >= SYNC_SECONDS:
            self._adopt(self._store.get(KEY) or {})

    def _adopt(self, record: dict) -> None:
        self._record = record
        self._read_at = time.monotonic()
        values = self._usable(record)
        if values is None:
            self._values = self._signer = None
        elif self._values is None or values.id != self._values.id:
            pair = values.values
            self._values = values
            self._signer = ChallengeSigner(pair.header, pair.suffix, pair.trailer)

    def _retry_due(self) -> bool:
        attempt = self._record.get("attempt") or {}
        if attempt.get("ok", True):
            return True
        failures = max(1, int(self._record.get("failures") or 1))
        backoff = min(max(self.ttl, FIRST_RETRY_SECONDS), FIRST_RETRY_SECONDS * 2 ** (failures - 1))
        return time.time() - float(attempt.get("at") or 0) >= backoff

    def _failure_text(self) -> str:
        attempt = self._record.get("attempt") or {}
        if attempt and not attempt.get("ok"):
            return f"step '{attempt.get('step')}' on {attempt.get('url')}: {attempt.get('found')}"
        if self._record.get("stale"):
            return "grok.com rejected the derived values and re-deriving gave no others"
        return "not derived yet"

    def _fallback_text(self) -> str:
        if self.mode == DERIVED:
            return "requests fail until a derivation succeeds (STATSIG_SOURCE=derived)"
        fallback = self._fallback().source
        return {
            "env": "signing with CHALLENGE_HEADER_HEX / CHALLENGE_SUFFIX meanwhile",
            "provider": "signing with TOKEN_PROVIDER_URL meanwhile",
        }.get(
            fallback,
            "no fallback configured: requests carry the page's own error value meanwhile (degraded; "
            "grok.com may reject them)",
        )

    # ------------------------------------------------------------------ reporting
    def status(self, store=None) -> dict:
        """What /status, /setup and the startup line say about the values in use."""
        if store is not None:
            self._store = store
        self._sync()
        source = self.source
        values = self._values if source == "derived" else None
        attempt = self._record.get("attempt")
        fallback_reason = None
        if self.derives and source != "derived":
            fallback_reason = "derivation failed: " + self._failure_text()
            if source == "none":
                fallback_reason += (
                    "; neither CHALLENGE_* values nor TOKEN_PROVIDER_URL are set, so requests carry the "
                    "page's own error value (degraded)"
                )
        return {
            "configured": self.mode,
            "source": source,
            "build": values.build_id if values else None,
            "release": values.release if values else None,
            "derived_at": values.derived_at if values else None,
            "index_set": values.index_set.as_list() if values else None,
            "index_source": values.index_source if values else None,
            "verified": values.verified if values else None,
            "canary": values.canary if values else None,
            "fallback_reason": fallback_reason,
            "last_attempt": attempt,
            "derivations": int(self._record.get("derivations") or 0),
            "ttl_seconds": self.ttl if self.derives else None,
        }
