"""/raw/<path>: method, query, body and answer passthrough; errors; limits; path-escape attempts."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import urllib.request

import pytest

from tests.fakegrok.scenarios import TOO_MANY, cloudflare_resp
from tests.support.gunicorn import live_server_fixtures
from tests.support.streams import LineStream

APP = "/rest/app-chat"


def conversation(client) -> str:
    lines = client.post("/v1/chat", json={"message": "hello"}).get_data().split(b"\n")
    return json.loads(lines[0])["result"]["conversation"]["conversationId"]


# --------------------------------------------------------------------------- passthrough
def test_get_with_query_string_forwarded_verbatim(client, fake):
    conversation(client)
    conversation(client)
    fake.clear()
    response = client.get("/raw/conversations?pageSize=1&pageToken=&workspaceId=a%2Bb")
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert len(body["conversations"]) == 0  # the workspace filter reached grok.com...
    [sent] = fake.requests_log(APP)
    assert sent["method"] == "GET" and sent["path"] == f"{APP}/conversations" and sent["body"] is None
    # ...as sent: %2B stayed a plus sign (re-encoding would have made it a space), the empty value kept.
    assert sent["query"] == {"pageSize": ["1"], "pageToken": [""], "workspaceId": ["a+b"]}
    assert sent["statsig"] == "ok"


def test_the_upstream_body_is_passed_through_byte_for_byte(client, fake):
    cid = conversation(client)
    direct_shape = client.get(f"/raw/conversations/{cid}")
    assert direct_shape.status_code == 200
    # Key order as grok.com sent it (no re-serialisation).
    assert list(direct_shape.get_json())[:3] == ["conversationId", "title", "starred"]


def test_post_streams_the_ndjson_answer(client, fake):
    response = client.post("/raw/conversations/new", json={"message": "via raw", "temporary": True})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"  # upstream's content type
    lines = [json.loads(line) for line in response.get_data().split(b"\n") if line.strip()]
    assert "conversation" in lines[0]["result"] and lines[-1]["result"]["response"]["isSoftStop"] is True
    [sent] = fake.requests_log(APP)
    assert sent["method"] == "POST" and sent["body"] == {"message": "via raw", "temporary": True}


def test_put_patch_and_delete_keep_their_method(client, fake):
    cid = conversation(client)
    fake.clear()
    put = client.put(f"/raw/conversations/{cid}", json={"title": "Renamed", "starred": True})
    assert put.status_code == 200 and put.get_json()["title"] == "Renamed"
    patch = client.patch(f"/raw/conversations/{cid}", json={"title": "x"})
    assert patch.status_code == 405  # grok.com has no PATCH there: its answer, as it was
    assert patch.get_json() == {"code": 12, "message": "Method not allowed", "details": []}
    delete = client.delete(f"/raw/conversations/{cid}")
    assert delete.status_code == 204 and delete.data == b"" and "Content-Type" not in delete.headers
    assert [(e["method"], e["body"]) for e in fake.requests_log(APP)] == [
        ("PUT", {"title": "Renamed", "starred": True}),
        ("PATCH", {"title": "x"}),
        ("DELETE", None),
    ]


def test_status_codes_other_than_200_pass_through(client, fake):
    response = client.post("/raw/voice/post-recording", json={"any": "thing"})
    assert response.status_code == 201 and response.data == b""


def test_bodies_up_to_10_mib(client, fake):
    big = {"blob": "x" * (3 * 1024 * 1024)}  # over the 2 MiB limit of the typed routes
    response = client.post("/raw/fetch-suggestions", json=big)
    assert response.status_code == 200
    [sent] = fake.requests_log(APP)
    assert len(sent["body"]["blob"]) == 3 * 1024 * 1024
    too_big = client.post(
        "/raw/fetch-suggestions", data=b'"' + b"x" * (10 * 1024 * 1024) + b'"', content_type="application/json"
    )
    assert too_big.status_code == 413
    assert too_big.get_json()["type"] == "payload_too_large" and too_big.get_json()["limit_bytes"] == 10485760
    assert len(fake.requests_log(APP)) == 1


def test_non_json_and_malformed_bodies_are_refused(client, fake):
    plain = client.post("/raw/fetch-suggestions", data=b"hello", content_type="text/plain")
    assert plain.status_code == 415 and plain.get_json()["type"] == "unsupported_media_type"
    broken = client.post("/raw/fetch-suggestions", data=b'{"a":', content_type="application/json")
    assert broken.status_code == 400 and broken.get_json()["type"] == "bad_request"
    assert "not valid JSON" in broken.get_json()["detail"]
    assert fake.requests_log(APP) == []


def test_json_error_answers_pass_through_with_their_status(client, fake):
    missing = client.get("/raw/conversations/no-such-conversation")
    assert missing.status_code == 404 and missing.mimetype == "application/json"
    assert missing.get_json() == {"code": 5, "message": "Conversation not found", "details": []}
    assert missing.headers["X-Grok-Failure-Class"] == "not_found"
    fake.enqueue(f"{APP}/conversations", status=429, body=TOO_MANY, headers={"Retry-After": "30"})
    limited = client.get("/raw/conversations")
    assert limited.status_code == 429 and limited.get_json() == TOO_MANY
    assert limited.headers["Retry-After"] == "30"


def test_non_json_error_answers_become_the_classified_problem(client, fake):
    page = cloudflare_resp()
    fake.enqueue(
        f"{APP}/conversations",
        status=403,
        body_base64=base64.b64encode(page.raw).decode(),
        headers={"Content-Type": page.content_type},
    )
    challenged = client.get("/raw/conversations")
    assert challenged.status_code == 403 and challenged.mimetype == "application/problem+json"
    assert challenged.get_json()["type"] == "anti_bot"
    assert challenged.get_json()["failure_class"] == "cloudflare_challenge"
    fake.enqueue(
        f"{APP}/conversations", status=502, body="<html>502 Bad Gateway</html>", headers={"Content-Type": "text/html"}
    )
    gateway = client.get("/raw/conversations")
    assert gateway.status_code == 502 and gateway.get_json()["type"] == "upstream_error"


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS"])
def test_head_and_options_are_not_forwarded(client, fake, method):
    response = client.open("/raw/conversations", method=method)
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST", "PUT", "PATCH", "DELETE"}
    assert fake.requests_log(APP) == []


# --------------------------------------------------------------------------- escape attempts
ESCAPES = [
    "/raw/",
    "/raw/..",
    "/raw/.",
    "/raw/../x",
    "/raw/./conversations",
    "/raw/a/../../x",
    "/raw/a/..",
    "/raw/%2e%2e/x",
    "/raw/%2E%2e/x",
    "/raw/.%2e/x",
    "/raw/%2e/x",
    "/raw/%2e%2e",
    "/raw/%252e%252e/x",
    "/raw/%25252e%25252e/x",
    "/raw/%2e%2e%2f%2e%2e%2fx",
    "/raw/a%2f..%2f..%2fx",
    "/raw/a%2Fb",
    "/raw/%252f",
    "/raw/a%25%32%66b",
    "/raw/a\\..\\x",
    "/raw/..\\x",
    "/raw/a%5c..%5cx",
    "/raw/a%5Cb",
    "/raw/%255c",
    "/raw/@evil.example/x",
    "/raw/a@evil.example",
    "/raw/a%40evil.example",
    "/raw/%2540",
    "/raw//evil.example/x",
    "/raw///x",
    "/raw/a//b",
    "/raw/conversations/",
    "/raw/http://evil.example/x",
    "/raw/https:%2f%2fevil.example",
    "/raw/http:%252f%252fevil.example",
    "/raw/a%00b",
    "/raw/a%0d%0aX-Injected:%20y",
    "/raw/a%09b",
    "/raw/a%7fb",
    "/raw/..;/x",
    "/raw/%2e%2e;x/y",
    "/raw/a%zzb",
    "/raw/a%2",
]


@pytest.mark.parametrize("path", ESCAPES)
def test_escape_attempts_are_refused_in_process(client, fake, path):
    response = client.get(path)
    assert response.status_code == 400, (path, response.status_code, response.get_data(as_text=True))
    # The app-wide raw-URI check (invalid_path) catches some before the raw view (bad_request) does.
    assert response.get_json()["type"] in ("bad_request", "invalid_path")
    assert fake.requests_log() == []


def test_the_defence_in_depth_check_refuses_urls_outside_rest():
    from app.native.raw import assert_inside_rest
    from app.problems import Problem

    assert_inside_rest("https://grok.com", "/rest/app-chat/conversations")
    assert_inside_rest("https://proxy.example/grok", "/rest/app-chat/x")
    for path in (
        "/rest/app-chat/../../x",
        "/rest/app-chat/%2e%2e/%2e%2e/x",
        "@evil/rest/",
        "/rest\\..\\x",
        "/other/rest/x",
        "/rest/app-chat/%252e%252e/%252e%252e/x",
    ):
        with pytest.raises(Problem):
            assert_inside_rest("https://grok.com", path)
    with pytest.raises(Problem):
        assert_inside_rest("https://proxy.example/grok", "/../rest/x")


# --------------------------------------------------------------------------- under gunicorn
module_server, live = live_server_fixtures(HEARTBEAT_SECS="0.2")


def send_raw(server, request_line: str) -> tuple[int, bytes]:
    """A request line sent byte for byte (no client-side normalisation or encoding)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"{request_line}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode("latin-1"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.parametrize("path", ESCAPES)
def test_escape_attempts_are_refused_by_the_server(live, path):
    status, body = send_raw(live, f"GET {path} HTTP/1.1")
    assert status == 400, (path, status, body[:300])
    assert live.fake.requests_log() == []


def test_an_absolute_form_request_target_only_reaches_the_configured_base(live):
    status, body = send_raw(live, "GET http://evil.example/raw/conversations HTTP/1.1")
    assert status == 200, body
    [sent] = live.fake.requests_log()
    assert sent["path"] == f"{APP}/conversations"


def test_streamed_bodies_are_relayed_as_they_arrive(live):
    stream = LineStream(live.url, "POST", "/raw/conversations/new", {"message": "#scenario:slow?n=5&delay=0.3"})
    assert stream.status == 200
    times = [t for t, line in stream.lines() if b'"token":"s' in line]
    assert len(times) == 5 and times[-1] - times[0] > 0.8


def test_a_client_disconnect_aborts_the_raw_upstream(live):
    stream = LineStream(live.url, "POST", "/raw/conversations/new", {"message": "#scenario:idle?gap=600"})
    next(line for _, line in stream.lines() if b"token" in line)
    stream.disconnect()
    live.fake.wait_stats(lambda s: s["streams_aborted"] == 1, timeout=1.0)


def test_http_client_paths_are_sent_as_given(live):
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    conn.request("GET", "/raw/conversations/%2e%2e%2fshare_links")
    response = conn.getresponse()
    assert response.status == 400 and json.loads(response.read())["type"] in ("bad_request", "invalid_path")
    assert live.fake.requests_log() == []


def test_lowercase_escapes_are_signed_for_the_path_libcurl_sends(live):
    # libcurl sends %c3%a9 as %C3%A9: signing the client's spelling made grok.com refuse the token
    # (a false "stale challenge" alarm). The fake checks the signature against what it receives.
    status, body = send_raw(live, "GET /raw/conversations/caf%c3%a9%7e HTTP/1.1")
    assert status == 404, body  # grok.com's own answer: the conversation does not exist
    [sent] = live.fake.requests_log()
    assert sent["path"] == f"{APP}/conversations/caf%C3%A9%7E"
    conditions = json.loads(urllib.request.urlopen(live.url + "/status", timeout=10).read())["conditions"]
    assert conditions["anti_bot"] != "anti_bot"
