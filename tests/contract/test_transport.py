"""The gevent-native transport against the fake grok.com, through real sockets."""

import time

import gevent
import pytest

from app.grok.errors import ResponseTooLarge, UpstreamConnectionError, UpstreamTimeout
from app.grok.transport import Transport

CHAT = "/rest/app-chat/conversations/new"


@pytest.fixture
def transport():
    return Transport()


def chat_request(fake, message):
    import json

    return dict(
        method="POST",
        url=fake.url(CHAT),
        headers=list(fake.grok_headers("POST", CHAT).items()),
        body=json.dumps({"message": message}).encode(),
    )


def test_stream_arrives_incrementally(fake, transport):
    stream = transport.stream(**chat_request(fake, "#scenario:slow?n=6&delay=0.2"))
    arrivals = []
    with stream:
        assert stream.status == 200
        for chunk in stream.chunks():
            if b'"token":"s' in chunk:
                arrivals.append(time.monotonic())
    assert len(arrivals) >= 5, "tokens must arrive in separate reads, not one burst"
    assert arrivals[-1] - arrivals[0] >= 0.6


def test_closing_early_aborts_upstream_within_a_second(fake, transport):
    stream = transport.stream(**chat_request(fake, "#scenario:slow?n=50&delay=0.2"))
    chunks = stream.chunks()
    next(chunks)
    closed_at = time.time()
    stream.close()
    assert transport.active_transfers == 0
    stats = fake.wait_stats(lambda s: s["streams_aborted"] >= 1, timeout=3)
    assert stats["streams_aborted"] == 1
    assert stats["last_abort_time"] - closed_at < 1.0
    assert stats["active_streams"] == 0


def test_closing_an_idle_stream_aborts_it(fake, transport):
    stream = transport.stream(**chat_request(fake, "#scenario:idle?gap=30"))
    next(stream.chunks())
    stream.close()
    stats = fake.wait_stats(lambda s: s["streams_aborted"] >= 1, timeout=3)
    assert stats["active_streams"] == 0


def test_connections_are_reused(fake, transport):
    path = "/rest/app-chat/conversations"
    for _ in range(10):
        resp = transport.request(
            "GET", fake.url(path) + "?pageSize=1", headers=list(fake.grok_headers("GET", path, json_body=False).items())
        )
        assert resp.status == 200
    for _ in range(3):
        with transport.stream(**chat_request(fake, "hello")) as stream:
            stream.read()
    stats = fake.stats()
    assert stats["requests"] == 13
    assert stats["connections_accepted"] <= 2


def test_concurrent_streams_progress_in_parallel(fake, transport):
    def one():
        with transport.stream(**chat_request(fake, "#scenario:slow?n=10&delay=0.1")) as stream:
            return stream.read().count(b"\n")

    started = time.monotonic()
    jobs = [gevent.spawn(one) for _ in range(20)]
    gevent.joinall(jobs, raise_error=True)
    elapsed = time.monotonic() - started
    assert all(job.value > 10 for job in jobs)
    # Serialized they would take 20 x 1 s; in parallel about 1 s.
    assert elapsed < 8


def test_total_timeout_for_plain_requests(fake, transport):
    path = "/rest/app-chat/conversations"
    fake.enqueue(path, method="GET", status=200, body={"conversations": []}, delay=3)
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        transport.request(
            "GET", fake.url(path), headers=list(fake.grok_headers("GET", path, False).items()), timeout=0.5
        )
    assert time.monotonic() - started < 2.5


def test_idle_timeout_between_bytes_of_a_stream(fake, transport):
    stream = transport.stream(**chat_request(fake, "#scenario:idle?gap=30"), idle_timeout=0.5)
    chunks = stream.chunks()
    next(chunks)
    with pytest.raises(UpstreamTimeout):
        for _ in chunks:
            pass
    assert stream.closed
    fake.wait_stats(lambda s: s["active_streams"] == 0, timeout=3)


def test_stream_length_is_not_capped_by_the_idle_timeout(fake, transport):
    # 12 tokens 0.1 s apart = 1.2 s in total, with an idle timeout of 0.5 s.
    stream = transport.stream(**chat_request(fake, "#scenario:slow?n=12&delay=0.1"), idle_timeout=0.5)
    with stream:
        body = stream.read()
    assert body.count(b'"token":"s') == 12


def test_slow_response_headers_time_out(fake, transport):
    with pytest.raises(UpstreamTimeout):
        transport.stream(**chat_request(fake, "#scenario:slow_headers?delay=3"), idle_timeout=0.5)
    assert transport.active_transfers == 0


def test_heartbeat_ticks_during_silence(fake, transport):
    stream = transport.stream(**chat_request(fake, "#scenario:idle?gap=30"), idle_timeout=5)
    ticks = 0
    with stream:
        for chunk in stream.chunks(heartbeat=0.2):
            if chunk is None:
                ticks += 1
                if ticks == 3:
                    break
    assert ticks == 3


def test_dropped_connection_raises_connection_error(fake, transport):
    stream = transport.stream(**chat_request(fake, "#scenario:drop"))
    with pytest.raises(UpstreamConnectionError) as info:
        stream.read()
    assert info.value.dropped


def test_connection_refused(transport):
    from tests.support.gunicorn import free_port

    with pytest.raises(UpstreamConnectionError) as info:
        transport.request("GET", f"http://127.0.0.1:{free_port()}/x")
    assert not info.value.dropped


def test_gzip_bodies_are_decoded(fake, transport):
    with transport.stream(**chat_request(fake, "#scenario:gzip")) as stream:
        body = stream.read()
    assert b'"isSoftStop":true' in body


def test_slow_reader_pauses_the_transfer_with_bounded_buffering(fake):
    transport = Transport(max_buffered_bytes=64 * 1024)
    stream = transport.stream(**chat_request(fake, "#scenario:long?n=4000&size=200"))
    with stream:
        first = next(stream.chunks())
        gevent.sleep(0.5)  # the reader stalls while the upstream keeps sending
        transfer = stream._transfer
        assert transfer.paused, "the transfer must be paused while the reader stalls"
        assert transfer.buffered <= 64 * 1024 + 16 * 1024
        rest = stream.read()
    assert (first + rest).count(b'"token"') >= 4000


def test_chrome_impersonation_and_explicit_headers(fake, transport):
    path = "/rest/app-chat/conversations"
    transport.request("GET", fake.url(path), headers=list(fake.grok_headers("GET", path, False).items()))
    headers = fake.requests_log(path)[-1]["headers"]
    assert "Chrome/136" in headers["user-agent"]
    assert headers["sec-ch-ua"].startswith('"Chromium";v="136"')
    assert "upgrade" not in headers and "http2-settings" not in headers


def test_a_large_request_body_arrives_whole_through_the_small_send_buffer(fake, transport):
    message = "".join(f"{i:07d}," for i in range(400_000))  # 3.2 MB, far over the 16 KB buffer
    with transport.stream(**chat_request(fake, message)) as upstream:
        assert upstream.status == 200
        upstream.read()
    assert fake.requests_log(CHAT)[-1]["body"]["message"] == message


def test_an_open_stream_no_longer_holds_a_request_body_sent_whole(fake, transport):
    import sys

    request = chat_request(fake, "#scenario:slow?n=4&delay=0.2 " + "p" * 50_000)
    body = request["body"]
    alone = sys.getrefcount(body) - 1  # this test's own references (the dict and `body`)
    with transport.stream(**request) as upstream:
        assert upstream.status == 200  # the answer is under way, the request was sent
        assert sys.getrefcount(body) - 1 == alone  # libcurl's reference is gone
        assert b'"token"' in b"".join(upstream.chunks())
    assert fake.requests_log(CHAT)[-1]["body"]["message"].endswith("p" * 50_000)


def _big_conversation(fake, size: int) -> str:
    path = "/rest/app-chat/conversations/c-big"
    fake.enqueue(path, body={"conversationId": "c-big", "title": "x" * size})
    return path


def test_a_buffered_answer_over_the_stream_buffer_arrives_whole(fake):
    # The stream buffer (1 MiB) pauses a transfer until its reader drains it; a buffered request
    # has no reader until the end, so a 1.5 MB answer used to stall until the deadline.
    path = _big_conversation(fake, 1_500_000)
    transport = Transport(request_timeout=5)
    reply = transport.request("GET", fake.url(path), headers=list(fake.grok_headers("GET", path, False).items()))
    assert reply.status == 200 and len(reply.content) > 1_500_000


def test_a_buffered_answer_over_the_response_limit_fails_at_once(fake):
    path = _big_conversation(fake, 300_000)
    transport = Transport(request_timeout=30, max_response_bytes=100_000)
    with pytest.raises(ResponseTooLarge, match="larger than 100000 bytes") as info:
        transport.request("GET", fake.url(path), headers=list(fake.grok_headers("GET", path, False).items()))
    assert "/raw/" in info.value.advice and transport.active_transfers == 0
