"""Unit tests for app.grok.events (NDJSON -> typed events)."""

from __future__ import annotations

import json

import pytest

from app.grok.events import (
    DEFAULT_MAX_LINE_BYTES,
    Card,
    ConversationCreated,
    Done,
    Event,
    ImageGenerated,
    ImageProgress,
    Metadata,
    ModelResponse,
    NDJSONDecoder,
    ParseError,
    ReasoningToken,
    ResponseIds,
    SearchResults,
    Title,
    Token,
    ToolUsage,
    UpstreamError,
    VideoGenerated,
    iter_events,
)


def parse(line: str | bytes) -> list[Event]:
    return NDJSONDecoder().parse_line(line)


def stream(*chunks: bytes, **kwargs) -> list[Event]:
    return list(iter_events(chunks, **kwargs))


# ---------------------------------------------------------------------------
# lines as grok.com sends them (docs/grok-protocol.md: answer streams)
# ---------------------------------------------------------------------------

WIRE_LINES = r"""
{"result":{"conversation":{"conversationId":"conv_1"}}}
{"result":{"response":{"token":"thinking ","isThinking":true,"messageTag":"analysis"}}}
{"result":{"response":{"token":"hello","isThinking":false,"messageTag":"final","webSearchResults":{"results":[{"url":"https://example.com"}]}}}}
{"result":{"response":{"userResponse":{"responseId":"up_1"}}}}
{"result":{"response":{"token":"<grok:render card_id=\"x1Xyo\" card_type=\"generated_image_card\" type=\"render_file\"><argument name=\"file_path\">/home/workdir/artifacts/imagine_images/cat.jpg</argument></grok:render>","isThinking":false,"messageTag":"final"}}}
{"result":{"response":{"cardAttachment":{"jsonData":"{\"id\":\"x1Xyo\",\"type\":\"render_file\",\"cardType\":\"generated_image_card\",\"image_chunk\":{\"imageUuid\":\"image_1\",\"imageUrl\":\"users/user_1/generated/cat/image.jpg\",\"progress\":100,\"moderated\":false}}"},"messageTag":"final"}}}
{"result":{"response":{"streamingImageGenerationResponse":{"imageUrl":"users/test/generated/id-part-0/image.jpg","progress":50}}}}
{"result":{"response":{"streamingImageGenerationResponse":{"imageUrl":"users/test/generated/id/image.jpg","progress":100}}}}
{"result":{"response":{"streamingImageGenerationResponse":{"imageUrl":"users/test/generated/moderated/image.jpg","progress":100,"moderated":true}}}}
{"result":{"response":{"modelResponse":{"generatedImageUrls":["users/test/generated/id/image.jpg"]}}}}
{"result":{"response":{"streamingVideoGenerationResponse":{"videoId":"video_1","progress":100,"assetId":"video_1","videoPostId":"post_1","videoUrl":"users/user_1/generated/video_1/generated_video.mp4","thumbnailImageUrl":"users/user_1/generated/video_1/preview_image.jpg","moderated":false}}}}
{"result":{"response":{"token":"I generated a video","isSoftStop":true}}}
{"result":{"response":{"error":{"message":"You've reached your usage limit. Please try again later."},"cardAttachment":{"jsonData":"{\"image_chunk\":{\"progress\":100,\"systemErrCode\":\"rate_limit\"}}"}}}}
""".strip().splitlines()

ISSUE_498_LINES = r"""
{"result":{"response":{"uiLayout":{"reasoningUiLayout":"FUNCTION_CALL","willThinkLong":false,"effort":"LOW","steerModelId":"grok-4","rolloutIds":[]},"isThinking":false,"isSoftStop":false,"responseId":"2d9c0f5e-7b1d-4fd7-9d65-8c84c2fc9420"}}}
{"result":{"response":{"error":{"message":"Stream aborted by server or connection error: Status { code: ResourceExhausted, message: \"Admission denied by perf_based_admission_controller: …\" } (is_first_token: true)","modelNotAvailable":{},"severity":"STREAM_ERROR_SEVERITY_NORMAL"},"isThinking":false,"isSoftStop":false,"responseId":"2d9c0f5e-…"}}}
""".strip().splitlines()

RENDER_TOKEN = (
    '<grok:render card_id="x1Xyo" card_type="generated_image_card" type="render_file">'
    '<argument name="file_path">/home/workdir/artifacts/imagine_images/cat.jpg</argument>'
    "</grok:render>"
)
CAT_CARD = {
    "id": "x1Xyo",
    "type": "render_file",
    "cardType": "generated_image_card",
    "image_chunk": {
        "imageUuid": "image_1",
        "imageUrl": "users/user_1/generated/cat/image.jpg",
        "progress": 100,
        "moderated": False,
    },
}
VIDEO = {
    "videoId": "video_1",
    "progress": 100,
    "assetId": "video_1",
    "videoPostId": "post_1",
    "videoUrl": "users/user_1/generated/video_1/generated_video.mp4",
    "thumbnailImageUrl": "users/user_1/generated/video_1/preview_image.jpg",
    "moderated": False,
}
USAGE_LIMIT = "You've reached your usage limit. Please try again later."

WIRE_EXPECTED = [
    [ConversationCreated("conv_1")],
    [ReasoningToken("thinking ")],
    [
        Token("hello"),
        SearchResults("web", [{"url": "https://example.com", "title": "", "snippet": ""}], False),
    ],
    [ResponseIds(None, "up_1")],
    [Token(RENDER_TOKEN)],
    [
        Card("x1Xyo", "generated_image_card", CAT_CARD),
        ImageGenerated("users/user_1/generated/cat/image.jpg", "image_1", False),
    ],
    [ImageProgress(None, "users/test/generated/id-part-0/image.jpg", 50, None)],
    [ImageGenerated("users/test/generated/id/image.jpg", None, False)],
    [ImageGenerated("users/test/generated/moderated/image.jpg", None, True)],
    [
        ImageGenerated("users/test/generated/id/image.jpg"),
        ModelResponse(None, None, None, {"generatedImageUrls": ["users/test/generated/id/image.jpg"]}),
    ],
    [VideoGenerated("users/user_1/generated/video_1/generated_video.mp4", 100, VIDEO)],
    [Token("I generated a video", soft_stop=True)],
    [
        UpstreamError(USAGE_LIMIT, None, None, {"message": USAGE_LIMIT}),
        Card(None, None, {"image_chunk": {"progress": 100, "systemErrCode": "rate_limit"}}),
    ],
]


@pytest.mark.parametrize("index", range(len(WIRE_LINES)))
def test_wire_example_line(index):
    assert parse(WIRE_LINES[index]) == WIRE_EXPECTED[index]


def test_wire_examples_as_one_stream_in_small_chunks():
    body = ("\n".join(WIRE_LINES) + "\n").encode()
    chunks = [body[i : i + 7] for i in range(0, len(body), 7)]
    expected = [event for line_events in WIRE_EXPECTED for event in line_events]
    assert stream(*chunks) == expected


def test_issue_498_first_frame_and_in_band_error():
    decoder = NDJSONDecoder()
    first = decoder.parse_line(ISSUE_498_LINES[0])
    assert first == [
        ResponseIds("2d9c0f5e-7b1d-4fd7-9d65-8c84c2fc9420"),
        Metadata(
            "ui_layout",
            {
                "reasoningUiLayout": "FUNCTION_CALL",
                "willThinkLong": False,
                "effort": "LOW",
                "steerModelId": "grok-4",
                "rolloutIds": [],
            },
        ),
    ]
    second = decoder.parse_line(ISSUE_498_LINES[1])
    raw_error = json.loads(ISSUE_498_LINES[1])["result"]["response"]["error"]
    assert second == [
        UpstreamError(raw_error["message"], None, "STREAM_ERROR_SEVERITY_NORMAL", raw_error),
        ResponseIds("2d9c0f5e-…"),
    ]
    assert second[0].message.startswith("Stream aborted by server")


# ---------------------------------------------------------------------------
# the reference implementation's parser tests 16-28, and its sample lines
# ---------------------------------------------------------------------------


def test_ref16_token_chunk():
    line = '{"result":{"token":"hi","isThinking":false,"isSoftStop":false}}'
    assert parse(line) == [Token("hi", soft_stop=False)]


def test_ref17_thinking_token():
    line = '{"result":{"response":{"token":"pondering","isThinking":true}}}'
    assert parse(line) == [ReasoningToken("pondering", None, None)]


def test_ref18_empty_soft_stop_is_done():
    assert parse('{"result":{"response":{"token":"","isSoftStop":true}}}') == [Done()]
    # regardless of isThinking
    line = '{"result":{"response":{"token":"","isSoftStop":true,"isThinking":true}}}'
    assert parse(line) == [Done()]


def test_ref19_nested_response_token():
    assert parse('{"result":{"response":{"token":"hi"}}}') == [Token("hi")]


def test_ref20_conversation_id():
    line = '{"result":{"conversation":{"conversationId":"abc-123"}}}'
    assert parse(line) == [ConversationCreated("abc-123", None)]


def test_conversation_title_is_carried():
    line = '{"result":{"conversation":{"conversationId":"c","title":"New conversation"}}}'
    assert parse(line) == [ConversationCreated("c", "New conversation")]


def test_ref21_error_propagated():
    assert parse('{"error":{"message":"boom"}}') == [UpstreamError("boom", None, None, {"message": "boom"})]


def test_top_level_error_code_copied():
    line = '{"error":{"code":7,"message":"Request rejected by anti-bot rules.","details":[]}}'
    assert parse(line) == [
        UpstreamError(
            "Request rejected by anti-bot rules.",
            7,
            None,
            {"code": 7, "message": "Request rejected by anti-bot rules.", "details": []},
        )
    ]


def test_ref22_invalid_json():
    events = parse("not json")
    assert len(events) == 1
    assert isinstance(events[0], ParseError)
    assert events[0].excerpt == "not json"
    assert events[0].message.startswith("invalid JSON")


def test_ref23_empty_object_yields_nothing():
    assert parse("{}") == []


def test_ref24_split_chunks():
    a = b'{"result":{"response":{"token":"hel'
    b = b'lo"}}}\n{"result":{"response":{"token":"world"}}}\n'
    assert stream(a, b) == [Token("hello"), Token("world")]


def test_ref25_blank_lines():
    body = b"\n\n   \r\n" + b'{"result":{"token":"x"}}' + b"\r\n\n \t\n"
    assert stream(body) == [Token("x")]


def test_ref26_trailing_line_without_newline():
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"result":{"token":"a"}}\n{"result":{"token":"b"}}') == [Token("a")]
    assert decoder.finish() == [Token("b")]
    assert decoder.finish() == []


def test_ref27_oversize_line_small_limit():
    decoder = NDJSONDecoder(max_line_bytes=10)
    assert decoder.feed(b'{"result":') == []  # exactly 10 bytes: not over
    events = decoder.feed(b"x")
    assert events == [ParseError("line exceeds 10 bytes limit", '{"result":x')]
    assert decoder.overflowed is True
    # the stream is unusable afterwards
    assert decoder.feed(b'\n{"result":{"token":"a"}}\n') == []
    assert decoder.finish() == []


def test_oversize_complete_line_in_one_chunk_also_overflows():
    decoder = NDJSONDecoder(max_line_bytes=30)
    body = b'{"result":{"token":"a"}}\n' + b"y" * 31 + b'\n{"result":{"token":"b"}}\n'
    events = decoder.feed(body)
    assert events == [Token("a"), ParseError("line exceeds 30 bytes limit", "y" * 31)]
    assert decoder.overflowed


def test_line_exactly_at_limit_is_parsed():
    line = b'{"result":{"token":"a"}}'
    assert stream(line + b"\n", max_line_bytes=len(line)) == [Token("a")]
    assert stream(line, max_line_bytes=len(line)) == [Token("a")]


def test_ref27_oversize_line_real_16_mib():
    assert DEFAULT_MAX_LINE_BYTES == 16 * 1024 * 1024
    decoder = NDJSONDecoder()
    block = b"a" * (1024 * 1024)
    for _ in range(16):
        assert decoder.feed(block) == []
    assert not decoder.overflowed
    events = decoder.feed(b"a")
    assert events == [ParseError("line exceeds 16 MiB limit", "a" * 200)]
    assert decoder.overflowed
    assert decoder.finish() == []


def test_iter_events_stops_after_overflow():
    chunks = [b'{"result":{"token":"a"}}\n', b"z" * 50, b'\n{"result":{"token":"b"}}\n']
    events = stream(*chunks, max_line_bytes=40)
    assert events == [Token("a"), ParseError("line exceeds 40 bytes limit", "z" * 50)]


def test_ref28_utf8_emoji_split_across_chunks():
    body = '{"result":{"token":"hi 😀!"}}\n'.encode()
    cut = body.index("😀".encode()) + 2  # inside the 4-byte sequence
    decoder = NDJSONDecoder()
    assert decoder.feed(body[:cut]) == []
    assert decoder.feed(body[cut:]) == [Token("hi 😀!")]


def test_reference_section_4_2_lines():
    body = b"\n".join(
        [
            b'{"result":{"conversation":{"conversationId":"abc-123"}}}',
            b'{"result":{"response":{"token":"Hel","isThinking":false,"isSoftStop":false}}}',
            b'{"result":{"token":"lo","isThinking":false,"isSoftStop":false}}',
            b'{"result":{"response":{"token":"pondering","isThinking":true}}}',
            b'{"result":{"response":{"token":"","isSoftStop":true}}}',
            b'{"error":{"message":"boom"}}',
        ]
    )
    assert stream(body) == [
        ConversationCreated("abc-123"),
        Token("Hel"),
        Token("lo"),
        ReasoningToken("pondering"),
        Done(),
        UpstreamError("boom", None, None, {"message": "boom"}),
    ]


# ---------------------------------------------------------------------------
# continuation framing, tags, reasoning
# ---------------------------------------------------------------------------


def test_continuation_framing_token_and_model_response():
    decoder = NDJSONDecoder()
    assert decoder.parse_line(
        '{"result":{"userResponse":{"responseId":"u1","message":"hi","sender":"human"},"responseId":"u1"}}'
    ) == [ResponseIds(None, "u1")]
    assert decoder.parse_line(
        '{"result":{"token":"Hi","isThinking":false,"responseId":"m1","messageTag":"final"}}'
    ) == [ResponseIds("m1", None), Token("Hi")]
    model = {
        "responseId": "m1",
        "message": "Hi there",
        "sender": "ASSISTANT",
        "metadata": {"llm_info": {"modelHash": "h123"}},
    }
    line = json.dumps({"result": {"modelResponse": model}})
    assert decoder.parse_line(line) == [ModelResponse("m1", "Hi there", "h123", model)]


def test_model_hash_from_llm_info_and_metadata_event():
    model = {"responseId": "r", "message": ""}
    line = json.dumps({"result": {"response": {"llmInfo": {"modelHash": "abc"}, "modelResponse": model}}})
    assert parse(line) == [
        ResponseIds("r"),
        Metadata("llm_info", {"modelHash": "abc"}),
        ModelResponse("r", "", "abc", model),
    ]


def test_final_metadata():
    data = {"followUpSuggestions": [], "toolsUsed": {}}
    line = json.dumps({"result": {"response": {"finalMetadata": data}}})
    assert parse(line) == [Metadata("final_metadata", data)]


@pytest.mark.parametrize("tag", ["tool_usage_card", "raw_function_result"])
@pytest.mark.parametrize("thinking", [True, False])
def test_internal_tags_never_surface_as_text(tag, thinking):
    line = json.dumps(
        {
            "result": {
                "response": {
                    "token": "<xai:tool_usage_card><xai:tool_name>web_search</xai:tool_name>",
                    "isThinking": thinking,
                    "messageTag": tag,
                }
            }
        }
    )
    assert parse(line) == []


@pytest.mark.parametrize("tag", ["analysis", "summary"])
def test_reasoning_tags_are_reasoning_even_if_not_thinking(tag):
    line = json.dumps({"result": {"response": {"token": "t", "isThinking": False, "messageTag": tag}}})
    assert parse(line) == [ReasoningToken("t")]


@pytest.mark.parametrize("tag", ["final", "assistant", ""])
def test_answer_tags(tag):
    line = json.dumps({"result": {"response": {"token": "t", "messageTag": tag}}})
    assert parse(line) == [Token("t")]


def test_rollout_and_step_on_reasoning():
    line = '{"result":{"response":{"token":"checking","isThinking":true,"rolloutId":"Agent 2","messageStepId":3}}}'
    assert parse(line) == [ReasoningToken("checking", "Agent 2", 3)]


def test_non_empty_soft_stop_token_is_token_not_done():
    line = '{"result":{"response":{"token":"end.","isSoftStop":true}}}'
    assert parse(line) == [Token("end.", soft_stop=True)]


def test_odd_shapes_yield_nothing_and_do_not_raise():
    odd = [
        '{"result":{"response":{"isThinking":null}}}',
        '{"result":{"response":{"token":5}}}',
        '{"result":{"token":5,"isThinking":null,"isSoftStop":"yes"}}',
        '{"result":[]}',
        '{"result":null}',
        '{"result":"x"}',
        '{"result":{"response":[]}}',
        '{"result":{"conversation":{"conversationId":5}}}',
        '{"result":{"title":{"title":5}}}',
        '{"result":{"response":{"webSearchResults":5,"xSearchResults":"x"}}}',
        '{"result":{"response":{"webSearchResults":{"results":5}}}}',
        '{"result":{"response":{"webSearchResults":[1,"a",null,{"title":"no url"}]}}}',
        '{"result":{"response":{"modelResponse":5,"uiLayout":[],"llmInfo":"x"}}}',
        '{"result":{"response":{"streamingImageGenerationResponse":[]}}}',
        '{"result":{"response":{"streamingImageGenerationResponse":{"progress":"x"}}}}',
        '{"result":{"response":{"generatedImageUrl":5}}}',
        '{"result":{"response":{"cardAttachment":"x"}}}',
        '{"result":{"response":{"toolUsageCard":{"toolUsageCardId":"t1"}}}}',
        '{"result":{"response":{"token":"x","messageTag":5}}}',
        '{"result":{"response":{"error":{"code":3}}}}',
        '{"error":{"message":5}}',
        '{"error":null}',
        "data: [DONE]",
        "data:",
    ]
    for line in odd:
        assert parse(line) == [], line


def test_null_is_thinking_does_not_hide_the_token():
    line = '{"result":{"response":{"token":"x","isThinking":null}}}'
    assert parse(line) == [Token("x")]


def test_empty_non_stop_token_yields_nothing():
    assert parse('{"result":{"response":{"token":"","isSoftStop":false}}}') == []


def test_pathologically_nested_json_is_parse_error():
    deep = "[" * 200000 + "]" * 200000
    (event,) = parse(deep)
    assert isinstance(event, ParseError)
    assert event.excerpt == "[" * 200
    line = json.dumps({"result": {"response": {"cardAttachment": {"jsonData": deep}}}})
    (event,) = parse(line)
    assert isinstance(event, ParseError)
    assert event.message.startswith("invalid cardAttachment.jsonData")


def test_non_object_json_line_is_parse_error():
    for line in ["[1,2]", "5", '"s"', "null"]:
        events = parse(line)
        assert events == [ParseError("line is not a JSON object", line)]


# ---------------------------------------------------------------------------
# tool usage, search results
# ---------------------------------------------------------------------------


def test_tool_usage_card():
    card = {"toolUsageCardId": "t1", "webSearch": {"args": {"query": "weather paris"}}}
    line = json.dumps({"result": {"response": {"toolUsageCard": card}}})
    assert parse(line) == [ToolUsage(card)]


def test_web_search_results_array_shape():
    line = json.dumps(
        {
            "result": {
                "response": {
                    "webSearchResults": [
                        {"url": "https://a.test", "title": "A", "snippet": "sa"},
                        {"title": "no url"},
                        {"url": "https://b.test", "preview": "pb", "siteName": "B"},
                    ]
                }
            }
        }
    )
    assert parse(line) == [
        SearchResults(
            "web",
            [
                {"url": "https://a.test", "title": "A", "snippet": "sa"},
                {"url": "https://b.test", "preview": "pb", "siteName": "B", "title": "B", "snippet": "pb"},
            ],
        )
    ]


def test_web_search_results_object_with_results_shape():
    entry = {
        "url": "https://c.test",
        "title": "C",
        "searchEngineText": "se",
        "favicon": "f.ico",
        "citationId": "1",
    }
    line = json.dumps({"result": {"response": {"webSearchResults": {"results": [entry]}}}})
    assert parse(line) == [SearchResults("web", [dict(entry, snippet="se")])]


def test_web_search_results_object_of_objects_shape():
    line = json.dumps(
        {
            "result": {
                "response": {
                    "webSearchResults": {
                        "0": {"url": "https://d.test", "title": "D", "description": "dd"},
                        "1": {"url": "https://e.test", "title": "E"},
                        "junk": 5,
                    }
                }
            }
        }
    )
    assert parse(line) == [
        SearchResults(
            "web",
            [
                {"url": "https://d.test", "title": "D", "description": "dd", "snippet": "dd"},
                {"url": "https://e.test", "title": "E", "snippet": ""},
            ],
        )
    ]


def test_cited_web_search_results():
    line = json.dumps({"result": {"response": {"citedWebSearchResults": [{"url": "https://f.test"}]}}})
    assert parse(line) == [SearchResults("web", [{"url": "https://f.test", "title": "", "snippet": ""}], True)]


def test_x_search_results_url_building():
    post = {
        "username": "elonmusk",
        "name": "Elon",
        "text": "hello X",
        "postId": "1790000000000000000",
        "viewCount": 10,
    }
    line = json.dumps({"result": {"response": {"xSearchResults": {"results": [post]}}}})
    assert parse(line) == [
        SearchResults(
            "x",
            [
                dict(
                    post,
                    url="https://x.com/elonmusk/status/1790000000000000000",
                    title="Elon",
                    snippet="hello X",
                )
            ],
        )
    ]


def test_xposts_and_cited_xposts():
    line = json.dumps(
        {
            "result": {
                "response": {
                    "xposts": [{"username": "a", "postId": 12, "text": "t"}, {"text": "no id"}],
                    "citedXposts": [{"username": "b", "postId": "34"}],
                }
            }
        }
    )
    assert parse(line) == [
        SearchResults(
            "x",
            [
                {
                    "username": "a",
                    "postId": 12,
                    "text": "t",
                    "url": "https://x.com/a/status/12",
                    "title": "a",
                    "snippet": "t",
                }
            ],
        ),
        SearchResults(
            "x",
            [
                {
                    "username": "b",
                    "postId": "34",
                    "url": "https://x.com/b/status/34",
                    "title": "b",
                    "snippet": "",
                }
            ],
            True,
        ),
    ]


def test_search_result_normalisation_does_not_mutate_nothing_shared():
    decoder = NDJSONDecoder()
    (event,) = decoder.parse_line('{"result":{"response":{"webSearchResults":[{"url":"https://g.test"}]}}}')
    event.results[0]["extra"] = 1  # events are plain mutable data owned by the consumer
    assert event.results[0]["url"] == "https://g.test"


# ---------------------------------------------------------------------------
# cards and images
# ---------------------------------------------------------------------------


def _card_line(data: dict) -> str:
    return json.dumps({"result": {"response": {"cardAttachment": {"jsonData": json.dumps(data)}}}})


def test_card_image_chunk_progress_50():
    data = {
        "id": "c1",
        "cardType": "generated_image_card",
        "image_chunk": {"imageUuid": "i1", "imageUrl": "users/u/generated/i1-part-0/image.jpg", "progress": 50},
    }
    assert parse(_card_line(data)) == [
        Card("c1", "generated_image_card", data),
        ImageProgress("i1", "users/u/generated/i1-part-0/image.jpg", 50, None),
    ]


def test_card_image_chunk_progress_100():
    data = {
        "id": "c1",
        "cardType": "generated_image_card",
        "image_chunk": {"imageUuid": "i1", "imageUrl": "users/u/generated/i1/image.jpg", "progress": 100},
    }
    assert parse(_card_line(data)) == [
        Card("c1", "generated_image_card", data),
        ImageGenerated("users/u/generated/i1/image.jpg", "i1", False),
    ]


def test_card_image_chunk_moderated():
    data = {
        "id": "c1",
        "cardType": "generated_image_card",
        "image_chunk": {
            "imageUuid": "i1",
            "imageUrl": "users/u/generated/i1/image.jpg",
            "progress": 100,
            "moderated": True,
        },
    }
    assert parse(_card_line(data)) == [
        Card("c1", "generated_image_card", data),
        ImageGenerated("users/u/generated/i1/image.jpg", "i1", True),
    ]


def test_invalid_card_json_data_is_parse_error_and_line_continues():
    line = '{"result":{"response":{"token":"t","cardAttachment":{"jsonData":"{not json"}}}}'
    events = parse(line)
    assert events[0] == Token("t")
    assert len(events) == 2
    assert isinstance(events[1], ParseError)
    assert events[1].message.startswith("invalid cardAttachment.jsonData")
    assert events[1].excerpt == line[:200]


def test_card_json_data_not_an_object():
    line = '{"result":{"response":{"cardAttachment":{"jsonData":"[1]"}}}}'
    assert parse(line) == [ParseError("cardAttachment.jsonData is not a JSON object", line)]


def test_streaming_image_is_final_flag_and_index():
    line = json.dumps(
        {
            "result": {
                "response": {
                    "streamingImageGenerationResponse": {
                        "imageId": "img",
                        "imageUrl": "users/u/generated/img/image.jpg",
                        "progress": 80,
                        "isFinal": True,
                        "imageIndex": 1,
                    }
                }
            }
        }
    )
    assert parse(line) == [ImageGenerated("users/u/generated/img/image.jpg", "img", False)]
    line2 = json.dumps(
        {
            "result": {
                "response": {
                    "streamingImageGenerationResponse": {
                        "imageId": "img",
                        "imageUrl": "users/u/generated/img-part-1/image.jpg",
                        "progress": 30,
                        "imageIndex": 1,
                    }
                }
            }
        }
    )
    assert parse(line2) == [ImageProgress("img", "users/u/generated/img-part-1/image.jpg", 30, 1)]


def test_generated_image_url_and_same_url_once_per_line():
    url = "users/u/generated/x/image.jpg"
    line = json.dumps(
        {
            "result": {
                "response": {
                    "generatedImageUrl": url,
                    "streamingImageGenerationResponse": {"imageUrl": url, "progress": 100},
                    "modelResponse": {"generatedImageUrls": [url, "users/u/generated/y/image.jpg", 5]},
                }
            }
        }
    )
    events = parse(line)
    assert [e for e in events if isinstance(e, ImageGenerated)] == [
        ImageGenerated(url),
        ImageGenerated("users/u/generated/y/image.jpg"),
    ]
    # across lines the parser does not dedupe (consumers do)
    decoder = NDJSONDecoder()
    one = json.dumps({"result": {"response": {"generatedImageUrl": url}}})
    assert decoder.parse_line(one) == [ImageGenerated(url)]
    assert decoder.parse_line(one) == [ImageGenerated(url)]


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------


def test_stream_errors_in_model_response():
    model = {
        "responseId": "r9",
        "message": "",
        "streamErrors": [
            {"message": "quota", "code": 8, "severity": "STREAM_ERROR_SEVERITY_NORMAL"},
            {"code": 1},
            "plain",
        ],
    }
    line = json.dumps({"result": {"response": {"modelResponse": model}}})
    assert parse(line) == [
        UpstreamError("quota", 8, "STREAM_ERROR_SEVERITY_NORMAL", model["streamErrors"][0]),
        UpstreamError("plain"),
        ResponseIds("r9"),
        ModelResponse("r9", "", None, model),
    ]


def test_string_error():
    assert parse('{"error":"rate limited"}') == [UpstreamError("rate limited")]
    assert parse('{"result":{"error":"bad"}}') == [UpstreamError("bad")]


def test_result_level_error_continuation_framing():
    line = '{"result":{"error":{"message":"Model is not found","code":"7"},"token":"x"}}'
    assert parse(line) == [
        UpstreamError("Model is not found", "7", None, {"message": "Model is not found", "code": "7"}),
        Token("x"),
    ]


# ---------------------------------------------------------------------------
# framing details
# ---------------------------------------------------------------------------


def test_sse_data_prefix_lines():
    body = b'data: {"result":{"response":{"token":"a"}}}\ndata:{"result":{"response":{"token":"b"}}}\n\ndata: [DONE]\n'
    assert stream(body) == [Token("a"), Token("b")]
    assert parse("data: nope") == [ParseError("invalid JSON: Expecting value: line 1 column 1 (char 0)", "data: nope")]


def test_invalid_utf8_is_decoded_lossily():
    body = b'{"result":{"response":{"token":"a\xffb"}}}\n'
    assert stream(body) == [Token("a\ufffdb")]


def test_parse_error_excerpt_is_200_chars_and_stream_continues():
    bad = "x" * 500
    body = (bad + '\n{"result":{"token":"ok"}}\n').encode()
    events = stream(body)
    assert len(events) == 2
    assert isinstance(events[0], ParseError)
    assert events[0].excerpt == "x" * 200
    assert events[1] == Token("ok")


def test_bytearray_and_one_byte_chunks():
    body = '{"result":{"token":"é😀"}}\n{"result":{"token":"z"}}'.encode()
    decoder = NDJSONDecoder()
    events = []
    for i in range(len(body)):
        events += decoder.feed(bytearray(body[i : i + 1]))
    events += decoder.finish()
    assert events == [Token("é😀"), Token("z")]


def test_parse_line_accepts_str_and_bytes():
    decoder = NDJSONDecoder()
    assert decoder.parse_line('  {"result":{"token":"s"}}\n') == [Token("s")]
    assert decoder.parse_line(b'{"result":{"token":"b"}}') == [Token("b")]
    assert decoder.parse_line("") == []


def test_several_fields_on_one_line_in_stable_order():
    payload = {
        "error": {"message": "late error"},
        "responseId": "r1",
        "userResponse": {"responseId": "u1"},
        "uiLayout": {"effort": "LOW"},
        "token": "text",
        "messageTag": "final",
        "toolUsageCard": {"toolUsageCardId": "t", "webSearch": {"args": {"query": "q"}}},
        "webSearchResults": [{"url": "https://w.test", "title": "W"}],
        "cardAttachment": {"jsonData": json.dumps({"id": "k", "cardType": "citation_card"})},
        "generatedImageUrl": "users/u/generated/g/image.jpg",
        "streamingVideoGenerationResponse": {"videoId": "v", "progress": 10},
        "modelResponse": {"responseId": "r1", "message": "text"},
    }
    line = json.dumps(
        {"result": {"response": payload, "conversation": {"conversationId": "c1"}, "title": {"newTitle": "T"}}}
    )
    assert parse(line) == [
        UpstreamError("late error", None, None, {"message": "late error"}),
        ResponseIds("r1", "u1"),
        ConversationCreated("c1"),
        Title("T"),
        Metadata("ui_layout", {"effort": "LOW"}),
        Token("text"),
        ToolUsage(payload["toolUsageCard"]),
        SearchResults("web", [{"url": "https://w.test", "title": "W", "snippet": ""}]),
        Card("k", "citation_card", {"id": "k", "cardType": "citation_card"}),
        ImageGenerated("users/u/generated/g/image.jpg"),
        VideoGenerated(None, 10, {"videoId": "v", "progress": 10}),
        ModelResponse("r1", "text", None, {"responseId": "r1", "message": "text"}),
    ]


def test_title_shapes():
    assert parse('{"result":{"title":{"title":"A"}}}') == [Title("A")]
    assert parse('{"result":{"title":{"newTitle":"B"}}}') == [Title("B")]
    assert parse('{"result":{"title":"C"}}') == [Title("C")]


def test_response_ids_not_repeated():
    decoder = NDJSONDecoder()
    body = b"".join(b'{"result":{"response":{"token":"%s","responseId":"r1"}}}\n' % t for t in (b"a", b"b", b"c"))
    events = decoder.feed(body)
    assert events == [ResponseIds("r1"), Token("a"), Token("b"), Token("c")]
    # the final modelResponse carries the same id: not reported again
    model_line = '{"result":{"response":{"modelResponse":{"responseId":"r1","message":"abc"}}}}'
    assert decoder.parse_line(model_line) == [ModelResponse("r1", "abc", None, {"responseId": "r1", "message": "abc"})]
    # a new id is reported; a fresh decoder (another stream) reports again
    assert decoder.parse_line('{"result":{"responseId":"r2"}}') == [ResponseIds("r2")]
    assert NDJSONDecoder().parse_line('{"result":{"responseId":"r1"}}') == [ResponseIds("r1")]


def test_decoders_are_independent():
    a, b = NDJSONDecoder(), NDJSONDecoder()
    assert a.feed(b'{"result":{"token":"from') == []
    assert b.feed(b'{"result":{"token":"other"}}\n') == [Token("other")]
    assert a.feed(b' a"}}\n') == [Token("from a")]
