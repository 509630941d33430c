"""POST /v1/chat/completions with `stream: true` through the official openai SDK against the
app under gunicorn and the fake grok.com, on both chat lanes: chunk shapes, reasoning,
usage, stop/length, errors before and after the first byte, heartbeats, idle and dropped
upstreams, and a client that goes away. Every chunk and error event is schema-checked."""

from __future__ import annotations

import json
import time
import urllib.request

import openai
import pytest

from tests.support.gunicorn import GunicornServer, app_env
from tests.support.lanes import LANES, server  # noqa: F401  (fixtures: one server per chat lane)
from tests.support.oai import client, oai, recorder, scenario  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("clean_fake")


@pytest.fixture(scope="module", params=LANES)
def quick_server(request, fake_module):
    """Heartbeats every 0.3 s and a 1.5 s upstream idle timeout."""
    env = app_env(fake_module, HEARTBEAT_SECS="0.3", STREAM_IDLE_TIMEOUT_SECS="1.5", GROK_CHAT_LANE=request.param)
    with GunicornServer(env) as srv:
        yield srv


def stream(oai, text, **kw):
    kw.setdefault("model", "auto")
    return oai.chat.completions.create(messages=[{"role": "user", "content": text}], stream=True, **kw)


def collect(chunks):
    content, reasoning, finish = [], [], None
    for chunk in chunks:
        for choice in chunk.choices:
            if choice.delta.content:
                content.append(choice.delta.content)
            if getattr(choice.delta, "reasoning_content", None):
                reasoning.append(choice.delta.reasoning_content)
            if choice.finish_reason:
                finish = choice.finish_reason
    return "".join(content), "".join(reasoning), finish


def test_chunk_sequence(oai, recorder, server):
    chunks = list(stream(oai, "hello there", model="fast"))
    content, _, finish = collect(chunks)
    assert content == "Hello from fake grok. You said: hello there"
    assert finish == "stop"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].choices[0].delta.content is None
    assert all(c.finish_reason is None for chunk in chunks[:-1] for c in chunk.choices)
    assert {c.id for c in chunks} == {chunks[0].id} and all(c.model == "fast" for c in chunks)
    # grok.com names its model build on the REST lane only (modelResponse's llm_info).
    expected = "fakegrok-model-hash-0001" if server.lane == "rest" else None
    assert chunks[-1].system_fingerprint == expected
    exchange = recorder.exchanges[-1]
    assert exchange.headers["content-type"].startswith("text/event-stream")
    assert exchange.headers["cache-control"] == "no-cache"
    assert exchange.headers["x-accel-buffering"] == "no"
    assert exchange.data[-1] == "[DONE]"
    assert len(exchange.chunks) >= 4  # role, several content deltas, finish


def test_reasoning_deltas_come_before_the_content(oai, recorder):
    content, reasoning, _ = collect(stream(oai, "q " + scenario("thinking"), model="expert"))
    assert reasoning == "Let me think about this carefully."
    assert content == "After thinking: the answer is 42."
    deltas = [c["choices"][0]["delta"] for c in recorder.exchanges[-1].chunks if c["choices"]]
    kinds = [("r" if "reasoning_content" in d else "c") for d in deltas if "reasoning_content" in d or d.get("content")]
    assert kinds == sorted(kinds, reverse=True)  # every r before every c


def test_think_tags_in_a_stream(oai):
    content, reasoning, _ = collect(
        stream(oai, "q " + scenario("thinking"), extra_headers={"X-Reasoning-Output": "think_tags"})
    )
    assert reasoning == ""
    assert content.startswith("<think>\nLet me think") and content.endswith(
        "</think>\n\nAfter thinking: the answer is 42."
    )


def test_multi_agent_labels_in_a_stream(oai):
    _, reasoning, _ = collect(stream(oai, "q " + scenario("multi_agent"), model="heavy"))
    assert [line.split("]")[0] + "]" for line in reasoning.splitlines()] == ["[Grok]", "[Harper]"] * 3


def test_include_usage_sends_a_final_usage_chunk(oai, recorder):
    chunks = list(stream(oai, "hi", stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last.choices == [] and last.usage.total_tokens > 0
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    chunks = list(stream(oai, "hi"))
    assert all(c.usage is None for c in chunks)


def test_stop_sequence_in_a_stream_aborts_upstream(oai, server):
    content, _, finish = collect(stream(oai, "go " + scenario("slow", n=40, delay=0.05), stop="s2"))
    assert content == "s0 s1 " and finish == "stop"
    server.fake.wait_stats(lambda s: s["streams_aborted"] == 1)


def test_max_tokens_in_a_stream(oai, server):
    content, _, finish = collect(stream(oai, "go " + scenario("slow", n=40, delay=0.05), max_tokens=3))
    assert finish == "length" and content.startswith("s0")
    server.fake.wait_stats(lambda s: s["streams_aborted"] == 1)


def test_citations_in_a_stream(oai, recorder):
    content, _, _ = collect(stream(oai, "q " + scenario("search")))
    assert content == "According to the source, A is true[[1]](https://example.com/a). Done."
    [with_annotation] = [
        c for c in recorder.exchanges[-1].chunks if c["choices"] and c["choices"][0]["delta"].get("annotations")
    ]
    cite = with_annotation["choices"][0]["delta"]["annotations"][0]["url_citation"]
    assert content[cite["start_index"] : cite["end_index"]] == "[[1]](https://example.com/a)"


def test_images_in_a_stream(oai, server):
    content, _, _ = collect(stream(oai, "draw " + scenario("image", count=2)))
    assert content.count(f"![image]({server.url}/v1/assets/") == 2


def test_json_mode_in_a_stream(oai):
    content, _, _ = collect(
        stream(
            oai, "x " + scenario("plain", text='```json\n{"a": [1, 2]}\n```'), response_format={"type": "json_object"}
        )
    )
    assert content == '{"a": [1, 2]}'


# -- failures before the first byte: HTTP errors -----------------------------------------------------
def test_usage_limit_before_any_output_is_a_429(oai, recorder):
    with pytest.raises(openai.RateLimitError):
        stream(oai, "x " + scenario("usage_limit"))
    assert recorder.exchanges[-1].headers["content-type"] == "application/problem+json"


def test_rate_limited_stream_is_a_429_with_retry_after(oai):
    with pytest.raises(openai.RateLimitError) as err:
        stream(oai, "x " + scenario("rate_limited", retry_after=12))
    assert err.value.response.headers["retry-after"] == "12"


@pytest.mark.parametrize(
    "name,status,code",
    [
        ("expired", 503, "auth_expired"),
        ("anti_bot", 403, "anti_bot"),
        ("server_error", 502, "upstream_error"),
    ],
)
def test_upstream_http_errors_before_the_stream(oai, name, status, code):
    with pytest.raises(openai.APIStatusError) as err:
        stream(oai, "x " + scenario(name))
    assert err.value.status_code == status and err.value.body["code"] == code


# -- failures after the first byte: an error event, never a clean stop -------------------------------
def assert_error_ended(exchange):
    assert "error" in exchange.data[-1]
    assert "[DONE]" not in exchange.data
    assert not any(c["choices"] and c["choices"][0]["finish_reason"] for c in exchange.chunks)


def test_inband_error_mid_stream_raises_api_error(oai, recorder):
    chunks = []
    with pytest.raises(openai.APIError) as err:
        for chunk in stream(oai, "x " + scenario("inband_error", code=13, message="model crashed")):
            chunks.append(chunk)
    assert "model crashed" in err.value.message
    assert collect(chunks)[0] == "Partial answer then "
    assert_error_ended(recorder.exchanges[-1])


def test_dropped_upstream_mid_stream_raises_api_error(oai, recorder):
    with pytest.raises(openai.APIError) as err:
        list(stream(oai, "x " + scenario("drop")))
    assert_error_ended(recorder.exchanges[-1])
    assert err.value.body["code"] == "upstream_error"


def test_idle_upstream_is_reported_within_the_idle_timeout(quick_server, recorder):
    with client(quick_server.url, recorder) as sdk:
        started = time.monotonic()
        with pytest.raises(openai.APIError) as err:
            list(stream(sdk, "x " + scenario("idle", gap=60)))
        elapsed = time.monotonic() - started
    assert elapsed < 10
    assert err.value.body["code"] == "gateway_timeout"
    exchange = recorder.exchanges[-1]
    assert_error_ended(exchange)
    assert exchange.comments.count("keep-alive") >= 2


def test_heartbeat_comments_during_upstream_silence(quick_server, recorder):
    with client(quick_server.url, recorder) as sdk:
        content, _, finish = collect(stream(sdk, "x " + scenario("first_token_delay", delay=1.2, text="late")))
    assert content == "late" and finish == "stop"
    exchange = recorder.exchanges[-1]
    assert exchange.comments.count("keep-alive") >= 2
    first_data = next(i for i, (kind, _) in enumerate(exchange.sse) if kind == "data")
    assert first_data == 0  # the role chunk comes first, the heartbeats after it


def test_client_going_away_aborts_upstream(oai, server):
    chunks = stream(oai, "go " + scenario("slow", n=200, delay=0.05))
    for i, _ in enumerate(chunks):
        if i == 3:
            break
    chunks.close()
    gone = time.time()
    stats = server.fake.wait_stats(lambda s: s["streams_aborted"] == 1, timeout=5)
    assert stats["last_abort_time"] - gone < 1.0
    assert stats["aborts"][0]["lines_sent"] < 100


@pytest.mark.parametrize("streamed", [True, False])
def test_upstream_headers_too_late_is_a_504(quick_server, recorder, streamed):
    with client(quick_server.url, recorder) as sdk:
        with pytest.raises(openai.APIStatusError) as err:
            sdk.chat.completions.create(
                model="auto",
                stream=streamed,
                messages=[{"role": "user", "content": "x " + scenario("slow_headers", delay=4)}],
            )
    assert err.value.status_code == 504 and err.value.body["code"] == "gateway_timeout"


def test_status_counts_an_openai_stream_once(oai, server):
    def status():
        return json.loads(urllib.request.urlopen(server.url + "/status", timeout=10).read())

    before = status()["streams_started"]
    chunks = stream(oai, "hi #scenario:slow?n=20&delay=0.1")
    next(iter(chunks))
    during = status()
    assert during["active_streams"] == 1 and during["streams_started"] == before + 1
    collect(chunks)
    deadline = time.monotonic() + 5
    while (after := status())["active_streams"] != 0:
        assert time.monotonic() < deadline, after
        time.sleep(0.02)
    assert after["streams_started"] == before + 1
