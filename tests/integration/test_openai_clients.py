"""Third-party OpenAI clients against the app under gunicorn and the fake grok.com, changing
only the base URL and key: LiteLLM (in-process) and Simon Willison's `llm` CLI (a
subprocess with its own LLM_USER_PATH): plain chat, streaming, and a tool loop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.environ import hermetic_environ
from tests.support.oai import client, recorder, scenario  # noqa: F401  (fixtures)

# LiteLLM fetches its model price list from GitHub at import unless told not to.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import litellm  # noqa: E402  (after the environment setting above)

# LiteLLM's pydantic models warn about typing details at import; not ours to fix.
pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.usefixtures("clean_fake")]

NEW = "/rest/app-chat/conversations/new"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
LLM_BIN = Path(sys.executable).with_name("llm")


@pytest.fixture
def litellm_call(server, recorder):
    """litellm.completion against the server; its openai client records and schema-checks."""
    sdk = client(server.url, recorder)

    def call(text, **kw):
        return litellm.completion(
            model="openai/expert",
            api_base=server.url + "/v1",
            api_key="unused",
            messages=[{"role": "user", "content": text}],
            num_retries=0,
            client=sdk,
            **kw,
        )

    yield call
    sdk.close()
    assert recorder.exchanges, "LiteLLM did not use the recording client"


def test_litellm_plain_and_reasoning(server, litellm_call):
    resp = litellm_call("hello")
    assert resp.choices[0].message.content == "Hello from fake grok. You said: hello"
    resp = litellm_call("q " + scenario("thinking"))
    assert resp.choices[0].message.content == "After thinking: the answer is 42."
    assert resp.choices[0].message.reasoning_content == "Let me think about this carefully."
    assert server.fake.requests_log(NEW)[-1]["body"]["modeId"] == "expert"


def test_litellm_streaming(litellm_call):
    chunks = list(litellm_call("q " + scenario("thinking"), stream=True))
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    assert content == "After thinking: the answer is 42."
    assert reasoning == "Let me think about this carefully."


def test_litellm_tools_streamed_and_not(litellm_call):
    resp = litellm_call("Weather in Paris? " + scenario("tool_call"), tools=[WEATHER])
    [call] = resp.choices[0].message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert resp.choices[0].finish_reason == "tool_calls"
    chunks = list(litellm_call("Weather? " + scenario("tool_call"), tools=[WEATHER], stream=True))
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].function.name == "get_weather"
    assert json.loads("".join(tc.function.arguments or "" for tc in calls)) == {"city": "Paris"}


# -- the llm CLI ---------------------------------------------------------------------------------------
@pytest.fixture
def llm_env(server, tmp_path):
    (tmp_path / "extra-openai-models.yaml").write_text(
        f'- model_id: grok-expert\n  model_name: expert\n  api_base: "{server.url}/v1"\n  supports_tools: true\n'
    )
    return hermetic_environ(LLM_USER_PATH=str(tmp_path))


def run_llm(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(LLM_BIN), *args], env=env, capture_output=True, text=True, timeout=60)


def test_llm_cli_plain_and_streaming(llm_env, server):
    done = run_llm(llm_env, "-m", "grok-expert", "--no-stream", "hello from llm")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Hello from fake grok. You said: hello from llm"
    done = run_llm(llm_env, "-m", "grok-expert", "streamed " + scenario("slow", n=5, delay=0.01))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "s0 s1 s2 s3 s4"


def test_llm_cli_tool_loop(llm_env, server):
    # llm runs the function itself and sends its result back; the result carries the
    # scenario of the second turn (the last marker in the conversation wins). llm echoes the
    # call as it received it, so the second turn is a follow-up carrying only the result.
    function = (
        "def get_weather(city: str) -> str:\n"
        "    return '18C in ' + city + ' " + scenario("plain", text="It is 18C in Paris.") + "'\n"
    )
    done = run_llm(llm_env, "-m", "grok-expert", "--functions", function, "Weather in Paris? " + scenario("tool_call"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "It is 18C in Paris."
    first, second = server.fake.requests_log("/rest/app-chat/conversations/")[-2:]
    assert first["path"] == NEW and '"name":"fn_0"' in first["body"]["customInstructions"]
    assert second["path"].endswith("/responses") and second["body"]["parentResponseId"]
    assert second["body"]["message"].startswith("<tool_result") and "18C in Paris" in second["body"]["message"]
    assert second["body"]["customInstructions"] == first["body"]["customInstructions"]
