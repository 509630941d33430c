"""Operations routes: health, session, status, setup, metrics, the API reference."""


def blueprints():
    from . import docs, health

    return [health.blp, docs.blp]
