"""What the one settings table drives: .env.example, redaction, reload rules, gunicorn's settings."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from app.ops import envfile, logs
from app.ops.reloader import SettingsReloader
from app.settings import ENV_FILE_VARIABLE, SECRET_SETTINGS, TABLE, Settings, SettingsError
from tests.support.environ import hermetic_environ
from tests.support.gunicorn import ROOT

HEX = bytes(range(49)).hex()


def test_env_example_documents_every_setting_in_table_order():
    lines = (ROOT / ".env.example").read_text().splitlines()
    names = [m.group(1) for line in lines if (m := re.match(r"^([A-Z][A-Z0-9_]*)=", line))]
    assert [n for n in names if n != ENV_FILE_VARIABLE] == [row.env for row in TABLE]
    assert ENV_FILE_VARIABLE in names
    for index, line in enumerate(lines):
        if re.match(r"^[A-Z][A-Z0-9_]*=", line):
            assert lines[index - 1].startswith("# "), f"{line} has no comment saying what it is"
            assert line.endswith("="), f"{line}: .env.example leaves every value blank (the default applies)"


@pytest.mark.parametrize("name", sorted(SECRET_SETTINGS))
def test_every_secret_setting_is_hidden_from_views_and_logs(name):
    secret = "s3cret-value-0123456789"
    urls = {"REDIS_URL": f"redis://:{secret}@cache:6379/0", "GROK_PROXY_URL": f"http://me:{secret}@proxy:3128"}
    value = {"CHALLENGE_HEADER_HEX": HEX, **urls}.get(name, secret)
    settings = Settings.from_mapping({name: value})
    shown = repr(settings) + json.dumps(settings.redacted())
    assert value not in shown and secret not in shown and settings.redacted()[name] == "<set>"
    # Of a URL only the password is a secret: logs still name the address.
    assert (secret if name in urls else value) in logs.secret_values(settings)


def test_an_invalid_secret_is_not_echoed():
    for name in SECRET_SETTINGS:
        sent = "bad value\nwith a newline, s3cret"
        try:
            Settings.from_mapping({name: sent})
        except SettingsError as exc:
            assert "s3cret" not in str(exc)


class _Runtime:
    """What the reloader needs of the runtime: the settings and a way to switch them."""

    def __init__(self, settings):
        self.settings = settings

    def apply(self, settings):
        self.settings = settings


def test_a_reload_applies_live_settings_and_names_those_that_need_a_restart(tmp_path, monkeypatch):
    for row in TABLE:
        monkeypatch.delenv(row.env, raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("HEARTBEAT_SECS=15\nWORKER_CONNECTIONS=4000\n")
    runtime = _Runtime(Settings.load(env_file=env_file))
    reloader = SettingsReloader(runtime)
    envfile.update(env_file, {"HEARTBEAT_SECS": "2", "WORKER_CONNECTIONS": "10", "PORT": "3001"})
    envfile.request_reload(env_file, "test")
    outcome = reloader.poll()
    assert outcome.applied and sorted(outcome.changed) == ["HEARTBEAT_SECS", "PORT", "WORKER_CONNECTIONS"]
    assert sorted(outcome.restart_required) == ["PORT", "WORKER_CONNECTIONS"]
    assert runtime.settings.heartbeat_interval == 2.0


def _gunicorn_config(tmp_path, env_text: str) -> subprocess.CompletedProcess:
    """Import the gunicorn configuration as gunicorn's master does, with this .env file."""
    (tmp_path / ".env").write_text(env_text)
    probe = (
        "import json; from app.ops import gunicorn_config as c; "
        "print(json.dumps([c.workers, c.worker_connections, c.graceful_timeout, c.timeout, c.bind]))"
    )
    env = hermetic_environ(PYTHONPATH=str(ROOT), ENV_FILE=str(tmp_path / ".env"))
    return subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )


def test_gunicorn_reads_its_settings_through_settings_including_the_env_file(tmp_path):
    run = _gunicorn_config(
        tmp_path, "WEB_CONCURRENCY=3\nWORKER_CONNECTIONS=123\nGRACEFUL_TIMEOUT=7\nWORKER_TIMEOUT=9\nPORT=4321\n"
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [3, 123, 7, 9, ["127.0.0.1:4321"]]  # no API_KEY: loopback


def test_a_bad_gunicorn_setting_stops_startup_and_check_with_the_settings_message(tmp_path):
    run = _gunicorn_config(tmp_path, "WORKER_CONNECTIONS=lots\nWEB_CONCURRENCY=0\n")
    assert run.returncode == 1
    assert run.stderr.startswith("grok-web-api: cannot start, invalid settings:"), run.stderr
    assert "WORKER_CONNECTIONS: must be an integer" in run.stderr
    assert "WEB_CONCURRENCY: must be a number of processes >= 1" in run.stderr
    assert "Traceback" not in run.stderr
    check = subprocess.run(
        [sys.executable, "-m", "app", "check"],
        cwd=tmp_path,
        env=hermetic_environ(PYTHONPATH=str(ROOT), ENV_FILE=str(tmp_path / ".env")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 1 and "WORKER_CONNECTIONS: must be an integer" in check.stderr
