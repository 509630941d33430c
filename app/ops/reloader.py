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


@dataclass
class ReloadOutcome:
    generation: int
    applied: bool
    changed: list[str] = field(default_factory=list)
    restart_required: list[str] = field(default_factory=list)
    # Set in .env but overridden by the process environment, which always wins.
    shadowed: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


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
        return self.apply(generation)

    def apply(self, generation: int) -> ReloadOutcome:
        old = self.runtime.settings
        try:
            new = Settings.load(env_file=self.env_file)
        except SettingsError as exc:
            log.error("settings reload (generation %d) refused, the running settings stay: %s", generation, exc)
            return ReloadOutcome(generation, False, errors=exc.errors)
        before, after = old.by_env_name(), new.by_env_name()
        changed = [name for name, value in after.items() if before.get(name) != value]
        outcome = ReloadOutcome(
            generation, True, changed, [name for name in changed if name in RESTART_ONLY], self._shadowed()
        )
        self.runtime.apply(new)
        if new.log_level != old.log_level or new.log_format != old.log_format:
            logs.configure(new)
        envfile.acknowledge(self.env_file, generation, os.getpid())
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
