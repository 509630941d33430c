"""Fault injection through the real app under gunicorn (one gevent worker) against the fake
grok.com: every fault has a defined outcome on each chat route (tests/integration/faults.py),
and nothing leaks.

"Nothing leaks" is checked after every test: the fake has no stream still open, and the
worker (tests/support/instrumented.py) has no transfer on its libcurl multi handle and no
transfer object left reachable by any greenlet. The last test checks that the worker still
serves 50 concurrent streams and that its greenlets are back to where they started.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import httpx2
import openai
import pytest

from bench.proc import rss_kb
from tests.support.gunicorn import GunicornServer, app_env, free_port
from tests.support.oai import RecordingTransport, recorder  # noqa: F401
from tests.support.oai import client as oai_client

from .faults import (
    FAST_TIMEOUTS,
    IDLE_TIMEOUT,
    MID_STREAM_FAULTS,
    ROUTES,
    STATUS_FAULTS,
    Outcome,
    openai_body,
    request_for,
)

INSTRUMENTED = "tests.support.instrumented:app"
NEW = "/rest/app-chat/conversations/new"


class Server:
    """A gunicorn server of the instrumented app and its fake grok.com."""

    def __init__(self, srv: GunicornServer, fake):
        self.srv, self.fake, self.url = srv, fake, srv.url
        self.baseline = self.debug()

    def debug(self) -> dict:
        return httpx.get(self.url + "/__debug/transport", timeout=10).json()

    def wait_quiet(self, timeout: float = 5.0) -> dict:
        """Wait until neither side holds a transfer; fail with both sides' figures if one does."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.fake.stats() if self.fake else {"active_streams": 0}
            state = self.debug()
            if stats["active_streams"] == 0 and state["active_transfers"] == 0 and state["live_transfers"] == 0:
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"leaked: fake {stats['active_streams']} open streams, worker {state}")
            time.sleep(0.05)


def start(fake, **env) -> tuple[GunicornServer, Server]:
    srv = GunicornServer(app_env(fake, **FAST_TIMEOUTS, **env), app_module=INSTRUMENTED)
    try:
        return srv, Server(srv, fake)
    except BaseException:
        srv.close()
        raise


@pytest.fixture(scope="module")
def server(fake_module):
    srv, wrapped = start(fake_module)
    with srv:
        yield wrapped


@pytest.fixture(autouse=True)
def no_leaks(server):
    server.fake.reset()
    yield
    server.wait_quiet()


class OpenAIRecording(RecordingTransport):
    """Records (and schema-checks) the OpenAI API's exchanges only: native answers are NDJSON."""

    def handle_request(self, request):
        if request.url.path.startswith(("/v1/chat/completions", "/v1/models")):
            return super().handle_request(request)
        return self._inner.handle_request(request)


def raw_client(url: str, recorder) -> httpx2.Client:
    return httpx2.Client(transport=OpenAIRecording(recorder), base_url=url, timeout=30)


@pytest.fixture
def http(server, recorder):
    """Raw HTTP; OpenAI responses are still checked against OpenAI's schemas."""
    with raw_client(server.url, recorder) as http:
        yield http


def call(http, route: str, message: str) -> Outcome:
    path, body = request_for(route, message)
    resp = http.post(path, json=body)
    return Outcome.read(route, resp.status_code, resp.headers, resp.content)


# -- upstream error statuses ---------------------------------------------------------------------------
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("fault", STATUS_FAULTS)
def test_upstream_error_status(http, server, route, fault):
    marker, status, type_, failure_class = STATUS_FAULTS[fault]
    out = call(http, route, f"x #scenario:{marker}")
    out.assert_problem(status, type_, failure_class)
    if status == 429:
        # Both Retry-After forms reach the client in seconds.
        expected = 12 if fault == "429-seconds" else 30
        assert expected - 2 <= int(out.headers["retry-after"]) <= expected
        assert out.problem["retry_after_seconds"] == int(out.headers["retry-after"])
    else:
        assert "retry-after" not in out.headers
    if failure_class in ("auth_expired", "anti_bot", "cloudflare_challenge"):
        assert "/setup" in out.problem["detail"] or "cf_clearance" in out.problem["detail"]
    if type_ == "upstream_error":
        assert out.problem["upstream_status"] == int(marker.rsplit("=", 1)[1])
    assert server.fake.stats()["requests"] == 1  # no retry behind the client's back


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    "fault,error_class",
    [
        ("429-seconds", openai.RateLimitError),
        ("429-http-date", openai.RateLimitError),
        ("401-expired", openai.InternalServerError),
        ("403-anti-bot", openai.PermissionDeniedError),
        ("403-cloudflare", openai.PermissionDeniedError),
        ("502", openai.APIStatusError),
    ],
)
def test_the_openai_sdk_raises_the_matching_error(server, recorder, fault, error_class, stream):
    marker, status, type_, _ = STATUS_FAULTS[fault]
    with oai_client(server.url, recorder, max_retries=0) as sdk:
        with pytest.raises(error_class) as err:
            sdk.chat.completions.create(**openai_body(f"x #scenario:{marker}", stream))
    assert err.value.status_code == status and err.value.body["code"] == type_


@pytest.mark.parametrize(
    "status,headers,body,expected,type_",
    [
        (
            429,
            {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"},
            {"code": 8, "message": "Too many requests"},
            429,
            "rate_limited",
        ),  # an HTTP-date already past: retry now
        (
            401,
            {},
            {"code": 16, "message": "Bad credentials. [WKE=unauthenticated:bad-credentials]"},
            503,
            "auth_expired",
        ),
        (403, {"Content-Type": "text/html"}, "<html><title>Just a moment...</title></html>", 403, "anti_bot"),
        (503, {}, {"code": 14, "message": "Service unavailable"}, 502, "upstream_error"),
    ],
    ids=["429-past-http-date", "401", "403-cloudflare-html", "503"],
)
def test_upstream_error_status_on_a_json_route(http, server, status, headers, body, expected, type_):
    server.fake.enqueue("/rest/app-chat/conversations", method="GET", status=status, headers=headers, body=body)
    resp = http.get("/v1/conversations")
    out = Outcome.read("native", resp.status_code, resp.headers, resp.content)
    out.assert_problem(expected, type_)
    if status == 429:
        assert out.headers["retry-after"] == "1"


def test_connection_refused(fake_module, recorder):
    srv, refused = start(fake_module, GROK_BASE_URL=f"http://127.0.0.1:{free_port()}")
    refused.fake = None  # nothing listens upstream
    with srv, raw_client(srv.url, recorder) as http:
        for route in ROUTES:
            call(http, route, "hello").assert_problem(503, "upstream_unavailable", "network")
        resp = http.get("/v1/conversations")
        assert resp.status_code == 503 and resp.json()["type"] == "upstream_unavailable"
        refused.wait_quiet()


@pytest.mark.parametrize("route", ROUTES)
def test_response_headers_too_late(http, server, route):
    started = time.monotonic()
    out = call(http, route, "x #scenario:slow_headers?delay=4")
    elapsed = time.monotonic() - started
    out.assert_problem(504, "gateway_timeout", "timeout")
    assert IDLE_TIMEOUT <= elapsed < IDLE_TIMEOUT + 3


def test_plain_upstream_request_too_slow(http, server):
    server.fake.enqueue("/rest/app-chat/conversations", method="GET", body={"conversations": []}, delay=4)
    resp = http.get("/v1/conversations")
    assert resp.status_code == 504 and resp.json()["type"] == "gateway_timeout"


# -- failures after the answer started ----------------------------------------------------------------
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("fault", MID_STREAM_FAULTS)
def test_upstream_fails_mid_answer(http, server, route, fault):
    marker, status, type_ = MID_STREAM_FAULTS[fault]
    started = time.monotonic()
    out = call(http, route, f"x #scenario:{marker}")
    elapsed = time.monotonic() - started
    if route == "openai":
        out.assert_problem(status, type_)
    else:
        out.assert_inband_error(type_)
        assert out.text.startswith("Before the gap." if fault == "idle" else "Dropping the connection")
    if fault == "idle":
        # An idle timeout, not a total one; the upper bound is wide for loaded CI machines.
        assert IDLE_TIMEOUT <= elapsed < IDLE_TIMEOUT + 10
        # the silent upstream was hung up on (the fake notices within ~50 ms)
        server.fake.wait_stats(lambda s: s["streams_aborted"] == 1, timeout=5)
        if route == "openai-stream":
            assert out.body.count(b": keep-alive") >= 2
        elif route == "native":
            assert b"\n\n\n" in out.body  # blank NDJSON lines kept the connection alive
    else:
        assert server.fake.stats()["streams_dropped"] == 1


@pytest.mark.parametrize("route", ROUTES)
def test_inband_error_mid_answer(http, route):
    out = call(http, route, "x #scenario:inband_error?code=13&message=model%20crashed")
    if route == "openai":
        out.assert_problem(502, "upstream_error")
        assert "model crashed" in out.problem["detail"]
    elif route == "openai-stream":
        out.assert_inband_error("upstream_error")
        assert "model crashed" in out.inband_error["message"]
    else:
        # The relay passes grok.com's own error line through and ends normally.
        assert out.status == 200 and b'"message":"model crashed"' in out.body


@pytest.mark.parametrize("route", ROUTES)
def test_stream_line_over_16_mib(http, server, route):
    out = call(http, route, "x #scenario:huge_line")
    if route == "native":
        # The relay does not parse: the line arrives whole, and the answer goes on.
        assert max(len(line) for line in out.body.split(b"\n")) > 16 * 1024 * 1024
        assert out.status == 200 and out.finished and out.inband_error is None
        assert out.text.startswith("Huge line next. yyyy") and out.text.endswith("y After the huge line.")
    elif route == "openai":
        out.assert_problem(502, "upstream_error")
        assert "oversized" in out.problem["detail"]
    else:
        out.assert_inband_error("upstream_error")
        assert out.text == "Huge line next. " and "oversized" in out.inband_error["message"]


# -- what grok.com sends that is not clean NDJSON ------------------------------------------------------
@pytest.mark.parametrize("route", ROUTES)
def test_malformed_lines_are_skipped_by_the_parser_and_relayed_by_the_relay(http, server, route):
    out = call(http, route, "x #scenario:malformed")
    out.assert_answer("Before garbage. After garbage.")
    if route == "native":
        assert b'\n{"result": this is not json\n' in out.body
    else:
        assert "skipped an unreadable upstream line" in server.srv.logs()


@pytest.mark.parametrize("route", ROUTES)
def test_invalid_utf8(http, route):
    out = call(http, route, "x #scenario:invalid_utf8")
    if route == "native":
        assert b'"token":"bad \xff\xfe\xc3( bytes"' in out.body  # byte for byte
        assert out.finished
    else:
        # Each invalid byte becomes U+FFFD; the answer goes on.
        out.assert_answer("Valid start. bad \ufffd\ufffd\ufffd( bytesValid end.")


@pytest.mark.parametrize("route", ROUTES)
def test_gzip_encoded_ndjson(http, server, route):
    out = call(http, route, "hi #scenario:gzip")
    out.assert_answer("Hello from fake grok. You said: hi")
    assert "content-encoding" not in out.headers
    assert server.fake.requests_log(NEW)[-1]["headers"]["accept-encoding"].startswith("gzip")


# -- clients that go away or read slowly -----------------------------------------------------------------
def _read_then_leave(url: str, route: str, message: str, lines: int) -> float:
    """Read `lines` lines of the answer, close the connection; returns when it closed."""
    path, body = request_for(route, message)
    with httpx.Client(base_url=url, timeout=30) as http:
        with http.stream("POST", path, json=body) as resp:
            assert resp.status_code == 200
            seen = 0
            for line in resp.iter_lines():
                seen += bool(line.strip())
                if seen >= lines:
                    break
    return time.time()


@pytest.mark.parametrize("route", ["openai-stream", "native"])
@pytest.mark.parametrize("marker,upstream_lines", [("slow?n=200&delay=0.05", 200), ("idle?gap=30", 6)])
def test_client_leaving_mid_stream_aborts_upstream_within_a_second(server, route, marker, upstream_lines):
    gone = _read_then_leave(server.url, route, f"x #scenario:{marker}", lines=4)
    stats = server.fake.wait_stats(lambda s: s["streams_aborted"] == 1, timeout=5)
    assert stats["last_abort_time"] - gone < 1.0
    assert stats["aborts"][0]["lines_sent"] < upstream_lines
    assert server.debug()["aborted"] > server.baseline["aborted"]


def test_client_leaving_a_buffered_completion(server):
    """Nothing is written before a buffered answer is complete, so the upstream answer is read
    to its end (bounded by the idle timeout between bytes), then dropped: no leak either way."""
    path, body = request_for("openai", "x #scenario:slow?n=20&delay=0.05")
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(server.url + path, json=body, timeout=0.3)
    server.fake.wait_stats(lambda s: s["streams_completed"] == 1, timeout=5)


def _slow_reader(url: str, path: str, body: dict, stop: threading.Event, got: list) -> None:
    host, port = url.split("//")[1].split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)  # before connect: a small window
    sock.connect((host, int(port)))
    payload = json.dumps(body).encode()
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    try:
        while not stop.is_set():
            data = sock.recv(4096)
            if not data:
                break
            got.append(len(data))
            time.sleep(0.02)  # about 200 KB/s
    finally:
        sock.close()


@pytest.mark.parametrize("route", ["openai-stream", "native"])
def test_slow_reader_is_bounded_and_does_not_slow_others(server, route):
    worker = server.debug()["pid"]
    before = rss_kb(worker)
    # ~40 MB of answer; unbounded buffering would hold most of it in the worker.
    path, body = request_for(route, "x #scenario:long?n=40000&size=1000")
    stop, got = threading.Event(), []
    reader = threading.Thread(target=_slow_reader, args=(server.url, path, body, stop, got))
    reader.start()
    try:
        deadline = time.monotonic() + 10
        while server.debug()["paused_transfers"] != 1:
            assert time.monotonic() < deadline, "the upstream transfer was never paused"
            time.sleep(0.1)
        # Other requests are served as usual meanwhile.
        with httpx.Client(base_url=server.url, timeout=10) as http:
            for _ in range(10):
                started = time.monotonic()
                resp = http.post("/v1/chat/completions", json=openai_body("hi", False))
                assert resp.status_code == 200
                assert time.monotonic() - started < 2.0
        peak = rss_kb(worker)
        state = server.debug()
        assert state["paused_transfers"] == 1
        assert state["buffered_bytes"] <= 2 * 1024 * 1024
        # The backpressure reached grok.com: the answer is still far from its end.
        assert server.fake.stats()["active_streams"] == 1 and sum(got) < 20 * 1024 * 1024
    finally:
        stop.set()
        reader.join(10)
    assert (peak - before) < 16 * 1024, f"worker RSS grew by {(peak - before) / 1024:.1f} MB"
    server.fake.wait_stats(lambda s: s["streams_aborted"] == 1, timeout=5)


# -- request bodies --------------------------------------------------------------------------------------
@pytest.mark.parametrize("route", ROUTES)
def test_body_over_the_size_limit(http, route):
    from app.media.services import media_request_limit
    from app.settings import Settings

    limit = 2 * 1024 * 1024 if route == "native" else media_request_limit(Settings.from_mapping({}))
    path, body = request_for(route, "x" * limit)
    out = Outcome.read(route, *_post(http, path, body))
    out.assert_problem(413, "payload_too_large")
    assert out.problem["limit_bytes"] == limit


@pytest.mark.parametrize("extra,status", [(0, 200), (1, 413)])
def test_chunked_body_and_the_size_limit(http, extra, status):
    """Without Content-Length the limit is enforced while reading: a body of exactly the limit
    is whole, one byte more is a 413 (not a body silently cut at the limit)."""
    limit = 2 * 1024 * 1024
    head, tail = b'{"message": "', b'"}'
    filler = limit + extra - len(head) - len(tail)

    def chunks():
        yield head
        for start in range(0, filler, 65536):
            yield b"x" * min(65536, filler - start)
        yield tail

    resp = http.post("/v1/chat", content=chunks(), headers={"content-type": "application/json"})
    assert resp.status_code == status, resp.text[:300]
    if status == 413:
        assert resp.json()["type"] == "payload_too_large" and resp.json()["limit_bytes"] == limit


def test_a_large_body_of_small_values_is_a_413(http, server):
    """Bodies over 2 MiB are allowed for their media; one that is a mass of small values instead
    is refused before json.loads would hold the worker for it."""
    from app.web.json_body import MAX_SEPARATORS

    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "numbers": [0] * (MAX_SEPARATORS + 1)}
    out = Outcome.read("openai", *_post(http, "/v1/chat/completions", body))
    out.assert_problem(413, "payload_too_large")
    assert f"{MAX_SEPARATORS:,} commas" in out.problem["detail"]
    assert "Traceback" not in server.srv.logs()


def _post(http, path, body):
    resp = http.post(path, content=json.dumps(body), headers={"content-type": "application/json"})
    return resp.status_code, resp.headers, resp.content


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/chat", "/v1/memory/by-conversation"])
def test_deeply_nested_json_is_a_400(http, server, path):
    resp = http.post(path, content=b"[" * 100_000 + b"]" * 100_000, headers={"content-type": "application/json"})
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["type"] == "invalid_request" and resp.json()["max_depth"] == 128
    assert "Traceback" not in server.srv.logs()


def test_ten_thousand_messages(http, server):
    """(Raw HTTP: the openai SDK itself spends seconds preparing 10,000 messages.)"""
    from app.web.fields import MAX_MESSAGES

    history = [{"role": ("user", "assistant")[i % 2], "content": f"turn {i}"} for i in range(MAX_MESSAGES - 1)]
    history.append({"role": "user", "content": "last question"})
    resp = http.post("/v1/chat/completions", json={"model": "auto", "messages": history})
    assert resp.status_code == 200
    assert resp.json()["choices"][0]["message"]["content"].endswith("<u>last question</u>")
    sent = server.fake.requests_log(NEW)[-1]["body"]["message"]
    assert sent.count("<u>") + sent.count("<a>") == MAX_MESSAGES
    resp = http.post("/v1/chat/completions", json={"model": "auto", "messages": history + history[-1:]})
    out = Outcome.read("openai", resp.status_code, resp.headers, resp.content)
    out.assert_problem(400, "invalid_request")
    assert out.problem["error"]["param"] == "messages" and str(MAX_MESSAGES) in out.problem["detail"]
    assert len(server.fake.requests_log(NEW)) == 1


def test_as_many_tools_as_openai_accepts(server, recorder):
    from app.web.fields import MAX_TOOLS

    tools = [
        {
            "type": "function",
            "function": {
                "name": f"fn_{i}",
                "description": f"Tool number {i}",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            },
        }
        for i in range(MAX_TOOLS)
    ]
    last = f"fn_{MAX_TOOLS - 1}"
    call_text = f'<tool_call>{{"name":"{last}","arguments":{{"city":"Paris"}}}}</tool_call>'
    from urllib.parse import quote

    with oai_client(server.url, recorder, max_retries=0) as sdk:
        answer = sdk.chat.completions.create(
            model="auto",
            tools=tools,
            messages=[{"role": "user", "content": f"weather? #scenario:tool_call?text={quote(call_text, safe='')}"}],
        )
        [tool_call] = answer.choices[0].message.tool_calls
        assert tool_call.function.name == last and json.loads(tool_call.function.arguments) == {"city": "Paris"}
        assert answer.choices[0].finish_reason == "tool_calls"
        instructions = server.fake.requests_log(NEW)[-1]["body"]["customInstructions"]
        assert "fn_0" in instructions and last in instructions
        with pytest.raises(openai.BadRequestError) as err:
            sdk.chat.completions.create(model="auto", tools=tools * 4, messages=[{"role": "user", "content": "hi"}])
    assert err.value.body["param"] == "tools" and str(MAX_TOOLS) in err.value.message


# -- and after all of that ---------------------------------------------------------------------------------
def test_the_worker_still_serves_fifty_concurrent_streams(server):
    results: list = [None] * 50

    def one(index: int) -> None:
        path, body = request_for(("openai-stream", "native")[index % 2], "x #scenario:slow?n=10&delay=0.1")
        resp = httpx.post(server.url + path, json=body, timeout=30)
        results[index] = Outcome.read(
            ("openai-stream", "native")[index % 2], resp.status_code, resp.headers, resp.content
        )

    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    elapsed = time.monotonic() - started
    for out in results:
        out.assert_answer("".join(f"s{i} " for i in range(10)))
    assert elapsed < 20  # 1 s streams: in parallel, not one after another
    state = server.wait_quiet()
    assert state["greenlets"] <= server.baseline["greenlets"], (state, server.baseline)
    assert "Traceback" not in server.srv.logs()
