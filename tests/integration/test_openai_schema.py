"""Schema conformance: what /v1/chat/completions and /v1/models send validates against
OpenAI's published schemas (tests/data/openai-chat-schemas.json).

Every integration test that uses the `oai`/`recorder` fixtures is already checked
(tests/support/oai.py validates each body, chunk and error as it arrives and fails the
test on a violation). This module makes sure the checker itself can fail, and drives
one request of every kind so that each schema is exercised at least once.
"""

from __future__ import annotations

import httpx2
import openai
import pytest

from tests.support.oai import (  # noqa: F401
    CHUNK,
    ERROR,
    MODEL,
    MODEL_LIST,
    RESPONSE,
    Recorder,
    RecordingTransport,
    oai,
    recorder,
    scenario,
    schema_errors,
)

VALID_RESPONSE = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "auto",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hi", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
}
VALID_CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "auto",
    "choices": [{"index": 0, "delta": {"content": "h"}, "finish_reason": None}],
}


def test_valid_examples_pass():
    assert schema_errors(RESPONSE, VALID_RESPONSE) == []
    assert schema_errors(CHUNK, VALID_CHUNK) == []  # `nullable` finish_reason accepts null
    assert schema_errors(ERROR, {"error": {"message": "m", "type": "t", "param": None, "code": None}}) == []


@pytest.mark.parametrize(
    "name,instance",
    [
        (RESPONSE, {**VALID_RESPONSE, "choices": [{**VALID_RESPONSE["choices"][0], "finish_reason": "done"}]}),
        (
            RESPONSE,
            {
                **VALID_RESPONSE,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "x"},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
            },
        ),  # no refusal
        (RESPONSE, {k: v for k, v in VALID_RESPONSE.items() if k != "created"}),
        (CHUNK, {**VALID_CHUNK, "object": "chat.completion"}),
        (
            CHUNK,
            {**VALID_CHUNK, "choices": [{"index": 0, "delta": {"tool_calls": [{"id": "c"}]}, "finish_reason": None}]},
        ),
        (ERROR, {"error": {"message": "m", "type": "t"}}),  # param and code are required
        (MODEL, {"id": "auto", "object": "model", "owned_by": "xai"}),
        (MODEL_LIST, {"object": "list"}),
    ],
)
def test_invalid_examples_fail(name, instance):
    assert schema_errors(name, instance)


def test_every_kind_of_output_is_validated(oai, recorder, server):
    server.fake.reset()
    oai.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    list(
        oai.chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": "q " + scenario("thinking")}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    list(
        oai.chat.completions.create(
            model="auto",
            tools=[weather],
            stream=True,
            messages=[{"role": "user", "content": "w " + scenario("tool_call")}],
        )
    )
    oai.chat.completions.create(
        model="auto", tools=[weather], messages=[{"role": "user", "content": "w " + scenario("tool_call")}]
    )
    with pytest.raises(openai.APIError):
        list(
            oai.chat.completions.create(
                model="auto",
                stream=True,
                messages=[{"role": "user", "content": "x " + scenario("inband_error", code=13)}],
            )
        )
    with pytest.raises(openai.RateLimitError):
        oai.chat.completions.create(model="auto", messages=[{"role": "user", "content": scenario("rate_limited")}])
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model="auto", messages=[{"role": "nobody", "content": "x"}])
    oai.models.list()
    oai.models.retrieve("auto")
    with pytest.raises(openai.NotFoundError):
        oai.models.retrieve("nope")
    with httpx2.Client(transport=RecordingTransport(recorder), base_url=server.url) as http:
        http.post("/v1/chat/completions", content=b"{", headers={"content-type": "application/json"})
    assert recorder.validated[RESPONSE] >= 2
    assert recorder.validated[CHUNK] >= 8
    assert recorder.validated[ERROR] >= 5  # one of them an in-stream error event
    assert recorder.validated[MODEL_LIST] == 1 and recorder.validated[MODEL] == 1


def test_the_recorder_reports_a_broken_stream():
    rec = Recorder()
    from tests.support.oai import Exchange

    body = (
        b'data: {"id":"a","object":"chat.completion.chunk","created":1,"model":"m",'
        b'"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}\n\n'
    )
    exchange = Exchange("POST", "/v1/chat/completions", 200, {"content-type": "text/event-stream"}, body, complete=True)
    rec.record(exchange)
    assert any("first chunk does not carry the role" in v for v in rec.violations)
    assert any("without [DONE] or an error" in v for v in rec.violations)
