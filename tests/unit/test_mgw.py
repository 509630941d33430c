"""The mgw WebSocket protocol, pure (app.grok.lanes.mgw): frames out, events in.

The golden frames are verbatim published ones (F10: real frames of 2026-10-08;
CG: fixtures written to match the live protocol). Events go through the REST lane's own
decoder, so what is asserted here is what every layer above the client library sees.
"""

from __future__ import annotations

import json

import pytest

from app.engine.answer import Answer, AnswerOptions
from app.grok import errors as gerr
from app.grok import events as ev
from app.grok.lanes import mgw

CONV = "a995b242-ba22-4e89-b62b-9b8c9b4c64ff"
RID = "e3b5ffb4-9c9f-48d9-a905-d38d41530c99"
F10 = [
    '{"session_id":"a995b242-ba22-4e89-b62b-9b8c9b4c64ff","event":{"type":"conversation.attached","event_id":"evt_440cd062965c487b92c0da2b381f92d1_2","conversation":{"id":"a995b242-ba22-4e89-b62b-9b8c9b4c64ff","object":"realtime.conversation"},"mode":"new"}}',
    '{"session_id":"a995b242-ba22-4e89-b62b-9b8c9b4c64ff","event":{"type":"response.created","event_id":"evt_440cd062965c487b92c0da2b381f92d1_7","client_event_id":"evt_resp_1791450479538","response":{"id":"e3b5ffb4-9c9f-48d9-a905-d38d41530c99","status":"in_progress","output_modalities":["text"],"x_grok":{"created_at":1791450479839.0,"model":"fast"}}}}',
    '{"session_id":"a995b242-ba22-4e89-b62b-9b8c9b4c64ff","event":{"type":"response.chunk","event_id":"evt_440cd062965c487b92c0da2b381f92d1_10","response_id":"e3b5ffb4-9c9f-48d9-a905-d38d41530c99","item_id":"e3b5ffb4-9c9f-48d9-a905-d38d41530c99","chunk":{"metadata":{"phase_index":0},"ui_layout":{"reasoning_ui_layout":"UNIFIED"}}}}',
    '{"session_id":"a995b242-ba22-4e89-b62b-9b8c9b4c64ff","event":{"type":"response.chunk","event_id":"evt_440cd062965c487b92c0da2b381f92d1_11","response_id":"e3b5ffb4-9c9f-48d9-a905-d38d41530c99","item_id":"e3b5ffb4-9c9f-48d9-a905-d38d41530c99","chunk":{"metadata":{"step_id":0,"phase_index":0},"text":{"text":"Thinking about your request","channel":"CHANNEL_ASSISTANT_NOTETAKER_HEADER"}}}}',
    '{"session_id":"a995b242-ba22-4e89-b62b-9b8c9b4c64ff","event":{"type":"response.chunk","event_id":"evt_440cd062965c487b92c0da2b381f92d1_12","response_id":"e3b5ffb4-9c9f-48d9-a905-d38d41530c99","item_id":"e3b5ffb4-9c9f-48d9-a905-d38d41530c99","chunk":{"metadata":{"step_id":0,"phase_index":1},"phase_marker":{"kind":"KIND_THINKING_START","phase_index":1}}}}',
    '{"session_id":"a995b242-ba22-4e89-b62b-9b8c9b4c64ff","event":{"type":"response.chunk","event_id":"evt_440cd062965c487b92c0da2b381f92d1_13","response_id":"e3b5ffb4-9c9f-48d9-a905-d38d41530c99","item_id":"e3b5ffb4-9c9f-48d9-a905-d38d41530c99","chunk":{"metadata":{"step_id":0,"phase_index":2},"phase_marker":{"kind":"KIND_RESPONSE_START","phase_index":2}}}}',
    '{"session_id":"a995b242-ba22-4e89-b62b-9b8c9b4c64ff","event":{"type":"response.chunk","event_id":"evt_440cd062965c487b92c0da2b381f92d1_14","response_id":"e3b5ffb4-9c9f-48d9-a905-d38d41530c99","item_id":"e3b5ffb4-9c9f-48d9-a905-d38d41530c99","chunk":{"metadata":{"step_id":0,"phase_index":2},"text":{"text":"**","channel":"CHANNEL_ASSISTANT_RESPONSE"}}}}',
    '{"session_id":"a995b242-ba22-4e89-b62b-9b8c9b4c64ff","event":{"type":"response.chunk","event_id":"evt_440cd062965c487b92c0da2b381f92d1_15","response_id":"e3b5ffb4-9c9f-48d9-a905-d38d41530c99","item_id":"e3b5ffb4-9c9f-48d9-a905-d38d41530c99","chunk":{"metadata":{"step_id":0,"phase_index":2},"text":{"text":"白","channel":"CHANNEL_ASSISTANT_RESPONSE"}}}}',
    '{"session_id":"a995b242-ba22-4e89-b62b-9b8c9b4c64ff","event":{"type":"response.chunk","event_id":"evt_440cd062965c487b92c0da2b381f92d1_16","response_id":"e3b5ffb4-9c9f-48d9-a905-d38d41530c99","item_id":"e3b5ffb4-9c9f-48d9-a905-d38d41530c99","chunk":{"metadata":{"step_id":0,"phase_index":2},"text":{"text":"**","channel":"CHANNEL_ASSISTANT_RESPONSE"}}}}',
    '{"session_id":"a995b242-ba22-4e89-b62b-9b8c9b4c64ff","event":{"type":"response.done","event_id":"evt_440cd062965c487b92c0da2b381f92d1_20","response":{"id":"e3b5ffb4-9c9f-48d9-a905-d38d41530c99","status":"completed","output_modalities":["text"]}}}',
    '{"session_id":"a995b242-ba22-4e89-b62b-9b8c9b4c64ff","event":{"type":"response.chunk","event_id":"evt_440cd062965c487b92c0da2b381f92d1_21","response_id":"","item_id":"","chunk":{"metadata":{"step_id":1,"phase_index":1},"text":{"text":"Describing snow with one character","channel":"CHANNEL_ASSISTANT_NOTETAKER_HEADER"}}}}',
    '{"session_id":"a995b242-ba22-4e89-b62b-9b8c9b4c64ff","event":{"type":"response.chunk","event_id":"evt_440cd062965c487b92c0da2b381f92d1_24","response_id":"e3b5ffb4-9c9f-48d9-a905-d38d41530c99","item_id":"e3b5ffb4-9c9f-48d9-a905-d38d41530c99","chunk":{"follow_up_suggestions":{"suggestions":[{"properties":{"message_type":"TEXT","follow_up_type":"DIVE_DEEPER"},"label":"用两个字形容雪","tool_overrides":{"image_gen":false}},{"properties":{"message_type":"TEXT","follow_up_type":"TANGENTIAL"},"label":"用一个字形容雪落的声音","tool_overrides":{"image_gen":false}}]}}}}',
]
CG_SEARCH = [
    '{"session_id":"conv_1","event":{"type":"session.created","client_event_id":"evt_init_1"}}',
    '{"session_id":"conv_1","event":{"type":"conversation.attached","conversation":{"id":"conv_1"}}}',
    '{"event":{"type":"response.created","response":{"id":"response-1","status":"in_progress"}}}',
    '{"event":{"type":"response.chunk","chunk":{"tool_usage_card":{"tool_usage_card_id":"tool-1","web_search":{"args":{"query":"grok 4.6"}}}}}}',
    '{"event":{"type":"response.chunk","chunk":{"tool_result":{"tool_call_id":"tool-1","web_search":{"webpages":[{"url":"https://www.ithome.com/0/981/947.htm","title":"IT之家 Grok 4.6","snippet":"..."}]}}}}}',
    '{"event":{"type":"response.chunk","chunk":{"tool_usage_card":{"tool_usage_card_id":"tool-2","x_search":{"args":{"query":"from:elonmusk"}}}}}}',
    '{"event":{"type":"response.chunk","chunk":{"tool_result":{"tool_call_id":"tool-2","x_post":{"posts":[{"userhandle":"elonmusk","name":"Elon Musk","text":"And Grok 4.6 comes out in a week","post_id":"2082707547203518569"}]}}}}}',
    '{"event":{"type":"response.chunk","chunk":{"text":{"text":"预计发布","channel":"CHANNEL_ASSISTANT_RESPONSE"}}}}',
    '{"event":{"type":"response.chunk","chunk":{"render_citation":{"id":"c1","kind":"CITATION_KIND_X_POST","url":"https://x.com/elonmusk/status/2082707547203518569","citation_id":1}}}}',
    '{"event":{"type":"response.chunk","chunk":{"render_citation":{"id":"c2","kind":"CITATION_KIND_WEB_PAGE","url":"https://www.ithome.com/0/981/947.htm","citation_id":0}}}}',
    '{"event":{"type":"response.chunk","chunk":{"text":{"text":"。","channel":"CHANNEL_ASSISTANT_RESPONSE"}}}}',
    '{"event":{"type":"response.done","response":{"id":"response-1","status":"completed"}}}',
]
CG_ERROR = '{"event":{"type":"error","error":{"code":"anti_bot","message":"anti-bot rejected"}}}'


def decode(messages, framing="new", conversation_id=None):
    """Messages -> (typed events, translator), through the REST lane's decoder."""
    splitter = mgw.EventSplitter(1 << 20)
    translator = mgw.Translator(framing, conversation_id)
    decoder = ev.NDJSONDecoder()
    events = []
    for message in messages:
        objects, garbage = splitter.feed(message)
        events.extend(ev.ParseError("invalid JSON", g) for g in garbage)
        for obj in objects:
            for line in translator.feed(obj):
                events.extend(decoder.decode_object(line))
    return events, translator


class Collector:
    def content(self, text, annotations):
        pass

    def reasoning(self, text):
        pass

    def tool_calls(self, calls):
        pass

    def comment(self, text):
        pass


def answer_of(events) -> Answer:
    answer = Answer(AnswerOptions(), Collector())
    for event in events:
        answer.feed(event)
    answer.close()
    return answer


def of(events, kind):
    return [e for e in events if isinstance(e, kind)]


# -- golden frames --------------------------------------------------------------------------------
def test_the_f10_capture_decodes_to_its_answer_reasoning_and_ids():
    events, t = decode(F10)
    assert "".join(e.text for e in of(events, ev.Token)) == "**白**"
    reasoning = "".join(e.text for e in of(events, ev.ReasoningToken))
    assert reasoning.split("\n") == ["Thinking about your request", "Describing snow with one character"]
    assert [e.conversation_id for e in of(events, ev.ConversationCreated)] == [CONV]
    assert of(events, ev.ResponseIds)[0].response_id == RID
    (model,) = of(events, ev.ModelResponse)
    assert model.response_id == RID and model.message == "**白**"
    assert of(events, ev.Done) and t.done
    (follow_ups,) = [e for e in of(events, ev.Metadata) if e.kind == "final_metadata"]
    labels = [s["label"] for s in follow_ups.data["followUpSuggestions"]]
    assert labels == ["用两个字形容雪", "用一个字形容雪落的声音"]
    assert [e.data for e in of(events, ev.Metadata) if e.kind == "ui_layout"] == [{"reasoningUiLayout": "UNIFIED"}]


def test_f10_as_one_message_per_event_or_all_in_one_gives_the_same_events():
    one_each, _ = decode(F10)
    together, _ = decode(["".join(F10)])
    cut = "".join(F10)
    halves, _ = decode([cut[: len(cut) // 3], cut[len(cut) // 3 :]])  # an event split across messages
    assert one_each == together == halves


def test_the_cg_search_turn_renders_citations_in_first_seen_order():
    events, _ = decode(CG_SEARCH)
    tools = of(events, ev.ToolUsage)
    assert [t.card["toolUsageCardId"] for t in tools] == ["tool-1", "tool-2"]
    assert tools[0].card["webSearch"] == {"args": {"query": "grok 4.6"}}
    web, x = of(events, ev.SearchResults)
    assert web.kind == "web" and web.results[0]["url"] == "https://www.ithome.com/0/981/947.htm"
    assert x.kind == "x" and x.results[0]["url"] == "https://x.com/elonmusk/status/2082707547203518569"
    answer = answer_of(events)
    assert answer.content == (
        "预计发布[[1]](https://x.com/elonmusk/status/2082707547203518569)[[2]](https://www.ithome.com/0/981/947.htm)。"
    )
    assert [a["url_citation"]["url"] for a in answer.annotations] == [
        "https://x.com/elonmusk/status/2082707547203518569",
        "https://www.ithome.com/0/981/947.htm",
    ]
    assert answer.annotations[1]["url_citation"]["title"] == "IT之家 Grok 4.6"


def test_a_citation_repeated_without_text_between_is_dropped():
    cite = '{"event":{"type":"response.chunk","chunk":{"render_citation":{"id":"a","url":"https://example.com/a"}}}}'
    text = '{"event":{"type":"response.chunk","chunk":{"text":{"text":"%s","channel":"CHANNEL_ASSISTANT_RESPONSE"}}}}'
    start = '{"event":{"type":"response.created","response":{"id":"r"}}}'
    events, _ = decode([start, text % "甲", cite, cite, text % "，乙", cite])
    answer = answer_of(events)
    assert answer.content == "甲[[1]](https://example.com/a)，乙[[1]](https://example.com/a)"
    spans = [(a["url_citation"]["start_index"], a["url_citation"]["end_index"]) for a in answer.annotations]
    assert spans == [(1, 29), (31, 59)]


def test_the_cg_error_frame_refuses_the_turn_as_anti_bot():
    _, t = decode([CG_ERROR])
    assert isinstance(t.refused, gerr.AntiBotRejected)
    assert t.refused.failure_class == gerr.ANTI_BOT and t.ended


# -- errors ---------------------------------------------------------------------------------------
START = '{"event":{"type":"response.created","response":{"id":"r1"}}}'


@pytest.mark.parametrize(
    "error,exception,failure_class",
    [
        ({"code": 8, "message": "Too many requests"}, gerr.RateLimited, gerr.RATE_LIMITED),
        (
            {"code": 16, "message": "Bad credentials. [WKE=unauthenticated:bad-credentials]"},
            gerr.AuthExpired,
            gerr.AUTH_EXPIRED,
        ),
        ({"code": 7, "message": "Request rejected by anti-bot rules."}, gerr.AntiBotRejected, gerr.ANTI_BOT),
        (
            {"code": 7, "message": "User is blocked [WKE=unauthorized:blocked-user]"},
            gerr.AntiBotRejected,
            gerr.ACCOUNT_BLOCKED,
        ),
        ({"code": "conversation_not_found", "message": "Conversation not found"}, gerr.NotFound, gerr.NOT_FOUND),
        (
            {"code": 3, "message": "Invalid request. Please update your client."},
            gerr.UpstreamHTTPError,
            gerr.PAYLOAD_OUTDATED,
        ),
        ({"code": 7, "message": "Model is not found"}, gerr.UpstreamHTTPError, gerr.MODEL_UNAVAILABLE),
        ({"code": 13, "message": "Internal error"}, gerr.UpstreamHTTPError, gerr.UPSTREAM),
        ({"message": "You've reached your usage limit"}, gerr.RateLimited, gerr.USAGE_LIMIT),
        ({"code": 7, "message": "castle_request_token missing"}, gerr.AntiBotRejected, gerr.CASTLE),
    ],
)
def test_an_error_before_the_answer_refuses_the_turn_like_the_rest_lane(error, exception, failure_class):
    _, t = decode([json.dumps({"event": {"type": "error", "error": error}})])
    assert type(t.refused) is exception
    assert t.refused.failure_class == failure_class


def test_a_retry_delay_travels_as_google_rpc_retry_info():
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"}
    frame = {"event": {"type": "error", "error": {"code": 8, "message": "Too many requests", "details": [retry]}}}
    _, t = decode([json.dumps(frame)])
    assert t.refused.retry_after == 30.0


def test_castle_rejection_says_what_to_do_and_that_cookies_are_fine():
    _, t = decode(['{"event":{"type":"error","error":{"code":7,"message":"castle token required"}}}'])
    assert t.refused.failure_class == gerr.CASTLE
    assert "Castle" in t.refused.advice and "GROK_CHAT_LANE=rest" in t.refused.advice
    assert "not the cause" in t.refused.advice


def test_errors_after_the_answer_started_are_in_band_and_end_it():
    stream_error = {
        "event": {
            "type": "response.grok.output",
            "output": {
                "stream_error": {"kind": "X", "message": "quota", "severity": "fatal", "usageLimitReached": True}
            },
        }
    }
    failed = (
        '{"event":{"type":"response.done","response":{"id":"r1","status":"failed","status_details":{"reason":"x"}}}}'
    )
    events, t = decode([START, json.dumps(stream_error), failed])
    (error,) = of(events, ev.UpstreamError)
    assert "usage limit" in error.message and gerr.classify_text(error.message) == gerr.USAGE_LIMIT
    assert t.ended and t.refused is None
    events, t = decode([START, failed])
    assert [e.message for e in of(events, ev.UpstreamError)] == ["x"]
    events, t = decode([START, '{"event":{"type":"error","error":{"code":8,"message":"Too many requests"}}}'])
    assert of(events, ev.UpstreamError)[0].code == 8


def test_a_session_ended_mid_answer_is_a_dropped_turn():
    _, t = decode([START, '{"event":{"type":"session.ended"}}'])
    assert t.dropped and t.ended
    _, t = decode(
        [
            START,
            '{"event":{"type":"response.done","response":{"status":"completed"}}}',
            '{"event":{"type":"session.ended"}}',
        ]
    )
    assert t.dropped is None


# -- robustness -----------------------------------------------------------------------------------
def test_unknown_events_fields_and_garbage_are_harmless():
    messages = [
        START,
        '{"event":{"type":"conversation.queue.updated"}}{"event":{"type":"something.new","x":1}}',
        '{"event":{"type":"response.chunk","chunk":{"text":{"text":"a","channel":"CHANNEL_ASSISTANT_RESPONSE"},"new_field":{}}}}',
        "not json at all",
        '{"event":{"type":"response.chunk","chunk":{"text":{"text":42}}}}{"event":"odd"}[1,2]',
        '{"event":{"type":"response.chunk","chunk":{"text":{"text":"b","channel":"CHANNEL_SECRET_TOOL_OUTPUT"}}}}',
        '{"event":{"type":"response.chunk","chunk":{"text":{"text":"c","channel":"CHANNEL_ASSISTANT_RESPONSE"}}}}',
    ]
    events, t = decode(messages)
    assert "".join(e.text for e in of(events, ev.Token)) == "ac"
    assert t.dropped_chunks == 1
    assert [e.excerpt for e in of(events, ev.ParseError)] == ["not json at all", "[1,2]"]


def test_events_of_another_session_on_the_socket_are_ignored():
    other = '{"session_id":"other","event":{"type":"response.chunk","chunk":{"text":{"text":"x","channel":"CHANNEL_ASSISTANT_RESPONSE"}}}}'
    mine = other.replace('"other"', '"c1"').replace('"x"', '"y"')
    events, _ = decode([START, other, mine], conversation_id="c1")
    assert [e.text for e in of(events, ev.Token)] == ["y"]


def test_an_unfinished_tail_that_never_completes_is_given_up():
    splitter = mgw.EventSplitter(1 << 20)
    assert splitter.feed('{"result": this is not json') == ([], [])
    assert splitter.feed('{"event":{"type":"x"}}') == ([{"event": {"type": "x"}}], ['{"result": this is not json'])
    assert splitter.feed('{"a":"}{\\"') == ([], [])
    assert splitter.feed('"}') == ([{"a": '}{"'}], [])


def test_the_other_dialect_text_deltas_and_citation_cards():
    frames = [
        START,
        '{"event":{"type":"response.output_text.delta","delta":"hm","x_grok":{"is_thinking":true}}}',
        '{"event":{"type":"response.output_text.delta","delta":"See "}}',
        '{"event":{"type":"response.output_text.delta","delta":"<grok:render card_id=\\"b0\\" card_type=\\"citation_card\\" type=\\"render_inline_citation\\"><argument name=\\"citation_id\\">5</argument></grok:render>."}}',
        '{"event":{"type":"response.grok.output","output":{"card_attachment":{"jsonData":"{\\"id\\":\\"b0\\",\\"url\\":\\"https://example.com/z\\"}"}}}}',
        '{"event":{"type":"response.output_text.done","text":"See <grok:render>…"}}',
        '{"event":{"type":"response.done","response":{"status":"completed"}}}',
    ]
    events, _ = decode(frames)
    assert [e.text for e in of(events, ev.ReasoningToken)] == ["hm"]
    answer = answer_of(events)
    assert answer.content == "See [[1]](https://example.com/z)."


def test_generated_images_in_card_attachments():
    chunk = {"imageUuid": "i1", "imageUrl": "users/u/generated/i1/image.jpg", "progress": 100, "moderated": False}
    frame = {"event": {"type": "response.grok.output", "output": {"card_attachment": {"image_chunk": chunk}}}}
    snake = {"image_uuid": "i2", "image_url": "users/u/generated/i2/image.jpg", "progress": 50}
    chunk2 = {
        "event": {"type": "response.chunk", "chunk": {"render_generated_image": {"id": "g", "image_chunk": snake}}}
    }
    events, _ = decode([START, json.dumps(frame), json.dumps(chunk2)])
    assert [e.url for e in of(events, ev.ImageGenerated)] == ["users/u/generated/i1/image.jpg"]
    assert [(e.image_id, e.progress) for e in of(events, ev.ImageProgress)] == [("i2", 50)]


def test_continuation_framing_matches_the_rest_continuation_stream():
    frames = [
        '{"session_id":"c1","event":{"type":"conversation.attached","conversation":{"id":"c1"}}}',
        '{"session_id":"c1","event":{"type":"conversation.item.added","item":{"id":"u1"}}}',
        '{"session_id":"c1","event":{"type":"response.created","response":{"id":"r1"}}}',
    ]
    translator = mgw.Translator("cont", "c1")
    lines = [line for f in frames for line in translator.feed(json.loads(f))]
    assert lines == [
        {"result": {"userResponse": {"responseId": "u1", "sender": "human"}}},
        {"result": {"responseId": "r1"}},
    ]


# -- client frames --------------------------------------------------------------------------------
BODY = {
    "message": "hi",
    "modeId": "expert",
    "temporary": True,
    "disableMemory": True,
    "disableTextFollowUps": True,
    "imageGenerationCount": 2,
    "customInstructions": "Be terse.",
    "fileAttachments": ["f1", "f2"],
}


def test_a_new_conversation_turn_as_the_page_sends_it():
    create = mgw.session_create(BODY)
    assert "session_id" not in create
    event = create["event"]
    assert event["type"] == "session.create" and event["event_id"].startswith("evt_init_")
    assert event["session"]["model"] == "expert"
    x = event["session"]["x_grok"]
    assert x["protocol_capabilities"] == ["conversation_attached", "custom_methods_v1"] and x["use_chunk"] is True
    assert x["is_temporary"] is True and x["disable_memory"] is True and x["keep_context"] is False
    assert x["disable_text_follow_ups"] is True and x["image_generation_count"] == 2
    assert "conversation_id" not in x and "disable_web_search" not in x
    item = mgw.item_create(BODY, "c1")
    assert item["session_id"] == "c1"
    chunks = item["event"]["item"]["x_grok"]["input_chunks"]
    assert chunks[:2] == [
        {"mention": {"target": {"file_mention": {"file_id": "f1"}}}},
        {"mention": {"target": {"file_mention": {"file_id": "f2"}}}},
    ]
    assert chunks[2] == {"text": {"text": "<custom_instructions>\nBe terse.\n</custom_instructions>\n\nhi"}}
    assert item["event"]["file_attachment_ids"] == item["event"]["item"]["file_attachment_ids"] == ["f1", "f2"]
    response = mgw.response_create("c1")
    assert response == {
        "session_id": "c1",
        "event": {"type": "response.create", "event_id": response["event"]["event_id"]},
    }
    assert set(response["event"]) == {"type", "event_id"}  # no Castle token: none can be minted here


def test_a_continuation_loads_the_conversation_and_names_the_parent():
    create = mgw.session_create({"message": "more", "disableSearch": True}, "c9")
    x = create["event"]["session"]["x_grok"]
    assert create["session_id"] == "c9"
    assert x["conversation_id"] == "c9" and x["load_existing"] is True and x["needs_history"] is False
    assert "is_temporary" not in x
    assert x["disable_web_search"] is True and x["disable_x_search"] is True
    item = mgw.item_create({"message": "more", "parentResponseId": "r7"}, "c9")
    assert item["event"]["parent_response_id"] == "r7"
    assert create["event"]["session"]["model"] == "auto"
    assert mgw.session_create({"modelMode": "grok-43"})["event"]["session"]["model"] == "grok-43"
