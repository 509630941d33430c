"""The suite is hermetic: `make run` (which creates a .env) then `make test` must pass, and
nothing from the developer's .env or shell reaches a server under test unless a test sets it.

A filled-in .env is written to the checkout's root for this module (any existing one is kept
aside and put back), and the shell gets settings, proxies and client variables of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.support.gunicorn import ROOT, GunicornServer, app_env
from tests.support.oai import scenario

DEVELOPER_DOTENV = {
    "API_KEY": "developer-key",
    "GROK_SSO_COOKIE": "developer-sso",
    "GROK_SSO_RW_COOKIE": "developer-sso-rw",
    "CHALLENGE_HEADER_HEX": "ab" * 49,
    "CHALLENGE_SUFFIX": "!developer-suffix",
    "GROK_BASE_URL": "http://127.0.0.1:9",
    "HOST": "0.0.0.0",
    "PORT": "3999",
    "WEB_CONCURRENCY": "3",
    "LOG_LEVEL": "error",
    "REASONING_OUTPUT": "hidden",
}
# What a developer's shell may hold besides: our settings, and variables other tools obey.
DEVELOPER_SHELL = {
    "API_KEY": "shell-key",
    "REASONING_OUTPUT": "hidden",
    "http_proxy": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "ALL_PROXY": "http://127.0.0.1:9",
    "OPENAI_API_KEY": "sk-shell",
    "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
    "GEVENT_RESOLVER": "no-such-resolver",
}


@pytest.fixture(scope="module")
def developer_dotenv():
    dotenv = ROOT / ".env"
    aside = ROOT / ".env.kept-aside-by-test_hermetic"
    assert not aside.exists(), f"{aside} is left from an interrupted run: put it back as .env first"
    had_one = dotenv.exists()
    if had_one:
        os.replace(dotenv, aside)
    dotenv.write_text("".join(f"{name}={value}\n" for name, value in DEVELOPER_DOTENV.items()))
    try:
        yield dotenv
    finally:
        if had_one:
            os.replace(aside, dotenv)
        else:
            dotenv.unlink(missing_ok=True)


# A test process as pytest starts it: the root conftest first, then the test modules (one of
# which imports LiteLLM, whose import calls python-dotenv's load_dotenv(): it walks up from its
# own file inside .venv and finds the checkout's .env), then an app built without settings.
IN_A_TEST_PROCESS = """
import json, os
import tests.conftest
import litellm
from app import create_app
from app.runtime import EXTENSION
from app.settings import Settings

app = create_app()
loaded = app.extensions[EXTENSION].settings.by_env_name()
defaults = Settings.from_mapping({}).by_env_name()
print(json.dumps({
    "environ": sorted(set(os.environ) & set(%r)),
    "changed": sorted(name for name, value in loaded.items() if value != defaults[name]),
    "models": app.test_client().get("/v1/models").status_code,
}))
"""


def developer_shell() -> dict[str, str]:
    """The environment pytest would start with in the developer's shell."""
    ours = {"PYTHON_DOTENV_DISABLED", "ENV_FILE"}  # what this process's own isolation added
    return {**{k: v for k, v in os.environ.items() if k not in ours}, **DEVELOPER_SHELL}


def test_an_app_built_in_a_test_process_ignores_the_dotenv_and_the_shell(developer_dotenv):
    env = {**developer_shell(), "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(ROOT)}
    probe = IN_A_TEST_PROCESS % sorted({*DEVELOPER_DOTENV, *DEVELOPER_SHELL})
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"environ": [], "changed": [], "models": 200}


def test_this_test_process_has_none_of_the_developers_settings(developer_dotenv):
    assert not {*DEVELOPER_DOTENV, *DEVELOPER_SHELL} & set(os.environ)


def post_json(url: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_server_ignores_the_dotenv_and_the_shell(developer_dotenv, fake, monkeypatch):
    for name, value in DEVELOPER_SHELL.items():
        monkeypatch.setenv(name, value)
    with GunicornServer(app_env(fake)) as srv:
        # No key needed (neither the .env's nor the shell's), the fake's cookies and address, no
        # proxy, reasoning shown: the shell's and the file's values all stayed out.
        status, body = post_json(
            srv.url + "/v1/chat/completions",
            {"model": "expert", "messages": [{"role": "user", "content": "q " + scenario("thinking")}]},
        )
        assert status == 200, body
        message = body["choices"][0]["message"]
        assert message["content"] == "After thinking: the answer is 42."
        assert message["reasoning_content"] == "Let me think about this carefully."
        with urllib.request.urlopen(srv.url + "/status", timeout=10) as resp:
            assert json.loads(resp.read())["workers"] == 1
        assert " INFO " in srv.logs(), "LOG_LEVEL=error from the .env reached the server"
