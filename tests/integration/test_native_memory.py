"""/v1/memory beyond the route matrix: validation, ids named by what they are, by-conversation."""

from __future__ import annotations

import pytest

from .conftest import start_conversation
from .native_cases import APP, assert_problem


@pytest.mark.parametrize(
    "body, param",
    [
        ({}, "conversationIds"),
        ({"conversationIds": []}, "conversationIds"),
        ({"conversationIds": "c-1"}, "conversationIds"),
        ({"conversationIds": [5]}, "conversationIds[0]"),
        ({"conversationIds": ["c-1", "../etc"]}, "conversationIds[1]"),
    ],
)
def test_bad_by_conversation_bodies(native_client, fake, body, param):
    assert_problem(native_client.post("/v1/memory/by-conversation", json=body), 422, "invalid_request", param)
    assert fake.requests_log() == []


@pytest.mark.parametrize(
    "query, param",
    [
        ("", "conversation_ids"),
        ("?conversationIds=c-1", "conversation_ids"),
        ("?conversation_ids=", "conversation_ids[0]"),
        ("?conversation_ids=c-1&conversation_ids=a%2Fb", "conversation_ids[1]"),
    ],
)
def test_bad_by_conversation_queries(native_client, fake, query, param):
    resp = native_client.delete("/v1/memory/by-conversation" + query)
    assert_problem(resp, 400, "invalid_query", param)
    assert fake.requests_log() == []


@pytest.mark.parametrize(
    "method, path, kwargs, status, type_, param",
    [
        ("PUT", "/v1/memory/v2/mem-demo-1", {"json": {}}, 422, "invalid_request", "content"),
        ("PUT", "/v1/memory/v2/mem-demo-1", {"json": {"content": ["a"]}}, 422, "invalid_request", "content"),
        ("DELETE", "/v1/memory/v2/mem-demo-1", {"query_string": {"soft": "yes"}}, 400, "invalid_query", "soft"),
        ("DELETE", "/v1/memory/v2/all/companion-demo", {"query_string": {"soft": "2"}}, 400, "invalid_query", "soft"),
    ],
)
def test_bad_memory_requests(native_client, fake, method, path, kwargs, status, type_, param):
    assert_problem(native_client.open(path, method=method, **kwargs), status, type_, param)


def test_memory_lifecycle(native_client, fake):
    listed = native_client.get("/v1/memory/v2/companion-demo").get_json()["memories"]
    assert {m["memoryId"] for m in listed} == {"mem-demo-1", "mem-demo-2"}

    edited = native_client.put("/v1/memory/v2/mem-demo-1", json={"content": "Metric units."})
    assert (edited.status_code, edited.get_json()) == (200, {"status": "updated"})
    assert native_client.delete("/v1/memory/v2/mem-demo-2?soft=true").get_json() == {"status": "deleted"}
    listed = native_client.get("/v1/memory/v2/companion-demo").get_json()["memories"]
    assert [m["content"] for m in listed] == ["Metric units."]

    assert native_client.delete("/v1/memory/v2/all/companion-demo").get_json() == {"status": "deleted"}
    assert native_client.get("/v1/memory/v2/companion-demo").get_json() == {"memories": []}
    assert_problem(native_client.put("/v1/memory/v2/mem-demo-1", json={"content": "x"}), 404, "not_found")


def test_memories_by_conversation(native_client, fake, grok_client):
    conv = start_conversation(grok_client)["conv"]
    made = native_client.post("/v1/memory/by-conversation", json={"conversationIds": [conv]}).get_json()
    assert [m["conversationId"] for m in made["memories"]] == [conv]

    deleted = native_client.delete(f"/v1/memory/by-conversation?conversation_ids={conv}&conversation_ids=c-2")
    assert deleted.get_json() == {"status": "deleted"}
    assert fake.requests_log(f"{APP}/memory")[-1]["query"] == {"conversationIds": [conv, "c-2"]}
    assert not [m for m in fake.store()["memories"] if m.get("conversationId") == conv]


def test_openapi_names_memory_ids_by_what_they_are(native_client):
    paths = native_client.get("/openapi.json").get_json()["paths"]
    assert "get" in paths["/v1/memory/v2/{companion_id}"]
    assert {"put", "delete"} <= set(paths["/v1/memory/v2/{memory_id}"])
    assert "COMPANION id" in paths["/v1/memory/v2/{companion_id}"]["get"]["summary"]
    assert "MEMORY id" in paths["/v1/memory/v2/{memory_id}"]["put"]["summary"]
    assert "delete" in paths["/v1/memory/v2/all/{companion_id}"]
