"""grok.com's mode list (`POST /rest/modes`, docs/grok-protocol.md): what the account can pick.

The list's exact shape is not documented anywhere public, so `parse_modes` reads it
liberally: a list of objects under `modes` (or a bare list), each with an id (`id`,
`modeId`), a title and a description, and flags that say whether the account's tier may
use it (`available`/`enabled` false, or `locked`/`requiresUpgrade` true, or an upsell
offer) and whether it is a beta.

`ModeCatalogue` keeps one list per grok.com build in the client's SharedValues: all workers
of a host share it, one of them fetches it, it is fetched again when the build changes or
the list is older than its maximum age, and a failed fetch is not retried for a minute.
Ids that were offered once and then vanish stay known as retired, so a request naming one
can be told so instead of quietly running another mode.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field

from gevent.event import AsyncResult

from . import errors as gerr
from . import hooks

log = logging.getLogger(__name__)

KEY = "modes"
RETRY_SECONDS = 60.0
_LIST_KEYS = ("modes", "availableModes", "items", "data")
_ID_KEYS = ("id", "modeId", "mode_id", "mode")
_TITLE_KEYS = ("title", "displayName", "display_name", "name", "label")
_TEXT_KEYS = ("description", "subtitle", "tagline")
_YES_KEYS = ("available", "isAvailable", "enabled", "isEnabled", "allowed", "usable")
_NO_KEYS = ("locked", "isLocked", "disabled", "isDisabled", "requiresUpgrade", "upgradeRequired", "needsUpgrade")
_UPSELL_KEYS = ("upsell", "upgrade", "requiredTier", "required_tier")
_BADGE_KEYS = ("badge", "tag", "label", "status")


@dataclass(frozen=True)
class Mode:
    id: str
    title: str | None = None
    description: str | None = None
    available: bool = True
    beta: bool = False


@dataclass(frozen=True)
class ModeList:
    modes: tuple[Mode, ...]
    default: str | None = None
    fetched_at: float = 0.0
    build: str | None = None
    retired: tuple[str, ...] = field(default=())

    def get(self, mode_id: str) -> Mode | None:
        for mode in self.modes:
            if mode.id == mode_id:
                return mode
        return None

    def to_json(self) -> dict:
        return {
            "modes": [vars(m) for m in self.modes],
            "default": self.default,
            "fetched_at": self.fetched_at,
            "build": self.build,
            "retired": list(self.retired),
        }

    @classmethod
    def from_json(cls, data) -> "ModeList | None":
        try:
            return cls(
                tuple(Mode(**m) for m in data["modes"]),
                data.get("default"),
                float(data["fetched_at"]),
                data.get("build"),
                tuple(data.get("retired") or ()),
            )
        except (KeyError, TypeError, ValueError):
            return None


def _first(entry: dict, keys) -> object:
    for key in keys:
        if key in entry and entry[key] is not None:
            return entry[key]
    return None


def _available(entry: dict) -> bool:
    for key in _YES_KEYS:
        if isinstance(entry.get(key), bool):
            return entry[key]
    for key in _NO_KEYS:
        if isinstance(entry.get(key), bool):
            return not entry[key]
    return not any(entry.get(key) for key in _UPSELL_KEYS)


def _beta(entry: dict) -> bool:
    if entry.get("beta") is True or entry.get("isBeta") is True:
        return True
    return any(isinstance(entry.get(k), str) and "beta" in entry[k].lower() for k in _BADGE_KEYS)


def parse_modes(data) -> ModeList:
    """A ModeList from grok.com's answer; ValueError saying what was found instead."""
    entries = data
    if isinstance(data, dict):
        entries = next((data[k] for k in _LIST_KEYS if isinstance(data.get(k), list)), None)
    if not isinstance(entries, list):
        keys = sorted(data)[:8] if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"no list of modes in the answer (found {keys})")
    modes = []
    for entry in entries[:64]:
        if isinstance(entry, str):
            modes.append(Mode(entry))
            continue
        if not isinstance(entry, dict):
            continue
        mode_id = _first(entry, _ID_KEYS)
        if not isinstance(mode_id, str) or not mode_id.strip() or len(mode_id) > 64:
            continue
        title, text = _first(entry, _TITLE_KEYS), _first(entry, _TEXT_KEYS)
        modes.append(
            Mode(
                mode_id.strip(),
                title if isinstance(title, str) else None,
                text[:300] if isinstance(text, str) else None,
                _available(entry),
                _beta(entry),
            )
        )
    if not modes:
        raise ValueError(f"the answer lists {len(entries)} entries and no mode id among them")
    default = data.get("defaultModeId") if isinstance(data, dict) else None
    return ModeList(tuple(modes), default if isinstance(default, str) else None)


class ModeCatalogue:
    """The mode list of this worker's client, shared with the host's other workers."""

    def __init__(self):
        self._inflight: AsyncResult | None = None

    def cached(self, client) -> ModeList | None:
        """The list as last fetched (by any worker), without asking grok.com."""
        record = client.shared.get(KEY) or {}
        return ModeList.from_json(record.get("list")) if record.get("list") else None

    def current(self, client, *, build: str | None, max_age: float) -> ModeList | None:
        """The list for `build`, fetched if missing or old; None when none could be had (the
        caller falls back to its built-in list). Never raises for an upstream failure."""
        record = client.shared.get(KEY) or {}
        cached = ModeList.from_json(record.get("list")) if record.get("list") else None
        if _fresh(cached, build, max_age) or not _due(record):
            return cached
        if self._inflight is not None:
            with hooks.waits.released():  # another request is fetching: no start slot needed meanwhile
                return self._inflight.get()
        self._inflight = inflight = AsyncResult()
        result = cached
        try:
            result = self._refresh(client, build, max_age)
        finally:
            self._inflight = None
            inflight.set(result)
        return result

    def _refresh(self, client, build: str | None, max_age: float) -> ModeList | None:
        try:
            with client.shared.lock(KEY, timeout=client.config.request_timeout + 5):
                record = client.shared.get(KEY) or {}
                cached = ModeList.from_json(record.get("list")) if record.get("list") else None
                if _fresh(cached, build, max_age) or not _due(record):
                    return cached
                try:
                    fetched = parse_modes(_json(client.modes()))
                except (gerr.GrokError, ValueError) as exc:
                    message = exc.message if isinstance(exc, gerr.GrokError) else str(exc)
                    log.warning("grok.com's mode list could not be read (%s); using %s", message, _what(cached))
                    record["failed_at"] = time.time()
                    record["error"] = message
                    client.shared.put(KEY, record)
                    return cached
                seen = {m.id for m in cached.modes} | set(cached.retired) if cached else set()
                retired = tuple(sorted(seen - {m.id for m in fetched.modes}))
                fresh = ModeList(fetched.modes, fetched.default, time.time(), build, retired)
                if cached is None or [m.id for m in cached.modes] != [m.id for m in fresh.modes]:
                    log.info("grok.com offers the modes %s", ", ".join(m.id for m in fresh.modes))
                client.shared.put(KEY, {"list": fresh.to_json()})
                return fresh
        except TimeoutError:
            return None


def _fresh(cached: ModeList | None, build: str | None, max_age: float) -> bool:
    return cached is not None and cached.build == build and time.time() - cached.fetched_at < max_age


def _due(record: dict) -> bool:
    return time.time() - float(record.get("failed_at") or 0) >= RETRY_SECONDS


def _what(cached: ModeList | None) -> str:
    return "the list fetched before" if cached else "the built-in model list"


def _json(reply):
    try:
        return json.loads(reply.content)
    except ValueError:
        raise ValueError("the answer is not JSON") from None
