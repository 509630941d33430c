"""The accounts file and `grok-web-api accounts ...`, the command that edits it.

The file (ACCOUNTS_FILE, default accounts.json beside the settings file) is JSON:

    {"accounts": [{"label": "work", "sso": "...", "sso_rw": "...", "proxy": null, "enabled": true}]}

It holds cookies, so it is written with mode 0600 (an existing file keeps its mode), always
whole and atomically (temporary file, fsync, rename) under `<file>.lock`. A running server
notices a new version by its stat (one per request, and once a second while idle) and
switches to it without a restart; a file it cannot read is refused with one ERROR, and the
accounts it had stay in use.

The command line is fixed, so scripts can rely on it:

    grok-web-api accounts add LABEL --sso VALUE [--sso-rw VALUE] [--proxy URL]
    grok-web-api accounts list [--json]
    grok-web-api accounts remove|enable|disable LABEL

`add` on an existing label replaces its cookies and proxy (a cookie rotation) and keeps its
enabled flag. `--sso -` (or `--sso-rw -`) reads the value from standard input, so it never
shows in the process list. `list` never prints a cookie or a proxy password.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

import gevent

from ..grok.accounts import DEFAULT_LABEL, Account, AccountPool, proxy_display, valid_label
from ..settings import DEFAULT_ACCOUNTS_FILE, ENV_FILE_VARIABLE, Settings, SettingsError, cookie, proxy_address
from .atomicfile import FileLock, remove_stale_temps, write_atomic

log = logging.getLogger("grok_web_api.accounts")

MAX_ACCOUNTS = 256
MAX_FILE_BYTES = 1024 * 1024
USAGE = """usage: grok-web-api accounts add LABEL --sso VALUE [--sso-rw VALUE] [--proxy URL]
       grok-web-api accounts list [--json]
       grok-web-api accounts remove|enable|disable LABEL"""


class AccountsFileError(Exception):
    pass


# ---------------------------------------------------------------------- the file
def _account(entry: Any, where: str) -> Account:
    if not isinstance(entry, dict):
        raise AccountsFileError(f"{where}: must be an object")
    unknown = set(entry) - {"label", "sso", "sso_rw", "proxy", "enabled"}
    if unknown:
        raise AccountsFileError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    label = entry.get("label")
    if not isinstance(label, str) or not valid_label(label):
        raise AccountsFileError(f"{where}: label must be 1 to 32 letters, digits, '_', '.' or '-'")
    if label == DEFAULT_LABEL:
        raise AccountsFileError(f"{where}: the label '{DEFAULT_LABEL}' names the GROK_SSO_COOKIE account")
    values = {}
    for name, parse in (("sso", cookie()), ("sso_rw", cookie()), ("proxy", proxy_address)):
        value = entry.get(name)
        if value is None or value == "":
            values[name] = None
            continue
        if not isinstance(value, str):
            raise AccountsFileError(f"{where} ({label}): {name} must be a string")
        try:
            values[name] = parse(value.strip())
        except ValueError as exc:
            raise AccountsFileError(f"{where} ({label}): {name} {exc}") from None
    if not values["sso"]:
        raise AccountsFileError(f"{where} ({label}): sso is required")
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise AccountsFileError(f"{where} ({label}): enabled must be true or false")
    return Account(label, values["sso"], values["sso_rw"], values["proxy"], enabled)


def parse_accounts(data: bytes, path: Path) -> list[Account]:
    try:
        document = json.loads(data or b"{}")
    except ValueError as exc:
        raise AccountsFileError(f"{path} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    entries = document.get("accounts", []) if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise AccountsFileError(f'{path} must hold {{"accounts": [...]}}')
    if len(entries) > MAX_ACCOUNTS:
        raise AccountsFileError(f"{path} holds more than {MAX_ACCOUNTS} accounts")
    accounts = [_account(entry, f"{path}: account {n + 1}") for n, entry in enumerate(entries)]
    seen = set()
    for account in accounts:
        if account.label in seen:
            raise AccountsFileError(f"{path}: the label {account.label!r} is used twice")
        seen.add(account.label)
    return accounts


def read_accounts(path: Path) -> list[Account]:
    """The file's accounts ([] when it does not exist); AccountsFileError when it is invalid."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise AccountsFileError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise AccountsFileError(f"{path} is larger than {MAX_FILE_BYTES} bytes")
    return parse_accounts(data, path)


def _document(accounts: list[Account]) -> bytes:
    entries = []
    for a in accounts:
        entry: dict[str, Any] = {"label": a.label, "sso": a.sso}
        if a.sso_rw:
            entry["sso_rw"] = a.sso_rw
        entry["proxy"] = a.proxy
        entry["enabled"] = a.enabled
        entries.append(entry)
    return (json.dumps({"accounts": entries}, indent=2) + "\n").encode()


def edit_accounts(path: Path, change) -> list[Account]:
    """Apply `change(accounts) -> accounts` to the file under its lock; returns the result."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.with_name(path.name + ".lock")):
        remove_stale_temps(path)
        accounts = change(read_accounts(path))
        write_atomic(path, _document(accounts), mode=0o600)
    return accounts


def add_account(path: Path, account: Account) -> bool:
    """Add `account`, or replace the cookies and proxy of the one with its label (which keeps
    its enabled flag); True when it is new."""
    added = []

    def change(accounts: list[Account]) -> list[Account]:
        for n, old in enumerate(accounts):
            if old.label == account.label:
                accounts[n] = replace(account, enabled=old.enabled)
                return accounts
        if len(accounts) >= MAX_ACCOUNTS:
            raise AccountsFileError(f"{path} already holds {MAX_ACCOUNTS} accounts")
        added.append(account.label)
        return [*accounts, account]

    edit_accounts(path, change)
    return bool(added)


def _require(accounts: list[Account], label: str, path: Path) -> int:
    for n, account in enumerate(accounts):
        if account.label == label:
            return n
    if label == DEFAULT_LABEL:
        raise AccountsFileError(
            f"'{DEFAULT_LABEL}' is the GROK_SSO_COOKIE account: change it in the settings file, not in {path}"
        )
    raise AccountsFileError(f"no account labelled {label!r} in {path}")


def remove_account(path: Path, label: str) -> None:
    def change(accounts: list[Account]) -> list[Account]:
        del accounts[_require(accounts, label, path)]
        return accounts

    edit_accounts(path, change)


def set_enabled(path: Path, label: str, enabled: bool) -> None:
    def change(accounts: list[Account]) -> list[Account]:
        n = _require(accounts, label, path)
        accounts[n] = replace(accounts[n], enabled=enabled)
        return accounts

    edit_accounts(path, change)


def pool_accounts(settings: Settings, file_accounts: list[Account]) -> list[Account]:
    """The pool: the GROK_SSO_COOKIE account (label "default"), when set, then the file's."""
    accounts = []
    if settings.sso_cookie:
        accounts.append(Account(DEFAULT_LABEL, settings.sso_cookie, settings.sso_rw_cookie, None, True, "env"))
    return accounts + file_accounts


def build_pool(settings: Settings, file_accounts: list[Account], store, client) -> AccountPool:
    """The pool of these settings and file accounts. Each account gets a client of its own
    (its cookies, its proxy) sharing `client`'s configuration otherwise (signer, timeouts),
    transport, session state and shared values; with no file accounts the settings' account is
    `client` itself, and the pool only reports (strict=False)."""
    from . import logs

    accounts = pool_accounts(settings, file_accounts)
    strict = bool(file_accounts)
    base = client.config  # its signer too: statsig values are per grok.com build, not per account
    clients = {}
    for account in accounts:
        if not strict:
            clients[account.label] = client
            continue
        config = replace(
            base,
            cookie_header=account.cookie_header(settings.extra_cookies),
            account=account.label,
            proxy=account.proxy,
        )
        clients[account.label] = client.sibling(config)
        logs.redactor.learn_values(account.secrets)
    pool = AccountPool(accounts, store, clients, strict=strict)

    def sync_after_limit(label: str, mode: str) -> None:
        # In the background: the request that met the limit moves on to another account.
        gevent.spawn(pool.sync_quota, label, [mode], lift=False)

    if strict:  # a lone account has no choice to inform: its 429 reaches the client as it is
        pool.after_limit = sync_after_limit
    return pool


class AccountsFile:
    """A server's view of the accounts file: re-read when its stat changes."""

    def __init__(self, path: Path | None):
        self.path = path
        self._signature: tuple | None = None
        self.accounts: list[Account] = []
        self.error: str | None = None

    def _stat(self) -> tuple | None:
        if self.path is None:
            return None
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def load(self) -> list[Account]:
        """Read the file now (startup); raises AccountsFileError when it is invalid."""
        self._signature = self._stat()
        self.accounts = read_accounts(self.path) if self.path else []
        self.error = None
        return self.accounts

    def poll(self) -> bool:
        """True when the file changed and its new accounts are loaded."""
        signature = self._stat()
        if signature == self._signature:
            return False
        self._signature = signature
        try:
            accounts = read_accounts(self.path) if self.path else []
        except AccountsFileError as exc:
            if str(exc) != self.error:
                log.error("accounts file refused, the accounts in use stay: %s", exc)
            self.error = str(exc)
            return False
        self.error = None
        if accounts == self.accounts:
            return False
        self.accounts = accounts
        log.info("accounts file %s applied: %s", self.path, ", ".join(a.label for a in accounts) or "no accounts")
        return True


# ---------------------------------------------------------------------- the command
def accounts_path(environ=None) -> Path:
    """The file the server uses: ACCOUNTS_FILE, else accounts.json beside the settings file."""
    environ = os.environ if environ is None else environ
    try:
        path = Settings.load(environ=environ).accounts_path
    except SettingsError:
        path = None
    if path is None:
        explicit = (environ.get("ACCOUNTS_FILE") or "").strip()
        env_file = environ.get(ENV_FILE_VARIABLE) or str(Path.cwd() / ".env")
        path = Path(explicit) if explicit else Path(env_file).with_name(DEFAULT_ACCOUNTS_FILE)
    return path


def entry_account(fields: dict) -> Account:
    """An account from user input (the command line, the /setup form), validated as the file is."""
    label = fields.get("label") or ""
    if not valid_label(label) or label == DEFAULT_LABEL:
        raise AccountsFileError(
            f"invalid label {label[:40]!r}: 1 to 32 letters, digits, '_', '.' or '-' "
            f"(and not '{DEFAULT_LABEL}', the GROK_SSO_COOKIE account)"
        )
    return _account(fields, "account")


def _secret(value: str | None, name: str, stdin: TextIO) -> str | None:
    if value != "-":
        return value
    text = stdin.readline().strip()
    if not text:
        raise AccountsFileError(f"{name} -: nothing on standard input")
    return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grok-web-api accounts", usage=USAGE)
    sub = parser.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="add an account, or replace the cookies of one")
    add.add_argument("label")
    add.add_argument("--sso", required=True, help="the sso cookie ('-': read it from standard input)")
    add.add_argument("--sso-rw", help="the sso-rw cookie (default: the sso value; '-': standard input)")
    add.add_argument("--proxy", help="outbound proxy for this account: http://host:port or socks5h://host:port")
    listing = sub.add_parser("list", help="the accounts, without their cookies")
    listing.add_argument("--json", action="store_true")
    for action in ("remove", "enable", "disable"):
        sub.add_parser(action, help=f"{action} an account").add_argument("label")
    return parser


def run(argv: list[str], stdin: TextIO, stdout: TextIO, environ=None) -> int:
    args = _parser().parse_args(argv)
    path = accounts_path(environ)
    if args.action == "add":
        entry = {
            "label": args.label,
            "sso": _secret(args.sso, "--sso", stdin),
            "sso_rw": _secret(args.sso_rw, "--sso-rw", stdin),
            "proxy": args.proxy,
        }
        account = entry_account(entry)
        new = add_account(path, account)
        print(f"{'added' if new else 'updated'} account {account.label} in {path}", file=stdout)
    elif args.action == "list":
        _list(path, args.json, stdout, environ)
    elif args.action == "remove":
        remove_account(path, args.label)
        print(f"removed account {args.label} from {path}", file=stdout)
    else:
        set_enabled(path, args.label, args.action == "enable")
        print(f"{args.action}d account {args.label} in {path}", file=stdout)
    return 0


def _list(path: Path, as_json: bool, stdout: TextIO, environ) -> None:
    try:
        settings = Settings.load(environ=os.environ if environ is None else environ)
    except SettingsError:
        settings = Settings()
    rows = [
        {"label": a.label, "enabled": a.enabled, "source": a.source, "proxy": proxy_display(a.proxy)}
        for a in pool_accounts(settings, read_accounts(path))
    ]
    if as_json:
        print(json.dumps(rows), file=stdout)
        return
    if not rows:
        print(f"no accounts ({path} holds none and GROK_SSO_COOKIE is not set)", file=stdout)
        return
    width = max(len(r["label"]) for r in rows)
    for r in rows:
        state = "enabled" if r["enabled"] else "disabled"
        where = "settings file" if r["source"] == "env" else "accounts file"
        print(f"{r['label']:<{width}}  {state:<8}  {where}  proxy={r['proxy'] or '-'}", file=stdout)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        return run(argv, sys.stdin, sys.stdout)
    except (AccountsFileError, OSError, TimeoutError) as exc:
        print(f"accounts: {exc}", file=sys.stderr)
        return 1
