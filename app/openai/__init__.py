"""The OpenAI-compatible surface: /v1/chat/completions, /v1/models and /v1/images."""


def blueprints():
    from . import images, routes

    return [routes.blp, images.blp]
