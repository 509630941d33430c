"""/v1/chat/ws through a real WebSocket client against gunicorn's gevent worker."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request

import pytest
import simple_websocket

from tests.support.gunicorn import live_server_fixtures

APP = "/rest/app-chat"
KEY = "ws-test-key"


module_server, live = live_server_fixtures(API_KEY=KEY, HEARTBEAT_SECS="0.5")


@pytest.fixture
def ws(live):
    client = connect(live)
    yield client
    try:
        client.close()
    except simple_websocket.ConnectionClosed:
        pass


def connect(server, key: str | None = KEY):
    headers = {"Authorization": f"Bearer {key}"} if key else None
    return simple_websocket.Client.connect(server.url.replace("http", "ws") + "/v1/chat/ws", headers=headers)


def send(ws, frame) -> None:
    ws.send(json.dumps(frame))


def receive(ws, timeout: float = 10.0) -> dict:
    data = ws.receive(timeout=timeout)
    assert data is not None, "no frame within the timeout"
    return json.loads(data)


def turn(ws, timeout: float = 15.0) -> list[dict]:
    """Frames up to and including the turn's done or error frame."""
    frames = []
    deadline = time.monotonic() + timeout
    while True:
        frame = receive(ws, deadline - time.monotonic())
        frames.append(frame)
        if frame["type"] in ("done", "error"):
            return frames


def events(frames, name: str) -> list[dict]:
    return [f["data"] for f in frames if f["type"] == "event" and f["event"] == name]


def text(frames) -> str:
    return "".join(e["text"] for e in events(frames, "token"))


def test_a_conversation_over_one_socket(ws, live):
    send(ws, {"type": "chat", "message": "hello socket", "temporary": True, "modeId": None, "futureField": 1})
    first = turn(ws)
    done = first[-1]
    assert done["type"] == "done" and done["reason"] == "completed"
    [created] = events(first, "conversationCreated")
    assert done["conversationId"] == created["conversationId"]
    [model] = events(first, "modelResponse")
    assert done["responseId"] == model["responseId"] and done["title"]
    assert "You said: hello socket" in text(first)
    assert events(first, "softStop") == [{}]
    [sent] = live.fake.requests_log(f"{APP}/conversations/new")
    assert sent["body"] == {"message": "hello socket", "temporary": True, "futureField": 1}

    # A message frame without conversationId continues the socket's conversation.
    send(ws, {"type": "message", "message": "and more", "parentResponseId": done["responseId"]})
    second = turn(ws)
    assert second[-1]["type"] == "done" and second[-1]["conversationId"] == done["conversationId"]
    assert "You said: and more" in text(second)
    [cont] = live.fake.requests_log(f"{APP}/conversations/{done['conversationId']}/responses")
    assert cont["body"] == {"message": "and more", "parentResponseId": done["responseId"]}


def test_message_frames_can_name_any_conversation(ws, live):
    send(ws, {"type": "chat", "message": "first"})
    cid = turn(ws)[-1]["conversationId"]
    other = connect(live)
    try:
        send(other, {"type": "message", "conversationId": cid, "message": "from elsewhere"})
        frames = turn(other)
        assert frames[-1]["type"] == "done" and frames[-1]["conversationId"] == cid
    finally:
        other.close()


def test_stop_aborts_the_stream_and_tells_grok(ws, live):
    send(ws, {"type": "chat", "message": "#scenario:slow?n=200&delay=0.1"})
    frames = []
    while not events(frames, "token"):
        frames.append(receive(ws))
    send(ws, {"type": "stop"})
    rest = turn(ws)
    done = rest[-1]
    assert done["type"] == "done" and done["reason"] == "stopped" and done["upstreamStopped"] is True
    assert done["conversationId"]
    stats = live.fake.wait_stats(lambda s: s["streams_aborted"] == 1)
    assert stats["streams_completed"] == 0
    [stop] = live.fake.requests_log(f"{APP}/conversations/{done['conversationId']}/stop-inflight-responses")
    assert stop["method"] == "POST"
    assert len(events(frames + rest, "token")) < 100
    # Nothing of the stopped turn follows its done frame, and the socket stays usable.
    send(ws, {"type": "ping"})
    assert receive(ws) == {"type": "pong"}


def test_stop_while_waiting_for_grok_to_answer(ws, live):
    send(ws, {"type": "chat", "message": "#scenario:slow_headers?delay=5"})
    live.fake.wait_stats(lambda s: s["requests"] == 1)
    send(ws, {"type": "stop"})
    done = receive(ws)
    assert done["type"] == "done" and done["reason"] == "stopped"
    assert done["upstreamStopped"] is False and done["conversationId"] is None  # nothing to name yet
    live.fake.wait_stats(lambda s: s["connections_open"] == 0, timeout=2.0)


def test_ping_pong_and_refused_frames(ws, live):
    send(ws, {"type": "ping"})
    assert receive(ws) == {"type": "pong"}
    ws.send("not json")
    assert receive(ws)["problem"]["type"] == "bad_request"
    send(ws, {"type": "dance"})
    assert receive(ws)["problem"]["detail"].startswith("a frame is a JSON object whose type")
    send(ws, {"type": "chat", "temporary": "yes"})
    problem = receive(ws)["problem"]
    assert problem["status"] == 422 and set(problem["errors"]) == {"message", "temporary"}
    send(ws, {"type": "message", "message": "no conversation yet"})
    assert receive(ws)["problem"]["type"] == "invalid_request"
    send(ws, {"type": "message", "conversationId": "../x", "message": "x"})
    assert "conversationId" in receive(ws)["problem"]["detail"]
    send(ws, {"type": "stop"})
    assert receive(ws)["problem"]["status"] == 409
    assert live.fake.requests_log(APP) == []


def test_frames_python_cannot_parse_are_refused_and_the_socket_lives_on(ws, live):
    # A deep nest used to end the socket with close code 1011 (RecursionError in json.loads).
    ws.send("[" * 200_000)
    problem = receive(ws)["problem"]
    assert problem["status"] == 400 and "deeper than 128" in problem["detail"]
    ws.send('{"type": "chat", "message": "x", "seed": ' + "9" * 5000 + "}")
    problem = receive(ws)["problem"]
    assert problem["status"] == 400 and "more than 4300 digits" in problem["detail"]
    send(ws, {"type": "ping"})
    assert receive(ws) == {"type": "pong"}
    assert live.fake.requests_log(APP) == []


def test_one_turn_at_a_time(ws, live):
    send(ws, {"type": "chat", "message": "#scenario:slow?n=10&delay=0.1"})
    send(ws, {"type": "chat", "message": "second"})
    frames = turn(ws)  # the refusal comes first: it is answered at once
    assert frames[-1]["type"] == "error" and frames[-1]["problem"]["type"] == "turn_in_progress"
    finished = turn(ws)
    assert finished[-1]["type"] == "done" and finished[-1]["reason"] == "completed"
    assert len(live.fake.requests_log(f"{APP}/conversations/new")) == 1


@pytest.mark.parametrize(
    "scenario,status,problem_type",
    [
        ("rate_limited", 429, "rate_limited"),
        ("expired", 503, "auth_expired"),
        ("anti_bot", 403, "anti_bot"),
        ("server_error?status=502", 502, "upstream_error"),
    ],
)
def test_upstream_failures_are_error_frames(ws, scenario, status, problem_type):
    send(ws, {"type": "chat", "message": f"#scenario:{scenario}"})
    [error] = turn(ws)
    assert error["type"] == "error"
    assert error["problem"]["status"] == status and error["problem"]["type"] == problem_type


def test_failures_after_the_first_event_end_the_turn_with_an_error_frame(ws):
    send(ws, {"type": "chat", "message": "#scenario:drop"})
    frames = turn(ws)
    assert "Dropping the connection" in text(frames)
    assert frames[-1]["type"] == "error" and frames[-1]["problem"]["type"] == "upstream_error"
    send(ws, {"type": "chat", "message": "#scenario:inband_error?code=8"})
    frames = turn(ws)
    assert "Partial answer then" in text(frames)
    assert frames[-1]["problem"]["type"] == "rate_limited" and "perf_based_admission" in frames[-1]["problem"]["detail"]


def test_a_dead_socket_aborts_its_upstream(live):
    client = connect(live)
    send(client, {"type": "chat", "message": "#scenario:idle?gap=600"})
    while not events([receive(client)], "token"):
        pass
    client.sock.shutdown(socket.SHUT_RDWR)  # gone without a close frame
    client.sock.close()
    gone = time.time()
    stats = live.fake.wait_stats(lambda s: s["streams_aborted"] == 1, timeout=1.0)
    assert stats["aborts"][0]["time"] - gone < 1.0


def test_the_api_key_is_checked_on_the_upgrade_request(live):
    with pytest.raises(simple_websocket.ConnectionError):
        connect(live, key=None)
    with pytest.raises(simple_websocket.ConnectionError):
        connect(live, key="wrong")
    client = connect(live)
    send(client, {"type": "ping"})
    assert receive(client) == {"type": "pong"}
    client.close()


def test_plain_http_gets_426(live):
    request = urllib.request.Request(live.url + "/v1/chat/ws", headers={"Authorization": f"Bearer {KEY}"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 426 and caught.value.headers["Upgrade"] == "websocket"


def test_server_pings_keep_an_idle_socket_open(ws):
    time.sleep(2.0)  # four ping intervals; the client library answers the pings
    send(ws, {"type": "ping"})
    assert receive(ws) == {"type": "pong"}


def test_a_socket_that_stops_answering_pings_is_closed_and_its_upstream_aborted(live):
    """A client that is still connected but no longer answers (a frozen tab, a half-open TCP)."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request, TextMessage

    conn = WSConnection(ConnectionType.CLIENT)
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
        sock.sendall(
            conn.send(
                Request(
                    host="127.0.0.1", target="/v1/chat/ws", extra_headers=[(b"authorization", f"Bearer {KEY}".encode())]
                )
            )
        )
        accepted = []
        while not accepted:
            conn.receive_data(sock.recv(65536))
            accepted = [e for e in conn.events() if isinstance(e, AcceptConnection)]
        sock.sendall(conn.send(TextMessage(json.dumps({"type": "chat", "message": "#scenario:idle?gap=600"}))))
        live.fake.wait_stats(lambda s: s["streams_started"] == 1, timeout=5)
        sent = time.monotonic()
        # From here on nothing is read: the server's pings go unanswered.
        live.fake.wait_stats(lambda s: s["streams_aborted"] == 1, timeout=5)
        assert time.monotonic() - sent < 3.0  # two 0.5 s ping intervals, with a wide margin
