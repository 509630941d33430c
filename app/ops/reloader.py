"""Applying new settings in a running worker, without a restart or dropped streams.

Writers of the settings file (update-keys --reload, the /setup form) bump a
generation stamp next to it (see app/ops/envfile.py). Each worker polls the stamp:
one `stat` per request (before the request runs, so a request that starts after
the bump uses the new values) and once per watcher tick while idle. On a new
generation it re-reads the settings file exactly as at startup and swaps them in
with `Runtime.apply`; requests already in flight keep the credentials they
started with.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from ..settings import BY_ENV_NAME, RESTART_ONLY, Settings, SettingsError
from . import envfile, logs

log = logging.getLogger("grok_web_api.reload")


# What became of a setting written to the file (the keys of ReloadOutcome.report).
APPLIED = "applied"  # the server uses the new value now
UNCHANGED = "unchanged"  # the server already used this value
OVERRIDDEN = "overridden"  # the server's process environment sets it, and wins over the file
RESTART = "restart"  # read only at startup (HOST, PORT, the worker settings)
REFUSED = "refused"  # the file holds invalid values: nothing was applied
WHY = {
    APPLIED: "applied",
    UNCHANGED: "already in effect (the server used this value)",
    OVERRIDDEN: "NOT applied: the server's process environment sets it and wins over the file "
    "(change it there and restart, or remove it from the environment)",
    RESTART: "NOT applied yet: read only at startup, it takes effect after a restart",
    REFUSED: "NOT applied: the settings file holds invalid values, the running settings stay",
}


@dataclass
class ReloadOutcome:
    generation: int
    applied: bool
    changed: list[str] = field(default_factory=list)
    restart_required: list[str] = field(default_factory=list)
    # Set in .env but overridden by the process environment, which always wins.
    shadowed: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    # Each setting the reload request wrote -> APPLIED, UNCHANGED, OVERRIDDEN, RESTART or REFUSED.
    report: dict[str, str] = field(default_factory=dict)

    @property
    def all_applied(self) -> bool:
        """Whether every written value is in effect now."""
        return self.applied and all(status in (APPLIED, UNCHANGED) for status in self.report.values())


class SettingsReloader:
    def __init__(self, runtime):
        self.runtime = runtime
        env_file = runtime.settings.env_file
        self.env_file = Path(env_file) if env_file else None
        self.stamp = envfile.reload_stamp_path(self.env_file) if self.env_file else None
        self._signature = self._stat()
        self.generation = envfile.read_generation(self.stamp) if self.stamp else 0

    def _stat(self):
        if self.stamp is None:
            return None
        try:
            st = os.stat(self.stamp)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def poll(self) -> ReloadOutcome | None:
        """Apply a newly requested reload; None when there is none (the usual case)."""
        signature = self._stat()
        if signature == self._signature:
            return None
        self._signature = signature
        generation = envfile.read_generation(self.stamp)
        if generation <= self.generation:
            return None
        self.generation = generation
        return self.apply(generation, envfile.reload_keys(self.stamp))

    def apply(self, generation: int, keys: list[str] = ()) -> ReloadOutcome:
        old = self.runtime.settings
        try:
            new = Settings.load(env_file=self.env_file)
        except SettingsError as exc:
            log.error("settings reload (generation %d) refused, the running settings stay: %s", generation, exc)
            report = {key: REFUSED for key in keys}
            envfile.acknowledge(self.env_file, generation, os.getpid(), report)
            return ReloadOutcome(generation, False, errors=exc.errors, report=report)
        before, after = old.by_env_name(), new.by_env_name()
        changed = [name for name, value in after.items() if before.get(name) != value]
        shadowed = self._shadowed()
        outcome = ReloadOutcome(generation, True, changed, [name for name in changed if name in RESTART_ONLY], shadowed)
        for key in keys:
            if key in shadowed:
                outcome.report[key] = OVERRIDDEN
            elif key in outcome.restart_required:
                outcome.report[key] = RESTART
            else:
                outcome.report[key] = APPLIED if key in changed else UNCHANGED
        self.runtime.apply(new)
        if new.log_level != old.log_level or new.log_format != old.log_format:
            logs.configure(new)
        envfile.acknowledge(self.env_file, generation, os.getpid(), outcome.report)
        log.info(
            "settings reloaded (generation %d): %s",
            generation,
            "changed " + ", ".join(changed) if changed else "no change",
        )
        if outcome.restart_required:
            log.warning(
                "%s changed in %s: takes effect after a restart", ", ".join(outcome.restart_required), self.env_file
            )
        if outcome.shadowed:
            log.warning(
                "%s set in %s but the process environment overrides it; remove it from the "
                "environment (e.g. a systemd EnvironmentFile) for the file to count",
                ", ".join(outcome.shadowed),
                self.env_file,
            )
        return outcome

    def _shadowed(self) -> list[str]:
        try:
            in_file = dotenv_values(self.env_file)
        except OSError:
            return []
        return sorted(
            k for k, v in in_file.items() if k in BY_ENV_NAME and v and k in os.environ and os.environ[k] != v
        )
