"""The run directory as the client library's SharedValues (app.grok.shared): one JSON file
and one lock file per key, so every gunicorn worker of this server reads what one of them
derived (the statsig values, the mode list) and only one at a time refreshes it."""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .atomicfile import FileLock, read_json, write_json

_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class RunDirValues:
    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def _path(self, key: str, suffix: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"not a shared-value key: {key!r}")
        return self.directory / f"shared-{key}{suffix}"

    def get(self, key: str) -> Any | None:
        return read_json(self._path(key, ".json"))

    def put(self, key: str, value: Any) -> None:
        write_json(self._path(key, ".json"), value)

    @contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[None]:
        lock = FileLock(self._path(key, ".lock"), poll=0.01)
        lock.acquire(timeout)
        try:
            yield
        finally:
            lock.release()
