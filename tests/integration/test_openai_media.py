"""Images and files in /v1/chat/completions under gunicorn, on both chat lanes, through the
openai SDK: uploads of the latest turn's parts (bodies, order, attachments), the SSRF guard
on remote URLs (a local HTTP server as the remote host), 400s naming the part, and generated
images in answers and streams (signed proxy links that open, moderation notices, progress)."""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request

import openai
import pytest

from tests.fakegrok.harness import FakeGrok
from tests.fakegrok.media import jpeg
from tests.support.gunicorn import GunicornServer, app_env
from tests.support.imageserver import PHOTO, PNG, other, remote  # noqa: F401  (fixtures)
from tests.support.lanes import LANES, chat_requests, upstream_chat
from tests.support.oai import client, recorder, scenario  # noqa: F401  (fixtures)

UPLOAD = "/rest/app-chat/upload-file"


@pytest.fixture(scope="module")
def fake():
    with FakeGrok() as f:
        yield f


@pytest.fixture(scope="module", params=LANES)
def guarded(request, fake, remote):
    """Default SSRF guard, except the exact host:port of `remote` (standing in for a public host)."""
    env = app_env(
        fake,
        FETCH_PRIVATE_ALLOWLIST=f"127.0.0.1:{remote.port}",
        HEARTBEAT_SECS="0.5",
        GROK_CHAT_LANE=request.param,
    )
    with GunicornServer(env) as srv:
        yield srv


@pytest.fixture(scope="module", params=LANES)
def open_server(request, fake):
    """FETCH_ALLOW_PRIVATE=true: loopback image hosts can be fetched."""
    with GunicornServer(app_env(fake, FETCH_ALLOW_PRIVATE="true", GROK_CHAT_LANE=request.param)) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _reset(fake, remote, other):
    fake.reset()
    remote.requests.clear()
    other.requests.clear()


@pytest.fixture
def oai(guarded, recorder):
    with client(guarded.url, recorder) as sdk:
        yield sdk


def data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image_part(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


def chat(sdk, content, history=(), **kw):
    return sdk.chat.completions.create(model="auto", messages=[*history, {"role": "user", "content": content}], **kw)


def uploads(fake) -> list[dict]:
    return [e["body"] for e in fake.requests_log(UPLOAD)]


def test_latest_turn_images_and_files_are_uploaded_and_attached_in_order(open_server, remote, fake, recorder):
    first, last = jpeg("first image"), jpeg("last image")
    history = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "remember this"}, image_part(data_uri("image/png", PNG))],
        },
        {"role": "assistant", "content": "I see a PNG."},
    ]
    content = [
        image_part(data_uri("image/jpeg", first)),
        {"type": "text", "text": "compare it with"},
        image_part(remote.url("/photo.jpg")),
        {"type": "file", "file": {"filename": "notes.txt", "file_data": base64.b64encode(b"line 1\n").decode()}},
        image_part(data_uri("image/jpeg", last)),
    ]
    with client(open_server.url, recorder) as sdk:
        resp = chat(sdk, content, history)
    sent = {u["fileName"]: u for u in uploads(fake)}
    assert set(sent) == {"image-2-0.jpg", "image-2-2.jpg", "notes.txt", "image-2-4.jpg"}  # not the PNG
    assert base64.b64decode(sent["image-2-0.jpg"]["content"]) == first
    assert base64.b64decode(sent["image-2-2.jpg"]["content"]) == PHOTO
    assert sent["image-2-2.jpg"]["fileMimeType"] == "image/jpeg" and sent["notes.txt"]["fileMimeType"] == "text/plain"
    body = upstream_chat(fake)
    names = {f["fileMetadataId"]: f["fileName"] for f in fake.store()["files"]}
    assert [names[i] for i in body["fileAttachments"]] == [
        "image-2-0.jpg",
        "image-2-2.jpg",
        "notes.txt",
        "image-2-4.jpg",
    ]
    assert body["message"] == (
        "<u>remember this\n[image: image-0-1.png]</u>\n<a>I see a PNG.</a>\n"
        "<u>[image: image-2-0.jpg]\ncompare it with\n[image: image-2-2.jpg]\n"
        "[file: notes.txt]\n[image: image-2-4.jpg]</u>"
    )
    # the fake names what it got attached, so the answer shows grok.com received the files
    assert resp.choices[0].message.content.endswith(
        "Attachments: image-2-0.jpg, image-2-2.jpg, notes.txt, image-2-4.jpg."
    )
    assert [r["path"] for r in remote.requests] == ["/photo.jpg"]


def test_an_image_larger_than_the_plain_body_limit_is_accepted(oai, fake):
    big = jpeg("big", 3 * 1024 * 1024)
    chat(oai, [{"type": "text", "text": "what is it"}, image_part(data_uri("image/jpeg", big))])
    [upload] = uploads(fake)
    assert hashlib.sha256(base64.b64decode(upload["content"])).digest() == hashlib.sha256(big).digest()


@pytest.mark.parametrize(
    "url, words",
    [
        ("loopback", "loopback address"),
        ("http://10.0.0.8/cat.png", "private address"),
        ("http://169.254.169.254/latest/meta-data/", "metadata address"),
        ("redirect-loopback", "loopback address"),
        ("redirect-private", "private address"),
    ],
)
def test_the_ssrf_guard_refuses_with_a_400_naming_the_part(oai, fake, remote, other, url, words):
    targets = {
        "loopback": other.url("/img.png"),
        "redirect-loopback": remote.url("/redirect?" + urllib.parse.urlencode({"to": other.url("/img.png")})),
        "redirect-private": remote.url("/redirect?" + urllib.parse.urlencode({"to": "http://192.168.7.7/x.png"})),
    }
    with pytest.raises(openai.BadRequestError) as err:
        chat(
            oai,
            [
                {"type": "text", "text": "look"},
                image_part(data_uri("image/png", PNG)),
                image_part(targets.get(url, url)),
            ],
        )
    assert err.value.body["param"] == "messages[0].content[2]"
    assert words in err.value.message
    assert other.requests == []
    assert chat_requests(fake) == []


def test_the_allowlisted_host_itself_is_fetched(oai, fake, remote):
    chat(oai, [image_part(remote.url("/img.png"))])
    assert base64.b64decode(uploads(fake)[0]["content"]) == PNG


@pytest.mark.parametrize(
    "part, words",
    [
        (image_part("data:image/png;base64,not base64!"), "not valid base64"),
        (image_part(data_uri("image/png", b"%PDF-1.4 not an image")), "not a PNG, JPEG, GIF or WEBP image"),
        (image_part("ftp://example.com/a.png"), "data: URI or an http(s) URL"),
        ({"type": "file", "file": {"file_id": "file-abc123"}}, "file_id references are not supported"),
        (
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
            "input_audio content is not supported",
        ),
    ],
)
def test_unusable_parts_are_400s_naming_them(oai, fake, part, words):
    with pytest.raises(openai.BadRequestError) as err:
        chat(oai, [{"type": "text", "text": "see"}, part])
    assert err.value.body["param"] == "messages[0].content[1]"
    assert words in err.value.message
    assert chat_requests(fake) == []


def test_a_refused_upload_keeps_grok_errors_type_and_names_the_part(oai, fake):
    fake.enqueue(
        UPLOAD, status=429, body={"error": {"code": 8, "message": "Too many requests"}}, headers={"Retry-After": "9"}
    )
    with pytest.raises(openai.RateLimitError) as err:
        chat(oai, [image_part(data_uri("image/png", PNG))])
    assert err.value.body["param"] == "messages[0].content[0]"
    assert "messages[0].content[0]: uploading to grok.com failed" in err.value.message
    assert chat_requests(fake) == []


# -- generated images in answers ---------------------------------------------------------------------
def get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:  # no API key, no headers
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def links(text: str) -> list[str]:
    return [part.split(")", 1)[0] for part in text.split("![image](")[1:]]


def test_streamed_images_are_signed_proxy_links_once_each_with_progress_as_reasoning(oai, guarded, fake, recorder):
    chunks = list(chat(oai, "draw " + scenario("image", count=3, moderated=1), stream=True))
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    found = links(content)
    assert len(found) == 2 and len(set(found)) == 2
    assert content.count("*(image withheld by grok.com's moderation)*") == 1
    assert all(u.startswith(guarded.url + "/v1/assets/users/") and "&sig=" in u for u in found)
    assert "-part-" not in content  # final versions only
    finals = [i for i in fake.store()["images"] if not i["moderated"]]
    for url in found:
        status, body = get(url)
        assert status == 200
        assert body in {fake.asset(i["imageUrl"]) for i in finals}
    assert reasoning.splitlines() == [
        "Generating image 1: 0%",
        "Generating image 2: 0%",
        "Generating image 3: 0%",
        "Generating image 1: 50%",
        "Generating image 2: 50%",
        "Generating image 3: 50%",
    ]


def test_progress_is_sse_comments_when_reasoning_is_hidden(guarded, recorder):
    with client(guarded.url, recorder, default_headers={"X-Reasoning-Output": "hidden"}) as sdk:
        list(chat(sdk, "draw " + scenario("image", count=1), stream=True))
    comments = recorder.exchanges[-1].comments
    assert "Generating image 1: 0%" in comments and "Generating image 1: 50%" in comments
    assert not any(
        c.get("choices") and c["choices"][0]["delta"].get("reasoning_content") for c in recorder.exchanges[-1].chunks
    )


def test_non_streamed_images_open_and_carry_no_progress(oai, fake):
    resp = chat(oai, "draw " + scenario("image", count=2))
    message = resp.choices[0].message
    assert len(links(message.content)) == 2
    assert not getattr(message, "reasoning_content", None)
    for url in links(message.content):
        assert get(url)[0] == 200
    tampered = links(message.content)[0].replace("image.jpg", "image.png")
    status, body = get(tampered)
    assert status == 403 and json.loads(body)["type"] == "forbidden"
