"""`grok-web-api update-keys KEY=VALUE ...`: set values in the server's .env file.

Same argument rules, messages and file rewrite as the reference's subcommand
(docs/configuration.md: update-keys; the rules in app/ops/envfile.py), with these differences:

* the file is ENV_FILE, else ./.env — the file the server itself reads — instead
  of the first .env found walking up from the working directory;
* values are validated as at startup before anything is written;
* `--stdin` reads the browser snippet's output as pasted (console noise ignored);
* `--reload` asks a running server that uses this file to apply the new values
  without a restart, and waits (5 s) for its acknowledgement;
* the rewrite is atomic and locked against concurrent writers.
"""

from __future__ import annotations

import sys
from typing import TextIO

from ..settings import BY_ENV_NAME, Settings, SettingsError
from . import envfile, reloader

USAGE = "usage: grok-web-api update-keys [--stdin] [--reload] KEY=VALUE [KEY=VALUE ...]"
RELOAD_WAIT_SECONDS = 5.0


def allowed_keys() -> tuple[str, ...]:
    """Every setting the server reads, in the order of .env.example (the reference's names come first)."""
    return tuple(BY_ENV_NAME)


class UpdateKeysError(Exception):
    pass


def collect(arguments: list[str], pasted: str | None) -> dict[str, str]:
    """The KEY=VALUE pairs to write, from the arguments and then the pasted text."""
    allowed = allowed_keys()
    values: dict[str, str] = {}
    for argument in arguments:
        try:
            key, value = envfile.parse_assignment(argument)
        except ValueError as exc:
            raise UpdateKeysError(str(exc)) from None
        if key not in allowed:
            raise UpdateKeysError(f"unknown key '{key}'\nallowed: {', '.join(allowed)}")
        values[key] = value
    if pasted is not None:
        found, _ignored = envfile.parse_pasted(pasted, allowed)
        if not found:
            raise UpdateKeysError("no KEY=VALUE line found on standard input (paste the snippet's output)")
        values.update(found)
    return values


def validate(values: dict[str, str], path) -> None:
    try:
        base = Settings.load(env_file=path)
    except SettingsError:
        base = None  # the file is already invalid; judge the new values on their own
    errors = envfile.invalid_values(values, base)
    if errors:
        raise UpdateKeysError(
            "\n".join(f"invalid value for {k}: {msg}" for k, msg in errors.items()) + "\nnothing was written"
        )


def run(argv: list[str], stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    flags = {a for a in argv if a.startswith("--")}
    arguments = [a for a in argv if not a.startswith("--")]
    if "--help" in flags or "-h" in arguments:
        print(USAGE, file=stdout)
        return 0
    unknown = flags - {"--stdin", "--reload"}
    if unknown:
        raise UpdateKeysError(f"unknown option '{sorted(unknown)[0]}'\n{USAGE}")
    if not arguments and "--stdin" not in flags:
        raise UpdateKeysError(USAGE)
    pasted = stdin.read() if "--stdin" in flags else None
    values = collect(arguments, pasted)
    path = envfile.default_path()
    validate(values, path)
    try:
        written = envfile.update(path, values)
    except (envfile.EnvFileError, OSError, TimeoutError) as exc:
        raise UpdateKeysError(str(exc)) from None
    for key in values:
        print(f"set {key}", file=stdout)
    print(f"wrote {written}", file=stdout)
    if "--reload" in flags:
        try:
            generation = envfile.request_reload(written, "update-keys", list(values))
        except (OSError, TimeoutError) as exc:
            raise UpdateKeysError(f"wrote {written} but could not ask the server to reload: {exc}") from None
        ack = envfile.wait_applied(written, generation, RELOAD_WAIT_SECONDS)
        if ack is None:
            print(
                f"update-keys: no running server using {written} acknowledged the reload within "
                f"{RELOAD_WAIT_SECONDS:g} s; the new values apply when the server starts",
                file=stderr,
            )
            return 0
        return report_reload(ack, values, stdout, stderr)
    return 0


def report_reload(ack: dict, values: dict[str, str], stdout: TextIO, stderr: TextIO) -> int:
    """What the running server did with each written key; 2 when any of them is not in effect."""
    report = ack.get("report") if isinstance(ack.get("report"), dict) else {}
    statuses = {key: report.get(key, reloader.APPLIED) for key in values}
    for key, status in statuses.items():
        stream = stdout if status in (reloader.APPLIED, reloader.UNCHANGED) else stderr
        print(f"{key}: {reloader.WHY.get(status, status)}", file=stream)
    if all(status in (reloader.APPLIED, reloader.UNCHANGED) for status in statuses.values()):
        print(f"reloaded: the running server uses the new values (worker pid {ack.get('pid')})", file=stdout)
        return 0
    print("reloaded, but not every value is in effect (see above)", file=stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        return run(argv, sys.stdin, sys.stdout, sys.stderr)
    except UpdateKeysError as exc:
        print(f"update-keys: {exc}", file=sys.stderr)
        return 1
