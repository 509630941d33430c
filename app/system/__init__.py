"""Operations routes: health, session, status, setup, metrics."""


def blueprints():
    from . import health, setup, status

    return [health.blp, status.blp, setup.blp]
