"""/v1/artifacts beyond the route matrix: validation, versions, the artifact id is checked."""

from __future__ import annotations

import pytest

from .native_cases import APP, assert_problem


@pytest.mark.parametrize(
    "body, param",
    [
        ({}, "fullArtifact"),
        ({"artifactVersionId": "artv-demo-1"}, "fullArtifact"),
        ({"fullArtifact": 5}, "fullArtifact"),
        ({"artifactDiff": ["x"]}, "artifactDiff"),
        ({"fullArtifact": "x", "artifactVersionId": 1}, "artifactVersionId"),
    ],
)
def test_bad_update_bodies(native_client, fake, body, param):
    assert_problem(native_client.put("/v1/artifacts/art-demo", json=body), 422, "invalid_request", param)
    assert fake.requests_log() == []


def test_versions(native_client, fake):
    first = native_client.get("/v1/artifacts/art-demo").get_json()["versions"][0]["artifactVersionId"]
    new = native_client.put("/v1/artifacts/art-demo", json={"artifactDiff": "print(2)\n"}).get_json()
    content = native_client.get(f"/v1/artifacts/art-demo/content/{new['artifactVersionId']}").get_json()
    assert content["content"] == 'print("demo")\nprint(2)\n'
    old = native_client.get(f"/v1/artifacts/art-demo/content/{first}").get_json()
    assert old["content"] == 'print("demo")\n'


def test_content_of_a_version_of_another_artifact_is_404(native_client, fake):
    body = assert_problem(native_client.get("/v1/artifacts/art-other/content/artv-demo-1"), 404, "not_found")
    assert "art-demo" in body["detail"]


def test_content_without_an_owner_in_the_answer_is_passed_through(native_client, fake):
    fake.enqueue(f"{APP}/artifact_content/v-9", body={"content": "x"})
    resp = native_client.get("/v1/artifacts/any/content/v-9")
    assert (resp.status_code, resp.get_json()) == (200, {"content": "x"})
