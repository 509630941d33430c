"""The fake grok.com's mgw lane speaks in the shapes of the real captures: the same envelope and
event fields as the golden frames, `pong` for `ping`, several events per message when asked,
fragmented messages, and the faults the lane must survive."""

from __future__ import annotations

import json
import re

import pytest

from app.grok import errors as gerr
from app.grok.lanes import mgw
from app.grok.transport import Transport
from tests.unit.test_mgw import F10

UID = "00000000-0000-4000-8000-00000000f00d"
EVENT_ID = re.compile(r"^evt_[0-9a-f]{32}_\d+$")


def shape(value):
    """The keys of a frame, nested, without the values (lists by their first item)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def subset(small, big) -> bool:
    if isinstance(small, dict):
        return isinstance(big, dict) and all(k in big and subset(v, big[k]) for k, v in small.items())
    if isinstance(small, list):
        return isinstance(big, list) and (not small or (big and subset(small[0], big[0])))
    return small == big or (small == "float" and big == "int") or (small == "int" and big == "float")


@pytest.fixture
def socket(fake):
    transport = Transport()
    headers = [
        ("origin", fake.base_url),
        ("cookie", f"sso={fake.sso}; sso-rw={fake.sso_rw}; x-userid={UID}"),
    ]
    ws = transport.websocket(f"{fake.base_url.replace('http', 'ws')}/ws/mgw/?uid={UID}", headers, timeout=5)
    yield ws
    ws.close()


def events_until(ws, kind: str, limit: int = 200) -> list[dict]:
    out = []
    splitter = mgw.EventSplitter(1 << 24)
    for _ in range(limit):
        message = ws.recv(5)
        assert message is not None, f"no {kind} within 5 s: {[e['event']['type'] for e in out]}"
        objects, garbage = splitter.feed(message.decode())
        assert not garbage
        out.extend(objects)
        if any(o["event"]["type"] == kind for o in objects):
            return out
    raise AssertionError(f"no {kind}")


def turn(ws, text: str, **x_grok) -> list[dict]:
    ws.send_text(mgw.encode(mgw.session_create({"message": text, **x_grok})))
    frames = events_until(ws, "conversation.attached")
    conversation = frames[-1]["session_id"]
    ws.send_text(mgw.encode(mgw.item_create({"message": text}, conversation)))
    ws.send_text(mgw.encode(mgw.response_create(conversation)))
    return frames + events_until(ws, "conversation.title.updated")


def golden(kind: str, **match) -> dict:
    for line in F10:
        frame = json.loads(line)
        event = frame["event"]
        if event["type"] == kind and all(event.get("chunk", {}).get(k) is not None for k in match):
            return frame
    raise KeyError(kind)


def test_frames_have_the_shapes_of_the_real_capture(socket):
    frames = turn(socket, "hello")
    by_type = {}
    for frame in frames:
        by_type.setdefault(frame["event"]["type"], []).append(frame)
        assert EVENT_ID.match(frame["event"]["event_id"])
    for kind, match in (
        ("conversation.attached", {}),
        ("response.created", {}),
        ("response.done", {}),
    ):
        assert subset(shape(golden(kind, **match)), shape(by_type[kind][0])), kind
    text_chunk = next(f for f in by_type["response.chunk"] if "text" in f["event"]["chunk"])
    assert subset(shape(golden("response.chunk", text=1)), shape(text_chunk))
    layout = next(f for f in by_type["response.chunk"] if "ui_layout" in f["event"]["chunk"])
    assert subset(shape(golden("response.chunk", ui_layout=1)), shape(layout))
    order = [f["event"]["type"] for f in frames]
    assert order.index("response.created") < order.index("response.done") < order.index("response.persisted")
    assert order.index("response.persisted") < order.index("conversation.title.updated")
    assert all(f["session_id"] == frames[-1]["session_id"] for f in frames if "session_id" in f)


def test_every_ping_gets_a_pong(socket):
    socket.send_text(mgw.encode(mgw.ping()))
    socket.send_text(mgw.encode({"event": {"type": "ping", "event_id": "evt_hb_1"}}))
    pongs = []
    splitter = mgw.EventSplitter(1 << 20)
    while len(pongs) < 2:
        message = socket.recv(5)
        assert message is not None
        pongs.extend(splitter.feed(message.decode())[0])
    assert [p["event"]["type"] for p in pongs] == ["pong", "pong"]
    assert pongs[1]["event"]["client_event_id"] == "evt_hb_1"


def test_several_events_per_message_and_fragments(fake, socket):
    fake.configure(mgw_batch=6, mgw_fragment=40)
    socket.send_text(mgw.encode(mgw.session_create({"message": "x"})))
    conversation = events_until(socket, "conversation.attached")[-1]["session_id"]
    socket.send_text(mgw.encode(mgw.item_create({"message": "many #scenario:plain?tokens=12"}, conversation)))
    socket.send_text(mgw.encode(mgw.response_create(conversation)))
    packed = 0
    splitter = mgw.EventSplitter(1 << 24)
    for _ in range(100):
        message = socket.recv(5).decode()
        objects, _ = splitter.feed(message)
        packed = max(packed, len(objects))
        if any(o["event"]["type"] == "response.done" for o in objects):
            break
    assert packed == 6


def test_the_upgrade_is_as_strict_as_the_page_is_careful(fake):
    transport = Transport()
    url = f"{fake.base_url.replace('http', 'ws')}/ws/mgw/?uid={UID}"
    good = [("origin", fake.base_url), ("cookie", f"sso={fake.sso}; sso-rw={fake.sso_rw}; x-userid={UID}")]
    for headers, reject in (
        ([("origin", "https://evil.example"), good[1]], "origin"),
        ([good[0], ("cookie", f"sso={fake.sso}; sso-rw={fake.sso_rw}")], "x-userid"),
        ([*good, ("authorization", "Bearer x")], "authorization"),
        ([good[0], ("cookie", f"sso=nope; sso-rw=nope; x-userid={UID}")], "cookie"),
    ):
        with pytest.raises(gerr.GrokError):
            transport.websocket(url, headers, timeout=5)
        assert fake.requests_log("/ws/mgw/")[-1]["reject"] == reject
