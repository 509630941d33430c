"""Command line: `grok-web-api serve | check | update-keys | statsig | accounts` (also `python -m app`)."""

from __future__ import annotations

import argparse
import os
import sys


def _serve(args: argparse.Namespace) -> int:
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:app.ops.gunicorn_config", "app.wsgi:app"]
    os.execv(sys.executable, argv)
    return 0  # pragma: no cover


def _check(args: argparse.Namespace) -> int:
    from .ops.accounts import AccountsFileError, read_accounts
    from .ops.startup import report
    from .settings import Settings, SettingsError

    try:
        settings = Settings.load()
        read_accounts(settings.accounts_path) if settings.accounts_path else None
    except (SettingsError, AccountsFileError) as exc:
        print(f"grok-web-api: {exc}", file=sys.stderr)
        return 1
    import logging

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    report(settings)
    print("settings OK")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "accounts":
        # A fixed command line of its own (app/ops/accounts.py), which scripts rely on.
        from .ops.accounts import main as accounts

        return accounts(argv[1:])
    if argv and argv[0] == "update-keys":
        # Own argument rules (KEY=VALUE pairs, docs/configuration.md: update-keys), so not argparse.
        from .ops.keys import main as update_keys

        return update_keys(argv[1:])
    if argv and argv[0] == "statsig":
        from .ops.statsig_command import main as statsig

        return statsig(argv[1:])
    parser = argparse.ArgumentParser(prog="grok-web-api")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the server under gunicorn with gevent workers (default)")
    sub.add_parser("check", help="validate the settings and report what is missing")
    sub.add_parser("update-keys", help="set KEY=VALUE pairs in the .env file (--stdin, --reload)")
    sub.add_parser("statsig", help="derive the x-statsig-id values from grok.com and print them (--check)")
    sub.add_parser("accounts", help="add, list, remove, enable or disable grok.com accounts of the pool")
    args = parser.parse_args(argv)
    if args.command == "check":
        return _check(args)
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
