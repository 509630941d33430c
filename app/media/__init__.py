"""Media: grok.com assets through this server (signed links, disk cache), image and file inputs
(SSRF-guarded fetching, uploads), and the OpenAI Images API routes."""


def blueprints():
    from ..openai import images
    from . import assets

    return [assets.blp, images.blp]
