"""Self-tests of the fake grok.com (tests/fakegrok): it must be as strict as grok.com.

Only the harness, urllib/http.client and the standard library are used. The statsig signer below is
written independently from the fake's own (tests/fakegrok/statsig.py) and checked against the test
vector of the token (docs/grok-protocol.md) first.
"""

from __future__ import annotations

import base64
import gc
import gzip
import hashlib
import http.client
import json
import os
import socket
import struct
import time
import uuid
from itertools import pairwise

import pytest

from tests.fakegrok.__main__ import _freeze_survivors
from tests.fakegrok.harness import FakeGrok

APP = "/rest/app-chat"
UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/136.0.0.0 Safari/537.36"
)


# -- an independent signer ----------------------------------------------------------------------------
def make_token(method, path, header_hex, suffix, trailer, now=None, key=None):
    counter = max(0, int(time.time() if now is None else now) - 1682924400)
    msg = f"{method}!{path}!{counter}{suffix}".encode()
    plain = (
        bytes.fromhex(header_hex) + struct.pack("<I", counter) + hashlib.sha256(msg).digest()[:16] + bytes([trailer])
    )
    k = os.urandom(1)[0] if key is None else key
    return base64.b64encode(bytes(x ^ k for x in plain)).decode().rstrip("=")


def test_signer_matches_reference_vector():
    hdr = bytes(range(49)).hex()
    args = ("POST", "/rest/app-chat/conversations/new", hdr, "!abc", 3)
    assert make_token(*args, now=1700000000, key=0) == (
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMJCNBAFM8GBqpmoLPEfSOYG7lXMYAw"
    )
    assert make_token(*args, now=1700000000, key=0x5A) == (
        "WltYWV5fXF1SU1BRVldUVUpLSElOT0xNQkNAQUZHREV6e3h5fn98fXJzcHF2d3R1asrXXlsWqjow/DBRZh2IY9vhzylCWQ"
    )


# -- fixtures & helpers --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fake():
    with FakeGrok() as f:
        yield f


@pytest.fixture(autouse=True)
def _reset(fake):
    fake.configure(sso="test-sso", sso_rw="test-sso-rw", stale_build=False, auth_failure_status=401, reuse_grace=10.0)
    fake.reset()
    yield


def headers(fake, method, path, *, token=None, **override):
    h = {
        "user-agent": UA,
        "cookie": f"sso={fake.sso}; sso-rw={fake.sso_rw}",
        "accept": "*/*",
        "content-type": "application/json",
        "origin": fake.base_url,
        "referer": fake.base_url + "/",
        "x-xai-request-id": str(uuid.uuid4()),
        "x-statsig-id": token
        if token is not None
        else make_token(method, path.split("?")[0], fake.header_hex, fake.suffix, fake.trailer),
    }
    for k, v in override.items():
        k = k.replace("_", "-")
        if v is None:
            h.pop(k, None)
        else:
            h[k] = v
    return h


def call(fake, method, path, body=None, hdrs=None, conn=None):
    """One request; returns (status, headers dict, body bytes). Uses ``conn`` if given (keep-alive)."""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", fake.port, timeout=10)
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    conn.request(method, path, data, hdrs if hdrs is not None else headers(fake, method, path))
    r = conn.getresponse()
    raw = r.read()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, raw)
    if own:
        conn.close()
    return out


def chat(fake, message, path=APP + "/conversations/new", **extra):
    status, h, raw = call(fake, "POST", path, {"message": message, **extra})
    lines = [json.loads(x) for x in raw.splitlines() if x.strip()] if status == 200 else raw
    return status, h, lines


def tokens_of(lines, framing="response"):
    out = []
    for ln in lines:
        p = ln["result"].get("response", ln["result"]) if framing == "response" else ln["result"]
        if isinstance(p.get("token"), str) and not p.get("isThinking") and p.get("messageTag", "final") == "final":
            out.append(p["token"])
    return "".join(out)


def model_response(lines, framing="response"):
    for ln in lines:
        p = ln["result"].get("response", {}) if framing == "response" else ln["result"]
        if "modelResponse" in p:
            return p["modelResponse"]
    raise AssertionError("no modelResponse")


def last_entry(fake):
    return fake.requests_log()[-1]


# -- strictness ---------------------------------------------------------------------------------------
def test_signed_request_succeeds_and_is_logged(fake):
    status, h, raw = call(fake, "GET", APP + "/conversations?pageSize=1")
    assert status == 200, raw
    assert h["content-type"] == "application/json" and int(h["content-length"]) == len(raw)
    assert json.loads(raw) == {"conversations": []}
    e = last_entry(fake)
    assert e["statsig"] == "ok" and e["status"] == 200 and e["query"] == {"pageSize": ["1"]}
    assert e["headers"]["cookie"] == "sso=test-sso; sso-rw=test-sso-rw"


@pytest.mark.parametrize("cookie", ["sso=wrong; sso-rw=test-sso-rw", "sso=test-sso", "", "sso-rw=test-sso-rw"])
def test_bad_cookies_get_401_bad_credentials(fake, cookie):
    status, _, raw = call(
        fake, "GET", APP + "/conversations", hdrs=headers(fake, "GET", APP + "/conversations", cookie=cookie or None)
    )
    assert status == 401
    assert json.loads(raw) == {
        "code": 16,
        "message": "Bad credentials. [WKE=unauthenticated:bad-credentials]",
        "details": [],
    }


def test_extra_cookies_allowed_and_failure_status_switch(fake):
    p = APP + "/conversations"
    ok = headers(fake, "GET", p, cookie="cf_clearance=x; sso=test-sso; sso-rw=test-sso-rw; k=v")
    assert call(fake, "GET", p, hdrs=ok)[0] == 200
    fake.configure(auth_failure_status=403)
    status, _, raw = call(fake, "GET", p, hdrs=headers(fake, "GET", p, cookie="sso=nope; sso-rw=nope"))
    assert status == 403 and b"Bad credentials" in raw


def _bad_token_cases(fake):
    p = APP + "/conversations"
    hx, sf, tr = fake.header_hex, fake.suffix, fake.trailer
    good = make_token("GET", p, hx, sf, tr)
    return {
        "missing": None,
        "empty": "",
        "garbage": "not-a-token!!",
        "padded": base64.b64encode(base64.b64decode(good + "==") + b"").decode() + "=",
        "short": good[:-8],
        "wrong_path": make_token("GET", APP + "/conversations/new", hx, sf, tr),
        "wrong_method": make_token("POST", p, hx, sf, tr),
        "with_query": make_token("GET", p + "?pageSize=1", hx, sf, tr),
        "stale_clock": make_token("GET", p, hx, sf, tr, now=time.time() - 120),
        "future_clock": make_token("GET", p, hx, sf, tr, now=time.time() + 120),
        "wrong_suffix": make_token("GET", p, hx, "!other", tr),
        "wrong_trailer": make_token("GET", p, hx, sf, 4),
        "wrong_header": make_token("GET", p, "ff" * 49, sf, tr),
    }


def test_bad_statsig_tokens_get_403_code_7(fake):
    p = APP + "/conversations?pageSize=1"
    for name, token in _bad_token_cases(fake).items():
        h = headers(fake, "GET", p)
        if token is None:
            del h["x-statsig-id"]
        else:
            h["x-statsig-id"] = token
        status, _, raw = call(fake, "GET", p, hdrs=h)
        assert status == 403, name
        assert json.loads(raw) == {
            "error": {"code": 7, "message": "Request rejected by anti-bot rules.", "details": []}
        }, name
        e = last_entry(fake)
        assert e["statsig"] != "ok" and e["reject"].startswith("statsig:"), (name, e["statsig"])


def test_reused_token_is_rejected(fake):
    p = APP + "/conversations"
    h = headers(fake, "GET", p)
    assert call(fake, "GET", p, hdrs=h)[0] == 200
    status, _, raw = call(fake, "GET", p, hdrs=h)  # a replayed request
    assert status == 403 and b"anti-bot" in raw and last_entry(fake)["statsig"] == "reused"
    fake.configure(reuse_grace=0)  # strict: any repeated string
    h2 = headers(fake, "GET", p)
    assert call(fake, "GET", p, hdrs=h2)[0] == 200
    h2["x-xai-request-id"] = str(uuid.uuid4())
    assert call(fake, "GET", p, hdrs=h2)[0] == 403


def test_stale_build_gets_out_of_date(fake):
    fake.configure(stale_build=True)
    status, _, raw = call(fake, "GET", APP + "/conversations")
    assert status == 403
    assert json.loads(raw) == {"code": 7, "message": "This page is out of date. Reload to continue.", "details": []}


def test_non_chrome_ua_gets_cloudflare_page(fake):
    p = APP + "/conversations"
    for ua in ("python-requests/2.31", "curl/8.5.0", None):
        status, h, raw = call(fake, "GET", p, hdrs=headers(fake, "GET", p, user_agent=ua))
        assert status == 403 and h["content-type"].startswith("text/html")
        assert b"<title>Just a moment...</title>" in raw


def test_browser_shape_checks(fake):
    p = APP + "/conversations"
    for override in (
        {"x_xai_request_id": "nope"},
        {"x_xai_request_id": None},
        {"origin": "https://grok.com"},
        {"origin": None},
        {"referer": fake.base_url},
        {"referer": None},
    ):
        status, _, raw = call(fake, "GET", p, hdrs=headers(fake, "GET", p, **override))
        assert status == 403 and b"anti-bot" in raw, override
    np = APP + "/conversations/new"
    status, _, raw = call(fake, "POST", np, b"{not json", headers(fake, "POST", np))
    assert status == 400
    assert json.loads(raw) == {"code": 3, "message": "Invalid request. Please update your client.", "details": []}
    status, _, _ = call(fake, "POST", np, b'{"message":"hi"}', headers(fake, "POST", np, content_type="text/plain"))
    assert status == 400
    status, _, _ = call(fake, "POST", np, {"message": "hi", "temporary": "yes"})  # proto type mismatch
    assert status == 400 and last_entry(fake)["reject"] == "field_type:temporary"
    status, _, raw = call(fake, "POST", np, {"message": "hi", "modelName": "gpt-4"})
    assert status == 403 and b"Model is not found" in raw


def test_unknown_paths(fake):
    assert call(fake, "GET", APP + "/no-such-endpoint")[0] == 404
    assert call(fake, "GET", "/rest/whatever")[0] == 404
    assert call(fake, "GET", "/index.html")[0] == 404
    status, h, _ = call(fake, "GET", APP + "/upload-file")
    assert status == 405 and h["allow"] == "POST"


# -- streams ------------------------------------------------------------------------------------------
def test_plain_stream_shape(fake):
    status, h, lines = chat(fake, "hello there")
    assert status == 200 and h["transfer-encoding"] == "chunked" and h["content-type"] == "application/json"
    conv = lines[0]["result"]["conversation"]
    assert uuid.UUID(conv["conversationId"]) and conv["title"] == "New conversation"
    assert lines[1]["result"]["response"]["userResponse"]["responseId"]
    mr = model_response(lines)
    assert mr["metadata"]["llm_info"]["modelHash"] and mr["sender"] == "ASSISTANT"
    assert lines[-1]["result"]["response"]["token"] == "" and lines[-1]["result"]["response"]["isSoftStop"] is True
    assert tokens_of(lines) == mr["message"] == "Hello from fake grok. You said: hello there"


def test_marker_params_and_last_marker_wins(fake):
    _, _, lines = chat(fake, "<u>#scenario:slow</u>\n<u>now #scenario:plain?text=Hi%20you&tokens=2</u>")
    toks = [ln["result"]["response"]["token"] for ln in lines if "token" in ln["result"].get("response", {})]
    assert toks[:2] == ["Hi ", "you"] and tokens_of(lines) == "Hi you"
    assert last_entry(fake)["scenario"] == "plain"
    status, _, _ = chat(fake, "#scenario:no_such_thing")
    assert status == 400


def _open_stream(fake, message, path=APP + "/conversations/new"):
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=10)
    conn.request("POST", path, json.dumps({"message": message}).encode(), headers(fake, "POST", path))
    r = conn.getresponse()
    assert r.status == 200
    return conn, r


def test_stream_arrives_incrementally(fake):
    conn, r = _open_stream(fake, "#scenario:slow?n=5&delay=0.15")
    t0 = time.monotonic()
    stamps = []
    while True:
        line = r.readline()
        if not line:
            break
        p = json.loads(line)["result"].get("response", {})
        if p.get("token", "").startswith("s"):
            stamps.append(time.monotonic() - t0)
    conn.close()
    assert len(stamps) == 5
    # Spread over the scenario's 4 x 0.15 s, not one burst. Per-gap bounds would flake on a
    # loaded machine (one late read shortens the next gap), so the spread is what is checked.
    assert stamps[-1] - stamps[0] >= 0.5
    assert sum(1 for a, b in pairwise(stamps) if b - a >= 0.1) >= 2
    # The fake counts the stream once its handler returns, just after the client read the end.
    assert fake.wait_stats(lambda s: s["streams_completed"] == 1, timeout=2)["streams_completed"] == 1


def test_abort_during_idle_gap_counted_within_1s(fake):
    conn, r = _open_stream(fake, "#scenario:idle?gap=30")
    for _ in range(4):  # conversation, userResponse, uiLayout, first token
        assert r.readline()
    assert fake.stats()["active_streams"] == 1
    t0 = time.time()
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    st = fake.wait_stats(lambda s: s["streams_aborted"] == 1 and s["active_streams"] == 0, timeout=1.0)
    assert st["last_abort_time"] - t0 < 1.0
    assert st["aborts"][0]["path"] == APP + "/conversations/new" and st["aborts"][0]["lines_sent"] == 4
    assert last_entry(fake)["stream"] == "aborted"


def test_connection_reuse(fake):
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=10)
    for _ in range(3):
        assert call(fake, "GET", APP + "/conversations", conn=conn)[0] == 200
    p = APP + "/conversations/new"
    status, _, raw = call(
        fake, "POST", p, {"message": "#scenario:slow?n=3&delay=0.01"}, headers(fake, "POST", p), conn=conn
    )
    assert status == 200 and raw.endswith(b"\n")
    assert call(fake, "GET", APP + "/conversations", conn=conn)[0] == 200
    assert call(fake, "DELETE", APP + "/conversations", conn=conn)[0] == 204  # empty body, no length
    assert call(fake, "GET", APP + "/user-memory-blurb", conn=conn)[0] == 200
    conn.close()
    st = fake.stats()
    assert st["connections_accepted"] == 1 and st["requests"] == 7
    assert {e["conn"] for e in fake.requests_log()} == {fake.requests_log()[0]["conn"]}


def test_request_log_records_body_and_verdict(fake):
    body = {"message": "logged #scenario:plain?tokens=1", "temporary": True, "modeId": "expert"}
    chat(fake, body["message"], temporary=True, modeId="expert")
    p = APP + "/upload-file"
    call(fake, "POST", p, {"fileName": "a.txt", "fileMimeType": "text/plain", "content": "!!"})
    log = fake.requests_log(APP + "/conversations")
    assert len(log) == 1
    e = log[0]
    assert e["body"] == body and e["statsig"] == "ok" and e["status"] == 200 and e["scenario"] == "plain"
    assert e["method"] == "POST" and e["headers"]["content-type"] == "application/json"
    up = fake.requests_log(p)[0]
    assert up["status"] == 400 and up["reject"] == "content_not_base64"
    fake.clear()
    assert fake.requests_log() == []


def test_enqueue_canned_responses(fake):
    p = APP + "/conversations"
    fake.enqueue(p, method="GET", status=503, body={"code": 14, "message": "down"}, headers={"x-test": "1"}, times=2)
    for _ in range(2):  # canned responses come BEFORE the auth checks (no cookie needed)
        status, h, raw = call(fake, "GET", p, hdrs={"user-agent": "x"})
        assert status == 503 and h["x-test"] == "1" and json.loads(raw)["message"] == "down"
    assert last_entry(fake)["canned"] is True
    assert call(fake, "GET", p)[0] == 200
    fake.enqueue(APP + "/conversations/new", scenario="rate_limited?retry_after=7")
    status, h, _ = chat(fake, "no marker here")
    assert status == 429 and h["retry-after"] == "7"
    t0 = time.monotonic()
    fake.enqueue(APP + "/tts", status=201, body="", delay=0.2)
    status, _, raw = call(fake, "POST", APP + "/tts", {"articles": []})
    assert status == 201 and raw == b"" and time.monotonic() - t0 >= 0.2


def test_config_change_of_cookies_applies(fake):
    p = APP + "/conversations"
    old = headers(fake, "GET", p)
    cfg = fake.configure(sso="new-sso", sso_rw="new-rw")
    assert cfg["sso"] == "new-sso" and fake.sso == "new-sso"
    assert call(fake, "GET", p, hdrs=old)[0] == 401
    assert call(fake, "GET", p)[0] == 200
    new_hex = "00" + "ab" * 48
    fake.configure(header_hex=new_hex, suffix="!rotated", trailer=7)
    assert (
        call(
            fake,
            "GET",
            p,
            hdrs=headers(fake, "GET", p, x_statsig_id=make_token("GET", p, bytes(range(49)).hex(), "!test-suffix", 3)),
        )[0]
        == 403
    )
    assert call(fake, "GET", p)[0] == 200
    fake.configure(header_hex=bytes(range(49)).hex(), suffix="!test-suffix", trailer=3)


def test_continuation_framing_and_parent_check(fake):
    _, _, lines = chat(fake, "first")
    cid = lines[0]["result"]["conversation"]["conversationId"]
    mrid = model_response(lines)["responseId"]
    p = f"{APP}/conversations/{cid}/responses"
    status, _, cont = chat(fake, "second #scenario:thinking", path=p, parentResponseId=mrid)
    assert status == 200
    assert all("response" not in ln["result"] for ln in cont)
    assert cont[0]["result"]["userResponse"]["parentResponseId"] == mrid
    assert any(ln["result"].get("isThinking") and ln["result"].get("messageTag") == "analysis" for ln in cont)
    assert cont[-1]["result"] == {
        "token": "",
        "isThinking": False,
        "isSoftStop": True,
        "responseId": cont[-2]["result"]["modelResponse"]["responseId"],
    }
    assert chat(fake, "x", path=p, parentResponseId=str(uuid.uuid4()))[0] == 404
    assert chat(fake, "x", path=f"{APP}/conversations/{uuid.uuid4()}/responses")[0] == 404
    status, _, raw = call(fake, "GET", f"{p}?includeThreads=true")
    assert [r["sender"] for r in json.loads(raw)["responses"]] == ["human", "ASSISTANT", "human", "ASSISTANT"]


def test_status_error_scenarios(fake):
    status, h, raw = chat(fake, "#scenario:rate_limited?retry_after=12")
    assert status == 429 and h["retry-after"] == "12"
    assert json.loads(raw) == {"error": {"code": 8, "message": "Too many requests", "details": []}}
    status, h, _ = chat(fake, "#scenario:rate_limited?date=1")
    assert status == 429 and h["retry-after"].endswith(" GMT")
    assert chat(fake, "#scenario:expired")[0] == 401
    status, _, raw = chat(fake, "#scenario:blocked")
    assert status == 403 and b"[WKE=unauthorized:blocked-user]" in raw
    assert chat(fake, "#scenario:outdated")[0] == 400
    assert chat(fake, "#scenario:server_error?status=503")[0] == 503
    status, h, raw = chat(fake, "#scenario:cloudflare")
    assert status == 403 and b"Just a moment..." in raw


def test_inband_error_drop_gzip(fake):
    _, _, lines = chat(fake, "#scenario:inband_error?message=boom")
    assert lines[-1]["result"]["response"]["error"]["message"] == "boom"
    _, _, lines = chat(fake, "#scenario:usage_limit")
    assert "usage limit" in lines[-1]["result"]["response"]["error"]["message"]
    conn, r = _open_stream(fake, "#scenario:drop")
    with pytest.raises(http.client.IncompleteRead):
        r.read()
    conn.close()
    assert fake.wait_stats(lambda s: s["streams_dropped"] == 1 and s["active_streams"] == 0)["streams_aborted"] == 0
    status, h, raw = call(fake, "POST", APP + "/conversations/new", {"message": "#scenario:gzip"})
    assert status == 200 and h["content-encoding"] == "gzip"
    lines = [json.loads(x) for x in gzip.decompress(raw).splitlines()]
    assert lines[-1]["result"]["response"]["isSoftStop"] is True
    status, _, raw = call(fake, "POST", APP + "/conversations/new", {"message": "#scenario:malformed"})
    assert b'\n{"result": this is not json\n' in raw
    status, _, raw = call(fake, "POST", APP + "/conversations/new", {"message": "#scenario:invalid_utf8"})
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")


def test_stop_inflight_ends_stream_early(fake):
    conn, r = _open_stream(fake, "#scenario:slow?n=100&delay=0.05")
    cid = json.loads(r.readline())["result"]["conversation"]["conversationId"]
    status, _, raw = call(fake, "POST", f"{APP}/conversations/{cid}/stop-inflight-responses", b"null")
    assert status == 200 and json.loads(raw) == {}
    lines = [json.loads(x) for x in r.read().splitlines() if x.strip()]
    conn.close()
    mr = model_response(lines)
    assert mr["partial"] is True and lines[-1]["result"]["response"]["isSoftStop"] is True
    assert len(mr["message"].split()) < 100


def test_endpoint_tour_statuses(fake):
    _, _, lines = chat(fake, "tour")
    cid = lines[0]["result"]["conversation"]["conversationId"]
    rid = model_response(lines)["responseId"]
    A = APP
    assert call(fake, "GET", f"{A}/conversations/exists/{cid}")[2] == b'{"exists":true}'
    assert call(fake, "GET", f"{A}/conversations/exists/{uuid.uuid4()}")[0] == 404
    status, _, raw = call(fake, "PUT", f"{A}/conversations/{cid}", {"starred": True, "title": "T"})
    assert status == 200 and json.loads(raw)["starred"] is True
    listed = json.loads(call(fake, "GET", f"{A}/conversations?filterIsStarred=true&pageSize=5")[2])
    assert [c["conversationId"] for c in listed["conversations"]] == [cid]
    status, _, raw = call(fake, "POST", f"{A}/conversations/{cid}/share", {"responseId": rid, "allowIndexing": True})
    assert status == 201
    sid = json.loads(raw)["shareLinkId"]
    status, _, raw = call(fake, "POST", f"{A}/share_links/{sid}/clone", {})
    assert status == 201 and len(json.loads(raw)["responses"]) == 2
    status, h, raw = call(fake, "DELETE", f"{A}/share_links/{sid}")
    assert status == 204 and raw == b"" and "content-length" not in h
    status, h, raw = call(fake, "POST", f"{A}/voice/post-recording", {})
    assert status == 201 and raw == b"" and h["content-length"] == "0"
    status, _, raw = call(
        fake,
        "POST",
        f"{A}/upload-file",
        {"fileName": "a.txt", "fileMimeType": "text/plain", "content": base64.b64encode(b"hi").decode()},
    )
    fid = json.loads(raw)["fileMetadataId"]
    assert status == 200 and json.loads(call(fake, "POST", f"{A}/file-metadata/{fid}", {})[2])["size"] == 2
    status, h, raw = call(fake, "GET", f"{A}/read-response-audio/{rid}?voiceId=ara")
    assert status == 200 and h["content-type"] == "audio/mpeg" and raw.startswith(b"ID3")
    assert call(fake, "GET", f"{A}/conversations/reconnect-response-v2/{uuid.uuid4()}")[0] == 404
    status, _, raw = call(fake, "GET", f"{A}/conversations/reconnect-response-v2/{rid}")
    assert status == 200 and b'"isSoftStop":true' in raw
    assert call(fake, "DELETE", f"{A}/conversations/soft/{cid}")[0] == 204
    deleted = json.loads(call(fake, "GET", f"{A}/conversations/deleted")[2])["conversations"]
    assert [c["conversationId"] for c in deleted] == [cid]
    assert call(fake, "POST", f"{A}/conversations/restore", {"conversationId": cid})[0] == 200
    assert call(fake, "DELETE", f"{A}/memory?conversationIds={cid}&conversationIds=x")[0] == 204
    assert call(fake, "DELETE", f"{A}/conversations/{cid}?deleteMedia=true")[0] == 204
    assert call(fake, "GET", f"{A}/conversations/{cid}")[0] == 404
    assert json.loads(call(fake, "GET", f"{A}/conversations/{cid}")[2])["code"] == 5
    status, _, raw = call(fake, "POST", "/rest/livekit/tokens", {})
    assert status == 200 and json.loads(raw)["url"] == "wss://livekit.grok.com"
    assert json.loads(call(fake, "GET", f"{A}/suggestions?query=cats&count=3")[2])["suggestions"][2]["text"]
    assert call(fake, "GET", f"{A}/suggestions?count=many")[0] == 400


def test_the_fake_keeps_what_survived_a_full_collection_out_of_the_next_ones():
    # Its stored conversations would otherwise be walked by every full collection, a pause
    # of every stream it serves (docs/benchmarks.md, "The load client").
    stored = [{"responseId": str(i), "tokens": [str(i)]} for i in range(1000)]
    frozen_before = gc.get_freeze_count()
    gc.callbacks.append(_freeze_survivors)
    try:
        gc.collect(1)
        assert gc.get_freeze_count() == frozen_before
        gc.collect()
        assert gc.get_freeze_count() >= frozen_before + len(stored)
    finally:
        gc.callbacks.remove(_freeze_survivors)
        gc.unfreeze()
