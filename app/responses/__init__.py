"""The OpenAI Responses API: POST /v1/responses (request.py reads it, events.py renders it)."""


def blueprints():
    from . import routes

    return [routes.blp]
