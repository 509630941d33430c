"""The asset proxy and the Images API under gunicorn (gevent worker), driven by the openai SDK and
plain HTTP, against the fake grok.com and its asset host."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest

from app.media.signing import AssetSigner
from tests.fakegrok.harness import FakeGrok
from tests.fakegrok.media import jpeg, jpeg_comment
from tests.support.environ import hermetic_environ
from tests.support.gunicorn import ROOT, GunicornServer, app_env

KEY = "integration-signing-key-0123456789"
API_KEY = "sk-images-test"
PUBLIC = "http://images.example.test"
IMAGE_BYTES = 40_000
CACHE_MB = 0.1  # 104857 bytes: two 40 kB images fit, three do not


@pytest.fixture(scope="module")
def fake():
    with FakeGrok() as f:
        yield f


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("asset-cache")


@pytest.fixture(scope="module")
def server(fake, cache_dir):
    # gevent's monitor reports a hub blocked for 0.5 s (DNS, disk or upload work done the blocking way)
    env = app_env(
        fake,
        ASSET_SIGNING_KEY=KEY,
        ASSET_CACHE_DIR=str(cache_dir),
        ASSET_CACHE_MAX_MB=CACHE_MB,
        PUBLIC_BASE_URL=PUBLIC,
        API_KEY=API_KEY,
        MAX_IMAGE_BYTES=4 * 1024 * 1024,
        GEVENT_MAX_BLOCKING_TIME="0.5",
    )
    with GunicornServer(env, gevent_monitor=True) as srv:
        yield srv


@pytest.fixture
def sdk(server, fake):
    fake.reset()
    for file in Path(server.env["ASSET_CACHE_DIR"]).iterdir():
        file.unlink()
    with openai.OpenAI(base_url=server.url + "/v1", api_key=API_KEY, max_retries=0, timeout=30) as client:
        yield client


def local(server, url: str) -> str:
    """A link handed out for PUBLIC_BASE_URL, pointed at the test server."""
    assert url.startswith(PUBLIC + "/v1/assets/")
    return server.url + url[len(PUBLIC) :]


def get(url: str, headers: dict | None = None):
    """(status, headers, body) of a GET without any API key."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def asset_path(url: str) -> str:
    return url.split("/v1/assets/", 1)[1].split("?", 1)[0]


def asset_fetches(fake, path: str) -> int:
    return sum(1 for e in fake.requests_log("/assets/") if e["path"] == "/assets/" + path)


# -- Images API ----------------------------------------------------------------------------------------
def test_generate_urls_open_without_the_api_key_and_are_cached(sdk, server, fake):
    result = sdk.images.generate(prompt="a lighthouse at dusk", n=2, size="1024x1024")
    assert len(result.data) == 2 and result.created > time.time() - 60
    chat = fake.requests_log("/rest/app-chat/conversations/new")[-1]["body"]
    assert chat["message"] == "a lighthouse at dusk"
    assert (chat["imageGenerationCount"], chat["enableImageGeneration"], chat["toolOverrides"]) == (
        2,
        True,
        {"imageGen": True},
    )
    for item in result.data:
        assert item.b64_json is None
        status, headers, body = get(local(server, item.url))
        assert status == 200, body
        path = asset_path(item.url)
        assert body == fake.asset(path) and len(body) > 100
        assert headers["Content-Type"] == "image/jpeg"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert get(local(server, item.url))[2] == body  # again: from the disk cache
        assert asset_fetches(fake, path) == 1
    upstream = fake.requests_log("/assets/")[0]
    assert "sso=" in upstream["headers"]["cookie"] and "Chrome/" in upstream["headers"]["user-agent"]


def test_generate_b64_json_returns_the_image_bytes(sdk, fake):
    result = sdk.images.generate(prompt="two foxes", n=1, response_format="b64_json")
    assert len(result.data) == 1 and result.data[0].url is None
    image = base64.b64decode(result.data[0].b64_json)
    generated = [i for i in fake.store()["images"] if not i["moderated"]]
    assert image == fake.asset(generated[0]["imageUrl"])
    assert jpeg_comment(image) == generated[0]["imageId"]


def test_moderated_images_are_left_out_and_all_moderated_is_a_400(sdk, fake):
    # Each answer has one moderated image of two: a second round makes up the count.
    result = sdk.images.generate(prompt="#scenario:image?moderated=1", n=2)
    assert len(result.data) == 2
    assert len(fake.requests_log("/rest/app-chat/conversations/new")) == 2
    moderated = {i["imageUrl"] for i in fake.store()["images"] if i["moderated"]}
    assert len(moderated) == 2 and not moderated & {asset_path(d.url) for d in result.data}
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.generate(prompt="#scenario:image?moderated=all", n=2)
    assert info.value.body["code"] == "content_moderated"


def test_fewer_images_than_asked_makes_another_round(sdk, fake):
    # The forced scenario gives one image per answer, so three rounds are needed for three.
    fake.enqueue("/rest/app-chat/conversations/new", scenario="image?count=1", times=3)
    result = sdk.images.generate(prompt="one at a time", n=3)
    assert len(result.data) == 3 and len({asset_path(d.url) for d in result.data}) == 3
    assert len(fake.requests_log("/rest/app-chat/conversations/new")) == 3


def test_image_api_errors(sdk, fake):
    with pytest.raises(openai.BadRequestError) as info:  # 400, as OpenAI answers
        sdk.images.generate(prompt="too many", n=5)
    assert info.value.body["param"] == "n" and info.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.RateLimitError):
        sdk.images.generate(prompt="#scenario:rate_limited?retry_after=7")
    with pytest.raises(openai.APIStatusError) as info:
        sdk.images.generate(prompt="#scenario:plain?text=I+cannot+draw+that")
    assert info.value.status_code == 502 and "I cannot draw that" in info.value.message


def test_edit_uploads_the_image_and_runs_an_image_edit(sdk, fake):
    source = jpeg("the photo to edit", 5000)
    result = sdk.images.edit(
        image=("photo.jpg", io.BytesIO(source), "image/jpeg"),
        prompt="make it night",
        n=2,
        size="1536x1024",
        response_format="b64_json",
    )
    assert len(result.data) == 2
    upload = fake.requests_log("/rest/app-chat/upload-file")[0]["body"]
    assert (upload["fileName"], upload["fileMimeType"]) == ("photo.jpg", "image/jpeg")
    assert base64.b64decode(upload["content"]) == source
    entry = fake.requests_log("/rest/app-chat/conversations/new")[-1]
    assert entry["headers"]["referer"].endswith("/imagine") and entry["scenario"] == "image_edit"
    body = entry["body"]
    file_id = fake.store()["files"][0]["fileMetadataId"]
    assert body["modelName"] == "imagine-image-edit"
    assert body["mediaGenInput"]["imageToImage"] == {
        "prompt": "make it night",
        "inputAssets": [file_id],
        "aspectRatio": "3:2",
    }
    for item in result.data:
        edited = base64.b64decode(item.b64_json)
        assert jpeg_comment(edited).startswith("edit-of-" + hashlib.sha256(source).hexdigest())


def test_edit_with_several_images_keeps_their_order(sdk, fake):
    images = [("a.png", io.BytesIO(jpeg("first")), "image/png"), ("b.jpg", io.BytesIO(jpeg("second")), "image/jpeg")]
    result = sdk.images.edit(image=images, prompt="merge them")
    assert len(result.data) == 1
    names = {f["fileMetadataId"]: f["fileName"] for f in fake.store()["files"]}
    assets = fake.requests_log("/rest/app-chat/conversations/new")[-1]["body"]["mediaGenInput"]["imageToImage"]
    assert [names[i] for i in assets["inputAssets"]] == ["a.jpg", "b.jpg"]  # named by what the bytes are


def test_edit_takes_images_beyond_the_plain_body_limit_up_to_max_image_bytes(sdk, fake):
    big = jpeg("three megabytes", 3 * 1024 * 1024)  # the app-wide body limit is 2 MiB
    result = sdk.images.edit(image=("big.jpg", io.BytesIO(big), "image/jpeg"), prompt="crop it")
    assert len(result.data) == 1
    assert fake.store()["files"][0]["size"] == len(big)
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.edit(image=("huge.jpg", io.BytesIO(jpeg("huge", 5 * 1024 * 1024)), "image/jpeg"), prompt="x")
    assert "image[0]: larger than the limit of 4194304 bytes" in info.value.message


def test_edit_refuses_what_is_not_an_image_and_masks(sdk, fake):
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.edit(image=("notes.png", io.BytesIO(b"just text"), "image/png"), prompt="x")
    assert "image[0]: not a PNG, JPEG, GIF or WEBP image (looks like text/plain)" in info.value.message
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.edit(
            image=("a.jpg", io.BytesIO(jpeg("a")), "image/jpeg"),
            mask=("m.png", io.BytesIO(jpeg("m")), "image/png"),
            prompt="x",
        )
    assert info.value.body["param"] == "mask"
    assert fake.requests_log("/rest/app-chat/") == []


def test_an_upload_grok_refuses_names_the_image(sdk, fake):
    fake.enqueue(
        "/rest/app-chat/upload-file",
        status=403,
        body={"error": {"code": 7, "message": "Request rejected by anti-bot rules."}},
    )
    images = [("a.jpg", io.BytesIO(jpeg("a")), "image/jpeg"), ("b.jpg", io.BytesIO(jpeg("b")), "image/jpeg")]
    with pytest.raises(openai.PermissionDeniedError) as info:
        sdk.images.edit(image=images, prompt="x")
    assert info.value.body["code"] == "anti_bot"
    assert info.value.body["param"] in ("image[0]", "image[1]")
    assert fake.requests_log("/rest/app-chat/conversations/new") == []


# -- the asset proxy ------------------------------------------------------------------------------------
def make_images(sdk, count: int) -> list[str]:
    result = sdk.images.generate(prompt=f"#scenario:image?bytes={IMAGE_BYTES}", n=count)
    return [d.url for d in result.data]


def cache_settles(server, files: int, newest: str, deadline: float = 5.0) -> list[Path]:
    """The cache's files once there are `files` of them including the entry of the link `newest`
    (an entry is committed when the response generator finishes, which may be just after the
    client has read the body)."""
    cache = Path(server.env["ASSET_CACHE_DIR"])
    wanted = hashlib.sha256(asset_path(newest).encode()).hexdigest()
    end = time.monotonic() + deadline
    while True:
        found = [f for f in cache.iterdir() if not f.name.startswith(".")]
        if (len(found) == files and wanted in {f.name for f in found}) or time.monotonic() > end:
            return found
        time.sleep(0.02)


def test_the_cache_evicts_the_least_recently_used_asset(sdk, server, fake):
    first, second, third = make_images(sdk, 3)
    for n, url in enumerate((first, second), 1):
        assert get(local(server, url))[0] == 200
        assert len(cache_settles(server, n, url)) == n
    time.sleep(0.01)  # distinct mtimes even on coarse clocks
    assert get(local(server, first))[0] == 200  # first is now more recently used than second
    assert get(local(server, third))[0] == 200  # over the cap: second is evicted
    files = cache_settles(server, 2, third)
    assert len(files) == 2
    assert sum(f.stat().st_size for f in files) <= CACHE_MB * 1024 * 1024
    for url in (first, third, second):
        status, _, body = get(local(server, url))
        assert status == 200 and len(body) == IMAGE_BYTES
    counts = [asset_fetches(fake, asset_path(u)) for u in (first, second, third)]
    assert counts == [1, 2, 1]


def test_links_without_a_valid_signature_are_403(sdk, server, fake):
    url = local(server, make_images(sdk, 1)[0])
    path = asset_path(url)
    signer = AssetSigner(KEY.encode(), ttl=60)
    expired = signer.link(server.url, path, now=time.time() - 3600)
    tampered = url.replace("sig=", "sig=A")[:-1]
    other_path = url.replace(path, path.replace("image.jpg", "other.jpg"))
    for bad in (url.split("?")[0], expired, tampered, other_path):
        status, headers, body = get(bad)
        assert status == 403, bad
        assert headers["Content-Type"] == "application/problem+json"
        assert json.loads(body)["type"] == "forbidden"
    assert "expired" in json.loads(get(expired)[2])["detail"]
    assert fake.requests_log("/assets/") == []
    status, _, body = get(server.url + "/v1/assets/users/../../etc/passwd?exp=1&sig=x")
    assert status in (400, 404) and json.loads(body)["status"] == status


def _uploaded(server, content: bytes, mime: str) -> str:
    """A file uploaded to the fake grok.com through POST /v1/files; returns its asset path."""
    body = json.dumps({"fileName": "f", "fileMimeType": mime, "content": base64.b64encode(content).decode()})
    request = urllib.request.Request(
        server.url + "/v1/files",
        data=body.encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())["fileUri"]


@pytest.mark.parametrize(
    "content, declared, disposition",
    [
        (jpeg("inline photo"), "image/jpeg", "inline"),
        (b"%PDF-1.4 a document", "application/pdf", "inline"),
        (b"plain notes", "text/plain", "inline"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image/svg+xml", "attachment"),
        (b"<!doctype html><script>alert(document.domain)</script>", "text/html", "attachment"),
        (b"alert(document.cookie)", "application/javascript", "attachment"),
        (b"\x00\x01\x02 unknown bytes", "application/octet-stream", "attachment"),
    ],
)
def test_only_types_that_cannot_run_script_are_shown_inline(sdk, server, content, declared, disposition):
    path = _uploaded(server, content, declared)
    status, headers, body = get(AssetSigner(KEY.encode(), ttl=600).link(server.url, path))
    assert status == 200 and body == content
    assert headers["Content-Disposition"].split(";")[0] == disposition
    assert headers["X-Content-Type-Options"] == "nosniff" and "sandbox" in headers["Content-Security-Policy"]


def test_upstream_failures_of_an_asset(sdk, server, fake):
    signer = AssetSigner(KEY.encode(), ttl=600)
    status, _, body = get(signer.link(server.url, "users/nobody/generated/none/image.jpg"))
    assert status == 404 and json.loads(body)["type"] == "not_found"
    url = local(server, make_images(sdk, 1)[0])
    fake.configure(sso="rotated-cookie")
    try:
        status, _, body = get(url)
    finally:
        fake.configure(sso="test-sso")
    assert status == 503 and json.loads(body)["type"] == "auth_expired"


def test_with_an_api_key_only_the_signed_links_are_open(server):
    # The images API needs the key; the proxy answers a keyless request by its signature alone.
    request = urllib.request.Request(
        server.url + "/v1/images/generations",
        data=b'{"prompt": "x"}',
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 401
    status, _, body = get(server.url + "/v1/assets/users/u/generated/g/image.jpg")
    assert status == 403 and json.loads(body)["type"] == "forbidden"
    status, _, _ = get(server.url + "/v1/assets-elsewhere")
    assert status == 401


SIGN_IN_A_PROCESS = """
from app.media.services import MediaServices
from app.ops import rundir
from app.settings import Settings
from app.state import open_store
run_dir = rundir.shared()
media = MediaServices.build(Settings.from_mapping({}), open_store(None, run_dir), run_dir)
print(media.signer.link("http://h", "users/u/image.jpg", now=0))
"""


def sign_in_process(runtime_dir: Path) -> str:
    env = hermetic_environ(GROK_WEB_API_RUNTIME_DIR=str(runtime_dir), PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", SIGN_IN_A_PROCESS],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_worker_processes_of_one_server_share_the_generated_signing_key(tmp_path):
    # Without ASSET_SIGNING_KEY, gunicorn's workers (processes sharing the server's runtime
    # directory) must sign alike, or a link made by one worker is refused by another.
    server_dir, other_dir = tmp_path / "server", tmp_path / "other-server"
    server_dir.mkdir()
    other_dir.mkdir()
    with ThreadPoolExecutor(3) as pool:
        first, second, other = pool.map(sign_in_process, [server_dir, server_dir, other_dir])
    assert first == second and "sig=" in first
    assert other != first


def test_links_with_a_generated_key_survive_a_restart(fake, tmp_path):
    # No ASSET_SIGNING_KEY: the key generated at the first start is kept beside the settings file
    # (chat UIs keep the links in saved chats; they used to break at every restart).
    env = {k: v for k, v in app_env(fake).items()}
    env["ENV_FILE"] = str(tmp_path / ".env")
    (tmp_path / ".env").write_text("")

    def generate(url: str) -> str:
        request = urllib.request.Request(
            url + "/v1/images/generations",
            data=json.dumps({"prompt": "a cat", "n": 1}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.loads(resp.read())["data"][0]["url"]

    with GunicornServer(env) as first:
        link = generate(first.url).replace(first.url, "{base}")
        assert get(link.format(base=first.url))[0] == 200
    assert (tmp_path / ".env.asset-key").stat().st_mode & 0o777 == 0o600
    with GunicornServer(env) as second:
        status, headers, body = get(link.format(base=second.url))
    assert status == 200 and headers["Content-Type"].startswith("image/")


def test_the_hub_was_never_blocked(server):
    # Last in this module: covers every request above.
    assert "appears to be blocked" not in server.logs(), server.logs()[-3000:]


def test_an_unreachable_asset_host_is_not_reported_as_grok_com_down(fake, tmp_path, caplog):
    from app import create_app
    from app.settings import Settings
    from tests.support.gunicorn import free_port

    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    app = create_app(Settings.from_mapping(app_env(fake, GROK_ASSETS_URL=dead, ASSET_SIGNING_KEY=KEY)))
    client = app.test_client()
    link = AssetSigner(KEY.encode(), ttl=600).link("http://localhost", "users/u/generated/g/image.jpg")
    resp = client.get(link.replace("http://localhost", ""))
    assert resp.status_code == 503
    detail = resp.get_json()["detail"]
    assert "asset host" in detail and "grok.com could not be reached" not in detail
    status = client.get("/status").get_json()
    assert status["conditions"]["network"] != "network"
    assert status["last_failure"]["message"].startswith("asset host:")
    assert "grok.com is unreachable" not in caplog.text
