"""The WebSocket chat lane and the lane choice, through GrokClient against the fake grok.com."""

from __future__ import annotations

import json
import re
import time

import gevent
import pytest

from app.engine.answer import Answer, AnswerOptions
from app.grok import errors as gerr
from app.grok import events as ev
from app.grok.client import ClientConfig, GrokClient
from app.grok.lanes import WS, MemoryLaneSwitch
from app.grok.lanes.ws import WsChatStream
from app.settings import Settings
from tests.integration.native_cases import UPLOAD
from tests.support.gunicorn import app_env

NEW = "/rest/app-chat/conversations/new"
GATEWAY = "/ws/mgw/"
SESSION = "/api/auth/session"
UID = "00000000-0000-4000-8000-00000000f00d"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?!/generated)")


def make_client(fake, lane="ws", ping=None, **env) -> GrokClient:
    client = GrokClient.from_settings(Settings.from_mapping(app_env(fake, GROK_CHAT_LANE=lane, **env)))
    if ping is not None:
        client.reconfigure(ClientConfig(**{**client.config.__dict__, "ws_ping_interval": ping}))
    return client


def chat(client, message, **body):
    body = {"message": message, "temporary": True, **body}
    with client.new_conversation(body) as stream:
        return list(stream.events())


def text_of(events):
    return "".join(e.text for e in events if isinstance(e, ev.Token))


def test_a_chat_on_the_websocket_lane_speaks_the_page_protocol(fake):
    client = make_client(fake)
    events = chat(client, "hello there")
    assert text_of(events) == "Hello from fake grok. You said: hello there"
    assert any(isinstance(e, ev.Done) for e in events)
    assert fake.requests_log(NEW) == []
    (upgrade,) = fake.requests_log(GATEWAY)
    assert upgrade["status"] == 101 and upgrade["reject"] is None
    assert upgrade["query"] == {"uid": [UID]}
    headers = upgrade["headers"]
    assert headers["origin"] == fake.base_url
    assert f"x-userid={UID}" in headers["cookie"] and "sso=test-sso" in headers["cookie"]
    assert "x-statsig-id" not in headers and "authorization" not in headers
    assert headers["sec-fetch-mode"] == "websocket" and "Chrome/" in headers["user-agent"]
    assert "upgrade-insecure-requests" not in headers
    kinds = [f["event"]["type"] for f in upgrade["ws"]["frames"]]
    assert kinds == ["session.create", "conversation.item.create", "response.create"]


def test_the_user_id_is_fetched_once_and_cached(fake):
    client = make_client(fake)
    for _ in range(3):
        chat(client, "hi")
    (lookup,) = fake.requests_log(SESSION)
    assert lookup["headers"]["cookie"].startswith("sso=test-sso") and "x-statsig-id" not in lookup["headers"]
    assert len(fake.requests_log(GATEWAY)) == 3


def test_chats_starting_together_share_one_lookup(fake):
    client = make_client(fake)
    jobs = [gevent.spawn(chat, client, f"hi {i}") for i in range(20)]
    gevent.joinall(jobs, raise_error=True)
    assert len(fake.requests_log(SESSION)) == 1 and len(fake.requests_log(GATEWAY)) == 20


def test_an_x_userid_cookie_spares_the_lookup(fake):
    client = make_client(fake, GROK_EXTRA_COOKIES=f"x-userid={UID}")
    chat(client, "hi")
    assert fake.requests_log(SESSION) == []
    assert fake.requests_log(GATEWAY)[0]["headers"]["cookie"].count("x-userid=") == 1


def test_a_session_without_user_is_expired_cookies(fake):
    client = make_client(fake, GROK_SSO_COOKIE="wrong")
    with pytest.raises(gerr.AuthExpired):
        chat(client, "hi")
    assert client.state.last_failure.failure_class == gerr.AUTH_EXPIRED
    assert fake.requests_log(GATEWAY) == []


def test_keep_alive_pings_while_the_answer_is_slow(fake):
    client = make_client(fake, ping=0.2)
    events = chat(client, "#scenario:slow?n=6&delay=0.25")
    assert text_of(events) == "s0 s1 s2 s3 s4 s5 "
    ws = fake.requests_log(GATEWAY)[0]["ws"]
    assert ws["pings"] >= 4
    pings = [f for f in ws["frames"] if f["event"]["type"] == "ping"]
    assert all(p["event"]["event_id"].startswith("evt_hb_") for p in pings)


def test_heartbeats_during_silence_and_the_idle_timeout(fake):
    client = make_client(fake, STREAM_IDLE_TIMEOUT_SECS="0.8")
    seen = []
    with pytest.raises(gerr.UpstreamTimeout):
        with client.new_conversation({"message": "#scenario:idle?gap=30"}) as stream:
            for event in stream.events(heartbeat=0.2):
                seen.append(event)
    assert seen.count(None) >= 2
    assert text_of([e for e in seen if e is not None]) == "Before the gap. "
    fake.wait_stats(lambda s: s["streams_aborted"] == 1, timeout=3)


def test_closing_the_stream_aborts_the_turn_at_once(fake):
    client = make_client(fake)
    stream = client.new_conversation({"message": "#scenario:slow?n=50&delay=0.2"})
    events = stream.events()
    while not isinstance(next(events), ev.Token):
        pass
    closed_at = time.time()
    stream.close()
    stats = fake.wait_stats(lambda s: s["streams_aborted"] == 1, timeout=3)
    assert stats["last_abort_time"] - closed_at < 1.0
    assert stats["aborts"][0]["lines_sent"] < 20
    assert client.transport.pool.websockets == set()


@pytest.mark.parametrize(
    "config,failure_class",
    [({"mgw_handshake": "cloudflare"}, gerr.CLOUDFLARE), ({"mgw_require_castle": True}, gerr.CASTLE)],
)
def test_refusals_are_classified_and_recorded(fake, config, failure_class):
    fake.configure(**config)
    client = make_client(fake)
    with pytest.raises(gerr.AntiBotRejected) as err:
        chat(client, "hi")
    assert err.value.failure_class == failure_class
    assert client.state.last_failure.failure_class == failure_class


def test_a_castle_token_is_never_sent_and_its_absence_is_what_a_rollout_would_refuse(fake):
    client = make_client(fake)
    chat(client, "hi")
    create = [f for f in fake.requests_log(GATEWAY)[0]["ws"]["frames"] if f["event"]["type"] == "response.create"]
    assert "castle_request_token" not in create[0]["event"]


def test_continuing_a_conversation_on_the_websocket(fake):
    client = make_client(fake)
    events = chat(client, "first", temporary=False)
    conversation = next(e.conversation_id for e in events if isinstance(e, ev.ConversationCreated))
    response = next(e.response_id for e in events if isinstance(e, ev.ModelResponse))
    with client.add_response(conversation, {"message": "second", "parentResponseId": response}) as stream:
        more = list(stream.events())
    assert text_of(more) == "Hello from fake grok. You said: second"
    frames = fake.requests_log(GATEWAY)[1]["ws"]["frames"]
    create, item = frames[0]["event"], frames[1]["event"]
    assert create["session"]["x_grok"]["conversation_id"] == conversation
    assert create["session"]["x_grok"]["load_existing"] is True
    assert item["parent_response_id"] == response
    responses = [r for r in fake.store()["responses"] if r["conversationId"] == conversation]
    assert [r["message"] for r in responses if r["sender"] == "human"] == ["first", "second"]
    with pytest.raises(gerr.NotFound):
        client.add_response("c0ffee00-1111-4222-8333-444455556666", {"message": "lost"})


def test_attachments_go_first_as_file_mentions(fake):
    client = make_client(fake)
    file_id = json.loads(client.upload_file(UPLOAD).content)["fileMetadataId"]
    events = chat(client, "read this", fileAttachments=[file_id])
    assert text_of(events).endswith("Attachments: notes.txt.")
    item = fake.requests_log(GATEWAY)[0]["ws"]["frames"][1]["event"]
    assert item["item"]["x_grok"]["input_chunks"][0] == {"mention": {"target": {"file_mention": {"file_id": file_id}}}}


def test_fragmented_and_batched_messages_change_nothing(fake):
    client = make_client(fake)
    plain = chat(client, "q #scenario:search")
    fake.configure(mgw_fragment=7, mgw_batch=25)
    cut = chat(client, "q #scenario:search")
    assert answer_events(plain) == answer_events(cut)


def answer_events(events):
    """The events of the answer itself: up to its end, without the turn's own ids."""
    out = []
    for event in events:
        if isinstance(event, ev.Done):
            return out
        if not isinstance(event, (ev.ConversationCreated, ev.ResponseIds, ev.ModelResponse)):
            out.append(event)
    return out


def test_raw_lines_are_rest_ndjson_of_the_same_events(fake):
    client = make_client(fake)
    with client.new_conversation({"message": "q #scenario:thinking"}) as stream:
        body = b"".join(chunk for chunk in stream.raw() if chunk is not None)
    lines = body.decode().splitlines()
    assert all(json.loads(line) for line in lines)
    decoded = list(ev.iter_events([body]))
    assert text_of(decoded) == "After thinking: the answer is 42."
    assert any(isinstance(e, ev.ReasoningToken) for e in decoded)


def test_raw_gives_the_lines_that_came_together_as_one_chunk(fake):
    # As a REST read gives several lines at once, so a relay writes once per message, not per line.
    fake.configure(mgw_batch=25)
    client = make_client(fake)
    with client.new_conversation({"message": "#scenario:long?n=200&size=8"}) as stream:
        chunks = [chunk for chunk in stream.raw() if chunk is not None]
    lines = b"".join(chunks).splitlines()
    assert all(chunk.endswith(b"\n") for chunk in chunks)  # whole lines only
    assert len(lines) > 200 and len(chunks) <= len(lines) / 10, (len(chunks), len(lines))


# -- one event model: the same scenarios through both lanes ---------------------------------------------
class Collector:
    def content(self, text, annotations):
        pass

    def reasoning(self, text):
        pass

    def tool_calls(self, calls):
        pass

    def comment(self, text):
        pass


def visible(client, message) -> dict:
    """What a chat completion shows for one answer (the Answer the OpenAI layer builds)."""
    answer = Answer(AnswerOptions(), Collector())
    try:
        with client.new_conversation({"message": message, "temporary": True}) as stream:
            for event in stream.events():
                answer.feed(event)
                if answer.finished:
                    break
    except gerr.GrokError as exc:
        return {"raised": (type(exc).__name__, exc.failure_class, getattr(exc, "retry_after", None))}
    if answer.error is not None:
        return {"error": (answer.error.failure_class, answer.error.message)}
    answer.close()
    # Each answer generates images of its own: their ids differ, their place and number must not.
    return {
        "content": UUID.sub("<id>", answer.content),
        "reasoning": answer.reasoning,
        "annotations": answer.annotations,
        "images": [UUID.sub("<id>", url) for url in answer.images],
        "moderated": answer.moderated_images and len(answer.moderated_images),
        "finish": answer.finish_reason,
    }


SCENARIOS = [
    "hello there",
    "q #scenario:thinking",
    "q #scenario:multi_agent",
    "q #scenario:search",
    "q #scenario:image?count=3&moderated=1",
    "q #scenario:artifact",
    "q #scenario:tool_call",
    "q #scenario:long?n=300",
    "q #scenario:empty_answer",
    "q #scenario:malformed",
    "q #scenario:invalid_utf8",
    "q #scenario:inband_error?code=13&message=boom",
    "q #scenario:inband_error?code=7&message=Request+rejected+by+anti-bot+rules.&where=top",
    "q #scenario:usage_limit",
    "q #scenario:rate_limited?retry_after=12",
    "q #scenario:expired",
    "q #scenario:anti_bot",
    "q #scenario:blocked",
    "q #scenario:model_not_found",
    "q #scenario:outdated",
    "q #scenario:huge_line",
]


@pytest.mark.parametrize("message", SCENARIOS)
def test_both_lanes_show_the_client_the_same_answer(fake, message):
    rest = visible(make_client(fake, "rest"), message)
    ws = visible(make_client(fake, "ws"), message)
    if "raised" in rest and rest["raised"][1] == gerr.PAYLOAD_OUTDATED:
        assert ws["raised"][1] == rest["raised"][1]
    else:
        assert ws == rest


def test_dropped_connections_fail_alike(fake):
    for lane in ("rest", "ws"):
        with pytest.raises(gerr.UpstreamConnectionError) as err:
            chat(make_client(fake, lane), "#scenario:drop")
        assert err.value.dropped


# -- the lane choice ------------------------------------------------------------------------------------
@pytest.mark.parametrize("retired", ["404", "410", "outdated"])
def test_auto_retries_a_retired_rest_chat_on_the_websocket_and_switches_once(fake, retired):
    fake.configure(rest_chat_retired=retired)
    client = make_client(fake, "auto")
    assert text_of(chat(client, "hi")) == "Hello from fake grok. You said: hi"
    assert len(fake.requests_log(NEW)) == 1 and len(fake.requests_log(GATEWAY)) == 1
    state = client.lane_switch.current()
    assert state["lane"] == WS
    assert f"HTTP {400 if retired == 'outdated' else retired}" in state["reason"]
    assert client.lane_switch.switch(WS, "again") is False  # already switched
    chat(client, "again")
    assert len(fake.requests_log(NEW)) == 1, "a switched client goes straight to the WebSocket"


def test_auto_switch_is_logged_once_at_warning(fake, caplog):
    fake.configure(rest_chat_retired="404")
    client = make_client(fake, "auto")
    with caplog.at_level("WARNING", logger="grok_web_api.lanes"):
        chat(client, "one")
        chat(client, "two")
    switches = [r for r in caplog.records if "retired endpoint" in r.getMessage()]
    assert len(switches) == 1 and switches[0].levelname == "WARNING"


def test_concurrent_chats_when_rest_retires_all_succeed_with_one_switch(fake):
    fake.configure(rest_chat_retired="404")
    switch = MemoryLaneSwitch()
    flips = []
    real = switch.switch
    switch.switch = lambda lane, reason: flips.append(real(lane, reason)) or flips[-1]
    client = make_client(fake, "auto")
    client.lane_switch = switch
    jobs = [gevent.spawn(chat, client, f"m{i} #scenario:slow?n=3&delay=0.05") for i in range(20)]
    gevent.joinall(jobs, raise_error=True)
    assert all(text_of(job.value) == "s0 s1 s2 " for job in jobs)
    assert flips.count(True) == 1


def test_a_missing_conversation_is_not_a_retired_endpoint(fake):
    client = make_client(fake, "auto")
    with pytest.raises(gerr.NotFound):
        client.add_response("c0ffee00-1111-4222-8333-444455556666", {"message": "x"})
    assert client.lane_switch.current() is None
    assert fake.requests_log(GATEWAY) == []


def test_no_switch_when_the_websocket_fails_too(fake):
    fake.configure(rest_chat_retired="404", mgw_require_castle=True)
    client = make_client(fake, "auto")
    with pytest.raises(gerr.AntiBotRejected) as err:
        chat(client, "hi")
    assert err.value.failure_class == gerr.CASTLE
    assert client.lane_switch.current() is None


def test_a_pinned_rest_lane_never_tries_the_websocket(fake):
    fake.configure(rest_chat_retired="404")
    client = make_client(fake, "rest")
    with pytest.raises(gerr.NotFound):
        chat(client, "hi")
    assert fake.requests_log(GATEWAY) == [] and fake.requests_log(SESSION) == []


def test_the_ws_stream_type_is_what_the_lane_returns(fake):
    with make_client(fake).new_conversation({"message": "hi"}) as stream:
        assert isinstance(stream, WsChatStream)
