"""Rewriting the settings file (.env) and asking a running server to re-read it.

The rules follow the reference implementation's `update-keys` (docs/configuration.md: update-keys):
a line whose left-trimmed text is KEY, optional spaces, `=` is replaced (all such
lines; `# KEY=`, `export KEY=`, `KEYX=` are left alone), other lines are kept
byte for byte, missing keys are appended in order, every line ends with `\\n`.
`CHALLENGE_TRAILER` with an all-digit value is written bare, everything else as
`KEY="value"` with `\\` and `"` escaped.

On top of the reference: the rewrite is atomic (temporary file, fsync, rename;
mode and owner kept, a new file is 0600) and serialised by an exclusive lock on
`<file>.lock`, so concurrent writers (two update-keys runs, the /setup form)
never lose each other's keys.

Reload requests: `<file>.reload` holds a generation number that writers bump;
each server worker polls it (one stat per request, and once a second while
idle), re-reads the settings file when it grows and acknowledges in
`<file>.applied`. The stamps sit next to the settings file, not in the runtime
directory, so a CLI run finds them even when the server has a private /tmp
(systemd PrivateTmp) or runs in a container sharing only the project directory.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Mapping

from .atomicfile import FileLock, read_json, remove_stale_temps, write_atomic, write_json

_FORBIDDEN = ("\r", "\n", "\0")


class EnvFileError(Exception):
    """A value that cannot be written to a .env file safely."""


def default_path(environ: Mapping[str, str] | None = None) -> Path:
    """The file the server reads: ENV_FILE, else .env in the working directory."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("ENV_FILE") or Path.cwd() / ".env")


def unquote(value: str) -> str:
    """Trim, then drop one pair of matching surrounding quotes (no unescaping)."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def parse_assignment(argument: str) -> tuple[str, str]:
    """`KEY=VALUE` -> (KEY, VALUE) split at the first `=`; raises ValueError otherwise."""
    key, sep, value = argument.partition("=")
    if not sep:
        raise ValueError(f"argument '{argument}' is not KEY=VALUE")
    return key.strip(), unquote(value)


def defines(line: str, key: str) -> bool:
    """Whether a .env line assigns exactly `key` (`  KEY = v` yes; `KEYX=`, `# KEY=` no)."""
    stripped = line.lstrip()
    if not stripped.startswith(key):
        return False
    return stripped[len(key) :].lstrip(" ").startswith("=")


def render(key: str, value: str) -> str:
    if key == "CHALLENGE_TRAILER" and value.isdigit():
        return f"{key}={value}"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{key}="{escaped}"'


def format_problem(value: str) -> str | None:
    """Why the .env format cannot carry `value` back unchanged (None when it can)."""
    if any(ch in value for ch in _FORBIDDEN):
        return "must not contain CR, LF or NUL characters"
    if "${" in value:
        # python-dotenv expands ${NAME} even inside quotes; the value would not read back.
        return "must not contain '${' (the .env reader expands it)"
    return None


def check_value(key: str, value: str) -> None:
    problem = format_problem(value)
    if problem:
        raise EnvFileError(f"{key}: {problem}")


def invalid_values(values: Mapping[str, str], base) -> dict[str, str]:
    """{name: reason} for values startup would reject or the file could not carry; {} if all good."""
    from ..settings import validate_values

    errors = validate_values(values, base)
    for key, value in values.items():
        problem = format_problem(value)
        if problem:
            errors.setdefault(key, problem)
    return errors


def rewrite(text: str, updates: Mapping[str, str]) -> str:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    written = set()
    out = []
    for line in lines:
        for key, value in updates.items():
            if defines(line, key):
                line = render(key, value)
                written.add(key)
                break
        out.append(line)
    out.extend(render(key, value) for key, value in updates.items() if key not in written)
    return "".join(line + "\n" for line in out)


def lock_for(path: Path) -> FileLock:
    return FileLock(path.with_name(path.name + ".lock"))


def update(path: str | os.PathLike, updates: Mapping[str, str], *, timeout: float = 30.0) -> Path:
    """Set `updates` in the .env file at `path` (created if missing); returns the file written."""
    for key, value in updates.items():
        check_value(key, value)
    path = Path(os.path.realpath(path))  # replace the target of a symlinked .env, not the link
    lock = lock_for(path)
    lock.acquire(timeout)
    try:
        remove_stale_temps(path)  # writers hold the lock while their temporary file exists
        try:
            old = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            old = ""
        write_atomic(path, rewrite(old, updates).encode("utf-8"))
    finally:
        lock.release()
    return path


# ---------------------------------------------------------------------- reload stamps
def reload_stamp_path(env_path: str | os.PathLike) -> Path:
    path = Path(os.path.realpath(env_path))
    return path.with_name(path.name + ".reload")


def applied_stamp_path(env_path: str | os.PathLike) -> Path:
    path = Path(os.path.realpath(env_path))
    return path.with_name(path.name + ".applied")


def read_generation(stamp: Path) -> int:
    data = read_json(stamp, {})
    value = data.get("generation") if isinstance(data, dict) else None
    return value if isinstance(value, int) else 0


def request_reload(env_path: str | os.PathLike, requested_by: str, keys=()) -> int:
    """Bump the reload generation next to the settings file; returns the new generation.

    `keys` (names only, never values) are the settings just written: the server reports
    what became of each. Keys of earlier requests no server has acknowledged yet are kept,
    so one reload that covers several requests reports on all of them."""
    path = Path(os.path.realpath(env_path))
    stamp = reload_stamp_path(path)
    with lock_for(path):
        previous = read_json(stamp, {})
        previous = previous if isinstance(previous, dict) else {}
        generation = read_generation(stamp) + 1
        pending = list(keys)
        if read_generation(applied_stamp_path(path)) < generation - 1:
            pending = list(dict.fromkeys([*(previous.get("keys") or []), *keys]))
        record = {"generation": generation, "at": time.time(), "by": requested_by, "keys": pending}
        write_json(stamp, record, fsync=True)
    return generation


def reload_keys(stamp: Path) -> list[str]:
    """The setting names the pending reload request wrote (see request_reload)."""
    data = read_json(stamp, {})
    keys = data.get("keys") if isinstance(data, dict) else None
    return [k for k in keys if isinstance(k, str)] if isinstance(keys, list) else []


def acknowledge(env_path: str | os.PathLike, generation: int, pid: int, report: dict | None = None) -> None:
    """Tell writers that `generation` was applied; `report` says what became of each written key."""
    stamp = applied_stamp_path(env_path)
    if read_generation(stamp) < generation:
        write_json(stamp, {"generation": generation, "pid": pid, "at": time.time(), "report": report or {}})


def wait_applied(env_path: str | os.PathLike, generation: int, timeout: float) -> dict | None:
    """The acknowledgement of `generation` by a running server, or None after `timeout` s."""
    stamp = applied_stamp_path(env_path)
    deadline = time.monotonic() + timeout
    while True:
        data = read_json(stamp, {})
        if isinstance(data, dict) and isinstance(data.get("generation"), int) and data["generation"] >= generation:
            return data
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


_VM_SOURCE = re.compile(r"\s+VM\d+:\d+\s*$")


def parse_pasted(text: str, keys: tuple[str, ...]) -> tuple[dict[str, str], int]:
    """KEY=VALUE pairs from text pasted out of a browser console.

    Blank lines and console noise (`undefined`, `Promise {...}`, a `VM123:1` source
    link before or after the message) are skipped; returns (pairs, lines ignored).
    """
    pattern = re.compile(r"(?:^|\s)(" + "|".join(map(re.escape, keys)) + r")\s*=(.*)$")
    pairs: dict[str, str] = {}
    ignored = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        match = pattern.search(line)
        if match is None:
            ignored += 1
            continue
        pairs[match.group(1)] = unquote(_VM_SOURCE.sub("", match.group(2)))
    return pairs, ignored
