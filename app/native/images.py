"""/v1/images: the user's generated images (grok.com `image-generations`)."""

from __future__ import annotations

from ..runtime import grok
from ..web.blueprint import Blueprint
from .replies import passthrough

blp = Blueprint("images", __name__, url_prefix="/v1/images", description="Generated images")


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
