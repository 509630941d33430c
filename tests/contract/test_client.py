"""GrokClient against the fake grok.com: every endpoint's upstream request, headers,
status classification and session tracking."""

import uuid

import pytest

from app.grok import errors as gerr
from app.grok import events as ev
from app.grok.client import GrokClient
from app.settings import Settings
from tests.unit.test_statsig import X1_FALLBACK

APP = "/rest/app-chat"

# (client call, upstream method, upstream path, query, body)
ENDPOINTS = [
    (lambda c: c.stop_inflight_responses("c1"), "POST", f"{APP}/conversations/c1/stop-inflight-responses", {}, None),
    (lambda c: c.cancel_response("r1"), "DELETE", f"{APP}/conversations/inflight-response/r1", {}, "<none>"),
    (
        lambda c: c.list_conversations(page_size=5, starred=True, workspace_id="w1"),
        "GET",
        f"{APP}/conversations",
        {"pageSize": ["5"], "filterIsStarred": ["true"], "workspaceId": ["w1"]},
        "<none>",
    ),
    (lambda c: c.delete_all_conversations(), "DELETE", f"{APP}/conversations", {}, "<none>"),
    (
        lambda c: c.list_deleted_conversations(page_size=2),
        "GET",
        f"{APP}/conversations/deleted",
        {"pageSize": ["2"]},
        "<none>",
    ),
    (lambda c: c.get_conversation("c1"), "GET", f"{APP}/conversations/c1", {}, "<none>"),
    (lambda c: c.update_conversation("c1", {"title": "t"}), "PUT", f"{APP}/conversations/c1", {}, {"title": "t"}),
    (lambda c: c.delete_conversation("c1"), "DELETE", f"{APP}/conversations/c1", {}, "<none>"),
    (
        lambda c: c.delete_conversation("c1", delete_media=True),
        "DELETE",
        f"{APP}/conversations/c1",
        {"deleteMedia": ["true"]},
        "<none>",
    ),
    (lambda c: c.delete_conversation("c1", soft=True), "DELETE", f"{APP}/conversations/soft/c1", {}, "<none>"),
    (lambda c: c.conversation_exists("c1"), "GET", f"{APP}/conversations/exists/c1", {}, "<none>"),
    (lambda c: c.restore_conversation("c1"), "POST", f"{APP}/conversations/restore", {}, {"conversationId": "c1"}),
    (lambda c: c.generate_title("c1"), "POST", f"{APP}/conversations/c1/title", {}, {}),
    (
        lambda c: c.list_responses("c1", include_threads=True),
        "GET",
        f"{APP}/conversations/c1/responses",
        {"includeThreads": ["true"]},
        "<none>",
    ),
    (lambda c: c.artifacts_metadata("c1"), "POST", f"{APP}/conversations/c1/artifacts_metadata", {}, {}),
    (
        lambda c: c.upload_file({"fileName": "a.txt", "fileMimeType": "text/plain", "content": "aGk="}),
        "POST",
        f"{APP}/upload-file",
        {},
        {"fileName": "a.txt", "fileMimeType": "text/plain", "content": "aGk="},
    ),
    (lambda c: c.file_metadata("f1"), "POST", f"{APP}/file-metadata/f1", {}, {}),
    (
        lambda c: c.run_code("python", "print(1)"),
        "POST",
        f"{APP}/run-code",
        {},
        {"language": "python", "code": "print(1)"},
    ),
    (lambda c: c.tts({"articles": ["hi"]}), "POST", f"{APP}/tts", {}, {"articles": ["hi"]}),
    (lambda c: c.livekit_token(), "POST", "/rest/livekit/tokens", {}, {}),
    (lambda c: c.voice_post_recording({"a": 1}), "POST", f"{APP}/voice/post-recording", {}, {"a": 1}),
    (lambda c: c.voice_share("dmlk", "t"), "POST", f"{APP}/voice/share", {}, {"videoBytes": "dmlk", "text": "t"}),
    (lambda c: c.memory_blurb(), "GET", f"{APP}/user-memory-blurb", {}, "<none>"),
    (lambda c: c.list_memories("comp1"), "GET", f"{APP}/memories_v2/comp1", {}, "<none>"),
    (lambda c: c.update_memory("m1", "x"), "PUT", f"{APP}/memory_v2/m1", {}, {"content": "x"}),
    (lambda c: c.delete_memory("m1"), "DELETE", f"{APP}/memory_v2/m1", {}, "<none>"),
    (lambda c: c.delete_memory("m1", soft=True), "DELETE", f"{APP}/memory_v2/soft/m1", {}, "<none>"),
    (lambda c: c.delete_all_memories("comp1"), "DELETE", f"{APP}/memories_v2/comp1", {}, "<none>"),
    (lambda c: c.delete_all_memories("comp1", soft=True), "DELETE", f"{APP}/memories_v2/soft/comp1", {}, "<none>"),
    (lambda c: c.memories_for_conversations(["a", "b"]), "POST", f"{APP}/memory", {}, {"conversationIds": ["a", "b"]}),
    (
        lambda c: c.delete_memories_for_conversations(["a", "b"]),
        "DELETE",
        f"{APP}/memory",
        {"conversationIds": ["a", "b"]},
        "<none>",
    ),
    (lambda c: c.get_artifact("a1"), "POST", f"{APP}/artifacts/a1", {}, {}),
    (
        lambda c: c.update_artifact("a1", {"fullArtifact": "x"}),
        "POST",
        f"{APP}/artifacts/a1/update",
        {},
        {"fullArtifact": "x"},
    ),
    (lambda c: c.artifact_content("v1"), "GET", f"{APP}/artifact_content/v1", {}, "<none>"),
    (
        lambda c: c.share_conversation("c1", {"sharePublicly": True}),
        "POST",
        f"{APP}/conversations/c1/share",
        {},
        {"sharePublicly": True},
    ),
    (
        lambda c: c.share_artifact("c1", {"responseId": "r", "artifactId": "a", "artifactVersionId": "v"}),
        "POST",
        f"{APP}/conversations/c1/share_artifact",
        {},
        {"responseId": "r", "artifactId": "a", "artifactVersionId": "v"},
    ),
    (
        lambda c: c.list_share_links(page_size=3, page_token="t"),
        "GET",
        f"{APP}/share_links",
        {"pageSize": ["3"], "pageToken": ["t"]},
        "<none>",
    ),
    (lambda c: c.get_share_link("s1"), "GET", f"{APP}/share_links_data/s1", {}, "<none>"),
    (lambda c: c.delete_share_link("s1"), "DELETE", f"{APP}/share_links/s1", {}, "<none>"),
    (lambda c: c.clone_share_link("s1"), "POST", f"{APP}/share_links/s1/clone", {}, {}),
    (lambda c: c.get_shared_artifact("sa1"), "GET", f"{APP}/shared_artifacts/sa1", {}, "<none>"),
    (lambda c: c.suggestions("cats"), "GET", f"{APP}/suggestions", {"query": ["cats"], "count": ["8"]}, "<none>"),
    (lambda c: c.conversation_starters(), "GET", f"{APP}/conversation-starters", {}, "<none>"),
    (lambda c: c.follow_up_suggestions({"x": 1}), "POST", f"{APP}/fetch-suggestions", {}, {"x": 1}),
    (lambda c: c.image_generations(), "GET", f"{APP}/image-generations", {}, "<none>"),
    (lambda c: c.google_drive_files("q"), "GET", f"{APP}/google-drive/files", {"query": ["q"]}, "<none>"),
    (lambda c: c.google_drive_file("g1"), "GET", f"{APP}/google-drive/files/g1", {}, "<none>"),
    (lambda c: c.rate_limits("fast"), "POST", "/rest/rate-limits", {}, {"modelName": "fast"}),
    (lambda c: c.check_session(), "GET", f"{APP}/conversations", {"pageSize": ["1"]}, "<none>"),
]


def _body(entry):
    body = entry["body"]
    return (
        "<none>" if body in (None, "", {"base64": ""}) and entry["headers"].get("content-length", "0") == "0" else body
    )


@pytest.mark.parametrize("call, method, path, query, body", ENDPOINTS)
def test_every_endpoint_sends_the_documented_request(fake, grok_client, call, method, path, query, body):
    try:
        call(grok_client)
    except gerr.UpstreamHTTPError:
        pass  # unknown ids or tokens are fine: the request shape is what is checked
    entry = fake.requests_log()[-1]
    assert (entry["method"], entry["path"], entry["query"]) == (method, path, query)
    assert entry["statsig"] == "ok"
    if body == "<none>":
        assert entry["headers"].get("content-length", "0") == "0"
    else:
        assert entry["body"] == body


def test_stream_endpoints(fake, grok_client):
    with grok_client.new_conversation({"message": "hi", "temporary": True}) as stream:
        events = [e for e in stream.events() if e is not None]
    conv = next(e for e in events if isinstance(e, ev.ConversationCreated)).conversation_id
    assert any(isinstance(e, ev.Token) for e in events) and isinstance(events[-1], ev.Done)
    with grok_client.add_response(conv, {"message": "more"}) as stream:
        events = [e for e in stream.events() if e is not None]
    response_id = next(e.response_id for e in events if isinstance(e, ev.ModelResponse))
    assert "".join(e.text for e in events if isinstance(e, ev.Token))
    with grok_client.reconnect_response(response_id) as stream:
        assert any(isinstance(e, ev.Token) for e in stream.events())
    with grok_client.quick_answer("what is 2+2") as stream:
        assert any(isinstance(e, ev.Token) for e in stream.events())
    with grok_client.read_response_audio(response_id) as audio:
        assert audio.headers["content-type"] == "audio/mpeg" and audio.read()
    paths = [(e["method"], e["path"]) for e in fake.requests_log()]
    assert paths == [
        ("POST", f"{APP}/conversations/new"),
        ("POST", f"{APP}/conversations/{conv}/responses"),
        ("GET", f"{APP}/conversations/reconnect-response-v2/{response_id}"),
        ("POST", f"{APP}/quick-answer"),
        ("GET", f"{APP}/read-response-audio/{response_id}"),
    ]
    assert all(e["statsig"] == "ok" for e in fake.requests_log())


def test_reference_headers_on_every_request(fake, grok_client):
    grok_client.list_conversations()
    grok_client.memory_blurb()
    for entry in fake.requests_log():
        h = entry["headers"]
        assert h["cookie"] == "sso=test-sso; sso-rw=test-sso-rw"
        assert h["content-type"] == "application/json"
        assert h["accept"] == "*/*"
        assert h["origin"] == fake.base_url and h["referer"] == fake.base_url + "/"
        assert (h["sec-fetch-dest"], h["sec-fetch-mode"], h["sec-fetch-site"]) == ("empty", "cors", "same-origin")
        uuid.UUID(h["x-xai-request-id"])
        assert len(h["x-statsig-id"]) == 94
    ids = [e["headers"]["x-xai-request-id"] for e in fake.requests_log()]
    tokens = [e["headers"]["x-statsig-id"] for e in fake.requests_log()]
    assert len(set(ids)) == 2 and len(set(tokens)) == 2


def test_path_parameters_are_percent_encoded(fake, grok_client):
    with pytest.raises(gerr.NotFound):
        grok_client.get_conversation("a/../b?x=1#y")
    entry = fake.requests_log()[-1]
    assert entry["path"] == f"{APP}/conversations/a%2F..%2Fb%3Fx%3D1%23y"
    assert entry["query"] == {} and entry["statsig"] == "ok"


def test_extra_cookies_and_rw_default(fake, settings_for):
    fake.configure(sso_rw="test-sso")
    client = GrokClient.from_settings(settings_for(GROK_SSO_RW_COOKIE="", GROK_EXTRA_COOKIES="cf_clearance=abc"))
    client.memory_blurb()
    assert fake.requests_log()[-1]["headers"]["cookie"] == "sso=test-sso; sso-rw=test-sso; cf_clearance=abc"


@pytest.mark.parametrize(
    "scenario, exc, failure",
    [
        ("expired", gerr.AuthExpired, gerr.AUTH_EXPIRED),
        ("anti_bot", gerr.AntiBotRejected, gerr.ANTI_BOT),
        ("cloudflare", gerr.AntiBotRejected, gerr.CLOUDFLARE),
        ("blocked", gerr.AntiBotRejected, gerr.ACCOUNT_BLOCKED),
        ("outdated", gerr.UpstreamHTTPError, gerr.PAYLOAD_OUTDATED),
        ("rate_limited?retry_after=7", gerr.RateLimited, gerr.RATE_LIMITED),
        ("server_error?status=503", gerr.UpstreamHTTPError, gerr.UPSTREAM),
    ],
)
def test_status_classification_through_real_responses(fake, grok_client, scenario, exc, failure):
    with pytest.raises(exc) as info:
        grok_client.new_conversation({"message": f"#scenario:{scenario}"})
    assert type(info.value) is exc and info.value.failure_class == failure
    if failure == gerr.RATE_LIMITED:
        assert info.value.retry_after == 7
    assert grok_client.state.last_failure.failure_class == failure


def test_retry_after_http_date(fake, grok_client):
    with pytest.raises(gerr.RateLimited) as info:
        grok_client.new_conversation({"message": "#scenario:rate_limited?retry_after=60&date=1"})
    assert 50 <= info.value.retry_after <= 61


def test_wrong_statsig_values_are_anti_bot(fake, settings_for):
    client = GrokClient.from_settings(settings_for(CHALLENGE_SUFFIX="!stale"))
    with pytest.raises(gerr.AntiBotRejected):
        client.list_conversations()
    assert fake.requests_log()[-1]["statsig"] != "ok"


def test_stale_build_is_classified(fake, grok_client):
    fake.configure(stale_build=True)
    with pytest.raises(gerr.AntiBotRejected) as info:
        grok_client.list_conversations()
    assert info.value.failure_class == gerr.STALE_CHALLENGE


def test_session_validity_tracking(fake, grok_client):
    state = grok_client.state
    assert state.valid
    fake.configure(sso="rotated")
    with pytest.raises(gerr.AuthExpired):
        grok_client.check_session()
    assert state.valid is False
    fake.configure(sso="test-sso")
    assert grok_client.check_session() is True
    assert state.valid is True
    with pytest.raises(gerr.NotFound):
        grok_client.get_conversation("missing")
    assert state.valid is True, "a non-auth failure leaves validity alone"


def test_reconfigure_applies_new_cookie_to_next_request(fake, grok_client, settings_for):
    from app.grok.client import ClientConfig

    fake.configure(sso="new-cookie")
    grok_client.reconfigure(ClientConfig.from_settings(settings_for(GROK_SSO_COOKIE="new-cookie")))
    grok_client.memory_blurb()
    assert "sso=new-cookie" in fake.requests_log()[-1]["headers"]["cookie"]


def test_without_cookie_nothing_is_sent(fake):
    client = GrokClient.from_settings(Settings.from_mapping({"GROK_BASE_URL": fake.base_url}))
    with pytest.raises(gerr.ConfigurationError):
        client.list_conversations()
    assert fake.requests_log() == []


def test_no_signer_sends_the_pages_error_value(fake, settings_for):
    client = GrokClient.from_settings(settings_for(CHALLENGE_HEADER_HEX="", CHALLENGE_SUFFIX=""))
    with pytest.raises(gerr.AntiBotRejected):
        client.list_conversations()
    assert fake.requests_log()[-1]["headers"]["x-statsig-id"] == X1_FALLBACK


def test_inband_error_and_malformed_line_are_events(fake, grok_client):
    with grok_client.new_conversation({"message": "#scenario:inband_error?message=boom"}) as stream:
        events = list(stream.events())
    assert any(isinstance(e, ev.UpstreamError) and e.message == "boom" for e in events)
    with grok_client.new_conversation({"message": "#scenario:malformed"}) as stream:
        events = list(stream.events())
    assert any(isinstance(e, ev.ParseError) for e in events)
    assert isinstance(events[-1], ev.Done)


def test_oversize_line_ends_the_stream_with_parse_error(fake, settings_for):
    client = GrokClient.from_settings(settings_for())
    with client.new_conversation({"message": "#scenario:huge_line"}) as stream:
        events = list(stream.events())
    assert isinstance(events[-1], ev.ParseError) and "16 MiB" in events[-1].message
    fake.wait_stats(lambda s: s["active_streams"] == 0, timeout=5)


def test_library_use_from_cookies(fake):
    client = GrokClient.from_cookies(
        fake.sso,
        fake.sso_rw,
        challenge_header_hex=fake.header_hex,
        challenge_suffix=fake.suffix,
        challenge_trailer=fake.trailer,
        base_url=fake.base_url,
    )
    text = []
    with client.new_conversation({"message": "#scenario:plain?text=hello%20world", "temporary": True}) as stream:
        for event in stream.events():
            if isinstance(event, ev.Token):
                text.append(event.text)
            elif isinstance(event, ev.Done):
                break
    assert "".join(text) == "hello world"


def test_a_large_upload_is_sent_as_the_same_json(fake, grok_client):
    import base64

    content = base64.b64encode(bytes(range(256)) * 8192).decode()  # 2.8 MB of base64
    reply = grok_client.upload_file(
        {"fileName": "big.bin", "fileMimeType": "application/octet-stream", "content": content}
    )
    assert reply.status == 200
    [sent] = fake.requests_log("/rest/app-chat/upload-file")
    assert sent["body"]["content"] == content and sent["body"]["fileName"] == "big.bin"
