"""Small files shared between processes: atomic replacement and advisory locks.

Used for the .env rewrite (update-keys, /setup) and for the state files that
gunicorn workers share in the runtime directory. Waiting for a lock polls with
`time.sleep`, which gevent's monkey-patching turns into a cooperative sleep, so
a worker waiting for a lock keeps serving its other requests.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Test-only: seconds to sleep between writing the temporary file and renaming it
# over the target, so a test can kill a writer at the worst moment.
PAUSE_BEFORE_RENAME_ENV = "GROK_WEB_API_TEST_PAUSE_BEFORE_RENAME"
TMP_SUFFIX = ".tmp"


def temp_prefix(path: Path) -> str:
    return f".{path.name}."


def write_atomic(
    path: str | os.PathLike, data: bytes, *, mode: int | None = None, fsync: bool = True, keep_owner: bool = True
) -> None:
    """Replace `path` with `data` so readers see the old or the new file, never a mix.

    The temporary file lives in the same directory (rename is atomic only within a
    filesystem). The mode (and owner, when allowed) of an existing file is kept; a
    new file gets `mode`, default 0600.
    """
    path = Path(path)
    try:
        old = path.stat()
    except FileNotFoundError:
        old = None
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), (old.st_mode & 0o7777) if old else (0o600 if mode is None else mode))
            if old is not None and keep_owner and (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
                try:
                    os.fchown(f.fileno(), old.st_uid, old.st_gid)
                except PermissionError:
                    pass
            if fsync:
                os.fsync(f.fileno())
        pause = os.environ.get(PAUSE_BEFORE_RENAME_ENV)
        if pause:
            print(f"paused before rename of {path.name}", file=sys.stderr, flush=True)
            time.sleep(float(pause))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if fsync:
        _fsync_dir(path.parent)


def remove_stale_temps(path: Path) -> None:
    """Delete temporary files a killed writer of `path` left behind (call with the lock held)."""
    for leftover in path.parent.glob(temp_prefix(path) + "*" + TMP_SUFFIX):
        try:
            leftover.unlink()
        except OSError:
            pass


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json(path: str | os.PathLike, value: Any, *, fsync: bool = False) -> None:
    write_atomic(path, json.dumps(value, separators=(",", ":")).encode(), fsync=fsync)


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    try:
        with open(path, "rb") as f:
            return json.loads(f.read() or b"null")
    except (FileNotFoundError, ValueError):
        return default


class FileLock:
    """An exclusive `flock` on a lock file (created 0600 if missing).

    `acquire(timeout)` polls a non-blocking flock (cooperative under gevent);
    `try_acquire()` never waits. Locks are per open file, so two FileLock objects
    on one path exclude each other even inside one process.
    """

    def __init__(self, path: str | os.PathLike, *, poll: float = 0.005):
        self.path = Path(path)
        self.poll = poll
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already locked by this object")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        self._fd = fd
        return True

    def acquire(self, timeout: float | None = 30.0) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.try_acquire():
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"could not lock {self.path} within {timeout:g} s")
            time.sleep(self.poll)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "FileLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
