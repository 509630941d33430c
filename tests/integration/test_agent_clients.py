"""The real coding agents and agent SDKs against the app under gunicorn and the fake grok.com.

`codex exec` (npm @openai/codex, a custom provider with wire_api = "responses") and `claude -p`
(npm @anthropic-ai/claude-code with ANTHROPIC_BASE_URL) each complete a turn that runs a shell
command through their own tool, with HOME in a temporary directory: the fake grok.com answers
like Grok (it calls the offered shell tool, then reads the result) and the command really runs
(its output and the file it writes prove it). Codex also applies a patch through its free-text
apply_patch tool. Claude Code must never repeat a request with `stream: false` (what it does
when a stream looks malformed). openai-agents runs on its default path, the Responses API.

The CLIs are installed by `make test` into tests/agents/node_modules (pinned versions); these
tests skip, saying so, where they are not installed.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.support.gunicorn import GunicornServer, app_env

BIN = Path(__file__).resolve().parents[1] / "agents" / "node_modules" / ".bin"
NEW = "/rest/app-chat/conversations/new"
KEY = "agent-test-key"
# 6*7 is computed by the shell, never written by the fake: the answer proves the command ran.
COMMAND = "echo $((6*7)) | tee proof.txt"


def cli(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        pytest.skip(
            f"{name} is not installed: `make test` installs it (needs node and npm: apt-get install nodejs npm)"
        )
    return path


@pytest.fixture(scope="module")
def agent_server(fake_module):
    with GunicornServer(app_env(fake_module, API_KEY=KEY)) as srv:
        srv.fake = fake_module
        yield srv


@pytest.fixture(autouse=True)
def clean_fake(agent_server):
    agent_server.fake.reset()


def marker(**params) -> str:
    return "#scenario:agent?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())


# Anything an agent would send elsewhere (telemetry, update checks) goes to a closed local
# port instead: all traffic stays on this machine, and no name is ever looked up.
NOWHERE = "http://127.0.0.1:9"


def base_env(home: Path) -> dict[str, str]:
    """A clean environment: the developer's keys, proxies and configuration never reach the agent."""
    return {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
        **{name: NOWHERE for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")},
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


def run(args: list, env: dict, cwd: Path, timeout: int = 180) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(a) for a in args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr[-4000:]}"
    )
    return result


# -- Codex CLI ---------------------------------------------------------------------------------------------
def codex(server, tmp_path: Path, model: str, prompt: str) -> tuple[subprocess.CompletedProcess, Path]:
    home = tmp_path / "home"
    (home / ".codex").mkdir(parents=True)
    (home / ".codex" / "config.toml").write_text(
        f'model = "{model}"\n'
        'model_provider = "grok"\n\n'
        "[model_providers.grok]\n"
        'name = "grok-web-api"\n'
        f'base_url = "{server.url}/v1"\n'
        'env_key = "GROK_WEB_API_KEY"\n'
        'wire_api = "responses"\n'
    )
    work = tmp_path / "work"
    work.mkdir()
    env = base_env(home) | {"CODEX_HOME": str(home / ".codex"), "GROK_WEB_API_KEY": KEY}
    args = [
        cli("codex"),
        "exec",
        "--skip-git-repo-check",
        "--dangerously-bypass-approvals-and-sandbox",
        "-C",
        work,
        prompt,
    ]
    return run(args, env, work), work


def chats(fake) -> list[dict]:
    """The chat requests grok.com got: new conversations and follow-ups."""
    return [e for e in fake.requests_log("/rest/app-chat/conversations/") if e["path"].endswith(("/new", "/responses"))]


def test_codex_exec_runs_a_shell_command(agent_server, tmp_path):
    prompt = "Compute six times seven in the shell. " + marker(prop="cmd", args=json.dumps({"cmd": COMMAND}))
    result, work = codex(agent_server, tmp_path, "expert", prompt)
    assert "Done. The tool said: 42" in result.stdout
    assert (work / "proof.txt").read_text() == "42\n"
    calls = chats(agent_server.fake)
    assert len(calls) == 2  # the call, then the answer: no retries
    # Codex replays the whole history (store: false); the second turn continues the first's
    # grok.com conversation with only the command's output (docs/continuity.md).
    assert calls[0]["path"] == NEW and calls[1]["path"].endswith("/responses")
    assert calls[1]["body"]["message"].startswith("<tool_result")
    assert "Process exited with code 0" in calls[1]["body"]["message"]
    assert all(c["body"]["modeId"] == "expert" for c in calls)


def test_codex_applies_a_patch_through_its_freeform_tool(agent_server, tmp_path):
    # With a model name from Codex's catalog it offers apply_patch as a free-text custom tool.
    prompt = "Add hello.txt. " + marker(shape="patch", file="hello.txt", line="hello from grok")
    result, work = codex(agent_server, tmp_path, "gpt-5.5", prompt)
    assert (work / "hello.txt").read_text() == "hello from grok\n"
    first = agent_server.fake.requests_log(NEW)[0]["body"]["customInstructions"]
    assert 'A fn declared with "input" takes free text' in first
    assert "Done. The tool said:" in result.stdout


# -- Claude Code ---------------------------------------------------------------------------------------------
def test_claude_code_runs_a_shell_command_streaming_only(agent_server, tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = base_env(home) | {
        "ANTHROPIC_BASE_URL": agent_server.url,
        "ANTHROPIC_API_KEY": KEY,
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    args = json.dumps({"command": COMMAND, "description": "Multiply"})
    prompt = "Compute six times seven in the shell. " + marker(prop="command", args=args)
    before = len(agent_server.logs().splitlines())
    result = run([cli("claude"), "-p", prompt, "--allowedTools", "Bash"], env, work)
    assert "Done. The tool said: 42" in result.stdout
    assert (work / "proof.txt").read_text() == "42\n"
    calls = chats(agent_server.fake)
    assert [c["path"] == NEW for c in calls] == [True, False]  # the second turn is a follow-up
    assert calls[1]["body"]["message"].startswith("<tool_result") and "42" in calls[1]["body"]["message"]
    posts = [line for line in agent_server.logs().splitlines()[before:] if "path=/v1/messages " in line]
    assert len(posts) == 2 and all("stream=true" in line for line in posts), posts  # never a stream:false repeat


# -- openai-agents ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("streamed", [False, True])
def test_openai_agents_tool_round_trip_on_the_responses_path(agent_server, streamed):
    import agents
    from openai import AsyncOpenAI

    agents.set_tracing_disabled(True)  # traces would go to OpenAI
    client = AsyncOpenAI(base_url=agent_server.url + "/v1", api_key=KEY, max_retries=0)
    calls = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return f"sunny in {city}"

    model = agents.OpenAIResponsesModel(model="expert", openai_client=client)
    agent = agents.Agent(name="weather", instructions="Be terse.", tools=[get_weather], model=model)
    question = "Weather in Paris? " + marker(prop="city", args=json.dumps({"city": "Paris"}))
    if streamed:

        async def go():
            result = agents.Runner.run_streamed(agent, question)
            async for _ in result.stream_events():
                pass
            return result

        import asyncio

        result = asyncio.run(go())
    else:
        result = agents.Runner.run_sync(agent, question)
    assert calls == ["Paris"]
    assert result.final_output == "Done. The tool said: sunny in Paris"
    assert agent_server.fake.requests_log(NEW)[0]["body"]["customInstructions"].startswith("fn-call protocol.")


# -- LiteLLM --------------------------------------------------------------------------------------------------
def test_litellm_reaches_the_responses_and_messages_routes(agent_server):
    import asyncio

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download of the cost map
    import litellm

    before = len(agent_server.logs().splitlines())

    said = litellm.responses(
        model="openai/expert",
        input="hi #scenario:plain?text=via%20responses",
        api_base=agent_server.url + "/v1",
        api_key=KEY,
    )
    assert said.output[0].content[0].text == "via responses"
    message = asyncio.run(
        litellm.anthropic.messages.acreate(
            model="anthropic/expert",
            max_tokens=64,
            messages=[{"role": "user", "content": "hi #scenario:plain?text=via%20messages"}],
            api_base=agent_server.url,
            api_key=KEY,
        )
    )
    assert message["content"][0]["text"] == "via messages"
    lines = agent_server.logs().splitlines()[before:]
    routes = [line for line in lines if "route=/v1/responses" in line or "route=/v1/messages" in line]
    assert len(routes) == 2


# -- pydantic-ai ------------------------------------------------------------------------------------------------
def test_pydantic_ai_run_stream_runs_the_tool_despite_prose_before_the_call(agent_server):
    # run_stream takes the first streamed text as the final answer: Grok's "Let me check that."
    # before its call must not stream as text, or the tool result never goes back to Grok.
    import asyncio

    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    model = OpenAIChatModel("expert", provider=OpenAIProvider(base_url=agent_server.url + "/v1", api_key=KEY))
    agent = Agent(model, instructions="Be terse.")
    calls = []

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return f"sunny in {city}"

    question = "Weather in Paris? " + marker(prop="city", args=json.dumps({"city": "Paris"}), pre="Let me check that.")

    async def ask():
        async with agent.run_stream(question) as result:
            return await result.get_output()

    assert asyncio.run(ask()) == "Done. The tool said: sunny in Paris"
    assert calls == ["Paris"]
