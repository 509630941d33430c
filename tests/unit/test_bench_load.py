"""The bench's load client reads answers straight off the socket (bench/load.py): its HTTP
reading must give the same lines whatever way the bytes are cut."""

from __future__ import annotations

import socket
import threading

import pytest

from bench.load import _body, _read_head

EVENTS = [b'data: {"choices":[{"delta":{"content":"s%d "}}]}\n\n' % i for i in range(30)] + [b"data: [DONE]\n\n"]
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunked(parts):
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def read_answer(wire: bytes, cut: int):
    """Send `wire` in pieces of `cut` bytes from another thread; read it with the bench's reader."""
    ours, theirs = socket.socketpair()

    def send():
        for i in range(0, len(wire), cut):
            theirs.sendall(wire[i : i + cut])
        theirs.close()

    sender = threading.Thread(target=send)
    sender.start()
    try:
        status, is_chunked, rest = _read_head(ours)
        return status, is_chunked, b"".join(_body(ours, rest, is_chunked))
    finally:
        sender.join()
        ours.close()


@pytest.mark.parametrize("cut", [1, 3, 7, 64, 100_000])
def test_a_chunked_answer_is_read_whole_however_its_bytes_are_cut(cut):
    status, is_chunked, body = read_answer(HEAD + chunked(EVENTS), cut)
    assert (status, is_chunked) == (200, True)
    assert body == b"".join(EVENTS)


def test_an_answer_without_chunks_is_read_to_the_end():
    wire = b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 12\r\n\r\n" + b'{"error":{}}'
    assert read_answer(wire, 5) == (429, False, b'{"error":{}}')


def test_chunk_extensions_are_ignored():
    wire = HEAD + b"5;name=value\r\nhello\r\n0\r\n\r\n"
    assert read_answer(wire, 4)[2] == b"hello"
