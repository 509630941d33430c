"""`grok-web-api update-keys` as a user runs it: a subprocess on a real .env file."""

from __future__ import annotations

import configparser
import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from dotenv import dotenv_values

from app.settings import Settings
from tests.support.environ import hermetic_environ
from tests.support.gunicorn import ROOT, app_env

SNIPPET_OUTPUT = """VM2871:1 CHALLENGE_HEADER_HEX={hex}
CHALLENGE_SUFFIX={suffix}
CHALLENGE_TRAILER={trailer}
undefined
"""


def update_keys(
    *args: str,
    env_file: Path | None,
    cwd: Path | None = None,
    stdin: str | None = None,
    extra_env: dict | None = None,
    wait: bool = True,
):
    env = hermetic_environ(PYTHONPATH=str(ROOT))
    if env_file is not None:
        env["ENV_FILE"] = str(env_file)
    env.update(extra_env or {})
    cmd = [sys.executable, "-m", "app", "update-keys", *args]
    if not wait:
        return subprocess.Popen(
            cmd,
            cwd=cwd or ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    return subprocess.run(cmd, cwd=cwd or ROOT, env=env, input=stdin or "", capture_output=True, text=True, timeout=60)


def test_sets_keys_and_reports_like_the_reference(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# mine\nPORT=3000\nGROK_SSO_COOKIE=old\n")
    run = update_keys("GROK_SSO_COOKIE=new", "CHALLENGE_TRAILER=7", env_file=env_file)
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"set GROK_SSO_COOKIE\nset CHALLENGE_TRAILER\nwrote {env_file}\n"
    assert env_file.read_text() == '# mine\nPORT=3000\nGROK_SSO_COOKIE="new"\nCHALLENGE_TRAILER=7\n'


def test_default_file_is_dot_env_in_the_working_directory(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".env").write_text("PORT=1\n")  # a parent's .env is NOT used (unlike the reference)
    run = update_keys("PORT=2", env_file=None, cwd=tmp_path / "sub")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "sub" / ".env").read_text() == 'PORT="2"\n'
    assert (tmp_path / ".env").read_text() == "PORT=1\n"


def test_errors_exit_1_with_update_keys_prefix(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=1\n")
    cases = {
        (): "update-keys: usage: grok-web-api update-keys",
        ("PORT",): "update-keys: argument 'PORT' is not KEY=VALUE",
        ("port=1",): "update-keys: unknown key 'port'\nallowed: GROK_SSO_COOKIE, GROK_SSO_RW_COOKIE",
        ("--force", "PORT=1"): "update-keys: unknown option '--force'",
    }
    for args, expected in cases.items():
        run = update_keys(*args, env_file=env_file)
        assert run.returncode == 1 and run.stderr.startswith(expected), (args, run.stderr)
    assert env_file.read_text() == "PORT=1\n"


def test_values_validated_as_at_startup_and_never_echoed(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=1\n")
    secret = "sso value;with-semicolon"
    run = update_keys(
        f"GROK_SSO_COOKIE={secret}", "CHALLENGE_HEADER_HEX=abc", "CHALLENGE_TRAILER=300", "PORT=2", env_file=env_file
    )
    assert run.returncode == 1
    assert "invalid value for GROK_SSO_COOKIE" in run.stderr
    assert "invalid value for CHALLENGE_HEADER_HEX" in run.stderr and "odd" in run.stderr
    assert "invalid value for CHALLENGE_TRAILER: must be an integer from 0 to 255" in run.stderr
    assert "nothing was written" in run.stderr and secret not in run.stderr + run.stdout
    assert env_file.read_text() == "PORT=1\n"


def test_stdin_takes_the_snippet_output_as_pasted(tmp_path):
    env_file = tmp_path / ".env"
    header = bytes(range(49)).hex()
    pasted = SNIPPET_OUTPUT.format(hex=header, suffix='!obf"io$x', trailer=3)
    run = update_keys("--stdin", env_file=env_file, stdin=pasted)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[:3] == ["set CHALLENGE_HEADER_HEX", "set CHALLENGE_SUFFIX", "set CHALLENGE_TRAILER"]
    settings = Settings.load(environ={}, env_file=env_file)
    assert settings.challenge_header == bytes(range(49))
    assert settings.challenge_suffix == '!obf"io$x' and settings.challenge_trailer == 3
    empty = update_keys("--stdin", env_file=env_file, stdin="undefined\n\n")
    assert empty.returncode == 1 and "no KEY=VALUE line" in empty.stderr


def test_killed_mid_write_leaves_the_old_file_intact(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("GROK_SSO_COOKIE=old\nPORT=1\n")
    env_file.chmod(0o640)
    proc = update_keys(
        "GROK_SSO_COOKIE=new", env_file=env_file, wait=False, extra_env={"GROK_WEB_API_TEST_PAUSE_BEFORE_RENAME": "60"}
    )
    line = proc.stderr.readline()
    assert "paused before rename" in line
    assert list(tmp_path.glob("*.tmp")), "the new content is written to a temporary file first"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert env_file.read_text() == "GROK_SSO_COOKIE=old\nPORT=1\n"
    # The next run cleans up the leftover and keeps the file's mode.
    run = update_keys("PORT=2", env_file=env_file)
    assert run.returncode == 0, run.stderr
    assert list(tmp_path.glob("*.tmp")) == []
    assert env_file.read_text() == 'GROK_SSO_COOKIE=old\nPORT="2"\n'
    assert env_file.stat().st_mode & 0o777 == 0o640


def test_concurrent_runs_keep_both_keys(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# start\n")
    slow = update_keys(
        "GROK_SSO_COOKIE=from-slow",
        env_file=env_file,
        wait=False,
        extra_env={"GROK_WEB_API_TEST_PAUSE_BEFORE_RENAME": "1.5"},
    )
    assert "paused before rename" in slow.stderr.readline()
    # The slow run has read the file and holds the lock; this one must wait for it, then re-read.
    fast = update_keys("CHALLENGE_SUFFIX=!from-fast", env_file=env_file)
    assert slow.wait(30) == 0 and fast.returncode == 0, fast.stderr
    values = dotenv_values(env_file)
    assert values["GROK_SSO_COOKIE"] == "from-slow" and values["CHALLENGE_SUFFIX"] == "!from-fast"


def test_console_script_dispatches_update_keys(tmp_path, monkeypatch, capsys):
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    scripts = config["options.entry_points"]["console_scripts"]
    assert "grok-web-api = app.__main__:main" in scripts
    from app.__main__ import main

    monkeypatch.setenv("ENV_FILE", str(tmp_path / ".env"))
    assert main(["update-keys", "LOG_LEVEL=debug"]) == 0
    assert capsys.readouterr().out.startswith("set LOG_LEVEL\n")


def _chat(url: str) -> int:
    req = urllib.request.Request(
        url + "/v1/chat",
        data=b'{"message":"hi"}',
        method="POST",
        headers={"Content-Type": "application/json", "Connection": "close"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_reload_applies_new_cookies_to_a_running_server(fake, start_server, tmp_path):
    env_file = tmp_path / ".env"
    env = app_env(fake)
    # The cookies come from the file (the process environment would override it).
    cookies = {k: env.pop(k) for k in ("GROK_SSO_COOKIE", "GROK_SSO_RW_COOKIE")}
    env_file.write_text("GROK_SSO_COOKIE=stale-sso\nGROK_SSO_RW_COOKIE=stale-rw\n")
    srv = start_server({**env, "ENV_FILE": str(env_file)}, workers=2)
    assert _chat(srv.url) == 503  # auth_expired with the stale cookies
    run = update_keys(
        f"GROK_SSO_COOKIE={cookies['GROK_SSO_COOKIE']}",
        f"GROK_SSO_RW_COOKIE={cookies['GROK_SSO_RW_COOKIE']}",
        "--reload",
        env_file=env_file,
    )
    assert run.returncode == 0, run.stderr
    assert "GROK_SSO_COOKIE: applied" in run.stdout and "GROK_SSO_RW_COOKIE: applied" in run.stdout
    assert "reloaded: the running server uses the new values" in run.stdout
    fake.clear()
    assert all(_chat(srv.url) == 200 for _ in range(8))  # new connections: both workers
    sent = {r["headers"]["cookie"] for r in fake.requests_log("/rest/app-chat/conversations/new")}
    assert sent == {f"sso={cookies['GROK_SSO_COOKIE']}; sso-rw={cookies['GROK_SSO_RW_COOKIE']}"}
    assert "stale-sso" not in srv.logs() and cookies["GROK_SSO_COOKIE"] not in srv.logs()
    status = json.loads(urllib.request.urlopen(srv.url + "/status").read())
    assert status["session"] == "valid"


def test_reload_says_exactly_what_was_not_applied_and_why(fake, start_server, tmp_path):
    # GROK_SSO_COOKIE also comes from the server's process environment (a systemd Environment=, a
    # container's -e): the file cannot change it. WORKER_CONNECTIONS is read at startup only.
    env_file = tmp_path / ".env"
    env_file.write_text("")
    srv = start_server({**app_env(fake), "ENV_FILE": str(env_file)})
    run = update_keys(
        "GROK_SSO_COOKIE=a-new-cookie", "LOG_LEVEL=debug", "WORKER_CONNECTIONS=500", "--reload", env_file=env_file
    )
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert "LOG_LEVEL: applied" in run.stdout
    assert "GROK_SSO_COOKIE: NOT applied: the server's process environment sets it" in run.stderr
    assert "WORKER_CONNECTIONS: NOT applied yet: read only at startup" in run.stderr
    assert "reloaded: the running server uses the new values" not in run.stdout
    assert "not every value is in effect" in run.stderr
    fake.clear()
    assert _chat(srv.url) == 200  # still the environment's cookie
    [sent] = fake.requests_log("/rest/app-chat/conversations/new")
    assert "a-new-cookie" not in sent["headers"]["cookie"]
    again = update_keys("LOG_LEVEL=debug", "--reload", env_file=env_file)
    assert again.returncode == 0 and "LOG_LEVEL: already in effect" in again.stdout


def test_reload_without_a_server_says_so(tmp_path):
    env_file = tmp_path / ".env"
    start = time.monotonic()
    run = update_keys("PORT=4000", "--reload", env_file=env_file)
    assert run.returncode == 0
    assert "no running server using" in run.stderr and time.monotonic() - start < 30
    assert dotenv_values(env_file)["PORT"] == "4000"
