"""The WebSocket frame codec of app.grok.websocket, without a socket: whatever way the bytes
are cut by the network, the same messages come out."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.grok.websocket import MessageTooBig, _client_frame, _FrameReader, _ProtocolError
from tests.fakegrok.wsframes import OP_CLOSE, OP_CONT, OP_PING, OP_TEXT, frame
from tests.fakegrok.wsframes import _unmask as unmask

messages = st.lists(st.binary(max_size=70_000), min_size=1, max_size=6)


def server_frames(draw_sizes, payloads, pings):
    """Each message in fragments of the drawn sizes, with a ping after every first fragment."""
    out = []
    n = len(payloads)
    for payload, size, ping in zip(payloads, draw_sizes[:n], pings[:n], strict=True):
        size = max(1, size)
        pieces = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
        for i, piece in enumerate(pieces):
            out.append(frame(OP_TEXT if i == 0 else OP_CONT, piece, fin=i == len(pieces) - 1))
            if i == 0 and ping is not None:
                out.append(frame(OP_PING, ping))
    return b"".join(out)


@settings(max_examples=60, deadline=None)
@given(
    payloads=messages,
    sizes=st.lists(st.integers(1, 80_000), min_size=6, max_size=6),
    pings=st.lists(st.none() | st.binary(max_size=125), min_size=6, max_size=6),
    cuts=st.lists(st.integers(1, 5000), min_size=1, max_size=40),
)
def test_messages_survive_any_cutting_of_the_stream(payloads, sizes, pings, cuts):
    data = server_frames(sizes, payloads, pings)
    reader = _FrameReader(1 << 20)
    pos = 0
    i = 0
    while pos < len(data):
        step = cuts[i % len(cuts)]
        reader.feed(data[pos : pos + step])
        pos += step
        i += 1
    assert list(reader.messages) == payloads
    assert list(reader.pings) == [p for p in pings[: len(payloads)] if p is not None]
    assert reader.close is None


def test_a_close_frame_ends_the_reading():
    reader = _FrameReader(1024)
    reader.feed(frame(OP_TEXT, b"last") + frame(OP_CLOSE, struct.pack("!H", 4001) + b"gone") + frame(OP_TEXT, b"x"))
    assert list(reader.messages) == [b"last"]
    assert reader.close == (4001, "gone")


def test_the_limit_counts_every_fragment_of_a_message():
    reader = _FrameReader(10)
    reader.feed(frame(OP_TEXT, b"123456", fin=False))
    with pytest.raises(MessageTooBig):
        reader.feed(frame(OP_CONT, b"789012"))


def test_a_message_at_the_limit_is_delivered():
    reader = _FrameReader(10)
    reader.feed(frame(OP_TEXT, b"12345", fin=False) + frame(OP_CONT, b"67890"))
    assert list(reader.messages) == [b"1234567890"]


def test_a_64_bit_length_with_its_top_bit_set_is_refused_by_the_limit():
    with pytest.raises(MessageTooBig):
        _FrameReader(1 << 20).feed(b"\x81\x7f" + b"\xff" * 8)


def test_an_oversized_control_frame_is_a_protocol_error():
    with pytest.raises(_ProtocolError):
        _FrameReader(1024).feed(b"\x89\x7e\x00\x80" + b"p" * 128)


@given(payload=st.binary(max_size=70_000))
@settings(max_examples=40, deadline=None)
def test_client_frames_are_masked_and_decode_to_their_payload(payload):
    data = _client_frame(OP_TEXT, payload)
    assert data[0] == 0x80 | OP_TEXT and data[1] & 0x80  # final, masked
    length = data[1] & 0x7F
    pos = 2
    if length == 126:
        (length,) = struct.unpack_from("!H", data, 2)
        pos = 4
    elif length == 127:
        (length,) = struct.unpack_from("!Q", data, 2)
        pos = 10
    key = data[pos : pos + 4]
    assert length == len(payload) and len(data) == pos + 4 + length
    assert unmask(data[pos + 4 :], key) == payload


def test_every_client_frame_has_a_fresh_mask():
    keys = {_client_frame(OP_TEXT, b"same")[2:6] for _ in range(20)}
    assert len(keys) > 15
