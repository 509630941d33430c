"""Operations routes: health, session, status, setup, metrics, the API reference."""


def blueprints():
    from . import docs, health, metrics

    return [health.blp, metrics.blp, docs.blp]
