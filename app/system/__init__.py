"""Operations routes: health, session, status, setup, metrics."""


def blueprints():
    from . import health

    return [health.blp]
