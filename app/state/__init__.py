"""The shared-state store: what the server keeps beyond one process, on one host or on many.

One interface (`base.Store`), two backends:

* `local.LocalStore`: an SQLite file in the server's run directory, shared by the workers
  of one host. Used when REDIS_URL is not set: one host, as before.
* `redis_store.RedisStore`, behind `failover.FailoverStore`: Redis, shared by every host
  that names it, with the host's local store as the fallback during a Redis outage.

What lives here: account cooldowns, quota and parking, conversation/file/asset owners, the
shared upstream conditions, per-account counters, the session-check results and their
single-flight locks, the asset signing key, the conversation-continuity records. Callers name what they store by space
(`SPACES` lists them) and never know which backend answers.
"""

from __future__ import annotations

from pathlib import Path

from .base import StateUnavailable, Store
from .local import LocalStore

__all__ = ["Store", "StateUnavailable", "open_store", "SPACES"]

# Every space in use, with what it holds (for readers of a Redis dump; see docs/scaling.md).
SPACES = {
    "owner": "conversation / response / file / asset id -> the account label that created it",
    "cooldown": "map per account label: grok.com mode -> until when it may not be used",
    "quota": "map per account label: grok.com mode -> the last rate-limits answer",
    "account": "per account label: parked (expired / blocked) with its diagnosis",
    "account-counts": "counters per account label: requests, failures by class",
    "health": "the upstream conditions (anti-bot, protocol, network) and the last failure",
    "check": "session-check results per account",
    "keys": "generated keys every host must share (the asset signing key)",
    "grok": "what the client library shares (app/grok/shared.py): the derived x-statsig-id values "
    "of the current grok.com build (statsig) and the account's mode list (modes)",
    "continuity": "bounded: h:<history digest>, p:<our response id> -> grok.com conversation, response, account, "
    "temporary flag; c:<conversation> -> its last recorded response (docs/continuity.md)",
    "host-figures": "map: host id -> that host's /status counts and when it published them (app/ops/pooled_figures.py)",
    "host": "this host's id (local store only)",
    "failover": "this host's own record of whether Redis was reachable (local store only)",
    "lane": "the chat lane switch: once grok.com's REST chat answered like a retired endpoint (app/ops/lane_switch.py)",
}


def open_store(redis_url: str | None, rundir: str | Path, prefix: str = "gwa:") -> Store:
    """The store for these settings: the run directory's, or Redis backed by it."""
    local = LocalStore(rundir)
    if not redis_url:
        return local
    # Imported only with REDIS_URL: redis-py costs each worker ~7 MB of RSS.
    from .failover import FailoverStore
    from .redis_store import RedisStore

    return FailoverStore(RedisStore(redis_url, prefix), local)
