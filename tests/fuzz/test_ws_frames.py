"""The frames of /v1/chat/ws, fuzzed: whatever text or bytes a client sends, the frame handler
answers with frames (never an exception, which would close the socket with 1011), and every
refusal carries a documented problem. Turns that pass validation reach a stand-in upstream
client that fails at once (the relay of real turns is tested in tests/integration/test_native_ws.py)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import create_app
from app.grok.errors import UpstreamConnectionError
from app.native.chat_ws import ChatSocket
from app.problems import TITLES
from app.routing import Routed
from app.runtime import EXTENSION
from app.settings import Settings
from tests.support.gunicorn import app_env

from .strategies import JSON, POISON, SHORT_TEXT, encode, nested

FRAME_TYPES = st.sampled_from(["chat", "message", "stop", "ping", "pong", "", None, 1])
FRAMES = st.one_of(
    st.builds(lambda kind, body: encode({"type": kind, **body}), FRAME_TYPES, st.dictionaries(SHORT_TEXT, JSON)),
    st.builds(
        lambda kind, key, poison: encode({"type": kind, key: poison}),
        FRAME_TYPES,
        st.sampled_from(["message", "conversationId", "modeId", "fileAttachments", "temporary"]),
        POISON,
    ),
    JSON.map(encode),
    st.sampled_from([b"", b"{", b"[" * 200_000, nested(129), b"9" * 5000, b"\xff\xfe"]),
    st.binary(max_size=64),
)


class RecordingSocket:
    def __init__(self):
        self.sent: list[dict] = []
        self.sock = self

    def send(self, data):
        self.sent.append(json.loads(data))

    def sendall(self, data):  # the raw socket under simple_websocket (unused here)
        pass


class FailingClient:
    """Stands in for the upstream client: every turn fails before any event."""

    def new_conversation(self, body):
        raise UpstreamConnectionError("stand-in upstream")

    def add_response(self, conversation_id, body):
        raise UpstreamConnectionError("stand-in upstream")


@pytest.fixture(scope="module")
def runtime(fake_session):
    app = create_app(Settings.from_mapping(app_env(fake_session, LOG_LEVEL="critical")))
    return app.extensions[EXTENSION]


@settings(max_examples=300, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(frame=FRAMES, as_text=st.booleans())
def test_every_frame_gets_frames_back_never_an_exception(runtime, frame, as_text):
    ws = RecordingSocket()
    session = ChatSocket(ws, Routed("default", FailingClient()), runtime, heartbeat=5)
    data = frame.decode("utf-8", "replace") if as_text else frame
    session.handle(data)
    if session.turn is not None:
        session.turn.greenlet.join(5)
    for sent in ws.sent:
        assert sent["type"] in ("pong", "error"), sent
        if sent["type"] == "error":
            problem = sent["problem"]
            assert problem["type"] in TITLES and 400 <= problem["status"] < 600 and problem["detail"]
