"""/v1/files and /v1/code beyond the route matrix: base64 and size checks, multipart uploads."""

from __future__ import annotations

import base64
import io
import json
import logging

import pytest

from .native_cases import APP, UPLOAD, assert_problem

ALL_BYTES = bytes(range(256)) * 4


def uploaded(fake) -> dict:
    [sent] = fake.requests_log(f"{APP}/upload-file")
    return sent["body"]


@pytest.mark.parametrize(
    "change, param",
    [
        ({"content": "aGVsbG8"}, "content"),  # missing padding
        ({"content": "aGVs bG8K"}, "content"),  # whitespace
        ({"content": "data:text/plain;base64,aGVsbG8K"}, "content"),  # a data: URI is not base64
        ({"content": "aGVsbG8K_-"}, "content"),  # URL-safe alphabet
        ({"content": "é"}, "content"),
        ({"content": None}, "content"),
        ({"fileName": ""}, "fileName"),
        ({"fileMimeType": 3}, "fileMimeType"),
        ({"makePublic": "yes"}, "makePublic"),
    ],
)
def test_bad_json_uploads_are_422_naming_the_field(native_client, fake, change, param):
    resp = native_client.post("/v1/files", json=dict(UPLOAD, **change))
    assert_problem(resp, 422, "invalid_request", param)
    assert fake.requests_log() == []


def test_missing_fields_are_named(native_client, fake):
    body = assert_problem(native_client.post("/v1/files", json={}), 422, "invalid_request")
    assert set(body["errors"]) == {"fileName", "fileMimeType", "content"}


def test_multipart_upload_is_base64_encoded_for_grok_com(native_client, fake):
    resp = native_client.post(
        "/v1/files",
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(ALL_BYTES), "blob.bin", "application/octet-stream")},
    )
    assert resp.status_code == 200
    assert resp.get_json()["size"] == len(ALL_BYTES)
    sent = uploaded(fake)
    assert base64.b64decode(sent["content"], validate=True) == ALL_BYTES
    assert (sent["fileName"], sent["fileMimeType"]) == ("blob.bin", "application/octet-stream")


def test_multipart_type_is_guessed_from_the_name_when_the_part_has_none(native_client, fake):
    resp = native_client.post(
        "/v1/files",
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(b"\x89PNG"), "photo.png", "application/octet-stream")},
    )
    assert resp.status_code == 200
    assert uploaded(fake)["fileMimeType"] == "image/png"


def test_multipart_fields_override_the_part_metadata(native_client, fake):
    resp = native_client.post(
        "/v1/files",
        content_type="multipart/form-data",
        data={
            "file": (io.BytesIO(b"a,b\n"), "upload.tmp", "text/plain"),
            "fileName": "table.csv",
            "fileMimeType": "text/csv",
            "fileSource": "SELF_UPLOAD_FILE_SOURCE",
            "makePublic": "false",
        },
    )
    assert resp.status_code == 200
    assert uploaded(fake) == {
        "fileName": "table.csv",
        "fileMimeType": "text/csv",
        "content": "YSxiCg==",
        "fileSource": "SELF_UPLOAD_FILE_SOURCE",
        "makePublic": False,
    }


@pytest.mark.parametrize(
    "data, param",
    [
        ({"fileName": "a.txt"}, "file"),
        ({"file": (io.BytesIO(b"x"), "a.txt", "text/plain"), "content": "eA=="}, "content"),
        ({"file": (io.BytesIO(b"x"), "a.txt", "text/plain"), "makePublic": "sometimes"}, "makePublic"),
    ],
)
def test_bad_multipart_uploads(native_client, fake, data, param):
    resp = native_client.post("/v1/files", content_type="multipart/form-data", data=data)
    assert_problem(resp, 422, "invalid_request", param)
    assert fake.requests_log() == []


def test_upload_accepts_bodies_beyond_the_default_2_mib(native_client, fake):
    payload = bytes(3 * 1024 * 1024)
    resp = native_client.post("/v1/files", json=dict(UPLOAD, content=base64.b64encode(payload).decode()))
    assert resp.status_code == 200
    assert resp.get_json()["size"] == len(payload)


def test_upload_over_64_mib_is_413_with_the_limit(native_client, fake):
    # The declared length is enough: the body is refused before it is read.
    resp = native_client.post(
        "/v1/files",
        data=b"{}",
        content_type="application/json",
        environ_overrides={"CONTENT_LENGTH": str(64 * 1024 * 1024 + 1)},
    )
    body = assert_problem(resp, 413, "payload_too_large")
    assert "67108864 bytes" in body["detail"]
    assert fake.requests_log() == []


def test_other_routes_keep_the_2_mib_limit(native_client, fake):
    big = json.dumps({"language": "python", "code": "x" * (2 * 1024 * 1024)})
    body = assert_problem(
        native_client.post("/v1/code/run", data=big, content_type="application/json"), 413, "payload_too_large"
    )
    assert "2097152 bytes" in body["detail"]


def test_upload_with_another_content_type_is_415(native_client, fake):
    resp = native_client.post("/v1/files", data=b"hello", content_type="application/octet-stream")
    body = assert_problem(resp, 415, "unsupported_media_type")
    assert "multipart/form-data" in body["detail"]


def test_metadata_of_an_uploaded_file(native_client, fake):
    file_id = native_client.post("/v1/files", json=UPLOAD).get_json()["fileMetadataId"]
    meta = native_client.get(f"/v1/files/{file_id}/metadata").get_json()
    assert (meta["fileMetadataId"], meta["fileName"]) == (file_id, "notes.txt")
    assert_problem(native_client.get("/v1/files/unknown-file/metadata"), 404, "not_found")


@pytest.mark.parametrize(
    "body, param",
    [
        ({"code": "print(1)"}, "language"),
        ({"language": "python"}, "code"),
        ({"language": 3, "code": "print(1)"}, "language"),
    ],
)
def test_bad_code_run_bodies(native_client, fake, body, param):
    assert_problem(native_client.post("/v1/code/run", json=body), 422, "invalid_request", param)


def test_code_run_drops_unknown_fields_with_a_log_line(native_client, fake, caplog):
    with caplog.at_level(logging.INFO, logger="app.web.blueprint"):
        resp = native_client.post("/v1/code/run", json={"language": "go", "code": "x", "timeout": 5})
    assert resp.status_code == 200
    assert fake.requests_log()[0]["body"] == {"language": "go", "code": "x"}
    assert "['timeout']" in caplog.text
