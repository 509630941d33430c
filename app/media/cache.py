"""The asset proxy's disk cache: one file per asset, a size cap, least-recently-used eviction.

Shared by every worker of a server (it lives in a directory, not in memory). A file's
name is the SHA-256 of the asset path, so no upstream path can name a file outside the
directory. Entries are written to a temporary file and renamed into place, so a reader
never sees a partial file. A hit sets the file's modification time to now; eviction
removes the files with the oldest times until the total is under the cap. (The mtime is
used as the access time because filesystems are often mounted noatime.)

Local disk I/O is short and blocking; that is acceptable in a gevent worker.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

_TEMP_PREFIX = ".tmp-"


class AssetCache:
    def __init__(self, directory: Path, max_bytes: int):
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        if self.enabled:
            self.directory.mkdir(parents=True, exist_ok=True)

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def _file(self, path: str) -> Path:
        return self.directory / hashlib.sha256(path.encode("utf-8")).hexdigest()

    def get(self, path: str) -> Path | None:
        """The cached file of `path` (marked as just used), or None."""
        if not self.enabled:
            return None
        file = self._file(path)
        try:
            os.utime(file)
        except FileNotFoundError:
            return None
        return file

    def writer(self, path: str) -> "CacheWriter | None":
        """A writer that stores `path` when committed; None when the cache is off."""
        if not self.enabled:
            return None
        return CacheWriter(self, self._file(path))

    def entries(self) -> list[os.DirEntry]:
        with os.scandir(self.directory) as found:
            return [e for e in found if e.is_file() and not e.name.startswith(_TEMP_PREFIX)]

    def total_bytes(self) -> int:
        return sum(_size(e) for e in self.entries())

    def evict(self) -> int:
        """Remove least recently used files until the total fits the cap; returns how many."""
        entries = []
        for entry in self.entries():
            try:
                stat = entry.stat()
            except FileNotFoundError:
                continue  # another worker evicted it
            entries.append((stat.st_mtime_ns, stat.st_size, entry.path))
        total = sum(size for _, size, _ in entries)
        removed = 0
        for _, size, file in sorted(entries):
            if total <= self.max_bytes:
                break
            try:
                os.unlink(file)
                removed += 1
            except FileNotFoundError:
                pass
            total -= size
        if removed:
            log.debug("asset cache: evicted %d file(s), %d bytes remain", removed, total)
        return removed


class CacheWriter:
    """Receives an asset's bytes as they stream; `commit()` publishes it, `abort()` drops it.
    An asset bigger than the whole cache is dropped as soon as it outgrows it."""

    def __init__(self, cache: AssetCache, target: Path):
        self.cache = cache
        self.target = target
        self.size = 0
        self._temp = target.with_name(f"{_TEMP_PREFIX}{target.name}-{secrets.token_hex(6)}")
        self._handle = open(self._temp, "wb")

    @property
    def active(self) -> bool:
        return self._handle is not None

    def write(self, chunk: bytes) -> None:
        if self._handle is None:
            return
        self.size += len(chunk)
        if self.size > self.cache.max_bytes:
            self.abort()
            return
        self._handle.write(chunk)

    def commit(self) -> bool:
        if self._handle is None:
            return False
        self._handle.close()
        self._handle = None
        os.replace(self._temp, self.target)
        self.cache.evict()
        return True

    def abort(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        try:
            os.unlink(self._temp)
        except FileNotFoundError:
            pass


def _size(entry: os.DirEntry) -> int:
    try:
        return entry.stat().st_size
    except FileNotFoundError:
        return 0
