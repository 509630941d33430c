"""/v1/voice beyond the route matrix: validation, and audio streaming over real HTTP
(gunicorn + gevent): bytes and content type as grok.com sends them, client disconnects
abort the upstream, an upstream failure mid-audio cuts the client connection."""

from __future__ import annotations

import http.client
import socket
import time
import urllib.request

import pytest

from app.grok.client import GrokClient
from app.settings import Settings
from tests.fakegrok.api import FAKE_MP3_FRAME
from tests.support.gunicorn import app_env

from .conftest import start_conversation
from .native_cases import APP, assert_problem

FAKE_AUDIO = b"ID3\x03\x00\x00\x00\x00\x00\x00" + FAKE_MP3_FRAME * 40


@pytest.mark.parametrize(
    "path, body, param",
    [
        ("/v1/voice/tts", {}, "articles"),
        ("/v1/voice/tts", {"articles": "Hello"}, "articles"),
        ("/v1/voice/tts", {"articles": ["Hello"], "sanitize": "yes"}, "sanitize"),
        ("/v1/voice/tts", {"articles": ["Hello"], "voice": 1}, "voice"),
        ("/v1/voice/share", {"text": "t"}, "videoBytes"),
        ("/v1/voice/share", {"videoBytes": "not base64!", "text": "t"}, "videoBytes"),
        ("/v1/voice/share", {"videoBytes": "AAAA"}, "text"),
        ("/v1/voice/post-recording", [1, 2], "body"),
    ],
)
def test_bad_voice_bodies(native_client, fake, path, body, param):
    assert_problem(native_client.post(path, json=body), 422, "invalid_request", param)
    assert fake.requests_log() == []


def test_unknown_response_audio_is_404(native_client, fake):
    assert_problem(native_client.get("/v1/voice/audio/no-such-response"), 404, "not_found")


# ---------------------------------------------------------------- over real HTTP
def response_id(fake) -> str:
    client = GrokClient.from_settings(Settings.from_mapping(app_env(fake)))
    return start_conversation(client)["resp"]


def get(server, path: str):
    return urllib.request.urlopen(server.url + path, timeout=10)


@pytest.mark.parametrize("route", ["read", "audio"])
def test_audio_is_streamed_as_grok_com_sends_it(server, upstream, route):
    rid = response_id(upstream)
    with get(server, f"/v1/voice/{route}/{rid}?voice_id=Eve") as resp:
        assert resp.headers["Content-Type"] == "audio/mpeg"
        assert resp.headers["Transfer-Encoding"] == "chunked"
        assert resp.read() == FAKE_AUDIO
    assert upstream.requests_log(f"{APP}/read-response")[-1]["query"] == {"voiceId": ["Eve"]}


def test_audio_keeps_the_upstream_content_type(server, upstream):
    upstream.enqueue(
        f"{APP}/read-response/r-ogg", headers={"Content-Type": "audio/ogg; codecs=opus"}, lines=["OggS-1", "OggS-2"]
    )
    with get(server, "/v1/voice/read/r-ogg") as resp:
        assert resp.headers["Content-Type"] == "audio/ogg; codecs=opus"
        assert resp.read() == b"OggS-1\nOggS-2\n"


def test_client_disconnect_aborts_the_upstream(server, upstream):
    upstream.enqueue(
        f"{APP}/read-response-audio/r-slow",
        headers={"Content-Type": "audio/mpeg"},
        lines=[f"frame-{i}" for i in range(100)],
        line_delay=0.05,
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /v1/voice/audio/r-slow HTTP/1.1\r\nHost: localhost\r\n\r\n")
        received = b""
        while b"frame-0" not in received:  # headers and the first chunk may come in separate reads
            data = sock.recv(65536)
            assert data, received
            received += data
    stats = upstream.wait_stats(lambda s: s["streams_aborted"] >= 1, timeout=5)
    assert stats["streams_completed"] == 0
    assert stats["aborts"][0]["lines_sent"] < 100


def test_upstream_failure_mid_audio_cuts_the_client_connection(start_server, fake):
    # The upstream goes silent after the first bytes; the 1 s idle timeout ends it.
    srv = start_server(app_env(fake, STREAM_IDLE_TIMEOUT_SECS="1"))
    fake.enqueue(
        f"{APP}/read-response-audio/r-stall",
        headers={"Content-Type": "audio/mpeg"},
        lines=["ID3-start", "never sent in time"],
        line_delay=5,
    )
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.request("GET", "/v1/voice/audio/r-stall")
    resp = conn.getresponse()
    assert resp.status == 200
    with pytest.raises(http.client.IncompleteRead) as truncated:
        resp.read()
    assert truncated.value.partial == b"ID3-start\n"
    conn.close()
    deadline = time.monotonic() + 5
    while "aborting the client response" not in srv.logs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "failed after 10 bytes were relayed; aborting the client response" in srv.logs()
    assert "Traceback" not in srv.logs()
