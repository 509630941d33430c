"""The OpenAI-compatible surface: /v1/chat/completions, /v1/models and /v1/images."""


def blueprints():
    from . import chat_completions, images

    return [chat_completions.blp, images.blp]
