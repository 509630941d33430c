"""The client setups of docs/clients.md work as printed: each block marked `<!-- tested: NAME -->`
runs against the app under gunicorn (with an API key, as a careful user runs it) and the fake
grok.com, changing only the address (and a prompt, to ask the fake for a thinking answer)."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.environ import hermetic_environ
from tests.support.gunicorn import ROOT, live_server_fixtures
from tests.support.oai import scenario

CLIENTS = ROOT / "docs" / "clients.md"
PRINTED_BASE = "http://localhost:3000"
KEY = "your-api-key"
BIN = Path(sys.executable).parent
NEW = "/rest/app-chat/conversations/new"
THINKING = {"content": "After thinking: the answer is 42.", "reasoning": "Let me think about this carefully."}
ONE_PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

module_server, live = live_server_fixtures(API_KEY=KEY)


def snippet(name: str) -> str:
    """The code block that follows `<!-- tested: name -->` in docs/clients.md."""
    found = re.search(rf"<!-- tested: {name} -->\n```\w*\n(.*?)```", CLIENTS.read_text(), re.S)
    assert found, f"docs/clients.md has no block marked 'tested: {name}'"
    return found.group(1)


def for_server(text: str, server) -> str:
    assert PRINTED_BASE in text
    return text.replace(PRINTED_BASE, server.url)


def run_python(code: str, cwd: Path, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=hermetic_environ(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


PLAIN = {"content": "Hello from fake grok. You said: hello", "reasoning": "None"}


def with_prompt(code: str, thinking: bool) -> str:
    # As printed the fake answers "hello" without thinking; its thinking scenario shows the
    # reasoning lines at work too.
    return code.replace('"content": "hello"', f'"content": "hello {scenario("thinking")}"') if thinking else code


@pytest.mark.parametrize("thinking", [False, True], ids=["as-printed", "thinking"])
def test_openai_sdk_snippet(live, tmp_path, thinking):
    out = run_python(with_prompt(for_server(snippet("openai-python"), live), thinking), tmp_path)
    want = THINKING if thinking else PLAIN
    assert out.splitlines() == [want["content"], want["reasoning"], want["content"]]


@pytest.mark.parametrize("thinking", [False, True], ids=["as-printed", "thinking"])
def test_litellm_snippet(live, tmp_path, thinking):
    code = with_prompt(for_server(snippet("litellm-python"), live), thinking)
    out = run_python(code, tmp_path, LITELLM_LOCAL_MODEL_COST_MAP="True")
    want = THINKING if thinking else PLAIN
    assert out.splitlines() == [want["content"], want["reasoning"]]
    assert live.fake.requests_log(NEW)[-1]["body"]["modeId"] == "expert"


def test_litellm_proxy_config_routes_its_models_and_sets_a_master_key(live):
    # The proxy itself is not installed here; LiteLLM's Router reads the same model_list.
    import litellm

    config = yaml.safe_load(for_server(snippet("litellm-proxy-config"), live))
    assert config["general_settings"]["master_key"].strip()
    router = litellm.Router(model_list=config["model_list"])
    for name, mode in (("grok-expert", "expert"), ("grok-fast", "fast")):
        reply = router.completion(model=name, messages=[{"role": "user", "content": "hello"}], num_retries=0)
        assert reply.choices[0].message.content == "Hello from fake grok. You said: hello"
        assert live.fake.requests_log(NEW)[-1]["body"]["modeId"] == mode


def test_llm_setup_and_commands(live, tmp_path):
    home = tmp_path / "llm-home"
    home.mkdir()
    (home / "extra-openai-models.yaml").write_text(for_server(snippet("llm-models"), live))
    (tmp_path / "photo.png").write_bytes(ONE_PIXEL_PNG)
    env = hermetic_environ(LLM_USER_PATH=str(home), PATH=f"{BIN}:{os.environ.get('PATH', '')}")
    lines = [line for line in snippet("llm-commands").splitlines() if line.strip()]
    outputs = []
    for line in lines:
        done = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{line}\n{done.stderr}"
        outputs.append(done.stdout.strip())
    # keys set, plain prompt, --schema, -a: every model call reached grok.com and was answered.
    assert outputs[1] == "Hello from fake grok. You said: hello"
    assert all(out.startswith("Hello from fake grok.") for out in outputs[1:])
    sent = [entry["body"] for entry in live.fake.requests_log(NEW)]
    assert [body["modeId"] for body in sent] == ["expert", "fast", "expert"]
    assert "name" in sent[1]["customInstructions"] and "age" in sent[1]["customInstructions"]
    assert sent[2]["fileAttachments"], "the image attachment was not uploaded"
    assert json.loads((home / "keys.json").read_text())["grok-web-api"] == KEY


def test_llm_without_api_key_name_is_refused(live, tmp_path):
    # Why the snippet names a key: without api_key_name llm sends a placeholder key.
    yaml_text = re.sub(r"\n  api_key_name: .*", "", for_server(snippet("llm-models"), live))
    (tmp_path / "extra-openai-models.yaml").write_text(yaml_text)
    done = subprocess.run(
        [str(BIN / "llm"), "-m", "grok-expert", "hello"],
        env=hermetic_environ(LLM_USER_PATH=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "401" in done.stderr


@pytest.mark.parametrize("flag", ["supports_schema", "vision"])
def test_llm_refuses_schemas_and_attachments_without_their_flags(live, tmp_path, flag):
    yaml_text = re.sub(rf"\n  {flag}: true", "", for_server(snippet("llm-models"), live))
    (tmp_path / "extra-openai-models.yaml").write_text(yaml_text)
    (tmp_path / "keys.json").write_text(json.dumps({"grok-web-api": KEY}))
    (tmp_path / "photo.png").write_bytes(ONE_PIXEL_PNG)
    option = ["--schema", "name"] if flag == "supports_schema" else ["-a", "photo.png"]
    done = subprocess.run(
        [str(BIN / "llm"), "-m", "grok-expert", *option, "hi"],
        cwd=tmp_path,
        env=hermetic_environ(LLM_USER_PATH=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and not live.fake.requests_log(NEW)
