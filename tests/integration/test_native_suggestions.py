"""/v1/suggestions, /v1/images and /v1/google-drive beyond the route matrix."""

from __future__ import annotations

import pytest

from .native_cases import assert_problem


@pytest.mark.parametrize("count", ["many", "-1", "2.5", "4294967296"])
def test_bad_count_is_400(native_client, fake, count):
    assert_problem(native_client.get(f"/v1/suggestions?count={count}"), 400, "invalid_query", "count")
    assert fake.requests_log() == []


def test_suggestions_count(native_client, fake):
    got = native_client.get("/v1/suggestions?query=cats&count=3").get_json()["suggestions"]
    assert [s["query"] for s in got] == ["cats 1", "cats 2", "cats 3"]
    assert len(native_client.get("/v1/suggestions").get_json()["suggestions"]) == 8


def test_follow_up_takes_a_json_object(native_client, fake):
    assert_problem(native_client.post("/v1/suggestions/follow-up", json="more"), 422, "invalid_request", "body")
    assert native_client.post("/v1/suggestions/follow-up").status_code == 200
    assert fake.requests_log()[0]["body"] == {}


def test_images_lists_what_chat_generated(native_client, fake, grok_client):
    assert native_client.get("/v1/images").get_json() == {"generations": []}
    with grok_client.new_conversation({"message": "draw #scenario:image?count=2", "temporary": False}) as chat:
        list(chat.events())
    assert len(native_client.get("/v1/images").get_json()["generations"]) == 2


def test_google_drive_search_and_get(native_client, fake):
    found = native_client.get("/v1/google-drive/files?query=budget").get_json()["files"]
    assert [f["id"] for f in found] == ["gdrive-demo-2"]
    assert native_client.get("/v1/google-drive/files/gdrive-demo-1").get_json()["name"] == "Quarterly report.docx"
    assert_problem(native_client.get("/v1/google-drive/files/nope"), 404, "not_found")
