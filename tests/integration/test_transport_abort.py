"""CurlPool.abort_all, the graceful-shutdown hook, against the fake grok.com (real sockets)."""

from __future__ import annotations

import time

import gevent
import pytest

from app.grok.client import GrokClient
from app.grok.errors import ServerShuttingDown
from app.grok.transport import CurlPool, Transport


@pytest.fixture
def own_transport():
    """A transport with a pool of the test's own: abort_all makes it refuse every later request."""
    return Transport(idle_timeout=10, pool=CurlPool())


def test_abort_all_fails_a_running_stream_after_its_received_bytes(fake, settings_for, own_transport):
    client = GrokClient.from_settings(settings_for(), transport=own_transport)
    stream = client.new_conversation({"message": "#scenario:slow?n=200&delay=0.05", "temporary": True})
    received = []
    gevent.spawn_later(0.4, own_transport.pool.abort_all, ServerShuttingDown("server shutting down"))
    started = time.monotonic()
    with pytest.raises(ServerShuttingDown):
        for chunk in stream.raw():
            received.append(chunk)
    assert time.monotonic() - started < 3
    assert received and b"conversation" in received[0]
    assert own_transport.active_transfers == 0
    fake.wait_stats(lambda s: s["streams_aborted"] == 1)
    stream.close()  # closing after the abort is harmless


def test_abort_all_fails_a_waiting_request_and_refuses_new_ones(fake, settings_for, own_transport):
    client = GrokClient.from_settings(settings_for(), transport=own_transport)
    fake.enqueue("/rest/app-chat/conversations", method="GET", body={"conversations": []}, delay=5)
    gevent.spawn_later(0.3, own_transport.pool.abort_all, ServerShuttingDown("server shutting down"))
    started = time.monotonic()
    with pytest.raises(ServerShuttingDown):
        client.list_conversations()
    assert time.monotonic() - started < 3
    fake.clear()
    with pytest.raises(ServerShuttingDown):
        client.list_conversations()
    assert fake.requests_log("/rest/app-chat/conversations") == []
    assert client.state.failures_by_class == {"shutting_down": 2}
