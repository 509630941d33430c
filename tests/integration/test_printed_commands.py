"""Every command the documentation, /setup and the bookmarklet print works as printed, from the
checkout after `make run` (which installs the command line in .venv without putting it on PATH:
a bare `grok-web-api ...` was "command not found")."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request

import pytest
from dotenv import dotenv_values

from tests.support.environ import hermetic_environ
from tests.support.gunicorn import ROOT, GunicornServer, app_env

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A command in a code span or code block: the CLI by its bare name, at the start of a command.
_BARE = re.compile(r"(?:^|[`|;&$]\s*|\$ )grok-web-api (?:update-keys|check|serve|statsig|accounts)\b", re.M)
_CODE = re.compile(r"```.*?```|`[^`\n]+`", re.S)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_documented_commands_name_the_script_make_run_installs(document):
    code = "\n".join(_CODE.findall(document.read_text()))
    assert not _BARE.findall(code), f"{document.name}: use .venv/bin/grok-web-api (not on PATH after make run)"


def run_printed(command: str, env_file, stdin: str = "") -> subprocess.CompletedProcess:
    """`command` in bash, in the checkout, with a shell's environment (PATH as the user has it)."""
    return subprocess.run(
        ["bash", "-c", command],
        cwd=ROOT,
        env=hermetic_environ(ENV_FILE=str(env_file)),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_documented_check_command_runs(tmp_path):
    assert (ROOT / ".venv" / "bin" / "grok-web-api").exists(), "make run (or make test) creates .venv"
    run = run_printed(".venv/bin/grok-web-api check", tmp_path / ".env")
    assert run.returncode == 0 and "settings OK" in run.stdout, run.stderr


@pytest.fixture(scope="module")
def setup_info(fake_module):
    with GunicornServer(app_env(fake_module)) as srv:
        with urllib.request.urlopen(srv.url + "/setup", timeout=10) as resp:
            yield json.loads(resp.read())


def test_the_setup_pages_update_keys_command_runs_as_printed(setup_info, tmp_path):
    printed = setup_info["update_keys_command"]
    assert printed.startswith(setup_info["cli"] + " update-keys ")
    command = printed.replace("CHALLENGE_HEADER_HEX=...", "CHALLENGE_HEADER_HEX=" + "ab" * 49).replace(
        "CHALLENGE_SUFFIX=...", "CHALLENGE_SUFFIX='!suffix'"
    )
    run = run_printed(command, tmp_path / ".env")
    assert run.returncode == 0, run.stderr
    assert dotenv_values(tmp_path / ".env")["CHALLENGE_SUFFIX"] == "!suffix"


def test_the_setup_instructions_pipe_command_runs_as_printed(setup_info, tmp_path):
    [command] = re.findall(r"`([^`]*update-keys --stdin --reload)`", setup_info["instructions"])
    pasted = f"CHALLENGE_HEADER_HEX={'cd' * 49}\nCHALLENGE_SUFFIX=!x\nCHALLENGE_TRAILER=4\n"
    run = run_printed(command, tmp_path / ".env", stdin=pasted)
    assert run.returncode == 0, run.stderr
    assert dotenv_values(tmp_path / ".env")["CHALLENGE_TRAILER"] == "4"


def test_the_bookmarklet_copies_the_same_command(setup_info):
    assert json.dumps(setup_info["cli"] + " update-keys CHALLENGE_HEADER_HEX=") in urllib.request.unquote(
        setup_info["bookmarklet"]
    ).replace('"+"', "")
