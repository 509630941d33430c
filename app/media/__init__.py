"""Media: grok.com assets through this server (signed links, disk cache) and image/file inputs
(SSRF-guarded fetching, uploads). The Images API routes are in app/openai/images.py."""


def blueprints():
    from . import assets

    return [assets.blp]
