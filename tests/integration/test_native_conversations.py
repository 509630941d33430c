"""/v1/conversations beyond the route matrix: validation, exists, trash flow, path safety."""

from __future__ import annotations

import logging

import pytest

from app import create_app
from app.settings import Settings

from .conftest import start_conversation
from .native_cases import APP, assert_problem


@pytest.mark.parametrize(
    "method, path, query, param",
    [
        ("GET", "/v1/conversations", {"page_size": "abc"}, "page_size"),
        ("GET", "/v1/conversations", {"page_size": "-1"}, "page_size"),
        ("GET", "/v1/conversations", {"page_size": "4294967296"}, "page_size"),
        ("GET", "/v1/conversations", {"starred": "yes"}, "starred"),
        ("GET", "/v1/conversations/deleted", {"page_size": "1.5"}, "page_size"),
        ("DELETE", "/v1/conversations/c-1", {"soft": "maybe"}, "soft"),
        ("DELETE", "/v1/conversations/c-1", {"soft": "true", "delete_media": "true"}, "delete_media"),
        ("GET", "/v1/conversations/c-1/responses", {"include_threads": "TRUE"}, "include_threads"),
    ],
)
def test_bad_query_parameters_are_400_invalid_query(native_client, fake, method, path, query, param):
    resp = native_client.open(path, method=method, query_string=query)
    assert_problem(resp, 400, "invalid_query", param)
    assert fake.requests_log() == []


@pytest.mark.parametrize(
    "kwargs, status, type_, param",
    [
        ({"json": {"title": 5}}, 422, "invalid_request", "title"),
        ({"json": {"starred": "true"}}, 422, "invalid_request", "starred"),
        ({"json": {"starred": 1}}, 422, "invalid_request", "starred"),
        ({"json": ["title"]}, 422, "invalid_request", "body"),
        ({"data": '{"title": "x"', "content_type": "application/json"}, 400, "invalid_request", None),
        ({"data": "title=x", "content_type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", None),
        ({"data": '{"title": "x"}', "content_type": "text/plain"}, 415, "unsupported_media_type", None),
    ],
)
def test_bad_update_bodies(native_client, fake, kwargs, status, type_, param):
    resp = native_client.put("/v1/conversations/c-1", **kwargs)
    assert_problem(resp, status, type_, param)
    assert fake.requests_log() == []


def test_update_forwards_undocumented_fields_and_accepts_an_empty_body(native_client, fake, grok_client):
    conv = start_conversation(grok_client)["conv"]
    fake.clear()
    assert native_client.put(f"/v1/conversations/{conv}", json={"title": "T", "pinned": True}).status_code == 200
    assert native_client.put(f"/v1/conversations/{conv}").status_code == 200
    bodies = [e["body"] for e in fake.requests_log(f"{APP}/conversations/{conv}")]
    assert bodies == [{"title": "T", "pinned": True}, {}]


def test_exists_reads_grok_com_answer(native_client, fake, grok_client):
    conv = start_conversation(grok_client)["conv"]
    assert native_client.get(f"/v1/conversations/{conv}/exists").get_json() == {"exists": True}
    assert native_client.get("/v1/conversations/no-such-conv/exists").get_json() == {"exists": False}
    # The answer's `exists` is what counts, not only the status.
    fake.enqueue(f"{APP}/conversations/exists/{conv}", body={"exists": False})
    resp = native_client.get(f"/v1/conversations/{conv}/exists")
    assert (resp.status_code, resp.get_json()) == (200, {"exists": False})


def test_trash_and_restore(native_client, fake, grok_client):
    conv = start_conversation(grok_client)["conv"]
    assert native_client.delete(f"/v1/conversations/{conv}?soft=true").get_json() == {"status": "deleted"}
    listed = native_client.get("/v1/conversations").get_json()["conversations"]
    trashed = native_client.get("/v1/conversations/deleted").get_json()["conversations"]
    assert conv not in [c["conversationId"] for c in listed]
    assert conv in [c["conversationId"] for c in trashed]

    assert native_client.post(f"/v1/conversations/{conv}/restore").get_json() == {"status": "restored"}
    listed = native_client.get("/v1/conversations").get_json()["conversations"]
    assert conv in [c["conversationId"] for c in listed]

    assert native_client.delete(f"/v1/conversations/{conv}").get_json() == {"status": "deleted"}
    assert_problem(native_client.get(f"/v1/conversations/{conv}"), 404, "not_found")


def test_list_filters_by_workspace_and_star(native_client, fake, grok_client):
    with grok_client.new_conversation(
        {"message": "in a workspace", "temporary": False, "workspaceIds": ["ws-1"]}
    ) as stream:
        list(stream.events())
    other = start_conversation(grok_client)["conv"]
    native_client.put(f"/v1/conversations/{other}", json={"starred": True})

    in_ws = native_client.get("/v1/conversations?workspace_id=ws-1").get_json()["conversations"]
    starred = native_client.get("/v1/conversations?starred=true").get_json()["conversations"]
    assert [c["workspaces"] for c in in_ws] == [["ws-1"]]
    assert [c["conversationId"] for c in starred] == [other]


@pytest.mark.parametrize(
    "path, param",
    [
        ("/v1/conversations/a%2Fb", None),  # an encoded slash would route as a real one
        ("/v1/conversations/a%2fb/exists", None),
        ("/v1/conversations/a%5Cb", None),
        ("/v1/conversations/%2e%2e/deleted", None),
        ("/v1/conversations/a%00b", "conversation_id"),
        ("/v1/conversations/a%20b", "conversation_id"),
        ("/v1/conversations/a..b", "conversation_id"),
        ("/v1/conversations/a%3Fb", "conversation_id"),
        ("/v1/conversations/" + "x" * 257, "conversation_id"),
    ],
)
def test_implausible_ids_are_400_before_any_upstream_call(native_client, fake, path, param):
    resp = native_client.get(path)
    assert_problem(resp, 400, "invalid_path", param)
    assert fake.requests_log() == []


def test_ids_are_percent_encoded_upstream(native_client, fake):
    fake.enqueue(f"{APP}/conversations/", body={"conversationId": "x"})
    assert native_client.get("/v1/conversations/ab:c@d+e").status_code == 200
    assert fake.requests_log()[0]["path"] == f"{APP}/conversations/ab%3Ac%40d%2Be"


def test_wrong_method_is_405_problem_with_allow(native_client, fake):
    resp = native_client.patch("/v1/conversations")
    assert_problem(resp, 405, "method_not_allowed")
    assert {"GET", "DELETE"} <= {m.strip() for m in resp.headers["Allow"].split(",")}


def test_unknown_query_parameters_are_ignored_with_a_log_line(native_client, fake, caplog):
    with caplog.at_level(logging.DEBUG, logger="app.web.blueprint"):
        resp = native_client.get("/v1/conversations?page_size=1&pageSize=7&colour=red")
    assert resp.status_code == 200
    assert fake.requests_log()[0]["query"] == {"pageSize": ["1"]}
    assert "['colour', 'pageSize']" in caplog.text


def test_a_body_sent_to_a_route_without_one_is_logged(native_client, fake, grok_client, caplog):
    conv = start_conversation(grok_client)["conv"]
    with caplog.at_level(logging.INFO, logger="app.web.blueprint"):
        resp = native_client.post(f"/v1/conversations/{conv}/title", json={"title": "mine"})
    assert resp.status_code == 200
    assert "takes no body" in caplog.text


def test_without_credentials_every_route_is_503_not_configured(fake):
    app = create_app(Settings.from_mapping({"GROK_BASE_URL": fake.base_url}))
    resp = app.test_client().get("/v1/conversations")
    assert_problem(resp, 503, "not_configured")
    assert fake.requests_log() == []


def test_a_conversation_larger_than_the_stream_buffer_is_served_whole(native_client, fake):
    # A typed route reads grok.com's answer whole: over 1 MiB it used to stall until the
    # request deadline and answer 504 (transport limit: docs/troubleshooting.md, Limits).
    cid = "c0ffee00-1111-4222-8333-444455556666"
    fake.enqueue(f"{APP}/conversations/{cid}", body={"conversationId": cid, "title": "t" * 1_500_000})
    resp = native_client.get(f"/v1/conversations/{cid}")
    assert resp.status_code == 200 and len(resp.get_json()["title"]) == 1_500_000
