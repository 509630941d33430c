"""app.web.streaming.ndjson_relay: line framing, heartbeats and failure lines (pure generator logic)."""

from __future__ import annotations

import json

from app.grok.errors import UpstreamConnectionError, UpstreamTimeout
from app.web import streaming
from app.web.streaming import ndjson_relay


class Scripted:
    """An upstream stream replaying chunks (None = a heartbeat tick), optionally failing at the end."""

    def __init__(self, *items, fail=None):
        self.items = items
        self.fail = fail
        self.closed = False

    def raw(self, heartbeat):
        yield from self.items
        if self.fail:
            raise self.fail

    def close(self):
        self.closed = True


def relay(stream) -> bytes:
    return b"".join(ndjson_relay(stream, heartbeat=1.0))


def test_complete_lines_pass_through_unchanged_and_the_stream_is_closed():
    stream = Scripted(b'{"a":1}\n', b'{"b":2}\n{"c":3}\n')
    assert relay(stream) == b'{"a":1}\n{"b":2}\n{"c":3}\n'
    assert stream.closed


def test_a_line_split_across_chunks_is_sent_once_complete():
    out = list(ndjson_relay(Scripted(b'{"a":', b'1}\n{"b"', b":2}\n"), 1.0))
    assert out == [b'{"a":1}\n', b'{"b":2}\n']


def test_heartbeats_are_empty_lines_only_between_lines():
    out = list(ndjson_relay(Scripted(None, b'{"a":1}\n', None, b'{"b":', None, b"2}\n"), 1.0))
    # The held half line has not been sent, so the client is between lines and gets the padding.
    assert out == [b"\n", b'{"a":1}\n', b"\n", b"\n", b'{"b":2}\n']
    assert all(json.loads(line) for line in b"".join(out).split(b"\n") if line)


def test_a_last_line_without_newline_is_still_forwarded():
    assert relay(Scripted(b'{"a":1}\n{"b":2}')) == b'{"a":1}\n{"b":2}'


def test_a_failure_ends_with_an_error_line_and_drops_the_unfinished_line():
    stream = Scripted(b'{"a":1}\n{"token":"trun', fail=UpstreamConnectionError("reset", dropped=True))
    lines = relay(stream).split(b"\n")
    assert lines[0] == b'{"a":1}' and lines[-1] == b""
    error = json.loads(lines[1])["error"]
    assert error["type"] == "upstream_error" and error["status"] == 502 and "error" not in error
    assert len(lines) == 3 and stream.closed


def test_a_timeout_before_any_byte_is_a_single_error_line():
    lines = relay(Scripted(None, fail=UpstreamTimeout("no data"))).split(b"\n")
    assert lines[0] == b"" and json.loads(lines[1])["error"]["type"] == "gateway_timeout"


def test_an_overlong_unfinished_line_is_streamed_and_the_error_starts_a_new_line(monkeypatch):
    monkeypatch.setattr(streaming, "HOLD_LIMIT", 8)
    stream = Scripted(b'{"big":"0123456789', None, b"abcdef", fail=UpstreamTimeout("idle"))
    out = list(ndjson_relay(stream, 1.0))
    # Forwarded although unfinished (it is over the limit), then its rest as it comes, with no
    # heartbeat inside the line; the error line starts on a line of its own.
    assert out[:2] == [b'{"big":"0123456789', b"abcdef"]
    assert len(out) == 3 and out[2].startswith(b"\n{")
    assert json.loads(out[2])["error"]["type"] == "gateway_timeout"


def test_closing_the_relay_closes_the_upstream():
    stream = Scripted(b'{"a":1}\n', b'{"b":2}\n')
    relay_gen = ndjson_relay(stream, 1.0)
    next(relay_gen)
    relay_gen.close()  # what gunicorn does when the client went away
    assert stream.closed
