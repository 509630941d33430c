"""The account pool: which grok.com account serves a request, and what the pool knows of each.

An `Account` is a label, cookies, an optional outbound proxy and an enabled flag. The pool
holds one `GrokClient` per account and keeps its knowledge in a shared-state store (any
object with the methods of app/state's `Store`), so every worker of every host agrees:

  cooldown  (account, mode) may not be used until a time: grok.com answered 429 or "usage
            limit" (until Retry-After, else the mode's quota window, else DEFAULT_COOLDOWN),
            or its rate-limits endpoint reported no queries left
  quota     the last rate-limits answer per (account, mode): remaining, total, window, and
            the tier inferred from the totals; requests started since lower the estimate
  parked    grok.com said the account's cookies expired or the account is blocked: it serves
            nothing while another account can, until its credentials change or a check or
            request succeeds again; each transition is one WARNING with the advice
  owner     which account created a conversation, response, file or asset (stickiness)
  counts    requests and failures by class, per account

`choose(mode)` picks an enabled account that is neither parked nor cooling down for that
mode, preferring the most remaining quota (an account not read yet counts as the best known
one), ties spread at random. When none can serve it raises `NoAccountAvailable`: with the earliest time
a cooldown ends when one will, else with the parked accounts' diagnosis.

A pool built from the single-account settings alone (`strict=False`) reports the same
knowledge but never refuses a request itself: grok.com's own answer reaches the client, as
it did before there were pools.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from . import errors as gerr

log = logging.getLogger("grok_web_api.accounts")

LABEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
DEFAULT_LABEL = "default"  # the account of GROK_SSO_COOKIE
MEDIA_MODE = "media"  # Imagine (image edits, video): grok.com counts it apart from the chat modes
DEFAULT_COOLDOWN = 300.0  # a 429 with neither Retry-After nor a known window
OWNER_TTL = 90 * 24 * 3600.0
ACTIVE = "active"
PARKED = "parked"
DISABLED = "disabled"
COOLING = "cooling"
# Failures another account may not have: the request is tried there.
COOLS_DOWN = frozenset({gerr.RATE_LIMITED, gerr.USAGE_LIMIT})
PARKS = frozenset({gerr.AUTH_EXPIRED, gerr.ACCOUNT_BLOCKED})
FAILS_OVER = COOLS_DOWN | PARKS
# Totals of grok.com's rate-limits answer by tier (the tier is inferred from them).
TIERS = (
    ("free", {"fast": 30, "auto": 20}),
    ("super", {"fast": 140, "auto": 50}),
    ("heavy", {"fast": 400, "auto": 150}),
)
_SPENT = "spent."


def valid_label(label: str) -> bool:
    return bool(LABEL_RE.fullmatch(label or ""))


@dataclass(frozen=True)
class Account:
    label: str
    sso: str
    sso_rw: str | None = None
    proxy: str | None = None
    enabled: bool = True
    source: str = "file"  # "file" (the accounts file) or "env" (GROK_SSO_COOKIE)

    def __repr__(self) -> str:  # never the cookies, even in a traceback
        return f"Account({self.label!r}, enabled={self.enabled}, proxy={'set' if self.proxy else None})"

    def cookie_header(self, extra_cookies: str | None = None) -> str:
        header = f"sso={self.sso}; sso-rw={self.sso_rw or self.sso}"
        return f"{header}; {extra_cookies}" if extra_cookies else header

    @property
    def fingerprint(self) -> str:
        """A short digest of the credentials (never the values): parking ends when they change."""
        text = "\0".join((self.sso, self.sso_rw or "", self.proxy or ""))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def secrets(self) -> set[str]:
        """What the logs must never show of this account."""
        values = {self.sso, self.sso_rw or ""}
        if self.proxy and "@" in self.proxy:
            userinfo = self.proxy.split("://", 1)[-1].rsplit("@", 1)[0]
            values.update(userinfo.split(":", 1))
        return {v for v in values if v}


def proxy_display(proxy: str | None) -> str | None:
    """A proxy URL without its credentials."""
    if not proxy:
        return None
    scheme, _, rest = proxy.partition("://")
    host = rest.rsplit("@", 1)[-1]
    return f"{scheme}://{'***@' if '@' in rest else ''}{host}"


def mode_of(payload: Mapping[str, Any]) -> str:
    """The grok.com mode a chat payload runs on (quota and cooldowns are per mode)."""
    model = payload.get("modelName")
    if payload.get("mediaGenInput") is not None or (isinstance(model, str) and model.startswith("imagine")):
        return MEDIA_MODE
    for field in ("modeId", "modelMode", "modelName"):
        value = payload.get(field)
        if isinstance(value, str) and value:
            return value[:64]
    return "auto"


def infer_tier(totals: Mapping[str, int]) -> str | None:
    """free / super / heavy from the rate-limits totals of the fast or auto mode."""
    for mode in ("fast", "auto"):
        total = totals.get(mode)
        if not isinstance(total, int) or total <= 0:
            continue
        for tier, limits in TIERS:
            if total <= limits[mode]:
                return tier
        return TIERS[-1][0]
    return None


class NoAccountAvailable(Exception):
    """No account can serve the request now. `retry_after` (seconds) is set when a cooldown
    ends; otherwise every candidate is parked (`parked` holds their diagnoses) or disabled."""

    def __init__(self, message: str, *, retry_after: float | None = None, parked: Sequence[dict] = ()):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.parked = list(parked)

    @property
    def failure_class(self) -> str:
        if self.retry_after is not None:
            return gerr.RATE_LIMITED
        classes = {p.get("failure_class") for p in self.parked}
        return gerr.ACCOUNT_BLOCKED if classes == {gerr.ACCOUNT_BLOCKED} else gerr.AUTH_EXPIRED


class UnknownAccount(Exception):
    def __init__(self, label: str, known: Iterable[str]):
        self.label = label
        self.known = sorted(known)
        super().__init__(f"no enabled account is labelled {label!r}")


class AccountPool:
    def __init__(
        self,
        accounts: Sequence[Account],
        store,
        clients: Mapping[str, Any],
        *,
        strict: bool = True,
        clock: Callable[[], float] = time.time,
    ):
        self.accounts = {a.label: a for a in accounts}
        self.store = store
        self.clients = dict(clients)
        self.strict = strict
        self.clock = clock
        self.after_limit: Callable[[str, str], None] | None = None  # a quota sync after a 429
        self._parked_view: tuple[float, dict] = (-1.0, {})

    # ------------------------------------------------------------------ reading
    @property
    def enabled(self) -> list[Account]:
        return [a for a in self.accounts.values() if a.enabled]

    def client(self, label: str):
        return self.clients[label]

    def parked(self, labels: Iterable[str] | None = None) -> dict[str, dict]:
        """The parked accounts' records, by label (a record whose credentials changed is void)."""
        labels = list(self.accounts if labels is None else labels)
        return self._parked_of(self.store.get_many("account", labels))

    def _parked_of(self, found: dict) -> dict[str, dict]:
        out = {}
        for label, record in found.items():
            account = self.accounts.get(label)
            if (
                isinstance(record, dict)
                and record.get("state") == PARKED
                and account is not None
                and record.get("fingerprint") == account.fingerprint
            ):
                out[label] = record
        return out

    def _is_parked_cached(self, label: str) -> bool:
        # A success on a parked account is rare: a view at most a second old will do.
        return label in self._recent_parked()

    def _recent_parked(self) -> dict[str, dict]:
        """The parked accounts, read at most once a second per worker."""
        at, view = self._parked_view
        if self.clock() - at > 1.0:
            view = self.parked()
            self._parked_view = (self.clock(), view)
        return view

    def cooldowns(self, labels: Iterable[str]) -> dict[str, dict[str, dict]]:
        return self._cooling_of(self.store.map_get_many("cooldown", list(labels)))

    def _cooling_of(self, maps: dict) -> dict[str, dict[str, dict]]:
        now = self.clock()
        return {
            label: {mode: c for mode, c in found.items() if isinstance(c, dict) and c.get("until", 0) > now}
            for label, found in maps.items()
        }

    def quotas(self, labels: Iterable[str]) -> dict[str, dict[str, dict]]:
        labels = list(labels)
        return self._quotas_of(
            labels, self.store.map_get_many("quota", labels), self.store.counts_many("account-counts", labels)
        )

    def _quotas_of(self, labels: list[str], maps: dict, counts: dict) -> dict[str, dict[str, dict]]:
        out = {}
        for label in labels:
            spent = counts.get(label, {})
            out[label] = {}
            for mode, q in maps.get(label, {}).items():
                if not isinstance(q, dict):
                    continue
                since = spent.get(_SPENT + mode, 0) - q.get("spent_at_sync", 0)
                estimate = dict(q)
                if isinstance(q.get("remaining"), int):
                    estimate["remaining"] = max(0, q["remaining"] - max(0, since))
                out[label][mode] = estimate
        return out

    # ------------------------------------------------------------------ choosing
    def choose(self, mode: str, *, pinned: str | None = None, exclude: Iterable[str] = ()) -> Account:
        """The account to serve a request on `mode` (see the module docstring)."""
        if pinned is not None:
            account = self.accounts.get(pinned)
            if account is None or not account.enabled:
                raise UnknownAccount(pinned, (a.label for a in self.enabled))
            candidates = [account]
        else:
            skip = set(exclude)
            candidates = [a for a in self.enabled if a.label not in skip]
        if not candidates:
            raise NoAccountAvailable("no enabled grok.com account is configured")
        labels = [a.label for a in candidates]
        parked, cooling, quotas = self._view(labels, with_quota=self.strict and len(labels) > 1)
        usable = [a for a in candidates if a.label not in parked and mode not in cooling.get(a.label, {})]
        if not self.strict:
            return (usable or candidates)[0]
        if usable:
            return self._best(usable, mode, quotas or {})
        waits = [c[mode]["until"] - self.clock() for label, c in cooling.items() if mode in c and label not in parked]
        if waits:
            wait = max(1.0, min(waits))
            raise NoAccountAvailable(
                f"every grok.com account that could serve mode '{mode}' is cooling down "
                f"(rate limit or usage limit); the first is free again in {wait:.0f} s",
                retry_after=wait,
            )
        diagnoses = [{"account": label, **record} for label, record in parked.items()]
        names = ", ".join(f"{d['account']} ({d.get('failure_class')})" for d in diagnoses)
        raise NoAccountAvailable(f"every grok.com account is parked: {names}", parked=diagnoses)

    def can_serve(self, label: str, mode: str) -> bool:
        """Whether `label` could take a request on `mode` now (enabled, not parked, not cooling)."""
        account = self.accounts.get(label)
        if account is None or not account.enabled:
            return False
        return label not in self.parked([label]) and mode not in self.cooldowns([label]).get(label, {})

    def _view(self, labels: list[str], with_quota: bool) -> tuple[dict, dict, dict | None]:
        """(parked, cooling, and with `with_quota` the quotas) of `labels`, in one read of the
        store: choosing an account is one Redis round trip."""
        reads = [("get_many", "account", labels), ("map_get_many", "cooldown", labels)]
        if with_quota:
            reads += [("map_get_many", "quota", labels), ("counts_many", "account-counts", labels)]
        found = self.store.read_many(*reads)
        quotas = self._quotas_of(labels, found[2], found[3]) if with_quota else None
        return self._parked_of(found[0]), self._cooling_of(found[1]), quotas

    def _best(self, usable: list[Account], mode: str, quotas: dict[str, dict[str, dict]]) -> Account:
        if len(usable) == 1:
            return usable[0]
        known = {
            a.label: float(value)
            for a in usable
            if isinstance(value := quotas.get(a.label, {}).get(mode, {}).get("remaining"), int)
        }
        # An account not read yet shares the requests with the best known one (all, when none is).
        unknown = max(known.values(), default=float("inf"))
        remaining = {a.label: known.get(a.label, unknown) for a in usable}
        best = max(remaining.values())
        return random.choice([a for a in usable if remaining[a.label] == best])

    def default(self, *, recent: bool = False) -> Account:
        """The account for a request that is neither a chat nor tied to an owned id: the first
        enabled one that is not parked (file order), else the first enabled one. `recent`: as
        parked a second ago will do (the client whose cached mode list a chat reads)."""
        enabled = self.enabled
        if not enabled:
            raise NoAccountAvailable("no enabled grok.com account is configured")
        if len(enabled) > 1:
            parked = self._recent_parked() if recent else self.parked(a.label for a in enabled)
            for account in enabled:
                if account.label not in parked:
                    return account
        return enabled[0]

    # ------------------------------------------------------------------ what happened
    def started(self, label: str, mode: str) -> None:
        """A request on (label, mode) was accepted by grok.com."""
        self.store.incr_many("account-counts", label, {"requests": 1, _SPENT + mode: 1})

    def failed(self, label: str, mode: str | None, error: gerr.GrokError) -> bool:
        """Record a failure of `label`; True when another account may succeed where it failed."""
        cls = error.failure_class
        self.store.incr("account-counts", label, f"failures.{cls}")
        if cls in COOLS_DOWN and mode is not None:
            self.cool_down(label, mode, self._cooldown_seconds(label, mode, error), cls)
            if self.after_limit is not None:
                self.after_limit(label, mode)
        elif cls in PARKS:
            self.park(label, error)
        return cls in FAILS_OVER

    def _cooldown_seconds(self, label: str, mode: str, error: gerr.GrokError) -> float:
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, (int, float)) and retry_after > 0:
            return float(retry_after)
        known = self.store.map_get("quota", label).get(mode) or {}
        window = known.get("window") if isinstance(known, dict) else None
        return float(window) if isinstance(window, (int, float)) and window > 0 else DEFAULT_COOLDOWN

    def cool_down(self, label: str, mode: str, seconds: float, reason: str) -> None:
        now = self.clock()
        self.store.map_set("cooldown", label, mode, {"until": now + seconds, "since": now, "reason": reason})
        log.info("account %s: mode %s cooling down for %.0f s (%s)", label, mode, seconds, reason)

    def lift_cooldown(self, label: str, mode: str) -> None:
        self.store.map_delete("cooldown", label, mode)

    def park(self, label: str, error: gerr.GrokError) -> None:
        account = self.accounts.get(label)
        if account is None:
            return
        record = {
            "state": PARKED,
            "failure_class": error.failure_class,
            "message": error.message,
            "advice": advice_for(error.failure_class, account),
            "since": self.clock(),
            "fingerprint": account.fingerprint,
        }
        old = self.store.exchange("account", label, record)
        self._parked_view = (-1.0, {})
        same = (
            isinstance(old, dict)
            and old.get("state") == PARKED
            and old.get("failure_class") == record["failure_class"]
            and old.get("fingerprint") == account.fingerprint
        )
        if same:
            self.store.put("account", label, {**record, "since": old.get("since", record["since"])})
            return
        log.warning(
            "account %s parked: %s (%s). %s", label, error.message.rstrip("."), error.failure_class, record["advice"]
        )

    def unpark(self, label: str) -> None:
        account = self.accounts.get(label)
        if account is None:
            return
        old = self.store.exchange("account", label, {"state": ACTIVE, "since": self.clock()})
        self._parked_view = (-1.0, {})
        if isinstance(old, dict) and old.get("state") == PARKED:
            log.warning("account %s usable again (was %s)", label, old.get("failure_class"))

    def observe(self, state, outcome) -> None:
        """A SessionState observer: an upstream answer on a pool account parks or frees it."""
        label = getattr(outcome, "account", None)
        if label is None or label not in self.accounts:
            return
        if outcome.error is None:
            if self._is_parked_cached(label):
                self.unpark(label)
        elif outcome.error.failure_class in PARKS:
            self.park(label, outcome.error)

    # ------------------------------------------------------------------ quota
    def record_quota(self, label: str, mode: str, answer: Mapping[str, Any], *, lift: bool = True) -> dict | None:
        """Keep grok.com's rate-limits answer for (label, mode); an empty quota cools the mode
        down for its window, a refilled one (`lift`) ends a cooldown that a usage limit or an
        empty quota began. The sync right after a 429 does not lift: grok.com just refused."""
        remaining = answer.get("remainingQueries")
        total = answer.get("totalQueries")
        window = answer.get("windowSizeSeconds")
        if not isinstance(remaining, int):
            remaining = answer.get("remainingTokens") if isinstance(answer.get("remainingTokens"), int) else None
        if remaining is None:
            return None
        spent = self.store.counts("account-counts", label).get(_SPENT + mode, 0)
        record = {
            "remaining": remaining,
            "total": total if isinstance(total, int) else None,
            "window": window if isinstance(window, (int, float)) else None,
            "at": self.clock(),
            "spent_at_sync": spent,
        }
        self.store.map_set("quota", label, mode, record)
        current = self.store.map_get("cooldown", label).get(mode)
        if remaining <= 0:
            if not current or current.get("until", 0) <= self.clock():
                self.cool_down(label, mode, float(record["window"] or DEFAULT_COOLDOWN), "quota_exhausted")
        elif lift and isinstance(current, dict) and current.get("reason") in ("quota_exhausted", gerr.USAGE_LIMIT):
            self.lift_cooldown(label, mode)
            log.info("account %s: mode %s has quota again (%d left)", label, mode, remaining)
        return record

    def sync_quota(self, label: str, modes: Iterable[str] | None = None, *, lift: bool = True) -> bool:
        """Read `label`'s quota from grok.com for `modes` (default: `synced_modes`), once at a
        time per account across every worker and host; False when another was syncing it."""
        client = self.clients.get(label)
        if client is None:
            return False
        token = self.store.try_lock(f"quota-sync:{label}", client.config.request_timeout + 10)
        if token is None:
            return False
        try:
            for mode in list(modes) if modes is not None else self.synced_modes(label):
                try:
                    reply = client.rate_limits(mode)
                    answer = json.loads(reply.content or b"{}")
                except gerr.GrokError as exc:
                    log.info("account %s: quota of mode %s not read (%s)", label, mode, exc.failure_class)
                    if exc.failure_class in PARKS:
                        break  # the observer parked it: nothing more to learn
                    continue
                except ValueError:
                    continue
                if isinstance(answer, dict):
                    self.record_quota(label, mode, answer, lift=lift)
        finally:
            self.store.unlock(f"quota-sync:{label}", token)
        return True

    def sync_due(self, interval: float) -> list[str]:
        """Sync every enabled, unparked account with a mode worth syncing that was never read or
        was read more than `interval` ago; returns the labels this call synced."""
        enabled = [a.label for a in self.enabled]
        parked = self.parked(enabled)
        known = self.store.map_get_many("quota", enabled)
        now = self.clock()
        synced = []
        for label in enabled:
            if label in parked:
                continue
            records = known.get(label, {})
            modes = self.synced_modes(label)
            stale = [
                m for m in modes if not isinstance(records.get(m), dict) or now - records[m].get("at", 0) >= interval
            ]
            if stale and self.sync_quota(label, modes):
                synced.append(label)
        return synced

    def synced_modes(self, label: str) -> list[str]:
        """The modes worth syncing for `label`: those it served, plus fast (which tells the tier)."""
        spent = self.store.counts("account-counts", label)
        modes = {"fast"} | {k[len(_SPENT) :] for k in spent if k.startswith(_SPENT)}
        return sorted(m for m in modes if m != MEDIA_MODE)

    # ------------------------------------------------------------------ stickiness
    def own(self, kind: str, ident: str, label: str) -> None:
        self.own_many([(kind, ident)], label)

    def own_many(self, idents: Iterable[tuple[str, str]], label: str) -> None:
        """`own` of several (kind, id) pairs at once: one store write for all of them."""
        if label in self.accounts:
            owned = {f"{kind}:{ident}": label for kind, ident in idents if ident}
            if owned:
                self.store.put_many("owner", owned, OWNER_TTL)

    def owner(self, kind: str, ident: str) -> str | None:
        label = self.store.get("owner", f"{kind}:{ident}") if ident else None
        return label if isinstance(label, str) else None

    # ------------------------------------------------------------------ reporting
    def snapshot(self) -> list[dict]:
        """Each account as /status, /setup and /metrics show it (never a credential)."""
        labels = list(self.accounts)
        parked = self.parked(labels)
        cooling = self.cooldowns(labels)
        quotas = self.quotas(labels)
        counts = self.store.counts_many("account-counts", labels)
        now = self.clock()
        out = []
        for label, account in self.accounts.items():
            record = parked.get(label)
            state = DISABLED if not account.enabled else PARKED if record else ACTIVE
            if state == ACTIVE and cooling.get(label):
                state = COOLING
            totals = {m: q.get("total") for m, q in quotas.get(label, {}).items()}
            found = counts.get(label, {})
            out.append(
                {
                    "label": label,
                    "source": account.source,
                    "enabled": account.enabled,
                    "state": state,
                    "tier": infer_tier(totals),
                    "proxy": proxy_display(account.proxy),
                    "quota": {
                        m: {k: q.get(k) for k in ("remaining", "total", "window", "at")}
                        for m, q in sorted(quotas.get(label, {}).items())
                    },
                    "cooldowns": {
                        m: {"seconds_left": round(c["until"] - now, 1), "reason": c.get("reason")}
                        for m, c in sorted(cooling.get(label, {}).items())
                    },
                    "parked": None
                    if record is None
                    else {k: record.get(k) for k in ("failure_class", "message", "advice", "since")},
                    "requests": found.get("requests", 0),
                    "failures": {
                        k[len("failures.") :]: v for k, v in sorted(found.items()) if k.startswith("failures.")
                    },
                }
            )
        return out


def advice_for(failure_class: str, account: Account | None = None) -> str:
    if failure_class == gerr.AUTH_EXPIRED and (account is None or account.source != "env"):
        return (
            "Log in to grok.com with this account again and replace its cookies "
            "(grok-web-api accounts add LABEL --sso ... rewrites them)."
        )
    return gerr.ADVICE.get(failure_class, gerr.ADVICE[gerr.UPSTREAM])
