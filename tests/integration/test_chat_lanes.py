"""The chat lanes under gunicorn: grok.com retiring its REST chat in the middle of traffic costs
no client request and switches the host once; 200 WebSocket chats in parallel on one worker
keep the hub responsive; /status and /setup say which lane serves chats."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.request
from urllib.parse import urlsplit

from tests.support.gunicorn import GunicornServer, app_env

NEW = "/rest/app-chat/conversations/new"
GATEWAY = "/ws/mgw/"
SWITCH_LOG = "answered like a retired endpoint"


def _get(url: str, path: str, accept: str = "application/json") -> dict:
    request = urllib.request.Request(url + path, headers={"Accept": accept})
    return json.loads(urllib.request.urlopen(request, timeout=10).read())


def _chat(url: str, message: str, stream: bool) -> tuple[int, str]:
    """One OpenAI chat completion: (status, the answer's text)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    body = {"model": "auto", "messages": [{"role": "user", "content": message}], "stream": stream}
    conn.request("POST", "/v1/chat/completions", body=json.dumps(body), headers={"content-type": "application/json"})
    resp = conn.getresponse()
    raw = resp.read().decode()
    conn.close()
    if resp.status != 200:
        return resp.status, raw
    if not stream:
        return 200, json.loads(raw)["choices"][0]["message"]["content"]
    text = []
    for line in raw.split("\n"):
        if line.startswith("data: ") and line != "data: [DONE]":
            chunk = json.loads(line[6:])
            if "error" in chunk:
                return 502, line
            for choice in chunk["choices"]:
                text.append(choice["delta"].get("content") or "")
    if "data: [DONE]" not in raw:
        return 502, raw
    return 200, "".join(text)


def test_rest_retired_mid_traffic_fails_no_request_and_switches_once(fake_module):
    fake = fake_module
    fake.reset()
    with GunicornServer(app_env(fake, GROK_CHAT_LANE="auto"), workers=2) as srv:
        assert _get(srv.url, "/status")["chat_lane"] == {
            "setting": "auto",
            "active": "rest",
            "switched_at": None,
            "switch_reason": None,
        }
        results: list = []
        lock = threading.Lock()
        stop = threading.Event()

        def client(index: int) -> None:
            n = 0
            while not stop.is_set():
                message = f"c{index}-{n} #scenario:slow?n=4&delay=0.03"
                outcome = _chat(srv.url, message, stream=n % 2 == 0)
                with lock:
                    results.append((message, outcome))
                n += 1

        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while len(results) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        retired_after = len(results)
        fake.configure(rest_chat_retired="404")
        while len(results) < retired_after + 60 and time.monotonic() < deadline + 20:
            time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join(60)

        failed = [(m, o) for m, o in results if o != (200, "s0 s1 s2 s3 ")]
        assert not failed, failed[:5]
        assert retired_after >= 30 and len(results) >= retired_after + 60
        logs = srv.logs()
        assert logs.count(SWITCH_LOG) == 1, logs[-3000:]
        assert "WARNING" in next(line for line in logs.splitlines() if SWITCH_LOG in line)
        # Every worker now goes straight to the WebSocket: the REST chats after the retirement are
        # the few already under way when it happened, each retried on the WebSocket.
        rest_refused = [e for e in fake.requests_log(NEW) if e["reject"] == "rest_chat_retired"]
        assert 1 <= len(rest_refused) <= 16
        status = _get(srv.url, "/status")["chat_lane"]
        assert status["active"] == "ws" and "HTTP 404" in status["switch_reason"] and status["switched_at"]
        setup = _get(srv.url, "/setup")["chat_lane"]
        assert setup == status
        page = urllib.request.urlopen(
            urllib.request.Request(srv.url + "/setup", headers={"Accept": "text/html"}), timeout=10
        ).read()
        assert b'id="chat-lane">ws<' in page
        assert "Traceback" not in logs


STREAMS = 200
# Answers of 2 s: in a burst of 200 starts a start waits its turn a few times (upgrade,
# attached, created) before its first token, so a short answer can be whole by then.
TOKENS = 20
DELAY = 0.1


def _native_stream(url: str, results: list, index: int) -> None:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    body = json.dumps({"message": f"#scenario:slow?n={TOKENS}&delay={DELAY}"})
    conn.request("POST", "/v1/chat", body=body, headers={"content-type": "application/json"})
    resp = conn.getresponse()
    token_times = []
    while True:
        line = resp.readline()
        if not line:
            break
        if b'"token":"s' in line:
            token_times.append(time.monotonic())
    conn.close()
    results[index] = (resp.status, token_times)


def test_two_hundred_websocket_chats_on_one_worker_with_a_responsive_hub(fake_module):
    fake_module.reset()
    # A blocked hub longer than 0.5 s is reported (a blocking WebSocket call would block it
    # for a whole answer).
    env = app_env(fake_module, GROK_CHAT_LANE="ws", GEVENT_MAX_BLOCKING_TIME="0.5")
    with GunicornServer(env, workers=1, gevent_monitor=True) as srv:
        results: list = [None] * STREAMS
        threads = [threading.Thread(target=_native_stream, args=(srv.url, results, i)) for i in range(STREAMS)]
        health: list[float] = []
        stop = threading.Event()

        def probe():
            parts = urlsplit(srv.url)
            while not stop.is_set():
                started = time.monotonic()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                conn.request("GET", "/health")
                assert conn.getresponse().status == 200
                conn.close()
                health.append(time.monotonic() - started)
                time.sleep(0.05)

        prober = threading.Thread(target=probe)
        prober.start()
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        elapsed = time.monotonic() - started
        stop.set()
        prober.join(10)

        assert all(r is not None and r[0] == 200 and len(r[1]) == TOKENS for r in results), [
            r for r in results if r is None or len(r[1]) != TOKENS
        ][:3]
        # Each answer takes ~2 s; one after the other, 200 would take over 6 minutes.
        assert elapsed < 90, f"chats did not run in parallel ({elapsed:.1f} s)"
        # Answers stream token by token (not buffered whole). On a loaded machine many of the
        # 200 client threads can be descheduled long enough to read a stream's tokens in one go,
        # so the check is on the typical answer; a server that buffered answers fails it anyway.
        spreads = sorted(r[1][-1] - r[1][0] for r in results)
        assert spreads[STREAMS // 2] > (TOKENS - 1) * DELAY * 0.5, "answers arrived token by token"
        assert len(health) >= 10 and max(health) < 2.0, max(health)
        assert len(fake_module.requests_log(GATEWAY)) == STREAMS and fake_module.requests_log(NEW) == []
        logs = srv.logs()
        assert "appears to be blocked" not in logs, logs[-3000:]
        assert "Traceback" not in logs


# -- the native routes on the WebSocket lane ---------------------------------------------------------
def _ndjson(url: str, path: str, body: dict) -> list[dict]:
    request = urllib.request.Request(
        url + path, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    raw = urllib.request.urlopen(request, timeout=30).read().decode()
    return [json.loads(line) for line in raw.splitlines() if line.strip()]


def _tokens(lines: list[dict]) -> str:
    out = []
    for line in lines:
        payload = line.get("result", {})
        payload = payload.get("response", payload)
        if isinstance(payload.get("token"), str) and not payload.get("isThinking"):
            out.append(payload["token"])
    return "".join(out)


def test_native_routes_on_the_websocket_lane(fake_module):
    import simple_websocket

    fake = fake_module
    fake.reset()
    with GunicornServer(app_env(fake, GROK_CHAT_LANE="ws")) as srv:
        first = _ndjson(srv.url, "/v1/chat", {"message": "hello native", "temporary": False})
        assert _tokens(first) == "Hello from fake grok. You said: hello native"
        conversation = first[0]["result"]["conversation"]["conversationId"]
        answer = next(
            line["result"]["response"]["modelResponse"]
            for line in first
            if "modelResponse" in line["result"].get("response", {})
        )
        more = _ndjson(
            srv.url,
            f"/v1/chat/{conversation}/message",
            {"message": "and more", "parentResponseId": answer["responseId"]},
        )
        assert _tokens(more) == "Hello from fake grok. You said: and more"
        assert fake.requests_log(NEW) == [] and len(fake.requests_log(GATEWAY)) == 2

        # The native WebSocket chat: events, then a done frame naming the turn; stop closes the upstream.
        ws = simple_websocket.Client.connect(srv.url.replace("http", "ws") + "/v1/chat/ws")
        try:
            ws.send(json.dumps({"type": "chat", "message": "over the socket"}))
            frames = []
            while not frames or frames[-1]["type"] not in ("done", "error"):
                frames.append(json.loads(ws.receive(timeout=15)))
            done = frames[-1]
            assert done["type"] == "done" and done["reason"] == "completed"
            assert done["conversationId"] and done["responseId"] and done["title"] == "over the socket"
            text = "".join(f["data"]["text"] for f in frames if f["type"] == "event" and f["event"] == "token")
            assert text == "Hello from fake grok. You said: over the socket"

            ws.send(json.dumps({"type": "chat", "message": "#scenario:slow?n=200&delay=0.05"}))
            while True:
                frame = json.loads(ws.receive(timeout=15))
                if frame["type"] == "event" and frame["event"] == "token":
                    break
            ws.send(json.dumps({"type": "stop"}))
            while frame["type"] != "done":
                frame = json.loads(ws.receive(timeout=15))
            assert frame["reason"] == "stopped"
            stats = fake.wait_stats(lambda s: s["streams_aborted"] == 1, timeout=5)
            assert stats["aborts"][0]["path"] == GATEWAY
        finally:
            ws.close()
        assert "Traceback" not in srv.logs()
