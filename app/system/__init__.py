"""Operations routes: health, session, status, setup, metrics."""


def blueprints():
    from . import health, metrics

    return [health.blp, metrics.blp]
