"""An accounts file of the fake's accounts, and the environment of a server that serves them."""

from __future__ import annotations

from pathlib import Path

from app.grok.accounts import Account
from app.ops.accounts import add_account
from tests.support.gunicorn import app_env


def add_fake_accounts(fake, path: Path, accounts: dict[str, dict], proxies: dict | None = None) -> dict[str, dict]:
    """Each named account made on the fake (with its options) and added to the accounts file at
    `path`, in order (the first is the pool's default); returns what the fake made, by name."""
    made = {}
    for name, options in accounts.items():
        made[name] = fake.add_account(name, **options)
        add_account(path, Account(name, made[name]["sso"], made[name]["sso_rw"], (proxies or {}).get(name)))
    return made


def pool_env(fake, path: Path, **settings) -> dict[str, str]:
    """app_env for a server on the accounts file at `path` alone (no single-account cookies)."""
    return app_env(fake, GROK_SSO_COOKIE="", GROK_SSO_RW_COOKIE="", ACCOUNTS_FILE=str(path), **settings)
