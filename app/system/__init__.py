"""Operations routes: health, session, status, setup, metrics, docs."""


def blueprints():
    from . import docs, health, metrics, setup, status

    return [health.blp, status.blp, setup.blp, metrics.blp, docs.blp]
