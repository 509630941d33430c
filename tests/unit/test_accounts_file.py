"""The accounts file and `grok-web-api accounts ...`: the fixed command line scripts rely on."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from app.ops.accounts import AccountsFile, AccountsFileError, parse_accounts, read_accounts
from tests.support.environ import hermetic_environ
from tests.support.gunicorn import ROOT

SSO = "eyJhbGciOiJIUzI1NiJ9.secret-sso-value"


def cli(tmp_path, *args, stdin: str = "", extra_env=None) -> subprocess.CompletedProcess:
    env = hermetic_environ(ENV_FILE=str(tmp_path / ".env"), PYTHONPATH=str(ROOT), **(extra_env or {}))
    return subprocess.run(
        [sys.executable, "-m", "app", "accounts", *args],
        cwd=tmp_path,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_add_list_enable_disable_remove(tmp_path):
    path = tmp_path / "accounts.json"  # beside ENV_FILE: the server's default
    done = cli(tmp_path, "add", "work", "--sso", SSO, "--proxy", "socks5h://user:pw-secret@10.0.0.1:1080")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"added account work in {path}"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert cli(tmp_path, "add", "home", "--sso", "-", "--sso-rw", "rw-value", stdin="home-sso\n").returncode == 0
    assert [a.label for a in read_accounts(path)] == ["work", "home"]
    assert read_accounts(path)[1].sso == "home-sso"

    listed = cli(tmp_path, "list", "--json")
    assert json.loads(listed.stdout) == [
        {"label": "work", "enabled": True, "source": "file", "proxy": "socks5h://***@10.0.0.1:1080"},
        {"label": "home", "enabled": True, "source": "file", "proxy": None},
    ]
    text = cli(tmp_path, "list").stdout
    for secret in (SSO, "home-sso", "rw-value", "pw-secret"):
        assert secret not in listed.stdout + text

    assert cli(tmp_path, "disable", "work").stdout.strip() == f"disabled account work in {path}"
    assert read_accounts(path)[0].enabled is False
    # Adding an existing label is a cookie rotation: the enabled flag stays.
    assert cli(tmp_path, "add", "work", "--sso", "rotated").stdout.startswith("updated account work")
    work = read_accounts(path)[0]
    assert (work.sso, work.enabled, work.proxy) == ("rotated", False, None)
    assert cli(tmp_path, "enable", "work").returncode == 0 and read_accounts(path)[0].enabled
    assert cli(tmp_path, "remove", "home").returncode == 0
    assert [a.label for a in read_accounts(path)] == ["work"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_the_settings_account_is_listed_as_default(tmp_path):
    (tmp_path / ".env").write_text(f"GROK_SSO_COOKIE={SSO}\n")
    cli(tmp_path, "add", "work", "--sso", "x")
    rows = json.loads(cli(tmp_path, "list", "--json").stdout)
    assert [(r["label"], r["source"]) for r in rows] == [("default", "env"), ("work", "file")]
    done = cli(tmp_path, "remove", "default")
    assert done.returncode == 1 and "settings file" in done.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["add", "bad label", "--sso", "x"], "invalid label"),
        (["add", "default", "--sso", "x"], "GROK_SSO_COOKIE account"),
        (["add", "work", "--sso", "has space"], "bare cookie value"),
        (["add", "work", "--sso", "x", "--proxy", "ftp://nope"], "proxy URL"),
        (["remove", "nobody"], "no account labelled 'nobody'"),
        (["enable", "nobody"], "no account labelled 'nobody'"),
    ],
)
def test_mistakes_are_refused_with_a_reason_and_nothing_is_written(tmp_path, args, message):
    done = cli(tmp_path, *args)
    assert done.returncode == 1 and message in done.stderr
    assert "has space" not in done.stderr
    assert not (tmp_path / "accounts.json").exists() or read_accounts(tmp_path / "accounts.json") == []


def test_accounts_file_setting_wins(tmp_path):
    elsewhere = tmp_path / "conf" / "pool.json"
    assert cli(tmp_path, "add", "work", "--sso", "x", extra_env={"ACCOUNTS_FILE": str(elsewhere)}).returncode == 0
    assert [a.label for a in read_accounts(elsewhere)] == ["work"]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not json", "not valid JSON"),
        (b"[]", '{"accounts": [...]}'),
        (b'{"accounts": [{"label": "a"}]}', "sso is required"),
        (b'{"accounts": [{"label": "a", "sso": "x"}, {"label": "a", "sso": "y"}]}', "used twice"),
        (b'{"accounts": [{"label": "a", "sso": "x", "enabled": "yes"}]}', "enabled must be true or false"),
        (b'{"accounts": [{"label": "a", "sso": "x", "password": "p"}]}', "unknown field 'password'"),
    ],
)
def test_invalid_files_are_explained(tmp_path, content, message):
    with pytest.raises(AccountsFileError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_accounts(content, tmp_path / "accounts.json")


def test_a_server_follows_the_file_and_keeps_its_accounts_when_it_goes_bad(tmp_path, caplog):
    # An app made earlier in this process may have set the root logger's level (LOG_LEVEL).
    caplog.set_level(logging.ERROR, logger="grok_web_api.accounts")
    path = tmp_path / "accounts.json"
    watched = AccountsFile(path)
    assert watched.load() == [] and watched.poll() is False
    path.write_text(json.dumps({"accounts": [{"label": "a", "sso": "x"}]}))
    assert watched.poll() is True and [a.label for a in watched.accounts] == ["a"]
    assert watched.poll() is False  # unchanged: one stat, nothing read
    path.write_text("{broken")
    os.utime(path, ns=(1, 1))
    assert watched.poll() is False and [a.label for a in watched.accounts] == ["a"]
    assert "accounts file refused" in caplog.text
