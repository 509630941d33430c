"""The Anthropic Messages API: POST /v1/messages and /v1/messages/count_tokens."""


def blueprints():
    from . import routes

    return [routes.blp]
