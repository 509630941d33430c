"""More grok.com accounts in the fake, each with its own cookies, store, quota and condition.

The fake's configured cookies (``sso``/``sso_rw`` of the config) are the *default* account: it
keeps the fake's main store and has no quota enforcement, as before. Accounts added through
the control API are real accounts of their own:

- their conversations, responses, files and assets live in a store of their own, so asking
  one account about another's conversation is a 404, as on grok.com;
- each grok.com mode has a quota window (``quota: {mode: {"total": n, "window": seconds}}``,
  default QUOTA for any mode): every chat start (new conversation, continued one, quick
  answer) on that mode uses one query; when none is left, the answer is a 429 with Retry-After
  (the seconds until the oldest query leaves the window) or, with ``limit: "inband"``, grok.com's
  in-stream usage-limit error; ``POST /rest/rate-limits`` reports the same quota;
- ``status: "expired"`` answers like expired cookies (401), ``"blocked"`` like a blocked user
  (403), on every endpoint and on the asset host.

Control API (see server.py):

    POST /__fake/accounts {"name", "sso"?, "sso_rw"?, "quota"?, "status"?, "limit"?}   add or replace
    POST /__fake/accounts/<name> {"status"?, "quota"?, "limit"?, "reset_usage"?}      change
    GET  /__fake/accounts      each account: cookies, status, quota, usage per mode, conversations
"""

from __future__ import annotations

import time
import uuid

from . import api
from . import scenarios as sc
from .wire import Resp

QUOTA = {"total": 140, "window": 7200}
STATUSES = ("ok", "expired", "blocked")
LIMITS = ("http", "inband")
# The chat starts that use a query of their mode.
CHAT_STARTS = (
    ("POST", api.APP + "/conversations/new"),
    ("POST", api.APP + "/conversations/{cid}/responses"),
    ("POST", api.APP + "/quick-answer"),
)


class FakeAccount:
    def __init__(self, name: str, sso: str, sso_rw: str, quota: dict, status: str, limit: str):
        self.name = name
        self.sso, self.sso_rw = sso, sso_rw
        self.user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "fakegrok-account:" + name))
        self.store = api.Store()
        self.quota = quota
        self.status = status
        self.limit = limit
        self.used: dict[str, list[float]] = {}

    def window(self, mode: str) -> tuple[int, int]:
        q = self.quota.get(mode) or self.quota.get("*") or QUOTA
        return int(q["total"]), int(q["window"])

    def remaining(self, mode: str, now: float) -> tuple[int, float | None]:
        """(queries left, seconds until the next one comes back when none is left)."""
        total, window = self.window(mode)
        recent = [t for t in self.used.get(mode, []) if now - t < window]
        self.used[mode] = recent
        left = max(0, total - len(recent))
        if left:
            return left, None
        # None used in the window (a quota of 0): a whole window; else until the oldest leaves it.
        return 0, (min(recent) + window - now) if recent else float(window)

    def describe(self) -> dict:
        now = time.time()
        usage = {}
        for mode in sorted(set(self.used) | set(self.quota) - {"*"}):
            left, _ = self.remaining(mode, now)
            usage[mode] = {"used": len(self.used.get(mode, [])), "remaining": left, "total": self.window(mode)[0]}
        return {
            "name": self.name,
            "sso": self.sso,
            "sso_rw": self.sso_rw,
            "user_id": self.user_id,
            "status": self.status,
            "limit": self.limit,
            "quota": self.quota,
            "usage": usage,
            "conversations": [c for c, conv in self.store.conversations.items() if not conv["_deleted"]],
            "files": list(self.store.files),
        }


def validate(data: dict, creating: bool) -> str | None:
    if not isinstance(data, dict):
        return "body must be a JSON object"
    if creating and not isinstance(data.get("name"), str):
        return "an account needs a name"
    if data.get("status", "ok") not in STATUSES:
        return f"status must be one of {STATUSES}"
    if data.get("limit", "http") not in LIMITS:
        return f"limit must be one of {LIMITS}"
    quota = data.get("quota", {})
    if not isinstance(quota, dict) or not all(
        isinstance(q, dict) and isinstance(q.get("total"), int) and isinstance(q.get("window"), (int, float))
        for q in quota.values()
    ):
        return 'quota must be {"<mode>": {"total": int, "window": seconds}}'
    return None


def add(state, data: dict) -> FakeAccount:
    name = data["name"]
    account = FakeAccount(
        name,
        data.get("sso") or f"sso-{name}-{uuid.uuid4().hex[:8]}",
        data.get("sso_rw") or f"sso-rw-{name}-{uuid.uuid4().hex[:8]}",
        dict(data.get("quota") or {}),
        data.get("status", "ok"),
        data.get("limit", "http"),
    )
    state.accounts[name] = account
    return account


def change(account: FakeAccount, data: dict) -> None:
    if "status" in data:
        account.status = data["status"]
    if "limit" in data:
        account.limit = data["limit"]
    if "quota" in data:
        account.quota = dict(data["quota"])
    if data.get("reset_usage"):
        account.used.clear()


def by_cookies(state, cookies: dict[str, str]) -> FakeAccount | None:
    for account in state.accounts.values():
        if cookies.get("sso") == account.sso and cookies.get("sso-rw") == account.sso_rw:
            return account
    return None


def refusal(account: FakeAccount, state) -> Resp | None:
    """How grok.com answers an expired or blocked account, on every endpoint."""
    if account.status == "expired":
        return Resp(state.config["auth_failure_status"], sc.BAD_CREDENTIALS)
    if account.status == "blocked":
        return Resp(403, sc.BLOCKED)
    return None


def mode_of(body) -> str:
    if not isinstance(body, dict):
        return "auto"
    for field in ("modeId", "modelMode", "modelName"):
        if isinstance(body.get(field), str) and body[field]:
            return body[field]
    return "auto"


def is_chat_start(method: str, path: str) -> bool:
    found = api.match(method, path)
    return found is not None and found[0] in {fn for m, p, fn in api.ROUTES if (m, p) in CHAT_STARTS}


def refuse_when_spent(account: FakeAccount, req) -> Resp | None:
    """The answer when the request's mode has no query left (None: go ahead, or go ahead with
    `req.forced_scenario` set so the answer is grok.com's in-band usage-limit error)."""
    mode = mode_of(req.json)
    req.entry["mode"] = mode
    left, retry = account.remaining(mode, time.time())
    if left > 0:
        return None
    req.entry["reject"] = "quota"
    if account.limit == "inband":
        req.forced_scenario = "usage_limit"
        return None
    return Resp(429, sc.TOO_MANY, headers={"Retry-After": str(max(1, int(retry or 1) + 1))})


def spend(account: FakeAccount, req) -> None:
    """A chat started on the request's mode: one query used."""
    if req.entry.get("reject") != "quota":
        account.used.setdefault(mode_of(req.json), []).append(time.time())


def rate_limits(account: FakeAccount, req) -> Resp:
    body = req.obj()
    if body is None:
        return api.invalid(req, "body_not_object")
    mode = body.get("modelName") if isinstance(body.get("modelName"), str) else "auto"
    left, _ = account.remaining(mode, time.time())
    total, window = account.window(mode)
    return Resp(
        200,
        {
            "windowSizeSeconds": window,
            "remainingQueries": left,
            "totalQueries": total,
            "lowEffortRateLimits": {"cost": 1, "remainingQueries": left},
            "highEffortRateLimits": {"cost": 4, "remainingQueries": left // 4},
        },
    )


class AccountState:
    """The fake's state as one account sees it: its own store and user id, the rest shared."""

    def __init__(self, state, account: FakeAccount):
        self._state = state
        self.store = account.store
        self.config = {**state.config, "user_id": account.user_id}

    def __getattr__(self, name):
        return getattr(self._state, name)
