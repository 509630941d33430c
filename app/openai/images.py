"""/v1/images: OpenAI's Images API over grok.com (POST /generations, POST /edits), and the
list of the account's generated images (GET /v1/images, grok.com's own answer).

Generation is grok.com's chat image generation (a temporary conversation with the image
tool forced on and `imageGenerationCount: n`); an edit is grok.com's Imagine image edit
(the images uploaded, then `mediaGenInput.imageToImage` with their fileMetadataIds).
Both answer in OpenAI's images shape: `{"created", "data": [{"url"} | {"b64_json"}]}`,
where a url is a signed link to this server's asset proxy (openable without the API key)
and b64_json the image's bytes. Moderated images are left out; when nothing but moderated
images comes back the answer is 400 `content_moderated`.

Parameters grok.com has no equivalent for (quality, style, background, …) are accepted
and named in a log line; `size` becomes the edit's aspect ratio (generation has none).
"""

from __future__ import annotations

import base64
import logging
import re
import time

import marshmallow as ma
from flask import request
from flask_smorest.fields import Upload

from ..grok import events as ev
from ..grok.accounts import FAILS_OVER, MEDIA_MODE, mode_of
from ..grok.errors import GrokError, inband_error
from ..media import sniff
from ..media.assets import read_asset
from ..media.inputs import Upload as UploadItem
from ..media.inputs import UploadFailed, run_concurrently, upload
from ..media.services import media_body, services, upload_problem
from ..media.signing import asset_path_of
from ..native.replies import passthrough
from ..problems import Problem
from ..routing import Routed, on_pool
from ..runtime import grok, runtime
from ..web.blueprint import Blueprint

log = logging.getLogger(__name__)

blp = Blueprint(
    "images",
    __name__,
    url_prefix="/v1/images",
    description="Images: OpenAI-compatible generation and editing, and the account's generated images",
)

MAX_IMAGES = 4
MAX_EDIT_INPUTS = 8
_SIZE = re.compile(r"^(auto|\d{2,5}x\d{2,5})$")
ASPECT_RATIOS = {"1:1": 1.0, "3:2": 1.5, "2:3": 2 / 3, "16:9": 16 / 9, "9:16": 9 / 16}
_KNOWN = {"prompt", "n", "response_format", "size", "model", "image", "mask"}


class _ImageOptions(ma.Schema):
    class Meta:
        unknown = ma.INCLUDE  # OpenAI adds parameters often; they are logged, not refused

    prompt = ma.fields.String(required=True, validate=ma.validate.Length(1, 32000))
    n = ma.fields.Integer(load_default=1, allow_none=True, validate=ma.validate.Range(1, MAX_IMAGES))
    response_format = ma.fields.String(
        load_default="url", allow_none=True, validate=ma.validate.OneOf(["url", "b64_json"])
    )
    size = ma.fields.String(
        allow_none=True, validate=ma.validate.Regexp(_SIZE, error="must be 'auto' or WIDTHxHEIGHT, e.g. 1024x1024")
    )
    model = ma.fields.String(allow_none=True, metadata={"description": "Accepted; grok.com picks its own"})


class ImageGenerationRequest(_ImageOptions):
    pass


class ImageEditForm(_ImageOptions):
    # The file parts, for the OpenAPI document; the view reads them from request.files
    # (one multipart body holds both, and an operation has one requestBody).
    image = ma.fields.List(
        Upload(), metadata={"description": "The image(s) to edit (PNG, JPEG, GIF, WEBP); also accepted as `image[]`"}
    )
    mask = Upload(metadata={"description": "Not supported by grok.com: refused"})


class ImageDataSchema(ma.Schema):
    url = ma.fields.String()
    b64_json = ma.fields.String()


class ImagesResponseSchema(ma.Schema):
    created = ma.fields.Integer()
    data = ma.fields.List(ma.fields.Nested(ImageDataSchema))


EXAMPLE_LINK = (
    "https://grok.example.com/v1/assets/users/0b1c/generated/5f2e/image.jpg"
    "?exp=1767225600&sig=3_a5eimlRHVi0NWpo8xw6NCenoFer66KYu6mk4UDEk0"
)
EXAMPLE_ANSWER = {"created": 1767225600, "data": [{"url": EXAMPLE_LINK}]}


@blp.route("", methods=["GET"])
@blp.response(
    200,
    description="grok.com's list of generated images, newest first.",
    example={
        "generations": [
            {
                "imageId": "img-1",
                "conversationId": "c-1",
                "imageUrl": "users/u-1/generated/img-1/image.jpg",
                "createTime": "2026-01-02T10:00:00.000000Z",
            }
        ]
    },
)
@blp.doc(summary="List generated images")
def list_images():
    return passthrough(grok().image_generations())


@blp.route("/generations", methods=["POST"])
@blp.arguments(
    ImageGenerationRequest,
    example={"prompt": "a lighthouse at dusk", "n": 2, "size": "1024x1024", "response_format": "url"},
    error_status_code=400,  # as OpenAI answers an invalid request
)
@blp.response(200, ImagesResponseSchema, example=EXAMPLE_ANSWER)
@blp.doc(summary="Create images from a prompt (OpenAI-compatible)")
def create_images(body):
    options = _options(body)
    payload = {
        "message": body["prompt"],
        "temporary": True,
        "disableMemory": True,
        "disableSearch": True,
        "enableImageGeneration": True,
        "enableImageStreaming": True,
        "imageGenerationCount": options["n"],
        "returnImageBytes": False,
        "toolOverrides": {"imageGen": True},
        "sendFinalMetadata": True,
    }
    if options["size"]:
        log.info("images: size %s is not supported by grok.com's chat image generation; ignored", options["size"])
    paths, routed = on_pool(
        mode_of(payload), lambda routed: _collect(lambda: routed.client.new_conversation(payload), options["n"])
    )
    return _answer(paths, options["response_format"], routed)


@blp.route("/edits", methods=["POST"])
@media_body
@blp.arguments(
    ImageEditForm,
    location="form",
    content_type="multipart/form-data",
    example={"prompt": "make it night", "n": 1, "size": "1536x1024", "response_format": "url"},
    error_status_code=400,
)
@blp.response(200, ImagesResponseSchema, example=EXAMPLE_ANSWER)
@blp.doc(summary="Edit images from a prompt (OpenAI-compatible, multipart/form-data)")
def edit_images(form):
    options = _options(form)
    if "mask" in request.files or "mask" in request.form:
        raise Problem(
            400,
            "invalid_request",
            "mask is not supported by grok.com's image edit; describe the change in the prompt instead",
            param="mask",
        )
    items = _edit_inputs(request.files.getlist("image") + request.files.getlist("image[]"))
    strict = runtime().pool.strict

    def attempt(routed: Routed) -> list[str]:
        # The images are uploaded to the account that edits them.
        def send(item: UploadItem) -> str:
            try:
                return upload(routed.client, item)
            except GrokError as exc:
                raise UploadFailed(item.where, exc) from None

        try:
            ids = run_concurrently([lambda item=item: send(item) for item in items])
        except UploadFailed as exc:
            if strict and exc.error.failure_class in FAILS_OVER:
                raise exc.error from None  # another account may take it
            raise upload_problem(exc.where, exc.error) from None
        edit = {"prompt": form["prompt"], "inputAssets": ids}
        ratio = _aspect_ratio(options["size"])
        if ratio:
            edit["aspectRatio"] = ratio
        payload = {
            "modelName": "imagine-image-edit",
            "message": form["prompt"],
            "temporary": True,
            "enableImageStreaming": True,
            "enableSideBySide": True,
            "sendFinalMetadata": True,
            "imageGenerationCount": options["n"],
            "mediaGenInput": {"imageToImage": edit},
        }
        return _collect(lambda: routed.client.edit_image(payload), options["n"])

    paths, routed = on_pool(MEDIA_MODE, attempt)
    return _answer(paths, options["response_format"], routed)


def _options(body: dict) -> dict:
    ignored = sorted(k for k in body if k not in _KNOWN)
    if ignored:
        log.info("images: parameters without a grok.com equivalent ignored: %s", ", ".join(ignored))
    if body.get("model"):
        log.debug("images: model %r requested; grok.com chooses its image model", body["model"])
    return {
        "n": body.get("n") or 1,
        "response_format": body.get("response_format") or "url",
        "size": None if body.get("size") in (None, "auto") else body["size"],
    }


def _aspect_ratio(size: str | None) -> str | None:
    if not size:
        return None
    width, height = (int(v) for v in size.split("x"))
    if not width or not height:
        return None
    return min(ASPECT_RATIOS, key=lambda name: abs(ASPECT_RATIOS[name] - width / height))


def _edit_inputs(uploads) -> list[UploadItem]:
    if not uploads:
        raise Problem(400, "invalid_request", "an image to edit is required (multipart field 'image')", param="image")
    if len(uploads) > MAX_EDIT_INPUTS:
        raise Problem(400, "invalid_request", f"at most {MAX_EDIT_INPUTS} images can be edited together", param="image")
    limit = services().limits.max_image_bytes
    items = []
    for index, storage in enumerate(uploads):
        where = f"image[{index}]"
        content = storage.stream.read(limit + 1)
        if len(content) > limit:
            raise Problem(
                400,
                "invalid_request",
                f"{where}: larger than the limit of {limit} bytes (MAX_IMAGE_BYTES)",
                param=where,
            )
        mime = sniff.sniff(content)
        if mime not in sniff.UPLOAD_IMAGE_TYPES:
            what = f"looks like {mime}" if mime else "unrecognised content"
            raise Problem(400, "invalid_request", f"{where}: not a PNG, JPEG, GIF or WEBP image ({what})", param=where)
        stem = (storage.filename or "").rsplit("/", 1)[-1].rsplit(".", 1)[0][:80] or f"image-{index}"
        items.append(UploadItem(where, "image", f"{stem}.{sniff.extension(mime)}", mime, content))
    return items


def _collect(open_stream, wanted: int) -> list[str]:
    """Asset paths of the final, unmoderated images grok.com made, at most `wanted`. grok.com may
    make fewer than asked for; then it is asked again (at most `wanted` rounds in all)."""
    paths: list[str] = []
    moderated = 0
    said: list[str] = []
    for _ in range(wanted):
        before = len(paths)
        with open_stream() as stream:
            for event in stream.events():
                if isinstance(event, ev.ImageGenerated):
                    path = asset_path_of(event.url, services().settings.grok_assets_url)
                    if event.moderated:
                        moderated += 1
                    elif path is None:
                        log.warning("images: grok.com returned an image outside its asset host: %s", event.url)
                    elif path not in paths:
                        paths.append(path)
                elif isinstance(event, ev.Token):
                    said.append(event.text)
                elif isinstance(event, ev.UpstreamError):
                    raise inband_error(event.message, event.code)
        if len(paths) >= wanted or len(paths) == before:
            break
    if paths:
        return paths[:wanted]
    if moderated:
        raise Problem(
            400,
            "content_moderated",
            f"grok.com moderated every image it made for this prompt ({moderated})",
            title="Content Moderated",
        )
    text = "".join(said).strip()
    raise Problem(
        502,
        "upstream_error",
        "grok.com answered without an image" + (f": {text[:300]}" if text else ""),
        failure_class="no_image",
    )


def _answer(paths: list[str], response_format: str, routed: Routed) -> dict:
    media = services()
    if response_format == "b64_json":
        client = routed.client
        contents = run_concurrently([lambda p=p: read_asset(p, media.cache, client) for p in paths])
        data = [{"b64_json": base64.b64encode(content).decode("ascii")} for content in contents]
    else:
        link = media.linker(owner=routed.label)
        data = [{"url": link(path)} for path in paths]
    return {"created": int(time.time()), "data": data}
