"""Rules every typed native route shares: body content types, the OpenAPI document,
and answers over real HTTP (gunicorn): JSON bytes, 201/204, encoded separators."""

from __future__ import annotations

import base64
import http.client
import json

import pytest

from app import native

from .native_cases import ALL, APP, DUMMY_IDS, NO_BODY, assert_problem, fill

JSON_BODY_CASES = [c for c in ALL if c.json is not NO_BODY]
OPERATIONS = ("get", "put", "post", "delete")


@pytest.mark.parametrize("case", JSON_BODY_CASES, ids=str)
def test_json_routes_refuse_other_content_types_with_415(case, native_client, fake):
    resp = native_client.open(fill(case.path, DUMMY_IDS), method=case.method, data="a=1", content_type="text/plain")
    assert_problem(resp, 415, "unsupported_media_type")
    assert fake.requests_log() == []


@pytest.mark.parametrize("case", JSON_BODY_CASES, ids=str)
def test_json_routes_refuse_malformed_json_with_400(case, native_client, fake):
    resp = native_client.open(
        fill(case.path, DUMMY_IDS), method=case.method, data='{"a": ', content_type="application/json"
    )
    body = assert_problem(resp, 400, "invalid_request")
    assert body["detail"] == "the request body is not valid JSON"


@pytest.fixture(scope="module")
def openapi(native_app):
    return native_app.test_client().get("/openapi.json").get_json()


NATIVE_BLUEPRINTS = {blueprint.name for blueprint in native.blueprints()}
# Native routes that live with their URL's other routes: GET /v1/images in app/openai/images.py.
NATIVE_ELSEWHERE = {"images.list_images"}


def is_native(rule) -> bool:
    # /v1 also holds the OpenAI surface and the asset proxy: only native blueprints count here.
    return rule.endpoint in NATIVE_ELSEWHERE or (
        rule.endpoint.split(".", 1)[0] in NATIVE_BLUEPRINTS
        and rule.rule.startswith("/v1/")
        and not rule.rule.startswith("/v1/chat")
    )


def native_rules(app):
    for rule in app.url_map.iter_rules():
        if is_native(rule):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                path = rule.rule.replace("<gid:", "{").replace("<", "{").replace(">", "}")
                yield method.lower(), path


def test_the_matrix_covers_every_native_route(native_app):
    adapter = native_app.url_map.bind("localhost")
    covered = {adapter.match(fill(c.path, DUMMY_IDS), c.method)[0] for c in ALL}
    routed = {rule.endpoint for rule in native_app.url_map.iter_rules() if is_native(rule)}
    assert covered == routed
    assert len(routed) == 43


def test_openapi_documents_every_native_route(native_app, openapi):
    for method, path in native_rules(native_app):
        operation = openapi["paths"][path][method]
        assert operation.get("summary"), (method, path)


def test_openapi_has_examples_for_every_body(native_app, openapi):
    for method, path in native_rules(native_app):
        operation = openapi["paths"][path][method]
        if "requestBody" in operation:
            assert operation["requestBody"]["content"]["application/json"].get("example") is not None, path
        for status, response in operation["responses"].items():
            json_answer = response.get("content", {}).get("application/json")
            if status.startswith("2") and json_answer is not None:
                assert json_answer.get("example") is not None, (method, path, status)
        assert any(s.startswith("2") for s in operation["responses"]), (method, path)


def test_openapi_documents_query_parameters_in_snake_case(openapi):
    names = {
        p["name"]
        for ops in openapi["paths"].values()
        for op in ops.values()
        if isinstance(op, dict)
        for p in op.get("parameters", [])
        if p["in"] == "query"
    }
    assert {
        "page_size",
        "page_token",
        "starred",
        "workspace_id",
        "soft",
        "delete_media",
        "include_threads",
        "voice_id",
        "query",
        "count",
        "conversation_ids",
    } <= names
    assert all(name == name.lower() for name in names)


# ---------------------------------------------------------------- over real HTTP
def request(server, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def test_json_bytes_and_status_survive_real_http(server, upstream):
    raw = b'{"shareLinkId":"s-9",  "z":[1.50,2e3],"a":"\\u00e9"}'
    upstream.enqueue(
        f"{APP}/conversations/c-1/share",
        status=201,
        body_base64=base64.b64encode(raw).decode(),
        headers={"Content-Type": "application/json"},
    )
    resp, data = request(server, "POST", "/v1/sharing/c-1", b"{}", {"Content-Type": "application/json"})
    assert (resp.status, data) == (201, raw)
    assert resp.getheader("Content-Type") == "application/json"


@pytest.mark.parametrize(
    "method, path, upstream_path, status",
    [
        ("POST", "/v1/conversations/c-1/title", f"{APP}/conversations/c-1/title", 204),
        ("POST", "/v1/voice/post-recording", f"{APP}/voice/post-recording", 201),
    ],
)
def test_empty_answers_stay_empty_over_real_http(server, upstream, method, path, upstream_path, status):
    upstream.enqueue(upstream_path, method=method, status=status)
    resp, data = request(server, method, path)
    assert (resp.status, data) == (status, b"")
    assert resp.getheader("Content-Type") is None


def test_a_deletion_answers_the_reference_status_body_over_real_http(server, upstream):
    upstream.enqueue(f"{APP}/share_links/s-1", method="DELETE", status=204)
    resp, data = request(server, "DELETE", "/v1/sharing/links/s-1")
    assert (resp.status, json.loads(data)) == (200, {"status": "deleted"})
    assert resp.getheader("Content-Type") == "application/json"


def test_non_json_upstream_answer_is_502(server, upstream):
    upstream.enqueue(f"{APP}/user-memory-blurb", body="<html>maintenance</html>", headers={"Content-Type": "text/html"})
    resp, data = request(server, "GET", "/v1/memory/blurb")
    assert resp.status == 502
    assert b"text/html instead of JSON" in data


@pytest.mark.parametrize(
    "path",
    [
        "/v1/sharing/links%2Fs-1",
        "/v1/sharing/links%2fs-1",
        "/v1/sharing/links/%2E%2E",
        "/v1/conversations/c-1%5Cx/exists",
    ],
)
def test_encoded_separators_are_refused_over_real_http(server, upstream, path):
    # Without the raw-URI check, links%2Fs-1 would be routed as GET /v1/sharing/links/s-1.
    upstream.enqueue(f"{APP}/", body={"unexpected": True}, times=5)
    resp, data = request(server, "GET", path)
    assert resp.status == 400
    assert b'"invalid_path"' in data
    assert upstream.requests_log() == []
