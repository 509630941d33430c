"""The OpenAI-compatible surface: /v1/chat/completions, /v1/models and /v1/images."""


def blueprints():
    from . import chat_completions, images, models

    return [chat_completions.blp, models.blp, images.blp]
