"""Self-tests of the fake grok.com's media parts: the asset host, uploads served back, the image-edit
scenario and attachment checks (the fake must be as strict as grok.com here too)."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json

import pytest

from tests.fakegrok.harness import FakeGrok
from tests.fakegrok.media import jpeg, jpeg_comment
from tests.unit.test_fakegrok import APP, UA, call, chat, headers, model_response


@pytest.fixture(scope="module")
def fake():
    with FakeGrok() as f:
        yield f


@pytest.fixture(autouse=True)
def _reset(fake):
    fake.reset()
    yield


def get_asset(fake, path, **override):
    h = {"user-agent": UA, "cookie": f"sso={fake.sso}; sso-rw={fake.sso_rw}", "accept": "image/*"}
    h.update(override)
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=10)
    conn.request("GET", "/assets/" + path, headers={k: v for k, v in h.items() if v is not None})
    r = conn.getresponse()
    out = r.status, r.getheader("content-type"), r.read()
    conn.close()
    return out


def upload(fake, data: bytes, name="pic.jpg", mime="image/jpeg") -> dict:
    status, _, raw = call(
        fake,
        "POST",
        APP + "/upload-file",
        {"fileName": name, "fileMimeType": mime, "content": base64.b64encode(data).decode()},
    )
    assert status == 200, raw
    return json.loads(raw)


def image_urls(lines) -> list[str]:
    return model_response(lines)["generatedImageUrls"]


def test_jpeg_helper_makes_tagged_images_of_the_requested_size():
    small, big = jpeg("a"), jpeg("b", 70000)
    assert small[:2] == b"\xff\xd8" and small[-2:] == b"\xff\xd9"
    assert jpeg_comment(small) == "a" and jpeg_comment(big) == "b"
    assert len(big) == 70000


def test_uploaded_file_is_served_back_at_its_uri_only_with_cookies(fake):
    data = b"%PDF-1.4 fake document"
    meta = upload(fake, data, "doc.pdf", "application/pdf")
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    assert get_asset(fake, meta["fileUri"]) == (200, "application/pdf", data)
    status, _, _ = get_asset(fake, meta["fileUri"], cookie=None)
    assert status == 401
    status, _, _ = get_asset(fake, meta["fileUri"], cookie="sso=wrong; sso-rw=wrong")
    assert status == 401
    status, ctype, _ = get_asset(fake, meta["fileUri"], **{"user-agent": "curl/8"})
    assert status == 403 and ctype.startswith("text/html")
    assert get_asset(fake, "users/nobody/missing/image.jpg")[0] == 404
    assert fake.asset(meta["fileUri"]) == data


def test_image_scenario_publishes_previews_and_unmoderated_finals(fake):
    status, _, lines = chat(fake, "draw #scenario:image?count=2&moderated=1&bytes=3000")
    assert status == 200
    finals = image_urls(lines)
    assert len(finals) == 1  # the moderated one is not a generated image
    status, ctype, body = get_asset(fake, finals[0])
    assert (status, ctype, len(body)) == (200, "image/jpeg", 3000)
    image_id = finals[0].split("/")[-2]
    assert jpeg_comment(body) == image_id
    previews = [p for p in fake.store()["assets"] if "-part-" in p]
    assert len(previews) == 4
    moderated = [i for i in fake.store()["images"] if i["moderated"]][0]
    assert get_asset(fake, moderated["imageUrl"])[0] == 404


def test_forced_image_tool_defaults_to_the_image_scenario_with_the_requested_count(fake):
    status, _, lines = chat(fake, "a red fox", toolOverrides={"imageGen": True}, imageGenerationCount=3)
    assert status == 200
    assert len(image_urls(lines)) == 3
    assert fake.requests_log()[-1]["scenario"] == "image"


def edit_body(prompt, assets, **extra):
    body = {
        "message": prompt,
        "modelName": "imagine-image-edit",
        "temporary": True,
        "enableImageStreaming": True,
        "mediaGenInput": {"imageToImage": {"prompt": prompt, "inputAssets": assets}},
    }
    body.update(extra)
    return body


def test_image_edit_uses_the_uploaded_image(fake):
    source = jpeg("source image")
    meta = upload(fake, source)
    path = APP + "/conversations/new"
    status, _, raw = call(
        fake,
        "POST",
        path,
        edit_body("make it blue", [meta["fileMetadataId"]]),
        headers(fake, "POST", path, referer=fake.base_url + "/imagine"),
    )
    assert status == 200, raw
    lines = [json.loads(x) for x in raw.splitlines() if x.strip()]
    urls = image_urls(lines)
    assert len(urls) == 1
    edited = fake.asset(urls[0])
    assert jpeg_comment(edited).startswith("edit-of-" + hashlib.sha256(source).hexdigest() + ":")
    assert fake.requests_log()[-1]["scenario"] == "image_edit"


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda b, fid: b.update(modelName="grok-4"), "image_edit_model"),
        (lambda b, fid: b["mediaGenInput"]["imageToImage"].update(inputAssets=[]), "image_edit_fields"),
        (lambda b, fid: b["mediaGenInput"]["imageToImage"].update(inputAssets=["nope"]), "image_edit_unknown_asset"),
        (lambda b, fid: b.update(mediaGenInput={"textToVideo": {}}), "mediaGenInput_kind"),
    ],
)
def test_image_edit_requests_are_checked(fake, mutate, reason):
    fid = upload(fake, jpeg("x"))["fileMetadataId"]
    body = edit_body("edit", [fid])
    mutate(body, fid)
    status, _, raw = call(fake, "POST", APP + "/conversations/new", body)
    assert status == 400, raw
    assert fake.requests_log()[-1]["reject"] == reason


def test_image_edit_refuses_a_non_image_asset(fake):
    fid = upload(fake, b"plain text", "a.txt", "text/plain")["fileMetadataId"]
    status, _, _ = call(fake, "POST", APP + "/conversations/new", edit_body("edit", [fid]))
    assert status == 400
    assert fake.requests_log()[-1]["reject"] == "image_edit_not_image"


def test_file_attachments_must_be_uploaded_files_and_are_named_in_the_answer(fake):
    status, _, _ = chat(fake, "hi", fileAttachments=["not-uploaded"])
    assert status == 400
    assert fake.requests_log()[-1]["reject"] == "unknown_file_attachment"
    a = upload(fake, b"a", "a.txt", "text/plain")["fileMetadataId"]
    b = upload(fake, jpeg("b"), "b.jpg")["fileMetadataId"]
    status, _, lines = chat(fake, "look", fileAttachments=[a, b])
    assert status == 200
    assert model_response(lines)["message"].endswith("Attachments: a.txt, b.jpg.")


def test_other_referers_are_still_rejected(fake):
    path = APP + "/conversations/new"
    status, _, _ = call(
        fake, "POST", path, {"message": "hi"}, headers(fake, "POST", path, referer=fake.base_url + "/elsewhere")
    )
    assert status == 403
