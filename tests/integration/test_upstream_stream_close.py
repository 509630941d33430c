"""Closing an UpstreamStream from another greenlet (the WebSocket stop) ends its reader at once."""

from __future__ import annotations

import time

import gevent


def test_close_from_another_greenlet_wakes_the_reader_and_aborts(grok_client, fake):
    stream = grok_client.new_conversation({"message": "#scenario:idle?gap=600"})
    received = []

    def read():
        for chunk in stream.raw():
            received.append(chunk)

    reader = gevent.spawn(read)
    deadline = time.monotonic() + 5
    while not any(b"Before the gap" in c for c in received) and time.monotonic() < deadline:
        gevent.sleep(0.02)
    closed_at = time.monotonic()
    stream.close()
    reader.join(timeout=2)
    assert reader.dead and reader.exception is None
    assert time.monotonic() - closed_at < 1.0  # not the 120 s idle timeout
    fake.wait_stats(lambda s: s["streams_aborted"] == 1)
