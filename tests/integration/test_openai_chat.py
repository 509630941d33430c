"""POST /v1/chat/completions without streaming, and /v1/models, through the official openai SDK
against the app under gunicorn and the fake grok.com, on both chat lanes (REST and the mgw
WebSocket). Every response is schema-checked."""

from __future__ import annotations

import http.client
import json

import httpx2
import openai
import pytest

from app.media.services import media_request_limit
from app.settings import Settings
from tests.support.lanes import chat_requests, server, upstream_chat  # noqa: F401  (fixtures: one server per chat lane)
from tests.support.oai import oai, recorder, scenario  # noqa: F401  (fixtures)

HASH = "fakegrok-model-hash-0001"


@pytest.fixture(autouse=True)
def clean_fake(server):
    server.fake.reset()


def last_upstream(server) -> dict:
    return upstream_chat(server.fake)


def ask(oai, text, **kw):
    kw.setdefault("model", "auto")
    return oai.chat.completions.create(messages=[{"role": "user", "content": text}], **kw)


def test_plain_answer(oai, server):
    resp = ask(oai, "hello there", model="expert")
    choice = resp.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "Hello from fake grok. You said: hello there"
    assert choice.finish_reason == "stop"
    assert resp.model == "expert"
    assert resp.id.startswith("chatcmpl-")
    # grok.com names its model build on the REST lane only (modelResponse's llm_info).
    assert resp.system_fingerprint == (HASH if server.lane == "rest" else None)
    assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens


@pytest.mark.parametrize(
    "model,fields",
    [
        ("auto", {"modeId": "auto"}),
        ("fast", {"modeId": "fast"}),
        ("expert", {"modeId": "expert"}),
        ("heavy", {"modeId": "heavy"}),
        ("build", {"modeId": "build"}),  # not built in: grok.com's mode list offers it
    ],
)
def test_upstream_payload_per_model(oai, server, model, fields):
    ask(oai, "hi", model=model)
    body = last_upstream(server)
    for key, value in fields.items():
        assert body[key] == value
    if "modelMode" in fields:
        assert "modeId" not in body
    else:
        assert "modelMode" not in body
    assert "modelName" not in body
    assert body["temporary"] is True and body["disableMemory"] is True
    assert body["message"] == "hi"
    assert "customInstructions" not in body


def test_a_mode_grok_com_no_longer_offers_is_a_404(oai, server):
    server.fake.clear()
    with pytest.raises(openai.NotFoundError) as err:
        ask(oai, "hi", model="grok-43")
    assert "no longer offered by grok.com" in err.value.message
    assert chat_requests(server.fake) == []


def test_unknown_model_falls_back_to_auto_with_a_warning(oai, server):
    resp = ask(oai, "hi", model="gpt-4o")
    assert resp.model == "gpt-4o"
    assert last_upstream(server)["modeId"] == "auto"
    assert "unknown model 'gpt-4o'" in server.logs()


def test_system_and_developer_messages_become_custom_instructions(oai, server):
    oai.chat.completions.create(
        model="auto",
        messages=[
            {"role": "system", "content": "Be terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "hi"},
        ],
    )
    body = last_upstream(server)
    assert body["customInstructions"] == "Be terse.\n\nAnswer in French."
    assert body["message"] == "hi"


def test_history_is_flattened_into_one_message(oai, server):
    oai.chat.completions.create(
        model="auto",
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "answer"},
            {"role": "user", "content": "second"},
        ],
    )
    assert last_upstream(server)["message"] == "<u>first</u>\n<a>answer</a>\n<u>second</u>"


def test_reasoning_content(oai):
    resp = ask(oai, "q " + scenario("thinking"), model="expert")
    message = resp.choices[0].message
    assert message.content == "After thinking: the answer is 42."
    assert message.reasoning_content == "Let me think about this carefully."
    assert resp.usage.completion_tokens_details.reasoning_tokens > 0


def test_reasoning_as_think_tags_per_request_header(oai):
    resp = ask(oai, "q " + scenario("thinking"), extra_headers={"X-Reasoning-Output": "think_tags"})
    message = resp.choices[0].message
    assert message.content == (
        "<think>\nLet me think about this carefully.\n</think>\n\nAfter thinking: the answer is 42."
    )
    assert getattr(message, "reasoning_content", None) is None


def test_hidden_reasoning(oai):
    resp = ask(oai, "q " + scenario("thinking"), extra_headers={"X-Reasoning-Output": "hidden"})
    assert resp.choices[0].message.content == "After thinking: the answer is 42."
    assert getattr(resp.choices[0].message, "reasoning_content", None) is None


def test_invalid_reasoning_header_is_a_400(oai):
    with pytest.raises(openai.BadRequestError) as err:
        ask(oai, "q", extra_headers={"X-Reasoning-Output": "loud"})
    assert err.value.body["param"] == "X-Reasoning-Output"


def test_multi_agent_reasoning_is_labelled(oai):
    resp = ask(oai, "q " + scenario("multi_agent", agents="Grok,Harper"), model="heavy")
    lines = resp.choices[0].message.reasoning_content.splitlines()
    assert lines[0].startswith("[Grok] ") and lines[1].startswith("[Harper] ")
    assert len(lines) == 6


def test_search_citations_become_links_and_annotations(oai):
    resp = ask(oai, "q " + scenario("search"))
    message = resp.choices[0].message
    assert message.content == "According to the source, A is true[[1]](https://example.com/a). Done."
    assert "<grok:" not in message.content and "xai:" not in message.content
    [annotation] = message.annotations
    cite = annotation.url_citation
    assert message.content[cite.start_index : cite.end_index] == "[[1]](https://example.com/a)"
    assert (cite.url, cite.title) == ("https://example.com/a", "Example A")


def test_generated_images_are_markdown_images(oai, server):
    resp = ask(oai, "draw a cat " + scenario("image", count=2))
    content = resp.choices[0].message.content
    assert content.startswith("Here are your images: ")
    assert content.count(f"![image]({server.url}/v1/assets/users/") == 2  # signed links to the proxy
    assert "assets.grok.com" not in content and "<grok:render" not in content
    resp = ask(oai, "draw a dog " + scenario("image", count=2, moderated=1))
    assert resp.choices[0].message.content.count("![image](") == 1
    assert resp.choices[0].message.content.count("withheld by grok.com's moderation") == 1


def test_artifact_code_is_fenced(oai):
    resp = ask(oai, "code " + scenario("artifact", content="print(1)\n"))
    assert resp.choices[0].message.content == "Here is the code: \n```python\nprint(1)\n```\n"


def test_stop_sequence_cuts_the_answer_and_aborts_upstream(oai, server):
    resp = ask(oai, "go " + scenario("slow", n=40, delay=0.05), stop=["s3 "])
    assert resp.choices[0].message.content == "s0 s1 s2 "
    assert resp.choices[0].finish_reason == "stop"
    server.fake.wait_stats(lambda s: s["streams_aborted"] == 1)


def test_max_tokens_cuts_with_length_and_aborts_upstream(oai, server):
    resp = ask(oai, "go " + scenario("slow", n=40, delay=0.05), max_tokens=4)
    assert resp.choices[0].finish_reason == "length"
    assert resp.choices[0].message.content.startswith("s0 s1")
    assert resp.usage.completion_tokens <= 4
    server.fake.wait_stats(lambda s: s["streams_aborted"] == 1)
    resp = ask(oai, "hi", max_completion_tokens=1000)
    assert resp.choices[0].finish_reason == "stop"


def test_json_object_response_format(oai, server):
    fenced = '```json\n{"city": "Paris", "temp_c": 18}\n```'
    resp = ask(oai, "weather " + scenario("plain", text=fenced), response_format={"type": "json_object"})
    assert json.loads(resp.choices[0].message.content) == {"city": "Paris", "temp_c": 18}
    assert "valid JSON object" in last_upstream(server)["customInstructions"]


def test_json_schema_response_format(oai, server):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    resp = ask(
        oai,
        "count " + scenario("plain", text='{"n": 3}'),
        response_format={"type": "json_schema", "json_schema": {"name": "count", "schema": schema}},
    )
    assert resp.choices[0].message.content == '{"n": 3}'
    instructions = last_upstream(server)["customInstructions"]
    assert '"count"' in instructions and json.dumps(schema, separators=(",", ":")) in instructions


def test_non_json_answer_in_json_mode_is_returned_with_a_warning(oai, server):
    resp = ask(oai, "x " + scenario("plain", text="Sorry, no."), response_format={"type": "json_object"})
    assert resp.choices[0].message.content == "Sorry, no."
    assert "not JSON" in server.logs()


def test_empty_answer_has_null_content(oai, recorder):
    resp = ask(oai, "x " + scenario("empty_answer"))
    assert resp.choices[0].message.content is None
    raw = recorder.exchanges[-1].json["choices"][0]["message"]
    assert "content" in raw and raw["content"] is None


def test_user_is_logged(oai, server):
    ask(oai, "hi", user="alice-42")
    assert "user=alice-42" in server.logs()


def test_ignored_parameters_are_accepted(oai):
    resp = ask(
        oai,
        "hi",
        temperature=0.2,
        top_p=0.9,
        seed=7,
        presence_penalty=0.1,
        frequency_penalty=0.1,
        logit_bias={"50256": -100},
        logprobs=True,
        top_logprobs=2,
        metadata={"k": "v"},
        store=False,
        service_tier="auto",
        reasoning_effort="high",
        verbosity="low",
        n=1,
        parallel_tool_calls=True,
        prompt_cache_key="k",
        safety_identifier="s",
        web_search_options={},
        extra_body={"some_future_field": {"x": 1}},
    )
    assert resp.choices[0].finish_reason == "stop"


# -- errors --------------------------------------------------------------------------------------
def test_inband_error_is_a_502_with_grok_message(oai):
    with pytest.raises(openai.APIStatusError) as err:
        ask(oai, "x " + scenario("inband_error", code=13, message="Something broke upstream"))
    assert err.value.status_code == 502
    assert err.value.body["code"] == "upstream_error"
    assert "Something broke upstream" in err.value.message


def test_usage_limit_is_a_429(oai):
    with pytest.raises(openai.RateLimitError) as err:
        ask(oai, "x " + scenario("usage_limit"))
    assert "usage limit" in err.value.message


def test_upstream_rate_limit_is_a_429_with_retry_after(oai):
    with pytest.raises(openai.RateLimitError) as err:
        ask(oai, "x " + scenario("rate_limited", retry_after=30))
    assert err.value.response.headers["retry-after"] == "30"


def test_expired_session_is_a_503(oai):
    with pytest.raises(openai.InternalServerError) as err:
        ask(oai, "x " + scenario("expired"))
    assert err.value.status_code == 503 and err.value.body["code"] == "auth_expired"


def test_anti_bot_is_a_403_with_re_extraction_advice(oai):
    with pytest.raises(openai.PermissionDeniedError) as err:
        ask(oai, "x " + scenario("anti_bot"))
    assert err.value.body["code"] == "anti_bot"
    assert "CHALLENGE_" in err.value.message and "/setup" in err.value.message


def test_upstream_server_error_is_a_502(oai):
    with pytest.raises(openai.APIStatusError) as err:
        ask(oai, "x " + scenario("server_error", status=500))
    assert err.value.status_code == 502


def test_n_greater_than_one_is_refused_with_the_reason(oai):
    with pytest.raises(openai.BadRequestError) as err:
        ask(oai, "hi", n=2)
    assert err.value.body["param"] == "n" and "one answer per request" in err.value.message


def test_invalid_fields_are_named_in_a_400_like_openai(oai):
    # OpenAI answers 400 invalid_request_error; the SDKs raise BadRequestError for it.
    with pytest.raises(openai.BadRequestError) as err:
        oai.chat.completions.create(model="auto", messages=[{"role": "robot", "content": "hi"}])
    assert err.value.body["param"] == "messages[0].role" and err.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as err:
        ask(oai, "hi", temperature="hot")
    assert err.value.body["param"] == "temperature"
    with pytest.raises(openai.BadRequestError) as err:
        oai.chat.completions.create(model="auto", messages=[])
    assert err.value.body["param"] == "messages"


def test_a_conversation_of_system_messages_alone_is_answered(oai, server):
    resp = oai.chat.completions.create(model="auto", messages=[{"role": "system", "content": "Write a haiku."}])
    assert resp.choices[0].message.content == "Hello from fake grok. You said: Write a haiku."
    assert last_upstream(server)["message"] == "Write a haiku."


def test_an_image_part_that_cannot_be_used_is_a_400_naming_it(oai):
    with pytest.raises(openai.BadRequestError) as err:
        oai.chat.completions.create(
            model="auto",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {"type": "image_url", "image_url": {"url": "http://127.0.0.1:9/cat.png"}},
                    ],
                }
            ],
        )
    assert err.value.body["param"] == "messages[0].content[1]"
    assert "loopback" in err.value.message


def test_malformed_json_and_wrong_content_type(server, recorder):
    from tests.support.oai import RecordingTransport

    with httpx2.Client(transport=RecordingTransport(recorder), base_url=server.url) as http:
        resp = http.post(
            "/v1/chat/completions", content=b'{"messages": [', headers={"content-type": "application/json"}
        )
        assert resp.status_code == 400
        assert resp.headers["content-type"] == "application/problem+json"
        resp = http.post(
            "/v1/chat/completions",
            content=b"messages=hi",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert resp.status_code == 415
        resp = http.get("/v1/chat/completions")
        assert resp.status_code == 200 and resp.json()["example"]["model"] == "auto"


# -- models --------------------------------------------------------------------------------------
def test_models_list_and_get(oai):
    # The account's modes as grok.com lists them (the fake's list: heavy needs another plan).
    models = {m.id: m for m in oai.models.list()}
    assert list(models) == ["auto", "fast", "expert", "heavy", "build"]
    assert models["heavy"].available is False and models["fast"].available is True
    assert models["build"].beta is True
    model = oai.models.retrieve("heavy")
    assert model.owned_by == "xai" and model.created == 1720000000
    assert model.description == "Team of experts"


def test_unknown_model_is_a_404_problem(oai, recorder):
    with pytest.raises(openai.NotFoundError) as err:
        oai.models.retrieve("gpt-4")
    assert "Model 'gpt-4' not found" in err.value.message
    assert recorder.exchanges[-1].headers["content-type"] == "application/problem+json"


def test_body_over_the_limit_is_a_413(oai, server):
    # The limit makes room for MAX_REQUEST_MEDIA_BYTES of base64 images (~87 MiB by default):
    # announce a longer body and send only its start; the 413 comes from the Content-Length.
    limit = media_request_limit(Settings.from_mapping({}))
    conn = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=10)
    conn.putrequest("POST", "/v1/chat/completions")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(limit + 1))
    conn.endheaders(b'{"model": "auto", "messages": [')
    resp = conn.getresponse()
    body = json.loads(resp.read())
    conn.close()
    assert resp.status == 413 and body["type"] == "payload_too_large"
    assert body["limit_bytes"] == limit


def test_inband_anti_bot_error_keeps_its_meaning(oai):
    with pytest.raises(openai.PermissionDeniedError) as err:
        ask(oai, "x " + scenario("inband_error", code=7, message="Request rejected by anti-bot rules."))
    assert err.value.body["code"] == "anti_bot"


def test_dropped_upstream_without_streaming_is_a_502(oai):
    with pytest.raises(openai.APIStatusError) as err:
        ask(oai, "x " + scenario("drop"))
    assert err.value.status_code == 502 and err.value.body["code"] == "upstream_error"
