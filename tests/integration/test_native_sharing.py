"""/v1/sharing beyond the route matrix: validation and the share-link lifecycle."""

from __future__ import annotations

import pytest

from .conftest import start_conversation
from .native_cases import assert_problem


@pytest.mark.parametrize(
    "path, body, param",
    [
        ("/v1/sharing/c-1", {"sharePublicly": "yes"}, "sharePublicly"),
        ("/v1/sharing/c-1", {"teamMembersToShare": "bob"}, "teamMembersToShare"),
        ("/v1/sharing/c-1", {"responseId": 7}, "responseId"),
        ("/v1/sharing/c-1/artifact", {"responseId": "r", "artifactId": "a"}, "artifactVersionId"),
        ("/v1/sharing/c-1/artifact", {"responseId": "r", "artifactId": 1, "artifactVersionId": "v"}, "artifactId"),
    ],
)
def test_bad_share_bodies(native_client, fake, path, body, param):
    assert_problem(native_client.post(path, json=body), 422, "invalid_request", param)
    assert fake.requests_log() == []


def test_bad_paging_is_400(native_client, fake):
    assert_problem(native_client.get("/v1/sharing/links?page_size=ten"), 400, "invalid_query", "page_size")


def test_share_link_lifecycle(native_client, fake, grok_client):
    ids = start_conversation(grok_client, "Share me")
    made = native_client.post(f"/v1/sharing/{ids['conv']}", json={"responseId": ids["resp"]})
    assert made.status_code == 201
    link = made.get_json()["shareLinkId"]

    assert [s["shareLinkId"] for s in native_client.get("/v1/sharing/links").get_json()["shareLinks"]] == [link]
    shared = native_client.get(f"/v1/sharing/links/{link}").get_json()
    assert shared["conversation"]["conversationId"] == ids["conv"]
    clone = native_client.post(f"/v1/sharing/links/{link}/clone")
    assert clone.status_code == 201
    assert clone.get_json()["conversation"]["conversationId"] != ids["conv"]

    assert native_client.delete(f"/v1/sharing/links/{link}").get_json() == {"status": "deleted"}
    assert_problem(native_client.get(f"/v1/sharing/links/{link}"), 404, "not_found")


def test_share_an_artifact(native_client, fake, grok_client):
    ids = start_conversation(grok_client)
    made = native_client.post(
        f"/v1/sharing/{ids['conv']}/artifact",
        json={"responseId": ids["resp"], "artifactId": "art-demo", "artifactVersionId": "artv-demo-1"},
    ).get_json()
    shared = native_client.get(f"/v1/sharing/artifacts/{made['sharedArtifactId']}").get_json()
    assert (shared["artifactId"], shared["content"]) == ("art-demo", 'print("demo")\n')
